package raft

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/targets/raft/core"
)

// Machine is the deterministic layer of a Raft KV node (DESIGN.md §6.1):
// the core, the key-value state machine, client request handling, read
// batching and the seeded bugs. It is a value driven by explicit events —
// Tick (time passed on the node's clock), Step (peer messages arrived) and
// Request (a client asked) — and Ready returns what to do. It starts no
// goroutine, reads no clock and draws no randomness except from the core's
// seeded source, so one sequence of events gives one sequence of Batches.
//
// The node shell (Node) and the in-memory simulator of the tests are its
// only drivers. A Machine is not safe for concurrent use.
type Machine struct {
	id      string
	addrs   map[string]string
	tick    time.Duration
	catchUp int
	lease   time.Duration // lease-read bug: how long a confirmed round leases reads
	every   uint64        // compact the log once this many entries are applied past the snapshot
	bugs    bugSet
	logf    func(format string, args ...any)

	core *core.Raft
	kv   *kvStore

	lastTick     time.Time
	hs           core.HardState // latest, as persisted with the next record
	soft         core.SoftState
	applied      uint64
	props, reads []*mreq
	pending      map[uint64]*mreq // by log index
	readBatches  map[uint64]*readBatch
	waitingReads []*readBatch // confirmed, waiting for apply
	readSeq      uint64
	spec         *kvStore // ack-before-commit: state including unapplied entries
	specTerm     uint64
	leaseUntil   time.Time // lease-read: reads are served locally before this (node clock)
	replies      []Reply   // answers produced since the last Ready
}

// MachineConfig configures a Machine. Snapshot, HardState and Entries are
// what the node's storage held at start (loadWALSnapshot).
type MachineConfig struct {
	ID    string
	Peers []cluster.Peer
	// Snapshot (nil for none), HardState and the Entries after the
	// snapshot restore the core and the key-value state.
	Snapshot  *core.Snapshot
	HardState core.HardState
	Entries   []core.Entry
	// SnapshotEvery compacts the log into a snapshot of the key-value
	// state once that many entries were applied since the last snapshot
	// (default DefaultSnapshotEvery; negative: never).
	SnapshotEvery int
	// Seed seeds the core's election-timeout randomness.
	Seed uint64
	// Now is the node clock's reading at start; ticks are counted from it.
	Now time.Time
	// Tick, ElectionTicks, HeartbeatTicks and CheckQuorumTicks as in Config;
	// zero takes the defaults.
	Tick                                            time.Duration
	ElectionTicks, HeartbeatTicks, CheckQuorumTicks int
	// Bugs names the seeded bugs to switch on.
	Bugs []string
	// Logf receives the node's log lines; nil discards them.
	Logf func(format string, args ...any)
}

// Op is one parsed client operation (see ParseKVRequest).
type Op struct {
	F   string // "read", "write" or "cas"
	Key string
	cmd command
}

// Reply answers the request Request was given ID for.
type Reply struct {
	ID   uint64
	Resp KVResponse
}

// DefaultSnapshotEvery is how many applied entries a node's log holds at
// most before it is compacted into a snapshot.
const DefaultSnapshotEvery = 10_000

// ErrCodeInDoubt (indefinite, 503): the entry of a write was replaced by a
// snapshot from the leader before this node could see whether it
// committed.
const ErrCodeInDoubt = "in-doubt"

// Batch is one unit of work for the driver. Contract, in this order:
//  1. persist: Persist(storage); if it fails, stop the node (Stop) and do
//     nothing else of the batch;
//  2. send Messages (best effort);
//  3. deliver Replies.
//
// A batch may hold replies only, or nothing to persist.
type Batch struct {
	HardState core.HardState
	Entries   []core.Entry
	// MustSync says the record must be written; Fsync whether to sync it
	// (false only under the no-fsync bug).
	MustSync, Fsync bool
	// Snapshot, when set, is to be persisted with the HardState and the
	// entries after it (SnapshotEntries), replacing the log before it:
	// a snapshot installed from the leader (Installed; then Entries are
	// part of SnapshotEntries) or this node's own compaction.
	Snapshot        *core.Snapshot
	SnapshotEntries []core.Entry
	Installed       bool
	Messages        []core.Message
	Replies         []Reply
}

// Persist carries out step 1 of the Batch contract on s.
func (b Batch) Persist(s Storage) error {
	if b.Snapshot != nil && b.Installed {
		return saveSnapshot(s, *b.Snapshot, b.HardState, b.SnapshotEntries, b.Fsync)
	}
	if err := saveRecord(s, b.HardState, b.Entries, b.MustSync, b.Fsync); err != nil {
		return err
	}
	if b.Snapshot != nil {
		return saveSnapshot(s, *b.Snapshot, b.HardState, b.SnapshotEntries, b.Fsync)
	}
	return nil
}

