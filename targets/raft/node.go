package raft

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/targets/raft/core"
)

// Config configures a Node. Clock, Transport, Storage and the seed of all
// randomness come in here, so tests and fault injectors can replace each.
type Config struct {
	// ID is this node; Peers lists every node, this one included.
	ID    string
	Peers []cluster.Peer

	// Storage holds the write-ahead log (term, vote, entries).
	Storage Storage
	// Transport carries messages to peers; the node receives through
	// Receive (HTTP: Handler's MessagePath).
	Transport Transport
	// Clock times ticks; nil means RealClock.
	Clock Clock
	// Seed seeds the core's election-timeout randomness.
	Seed uint64

	// Tick is the length of one core tick (default 10 ms).
	Tick time.Duration
	// ElectionTicks, HeartbeatTicks and CheckQuorumTicks tune the core;
	// zero takes DefaultElectionTicks, DefaultHeartbeatTicks and
	// DefaultCheckQuorumTicks.
	ElectionTicks, HeartbeatTicks, CheckQuorumTicks int
	// RequestTimeout bounds how long a client request waits for its
	// outcome before the node answers "timeout" (default 1 s).
	RequestTimeout time.Duration

	// Bugs names the seeded bugs to switch on (see Target.Bugs).
	Bugs []string
	// Logger receives the node's log; nil discards it.
	Logger *log.Logger
}

// Timing defaults. At a 10 ms tick: election timeouts drawn from
// [150 ms, 300 ms), a heartbeat every 30 ms, and a check-quorum window of
// 2.5 s. The window is long on purpose: a leader cut off from its peers keeps
// believing it leads (and keeps accepting client requests) for 2.5 s, which
// is what lets the stale-read bug be seen under a leader partition. The
// correct build is unaffected: its reads and writes need a quorum anyway, and
// the majority side elects a new leader within ~0.5 s regardless.
const (
	DefaultTick             = 10 * time.Millisecond
	DefaultElectionTicks    = 15
	DefaultHeartbeatTicks   = 3
	DefaultCheckQuorumTicks = 250
	DefaultRequestTimeout   = time.Second
)

// lazyReplicationTicks is how often a leader with the ack-before-commit bug
// sends new entries (100 ms at the default tick): with acknowledgements no
// longer waiting for replication, it batches. A leader killed at a random
// moment thus takes about that much acknowledged history with it.
const lazyReplicationTicks = 10

// Validate reports the first invalid field of c, naming it and its value.
func (c Config) Validate() error {
	if c.ID == "" {
		return errors.New("Config.ID is empty")
	}
	found := false
	for _, p := range c.Peers {
		if p.ID == c.ID {
			found = true
		}
	}
	if !found {
		return fmt.Errorf("Config.ID %q is not among Config.Peers %v", c.ID, c.Peers)
	}
	if c.Storage == nil {
		return errors.New("Config.Storage is nil")
	}
	if c.Transport == nil {
		return errors.New("Config.Transport is nil")
	}
	if c.Tick < 0 || c.RequestTimeout < 0 {
		return fmt.Errorf("Config.Tick %v and Config.RequestTimeout %v must not be negative", c.Tick, c.RequestTimeout)
	}
	if _, err := parseBugs(c.Bugs); err != nil {
		return fmt.Errorf("Config.Bugs %q: %w", c.Bugs, err)
	}
	return nil
}

// Node is one Raft KV node: a core, its WAL, a transport, the key-value
// state machine and the client API. One goroutine (Run) owns the core; HTTP
// handlers talk to it through channels.
type Node struct {
	id        string
	addrs     map[string]string
	storage   Storage
	transport Transport
	clock     Clock
	tick      time.Duration
	timeout   time.Duration
	catchUp   int
	lease     time.Duration // lease-read bug: how long a confirmed round leases reads
	bugs      bugSet
	logger    *log.Logger

	core *core.Raft
	kv   *kvStore

	reqc   chan *request
	recvc  chan []core.Message
	done   chan struct{}
	status atomic.Pointer[StatusResponse]

	// Owned by the Run goroutine.
	lastTick     time.Time
	hs           core.HardState // latest, as persisted with the next record
	soft         core.SoftState
	applied      uint64
	props, reads []*request
	pending      map[uint64]*request // by log index
	readBatches  map[uint64]*readBatch
	waitingReads []*readBatch // confirmed, waiting for apply
	readSeq      uint64
	spec         *kvStore // ack-before-commit: state including unapplied entries
	specTerm     uint64
	leaseUntil   time.Time // lease-read: reads are served locally before this (node clock)
}