// mreq is one client request inside the machine.
type mreq struct {
	id    uint64
	op    Op
	index uint64 // log index of a proposed write or cas
	term  uint64
}

type readBatch struct {
	index   uint64
	reqs    []*mreq
	started time.Time // node clock when the round began (lease-read)
}

// NewMachine restores a machine from cfg.
func NewMachine(cfg MachineConfig) (*Machine, error) {
	bugs, err := parseBugs(cfg.Bugs)
	if err != nil {
		return nil, fmt.Errorf("MachineConfig.Bugs %q: %w", cfg.Bugs, err)
	}
	if cfg.Tick < 0 {
		return nil, fmt.Errorf("MachineConfig.Tick %v must not be negative", cfg.Tick)
	}
	if cfg.Tick == 0 {
		cfg.Tick = DefaultTick
	}
	if cfg.ElectionTicks == 0 {
		cfg.ElectionTicks = DefaultElectionTicks
	}
	if cfg.HeartbeatTicks == 0 {
		cfg.HeartbeatTicks = DefaultHeartbeatTicks
	}
	if cfg.CheckQuorumTicks == 0 {
		cfg.CheckQuorumTicks = DefaultCheckQuorumTicks
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.SnapshotEvery == 0 {
		cfg.SnapshotEvery = DefaultSnapshotEvery
	}
	kv := newKV()
	var applied uint64
	if cfg.Snapshot != nil {
		if err := kv.restore(cfg.Snapshot.Data); err != nil {
			return nil, fmt.Errorf("restore snapshot at %d: %w", cfg.Snapshot.Index, err)
		}
		applied = cfg.Snapshot.Index
	}
	ids := make([]string, len(cfg.Peers))
	addrs := map[string]string{}
	for i, p := range cfg.Peers {
		ids[i] = p.ID
		addrs[p.ID] = p.Addr
	}
	cc := core.DefaultConfig(cfg.ID, ids)
	cc.ElectionTicks = cfg.ElectionTicks
	cc.HeartbeatTicks = cfg.HeartbeatTicks
	cc.CheckQuorumTicks = cfg.CheckQuorumTicks
	cc.Seed = cfg.Seed
	cc.Snapshot = cfg.Snapshot
	cc.HardState = cfg.HardState
	cc.Entries = cfg.Entries
	cc.Applied = applied
	if bugs.ackBeforeCommit {
		cc.LazyReplicationTicks = lazyReplicationTicks
	}
	c, err := core.New(cc)
	if err != nil {
		return nil, fmt.Errorf("restore core: %w", err)
	}
	m := &Machine{
		id:          cfg.ID,
		addrs:       addrs,
		tick:        cfg.Tick,
		catchUp:     cfg.ElectionTicks,
		lease:       time.Duration(cfg.ElectionTicks) * cfg.Tick * 2 / 3,
		bugs:        bugs,
		logf:        cfg.Logf,
		core:        c,
		kv:          kv,
		applied:     applied,
		lastTick:    cfg.Now,
		hs:          cfg.HardState,
		pending:     map[uint64]*mreq{},
		readBatches: map[uint64]*readBatch{},
	}
	st := c.Status()
	m.soft = core.SoftState{Lead: st.Lead, Role: st.Role, Term: st.Term}
	if cfg.SnapshotEvery > 0 {
		m.every = uint64(cfg.SnapshotEvery)
	}
	m.logf("restored term %d vote %q commit %d, snapshot at %d, %d log entries after it; bugs %v",
		cfg.HardState.Term, cfg.HardState.Vote, cfg.HardState.Commit, applied, len(cfg.Entries), cfg.Bugs)
	return m, nil
}

// Tick tells the machine the node's clock reads now. Progress is turned
// into core ticks; a clock that jumped back restarts counting from its new
// reading, and a forward jump (or a pause) is worth at most an election
// timeout of ticks at once.
func (m *Machine) Tick(now time.Time) {
	el := now.Sub(m.lastTick)
	if el < 0 {
		m.lastTick = now
		return
	}
	k := int(el / m.tick)
	if k > m.catchUp {
		k = m.catchUp
		m.lastTick = now
	} else {
		m.lastTick = m.lastTick.Add(time.Duration(k) * m.tick)
	}
	for range k {
		m.core.Tick()
	}
}

// NextTick is when (by the node's clock) the next Tick has work to do.
func (m *Machine) NextTick() time.Time { return m.lastTick.Add(m.tick) }

// Step hands the machine messages from peers.
func (m *Machine) Step(msgs []core.Message) {
	for _, msg := range msgs {
		m.core.Step(msg) // errors name misaddressed messages; nothing to do
	}
}

// Request hands the machine a client operation, answered later by a Reply
// with the same id. now is the node's clock.
func (m *Machine) Request(now time.Time, id uint64, op Op) {
	r := &mreq{id: id, op: op}
	if m.core.Status().Role != core.Leader {
		m.reply(r, m.notLeader())
		return
	}
	if op.F != "read" {
		m.props = append(m.props, r)
		return
	}
	if m.bugs.staleRead {
		// BUG stale-read: answer from local state without confirming
		// that this node still leads.
		m.reply(r, readResponse(m.kv, op.Key))
		return
	}
	if m.bugs.leaseRead && now.Before(m.leaseUntil) {
		// BUG lease-read: answer without a quorum round while the lease
		// lasts by this node's own clock, which may have fallen back
		// since the lease was extended. (As a lease read should, it
		// waits until the state has applied the commit index.)
		m.waitingReads = append(m.waitingReads, &readBatch{index: m.core.Status().Commit, reqs: []*mreq{r}})
		m.serveReads()
		return
	}
	m.reads = append(m.reads, r)
}

// HasReady reports whether Ready would return a batch.
func (m *Machine) HasReady() bool {
	return len(m.props) > 0 || len(m.reads) > 0 || len(m.replies) > 0 || m.core.HasReady()
}

// Ready proposes the writes and starts one read round for the reads
// requested since the last call, and returns the next batch of work (see
// Batch for the order it must be carried out in). now is the node's clock.
// ok is false when there is nothing to do.
func (m *Machine) Ready(now time.Time) (b Batch, ok bool) {
	m.flush(now)
	if m.core.HasReady() {
		rd := m.core.Ready()
		if rd.SoftState != nil {
			m.onSoftState(*rd.SoftState)
		}
		if !rd.HardState.IsEmpty() {
			m.hs = rd.HardState
		}
		b.HardState = m.hs
		if m.bugs.forgetVote {
			// BUG forget-vote: the term is persisted, the vote is not.
			b.HardState.Vote = ""
		}
		b.Entries, b.MustSync = rd.Entries, rd.MustSync
		// fsync, unless BUG no-fsync: then the record is only in the
		// page cache when the messages go out and clients are answered.
		b.Fsync = !m.bugs.noFsync
		b.Messages = rd.Messages
		if rd.Snapshot != nil {
			m.install(*rd.Snapshot)
			b.Snapshot, b.SnapshotEntries, b.Installed = rd.Snapshot, rd.Entries, true
		}
		for _, e := range rd.CommittedEntries {
			m.applyEntry(e)
		}
		for _, rs := range rd.ReadStates {
			if rb := m.readBatches[rs.Context]; rb != nil {
				delete(m.readBatches, rs.Context)
				rb.index = rs.Index
				m.waitingReads = append(m.waitingReads, rb)
				if m.bugs.leaseRead {
					// The round confirmed leadership as of its start:
					// lease reads until then plus the lease, and never
					// shorten it.
					if until := rb.started.Add(m.lease); until.After(m.leaseUntil) {
						m.leaseUntil = until
					}
				}
			}
		}
		m.serveReads()
		m.core.Advance(rd)
		if b.Snapshot == nil {
			b.Snapshot, b.SnapshotEntries = m.maybeCompact()
		}
		ok = true
	}
	if len(m.replies) > 0 {
		b.Replies, m.replies = m.replies, nil
		ok = true
	}
	return b, ok
}

// Stop answers everything in flight as the node stops: proposals not yet
// made certainly did not happen, everything else may have.
func (m *Machine) Stop() []Reply {
	stop := KVResponse{Error: ErrCodeStopping}
	out := m.replies
	m.replies = nil
	for _, idx := range sortedKeys(m.pending) {
		out = append(out, Reply{m.pending[idx].id, stop})
	}
	for _, r := range m.props {
		out = append(out, Reply{r.id, KVResponse{Error: ErrCodeStopping, Definite: true}})
	}
	for _, ctx := range sortedKeys(m.readBatches) {
		for _, r := range m.readBatches[ctx].reqs {
			out = append(out, Reply{r.id, stop})
		}
	}
	for _, b := range m.waitingReads {
		for _, r := range b.reqs {
			out = append(out, Reply{r.id, stop})
		}
	}
	for _, r := range m.reads {
		out = append(out, Reply{r.id, stop})
	}
	m.pending, m.readBatches = map[uint64]*mreq{}, map[uint64]*readBatch{}
	m.props, m.reads, m.waitingReads = nil, nil, nil
	return out
}

// Status reports the machine's state as GET /status does.
func (m *Machine) Status() StatusResponse {
	st := m.core.Status()
	state := "follower"
	switch st.Role {
	case core.Leader:
		state = "leader"
	case core.Candidate, core.PreCandidate:
		state = "candidate"
	}
	return StatusResponse{
		ID: m.id, State: state, Term: st.Term, Leader: st.Lead, LeaderAddr: m.addrs[st.Lead],
		Commit: st.Commit, Applied: m.applied, LastIndex: st.LastIndex,
	}
}

func (m *Machine) reply(r *mreq, resp KVResponse) {
	m.replies = append(m.replies, Reply{ID: r.id, Resp: resp})
}

func (m *Machine) notLeader() KVResponse {
	lead := m.core.Status().Lead
	return KVResponse{Error: ErrCodeNotLeader, Definite: true, Leader: lead, LeaderAddr: m.addrs[lead]}
}

// flush proposes the batched writes in one call and starts one ReadIndex
// round for the batched reads.
func (m *Machine) flush(now time.Time) {
	if len(m.props) > 0 {
		props := m.props
		m.props = nil
		data := make([][]byte, len(props))
		for i, r := range props {
			data[i] = r.op.cmd.encode()
		}
		if m.bugs.ackBeforeCommit {
			m.ensureSpec()
		}
		first, term, err := m.core.Propose(data...)
		for i, r := range props {
			if err != nil {
				m.reply(r, m.notLeader())
				continue
			}
			r.index, r.term = first+uint64(i), term
			if old := m.pending[r.index]; old != nil {
				// This node's log lost old's entry, so no leader can
				// have committed it.
				m.reply(old, KVResponse{Error: ErrCodeOverwritten, Definite: true})
			}
			if m.bugs.ackBeforeCommit {
				// BUG ack-before-commit: answer as soon as the entry is
				// in the leader's own log, from the state it would
				// produce if it committed.
				m.reply(r, resultResponse(m.spec.apply(r.op.cmd)))
				continue
			}
			m.pending[r.index] = r
		}
	}
	if len(m.reads) > 0 {
		reads := m.reads
		m.reads = nil
		m.readSeq++
		if err := m.core.ReadIndex(m.readSeq); err != nil {
			for _, r := range reads {
				m.reply(r, m.notLeader())
			}
			return
		}
		m.readBatches[m.readSeq] = &readBatch{reqs: reads, started: now}
	}
}

// ensureSpec builds, once per leadership term, the speculative state the
// ack-before-commit bug answers from: the applied state plus every entry
// already in the log. New proposals are applied to it as they are made.
func (m *Machine) ensureSpec() {
	st := m.core.Status()
	if m.spec != nil && m.specTerm == st.Term {
		return
	}
	m.spec, m.specTerm = m.kv.clone(), st.Term
	for _, e := range m.core.Slice(m.applied+1, st.LastIndex+1) {
		if cmd, err := decodeCommand(e.Data); err == nil && len(e.Data) > 0 {
			m.spec.apply(cmd)
		}
	}
}

func (m *Machine) onSoftState(ss core.SoftState) {
	prev := m.soft
	m.soft = ss
	if ss.Role != core.Leader || ss.Term != prev.Term {
		// Unconfirmed reads die with the leadership they were asked of;
		// the core has forgotten them.
		for _, ctx := range sortedKeys(m.readBatches) {
			for _, r := range m.readBatches[ctx].reqs {
				m.reply(r, KVResponse{Error: ErrCodeLeadershipLost, Definite: true})
			}
			delete(m.readBatches, ctx)
		}
		m.spec = nil
		m.leaseUntil = time.Time{}
	}
	if ss.Role != prev.Role || ss.Term != prev.Term || ss.Lead != prev.Lead {
		switch ss.Role {
		case core.Leader:
			m.logf("became leader in term %d", ss.Term)
		case core.Follower:
			if ss.Lead != "" {
				m.logf("following %s in term %d", ss.Lead, ss.Term)
			} else {
				m.logf("follower without leader in term %d", ss.Term)
			}
		default:
			m.logf("%s in term %d", ss.Role, ss.Term)
		}
	}
}

func (m *Machine) applyEntry(e core.Entry) {
	var res applyResult
	if len(e.Data) > 0 {
		cmd, err := decodeCommand(e.Data)
		if err != nil {
			m.logf("entry %d: %v (skipped)", e.Index, err)
		} else {
			res = m.kv.apply(cmd)
		}
	}
	m.applied = e.Index
	r := m.pending[e.Index]
	if r == nil {
		return
	}
	delete(m.pending, e.Index)
	if r.term != e.Term {
		// Another entry committed at r's index: r never will.
		m.reply(r, KVResponse{Error: ErrCodeOverwritten, Definite: true})
		return
	}
	m.reply(r, resultResponse(res))
}

// install replaces the state with a snapshot the leader sent. Writes
// waiting at or below its index can no longer be matched to their entries:
// they may or may not have committed.
func (m *Machine) install(snap core.Snapshot) {
	kv := newKV()
	if err := kv.restore(snap.Data); err != nil {
		// The leader encoded it with the same code: a bug, not a fault.
		panic(fmt.Sprintf("raft %s: undecodable snapshot at %d: %v", m.id, snap.Index, err))
	}
	m.kv, m.applied, m.spec = kv, snap.Index, nil
	for _, idx := range sortedKeys(m.pending) {
		if idx <= snap.Index {
			m.reply(m.pending[idx], KVResponse{Error: ErrCodeInDoubt})
			delete(m.pending, idx)
		}
	}
	m.logf("installed the leader's snapshot at %d (term %d)", snap.Index, snap.Term)
}

// maybeCompact compacts the log into a snapshot of the applied state once
// m.every entries were applied since the last one, and returns it with the
// entries after it, to persist.
func (m *Machine) maybeCompact() (*core.Snapshot, []core.Entry) {
	st := m.core.Status()
	if m.every == 0 || m.applied < st.SnapshotIndex+m.every {
		return nil, nil
	}
	if err := m.core.Compact(m.applied, m.kv.snapshot()); err != nil {
		m.logf("compact to %d: %v", m.applied, err)
		return nil, nil
	}
	snap := m.core.Snapshot()
	return &snap, m.core.Slice(snap.Index+1, st.LastIndex+1)
}

func (m *Machine) serveReads() {
	src := m.kv
	if m.bugs.ackBeforeCommit && m.soft.Role == core.Leader && len(m.waitingReads) > 0 {
		// BUG ack-before-commit, continued: answer from the state the
		// leader's own log would produce, consistent with its early
		// acknowledgements.
		m.ensureSpec()
		src = m.spec
	}
	keep := m.waitingReads[:0]
	for _, b := range m.waitingReads {
		if b.index > m.applied {
			keep = append(keep, b)
			continue
		}
		for _, r := range b.reqs {
			m.reply(r, readResponse(src, r.op.Key))
		}
	}
	m.waitingReads = keep
}

func sortedKeys[V any](m map[uint64]V) []uint64 {
	ks := make([]uint64, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func readResponse(kv *kvStore, key string) KVResponse {
	if v, ok := kv.read(key); ok {
		b, _ := json.Marshal(v)
		return KVResponse{OK: true, Value: b}
	}
	return KVResponse{OK: true, Value: json.RawMessage("null")}
}

func resultResponse(res applyResult) KVResponse {
	if res.ok {
		return KVResponse{OK: true}
	}
	cur := json.RawMessage("null")
	if res.cur != nil {
		cur, _ = json.Marshal(*res.cur)
	}
	return KVResponse{Error: ErrCodeCASMismatch, Definite: true, Value: cur}
}

// ParseKVRequest checks a client request and turns it into an Op.
func ParseKVRequest(kr KVRequest) (Op, error) {
	op := Op{F: kr.F, Key: kr.Key}
	if kr.Key == "" {
		return op, errors.New("key is empty")
	}
	switch kr.F {
	case "read":
	case "write":
		var v int64
		if err := json.Unmarshal(kr.Value, &v); err != nil {
			return op, fmt.Errorf("write value %s: %v", kr.Value, err)
		}
		op.cmd = command{Op: "write", Key: kr.Key, Value: v}
	case "cas":
		var v [2]int64
		if err := json.Unmarshal(kr.Value, &v); err != nil {
			return op, fmt.Errorf("cas value %s (want [from, to]): %v", kr.Value, err)
		}
		op.cmd = command{Op: "cas", Key: kr.Key, From: v[0], To: v[1]}
	default:
		return op, fmt.Errorf("unknown f %q (want read, write or cas)", kr.F)
	}
	return op, nil
}