// request is one client operation on its way through the loop.
type request struct {
	f     string
	key   string
	cmd   command
	resp  chan KVResponse // buffered: the loop never blocks on it
	index uint64
	term  uint64
}

func (r *request) reply(resp KVResponse) {
	select {
	case r.resp <- resp:
	default:
	}
}

type readBatch struct {
	index   uint64
	reqs    []*request
	started time.Time // node clock when the round began (lease-read)
}

// NewNode replays cfg.Storage and returns a node ready to Run.
func NewNode(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bugs, _ := parseBugs(cfg.Bugs)
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
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
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = log.New(io.Discard, "", 0)
	}
	hs, ents, err := loadWAL(cfg.Storage)
	if err != nil {
		return nil, fmt.Errorf("replay wal: %w", err)
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
	cc.HardState = hs
	cc.Entries = ents
	if bugs.ackBeforeCommit {
		cc.LazyReplicationTicks = lazyReplicationTicks
	}
	c, err := core.New(cc)
	if err != nil {
		return nil, fmt.Errorf("restore core: %w", err)
	}
	n := &Node{
		id:          cfg.ID,
		addrs:       addrs,
		storage:     cfg.Storage,
		transport:   cfg.Transport,
		clock:       cfg.Clock,
		tick:        cfg.Tick,
		timeout:     cfg.RequestTimeout,
		catchUp:     cfg.ElectionTicks,
		lease:       time.Duration(cfg.ElectionTicks) * cfg.Tick * 2 / 3,
		bugs:        bugs,
		logger:      cfg.Logger,
		core:        c,
		kv:          newKV(),
		reqc:        make(chan *request, 1024),
		recvc:       make(chan []core.Message, 1024),
		done:        make(chan struct{}),
		pending:     map[uint64]*request{},
		readBatches: map[uint64]*readBatch{},
	}
	st := c.Status()
	n.soft = core.SoftState{Lead: st.Lead, Role: st.Role, Term: st.Term}
	n.hs = hs
	n.logger.Printf("restored term %d vote %q commit %d, %d log entries; bugs %v", hs.Term, hs.Vote, hs.Commit, len(ents), cfg.Bugs)
	n.publishStatus()
	return n, nil
}

// Status returns the node's latest published status.
func (n *Node) Status() StatusResponse { return *n.status.Load() }

// Done is closed when Run has returned.
func (n *Node) Done() <-chan struct{} { return n.done }

// Receive hands messages from peers to the loop. It blocks until they are
// queued, ctx is done or the node stops.
func (n *Node) Receive(ctx context.Context, msgs []core.Message) error {
	select {
	case n.recvc <- msgs:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return errors.New("node stopped")
	}
}

// Run is the core loop: it ticks the core by the clock, steps received
// messages, proposes client writes in batches, and carries out each Ready
// in the order the core requires (persist and fsync, then send, then apply
// and answer clients). It returns nil when ctx is done, or the storage
// error that stopped it (after a failed fsync nothing may be acknowledged).
// Requests in flight are answered as it stops. Storage and Transport stay
// open: the caller owns them.
func (n *Node) Run(ctx context.Context) error {
	defer close(n.done)
	ticker := time.NewTicker(n.tick)
	defer ticker.Stop()
	n.lastTick = n.clock.Now()
	for {
		select {
		case <-ctx.Done():
			n.abandon()
			return nil
		case <-ticker.C:
			n.advanceClock()
		case msgs := <-n.recvc:
			n.stepAll(msgs)
		case r := <-n.reqc:
			n.accept(r)
		}
		n.drainInputs()
		n.flush()
		for i := 0; i < 4 && n.core.HasReady(); i++ {
			if err := n.processReady(); err != nil {
				n.logger.Printf("fatal: %v", err)
				n.abandon()
				return err
			}
		}
	}
}

// advanceClock turns the clock's progress into ticks. A clock that jumped
// back restarts counting from its new reading; a forward jump (or a pause)
// is worth at most an election timeout of ticks at once.
func (n *Node) advanceClock() {
	now := n.clock.Now()
	el := now.Sub(n.lastTick)
	if el < 0 {
		n.lastTick = now
		return
	}
	k := int(el / n.tick)
	if k > n.catchUp {
		k = n.catchUp
		n.lastTick = now
	} else {
		n.lastTick = n.lastTick.Add(time.Duration(k) * n.tick)
	}
	for range k {
		n.core.Tick()
	}
}

func (n *Node) stepAll(msgs []core.Message) {
	for _, m := range msgs {
		n.core.Step(m) // errors name misaddressed messages; nothing to do
	}
}

// drainInputs takes whatever else is already waiting, so one Ready (one
// fsync) covers it all.
func (n *Node) drainInputs() {
	for range 512 {
		select {
		case msgs := <-n.recvc:
			n.stepAll(msgs)
		case r := <-n.reqc:
			n.accept(r)
		default:
			return
		}
	}
}

func (n *Node) notLeader() KVResponse {
	lead := n.core.Status().Lead
	return KVResponse{Error: ErrCodeNotLeader, Definite: true, Leader: lead, LeaderAddr: n.addrs[lead]}
}

func (n *Node) accept(r *request) {
	if n.core.Status().Role != core.Leader {
		r.reply(n.notLeader())
		return
	}
	if r.f != "read" {
		n.props = append(n.props, r)
		return
	}
	if n.bugs.staleRead {
		// BUG stale-read: answer from local state without confirming
		// that this node still leads.
		r.reply(readResponse(n.kv, r.key))
		return
	}
	if n.bugs.leaseRead && n.clock.Now().Before(n.leaseUntil) {
		// BUG lease-read: answer without a quorum round while the lease
		// lasts by this node's own clock, which may have fallen back
		// since the lease was extended. (As a lease read should, it
		// waits until the state has applied the commit index.)
		n.waitingReads = append(n.waitingReads, &readBatch{index: n.core.Status().Commit, reqs: []*request{r}})
		n.serveReads()
		return
	}
	n.reads = append(n.reads, r)
}

// flush proposes the batched writes in one call and starts one ReadIndex
// round for the batched reads.
func (n *Node) flush() {
	if len(n.props) > 0 {
		props := n.props
		n.props = nil
		data := make([][]byte, len(props))
		for i, r := range props {
			data[i] = r.cmd.encode()
		}
		if n.bugs.ackBeforeCommit {
			n.ensureSpec()
		}
		first, term, err := n.core.Propose(data...)
		for i, r := range props {
			if err != nil {
				r.reply(n.notLeader())
				continue
			}
			r.index, r.term = first+uint64(i), term
			if old := n.pending[r.index]; old != nil {
				// This node's log lost old's entry, so no leader can
				// have committed it.
				old.reply(KVResponse{Error: ErrCodeOverwritten, Definite: true})
			}
			if n.bugs.ackBeforeCommit {
				// BUG ack-before-commit: answer as soon as the entry is
				// in the leader's own log, from the state it would
				// produce if it committed.
				r.reply(resultResponse(n.spec.apply(r.cmd)))
				continue
			}
			n.pending[r.index] = r
		}
	}
	if len(n.reads) > 0 {
		reads := n.reads
		n.reads = nil
		n.readSeq++
		if err := n.core.ReadIndex(n.readSeq); err != nil {
			for _, r := range reads {
				r.reply(n.notLeader())
			}
			return
		}
		n.readBatches[n.readSeq] = &readBatch{reqs: reads, started: n.clock.Now()}
	}
}

// ensureSpec builds, once per leadership term, the speculative state the
// ack-before-commit bug answers from: the applied state plus every entry
// already in the log. New proposals are applied to it as they are made.
func (n *Node) ensureSpec() {
	st := n.core.Status()
	if n.spec != nil && n.specTerm == st.Term {
		return
	}
	n.spec, n.specTerm = n.kv.clone(), st.Term
	for _, e := range n.core.Slice(n.applied+1, st.LastIndex+1) {
		if cmd, err := decodeCommand(e.Data); err == nil && len(e.Data) > 0 {
			n.spec.apply(cmd)
		}
	}
}

func (n *Node) processReady() error {
	rd := n.core.Ready()
	if rd.SoftState != nil {
		n.onSoftState(*rd.SoftState)
	}
	if !rd.HardState.IsEmpty() {
		n.hs = rd.HardState
	}
	// Durable before anything leaves this node or is applied.
	hs := n.hs
	if n.bugs.forgetVote {
		// BUG forget-vote: the term is persisted, the vote is not.
		hs.Vote = ""
	}
	// fsync, unless BUG no-fsync: then the record is only in the page
	// cache when the messages go out and clients are answered.
	if err := saveRecord(n.storage, hs, rd.Entries, rd.MustSync, !n.bugs.noFsync); err != nil {
		return err
	}
	n.transport.Send(rd.Messages)
	for _, e := range rd.CommittedEntries {
		n.applyEntry(e)
	}
	for _, rs := range rd.ReadStates {
		if b := n.readBatches[rs.Context]; b != nil {
			delete(n.readBatches, rs.Context)
			b.index = rs.Index
			n.waitingReads = append(n.waitingReads, b)
			if n.bugs.leaseRead {
				// The round confirmed leadership as of its start: lease
				// reads until then plus the lease, and never shorten it.
				if until := b.started.Add(n.lease); until.After(n.leaseUntil) {
					n.leaseUntil = until
				}
			}
		}
	}
	n.serveReads()
	n.core.Advance(rd)
	n.publishStatus()
	return nil
}

func (n *Node) onSoftState(ss core.SoftState) {
	prev := n.soft
	n.soft = ss
	if ss.Role != core.Leader || ss.Term != prev.Term {
		// Unconfirmed reads die with the leadership they were asked of;
		// the core has forgotten them.
		for ctx, b := range n.readBatches {
			for _, r := range b.reqs {
				r.reply(KVResponse{Error: ErrCodeLeadershipLost, Definite: true})
			}
			delete(n.readBatches, ctx)
		}
		n.spec = nil
		n.leaseUntil = time.Time{}
	}
	if ss.Role != prev.Role || ss.Term != prev.Term || ss.Lead != prev.Lead {
		switch ss.Role {
		case core.Leader:
			n.logger.Printf("became leader in term %d", ss.Term)
		case core.Follower:
			if ss.Lead != "" {
				n.logger.Printf("following %s in term %d", ss.Lead, ss.Term)
			} else {
				n.logger.Printf("follower without leader in term %d", ss.Term)
			}
		default:
			n.logger.Printf("%s in term %d", ss.Role, ss.Term)
		}
	}
}

func (n *Node) applyEntry(e core.Entry) {
	var res applyResult
	if len(e.Data) > 0 {
		cmd, err := decodeCommand(e.Data)
		if err != nil {
			n.logger.Printf("entry %d: %v (skipped)", e.Index, err)
		} else {
			res = n.kv.apply(cmd)
		}
	}
	n.applied = e.Index
	r := n.pending[e.Index]
	if r == nil {
		return
	}
	delete(n.pending, e.Index)
	if r.term != e.Term {
		// Another entry committed at r's index: r never will.
		r.reply(KVResponse{Error: ErrCodeOverwritten, Definite: true})
		return
	}
	r.reply(resultResponse(res))
}

func (n *Node) serveReads() {
	src := n.kv
	if n.bugs.ackBeforeCommit && n.soft.Role == core.Leader && len(n.waitingReads) > 0 {
		// BUG ack-before-commit, continued: answer from the state the
		// leader's own log would produce, consistent with its early
		// acknowledgements.
		n.ensureSpec()
		src = n.spec
	}
	keep := n.waitingReads[:0]
	for _, b := range n.waitingReads {
		if b.index > n.applied {
			keep = append(keep, b)
			continue
		}
		for _, r := range b.reqs {
			r.reply(readResponse(src, r.key))
		}
	}
	n.waitingReads = keep
}

// abandon answers everything in flight as the loop stops.
func (n *Node) abandon() {
	stop := KVResponse{Error: ErrCodeStopping}
	for _, r := range n.pending {
		r.reply(stop)
	}
	for _, r := range n.props {
		r.reply(KVResponse{Error: ErrCodeStopping, Definite: true})
	}
	for _, b := range n.readBatches {
		for _, r := range b.reqs {
			r.reply(stop)
		}
	}
	for _, b := range n.waitingReads {
		for _, r := range b.reqs {
			r.reply(stop)
		}
	}
	for _, r := range n.reads {
		r.reply(stop)
	}
}

func (n *Node) publishStatus() {
	st := n.core.Status()
	state := "follower"
	switch st.Role {
	case core.Leader:
		state = "leader"
	case core.Candidate, core.PreCandidate:
		state = "candidate"
	}
	n.status.Store(&StatusResponse{
		ID: n.id, State: state, Term: st.Term, Leader: st.Lead, LeaderAddr: n.addrs[st.Lead],
		Commit: st.Commit, Applied: n.applied, LastIndex: st.LastIndex,
	})
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

// ---- HTTP ----

// Handler returns the node's HTTP API: MessagePath for peers, KVPath,
// StatusPath and HealthPath for clients and the harness. The result is a
// *http.ServeMux so an admin API can be added beside it.
func (n *Node) Handler() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+MessagePath, n.handleMessage)
	mux.HandleFunc("POST "+KVPath, n.handleKV)
	mux.HandleFunc("GET "+StatusPath, n.handleStatus)
	mux.HandleFunc("GET "+HealthPath, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-n.done:
			http.Error(w, "stopped", http.StatusServiceUnavailable)
		default:
			io.WriteString(w, "ok\n")
		}
	})
	return mux
}

func (n *Node) handleMessage(w http.ResponseWriter, r *http.Request) {
	var msgs []core.Message
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 512<<20)).Decode(&msgs); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if err := n.Receive(ctx, msgs); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (n *Node) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, n.Status())
}

func (n *Node) handleKV(w http.ResponseWriter, hr *http.Request) {
	var kr KVRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, hr.Body, 1<<20)).Decode(&kr); err != nil {
		writeKV(w, KVResponse{Error: ErrCodeBadRequest, Definite: true})
		return
	}
	r, err := parseKVRequest(kr)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, KVResponse{Error: ErrCodeBadRequest + ": " + err.Error(), Definite: true})
		return
	}
	timeout := n.timeout
	if t := time.Duration(kr.TimeoutMS) * time.Millisecond; t > 0 && t < timeout {
		timeout = t
	}
	ctx, cancel := context.WithTimeout(hr.Context(), timeout)
	defer cancel()
	select {
	case n.reqc <- r:
	case <-ctx.Done():
		writeKV(w, KVResponse{Error: ErrCodeBusy, Definite: true})
		return
	case <-n.done:
		writeKV(w, KVResponse{Error: ErrCodeBusy, Definite: true})
		return
	}
	select {
	case resp := <-r.resp:
		writeKV(w, resp)
	case <-ctx.Done():
		writeKV(w, KVResponse{Error: ErrCodeTimeout})
	case <-n.done:
		select {
		case resp := <-r.resp: // answered as the loop stopped
			writeKV(w, resp)
		default:
			writeKV(w, KVResponse{Error: ErrCodeStopping})
		}
	}
}

func parseKVRequest(kr KVRequest) (*request, error) {
	r := &request{f: kr.F, key: kr.Key, resp: make(chan KVResponse, 1)}
	if kr.Key == "" {
		return nil, errors.New("key is empty")
	}
	switch kr.F {
	case "read":
	case "write":
		var v int64
		if err := json.Unmarshal(kr.Value, &v); err != nil {
			return nil, fmt.Errorf("write value %s: %v", kr.Value, err)
		}
		r.cmd = command{Op: "write", Key: kr.Key, Value: v}
	case "cas":
		var v [2]int64
		if err := json.Unmarshal(kr.Value, &v); err != nil {
			return nil, fmt.Errorf("cas value %s (want [from, to]): %v", kr.Value, err)
		}
		r.cmd = command{Op: "cas", Key: kr.Key, From: v[0], To: v[1]}
	default:
		return nil, fmt.Errorf("unknown f %q (want read, write or cas)", kr.F)
	}
	return r, nil
}

func writeKV(w http.ResponseWriter, resp KVResponse) {
	code := http.StatusOK
	switch resp.Error {
	case "":
	case ErrCodeNotLeader:
		code = http.StatusMisdirectedRequest
	case ErrCodeCASMismatch, ErrCodeOverwritten:
		code = http.StatusConflict
	case ErrCodeTimeout:
		code = http.StatusGatewayTimeout
	case ErrCodeBadRequest:
		code = http.StatusBadRequest
	default:
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, resp)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
