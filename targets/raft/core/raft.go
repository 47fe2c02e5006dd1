package core

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sort"
)

// ErrNotLeader is returned by Propose and ReadIndex on a node that is not
// the leader. Nothing was appended or queued; Status().Lead is the hint.
var ErrNotLeader = errors.New("raft: not the leader")

// ErrCompacted is returned by Compact for an index at or below the latest
// snapshot's: there is nothing to compact, and nothing changed.
var ErrCompacted = errors.New("raft: already compacted to that index")

// Config configures a core. Zero-valued tuning fields take the defaults of
// DefaultConfig.
type Config struct {
	// ID is this node's identity; it must be one of Peers.
	ID string
	// Peers lists every voting member, this node included.
	Peers []string

	// ElectionTicks is the base election timeout: each timeout is drawn
	// uniformly from [ElectionTicks, 2*ElectionTicks).
	ElectionTicks int
	// HeartbeatTicks is the interval between a leader's heartbeats.
	HeartbeatTicks int
	// PreVote makes a node win a pre-vote round before raising its term,
	// so a node that was partitioned away cannot disrupt a working leader
	// when it comes back.
	PreVote bool
	// CheckQuorumTicks, when positive, makes a leader step down if it has
	// not heard from a quorum during that many ticks, and makes followers
	// that heard from a leader within ElectionTicks ignore vote requests
	// (leader stickiness). Zero disables both. Safety never depends on it:
	// reads are confirmed by heartbeat rounds, not by time.
	CheckQuorumTicks int
	// StallTicks is how long a leader streaming to a lagging follower waits
	// for any acknowledgement before resending from the last acknowledged
	// entry (messages are best effort; the tail of a stream can be lost).
	StallTicks int
	// SnapshotRetryTicks is how long a leader waits for a follower to
	// acknowledge a MsgSnap before sending it again (a lost snapshot
	// message is otherwise never noticed). Snapshots are large, so it is
	// longer than StallTicks.
	SnapshotRetryTicks int
	// MaxEntriesPerMsg caps the entries in one MsgApp.
	MaxEntriesPerMsg int
	// MaxInflight caps the unacknowledged MsgApps to one follower.
	MaxInflight int
	// LazyReplicationTicks, when positive, makes a leader send new entries
	// only every that many ticks instead of at once. It exists for a seeded
	// bug (a leader that acknowledges before commit and so sees no reason
	// to hurry); a correct node leaves it zero.
	LazyReplicationTicks int

	// Seed seeds the election-timeout randomness. It is mixed with ID, so
	// peers given the same Seed still draw different timeouts.
	Seed uint64

	// Snapshot, HardState, Entries and Applied restore a node from its
	// storage. Snapshot is the latest persisted snapshot, nil for none;
	// the shell has loaded its Data into the state machine before New.
	// Entries are the persisted entries after it, contiguous from
	// Snapshot.Index+1 (from 1 without a snapshot). Applied is the index
	// the state machine already reflects: at least Snapshot.Index, which
	// is what a smaller value (0 included) means; entries after it are
	// applied again through CommittedEntries.
	Snapshot  *Snapshot
	HardState HardState
	Entries   []Entry
	Applied   uint64
}

// DefaultConfig returns a Config for id among peers with the tuning the node
// shell uses at a 10 ms tick: election timeouts of 150-300 ms, a heartbeat
// every 30 ms, pre-vote on, and check-quorum after 2.5 s (long on purpose:
// see package raft, which documents why).
func DefaultConfig(id string, peers []string) Config {
	return Config{
		ID:                 id,
		Peers:              peers,
		ElectionTicks:      15,
		HeartbeatTicks:     3,
		PreVote:            true,
		CheckQuorumTicks:   250,
		StallTicks:         10,
		MaxEntriesPerMsg:   512,
		MaxInflight:        256,
		SnapshotRetryTicks: 50,
	}
}

// Validate reports the first invalid field of c, naming it and its value.
func (c Config) Validate() error {
	if c.ID == "" {
		return errors.New("Config.ID is empty")
	}
	seen := map[string]bool{}
	for _, p := range c.Peers {
		if p == "" {
			return fmt.Errorf("Config.Peers %q contains an empty id", c.Peers)
		}
		if seen[p] {
			return fmt.Errorf("Config.Peers %q contains %q twice", c.Peers, p)
		}
		seen[p] = true
	}
	if !seen[c.ID] {
		return fmt.Errorf("Config.ID %q is not in Config.Peers %q", c.ID, c.Peers)
	}
	if c.HeartbeatTicks < 0 {
		return fmt.Errorf("Config.HeartbeatTicks %d is negative", c.HeartbeatTicks)
	}
	if c.ElectionTicks < 0 {
		return fmt.Errorf("Config.ElectionTicks %d is negative", c.ElectionTicks)
	}
	c = c.withDefaults()
	if c.ElectionTicks <= c.HeartbeatTicks {
		return fmt.Errorf("Config.ElectionTicks %d must exceed Config.HeartbeatTicks %d", c.ElectionTicks, c.HeartbeatTicks)
	}
	if c.CheckQuorumTicks < 0 {
		return fmt.Errorf("Config.CheckQuorumTicks %d is negative", c.CheckQuorumTicks)
	}
	if c.CheckQuorumTicks > 0 && c.CheckQuorumTicks < c.ElectionTicks {
		return fmt.Errorf("Config.CheckQuorumTicks %d is below Config.ElectionTicks %d", c.CheckQuorumTicks, c.ElectionTicks)
	}
	if c.StallTicks < 0 || c.MaxEntriesPerMsg < 0 || c.MaxInflight < 0 || c.LazyReplicationTicks < 0 || c.SnapshotRetryTicks < 0 {
		return fmt.Errorf("Config.StallTicks %d, MaxEntriesPerMsg %d, MaxInflight %d, LazyReplicationTicks %d and SnapshotRetryTicks %d must not be negative",
			c.StallTicks, c.MaxEntriesPerMsg, c.MaxInflight, c.LazyReplicationTicks, c.SnapshotRetryTicks)
	}
	if c.HardState.Vote != "" && !seen[c.HardState.Vote] {
		return fmt.Errorf("Config.HardState.Vote %q is not in Config.Peers %q", c.HardState.Vote, c.Peers)
	}
	if n := len(c.Entries); n > 0 && c.Entries[n-1].Term > c.HardState.Term {
		return fmt.Errorf("Config.HardState.Term %d is below the last restored entry's term %d", c.HardState.Term, c.Entries[n-1].Term)
	}
	if s := c.Snapshot; s != nil {
		if s.Term > c.HardState.Term {
			return fmt.Errorf("Config.HardState.Term %d is below Config.Snapshot.Term %d", c.HardState.Term, s.Term)
		}
		if (s.Index == 0) != (s.Term == 0) {
			return fmt.Errorf("Config.Snapshot has Index %d and Term %d: both or neither must be zero", s.Index, s.Term)
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	d := DefaultConfig(c.ID, c.Peers)
	if c.ElectionTicks == 0 {
		c.ElectionTicks = d.ElectionTicks
	}
	if c.HeartbeatTicks == 0 {
		c.HeartbeatTicks = d.HeartbeatTicks
	}
	if c.StallTicks == 0 {
		c.StallTicks = d.StallTicks
	}
	if c.MaxEntriesPerMsg == 0 {
		c.MaxEntriesPerMsg = d.MaxEntriesPerMsg
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = d.MaxInflight
	}
	if c.SnapshotRetryTicks == 0 {
		c.SnapshotRetryTicks = d.SnapshotRetryTicks
	}
	return c
}

// Raft is one node's protocol state. It is not safe for concurrent use: one
// goroutine owns it.
type Raft struct {
	id     string
	peers  []string // sorted, this node included
	quorum int

	term uint64
	vote string
	lead string
	role Role
	log  *raftLog

	prs   map[string]*progress
	votes map[string]bool

	electionTicks, heartbeatTicks, cqTicks, stallTicks int
	snapRetryTicks                                     int
	maxEntries, maxInflight                            int
	lazyTicks, lazyElapsed                             int
	preVote, lazy                                      bool

	randomizedElectionTimeout                    int
	electionElapsed, heartbeatElapsed, cqElapsed int
	rand                                         *rand.Rand

	msgs         []Message
	readStates   []ReadState
	readOnly     readOnly
	pendingReads []uint64 // ReadIndex calls waiting for a commit in this term

	// step and tick are the role: swapped by the become* methods.
	step func(r *Raft, m Message)
	tick func(r *Raft)

	prevSoft SoftState
	prevHard HardState
}

// New returns a core restored from c.Snapshot, c.HardState and c.Entries, as
// a follower.
func New(c Config) (*Raft, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c = c.withDefaults()
	l, err := newLog(c.Snapshot, c.Entries, c.HardState.Commit, c.Applied)
	if err != nil {
		return nil, err
	}
	h := fnv.New64a()
	h.Write([]byte(c.ID))
	r := &Raft{
		id:             c.ID,
		peers:          slices.Sorted(slices.Values(c.Peers)),
		quorum:         len(c.Peers)/2 + 1,
		term:           c.HardState.Term,
		vote:           c.HardState.Vote,
		log:            l,
		electionTicks:  c.ElectionTicks,
		heartbeatTicks: c.HeartbeatTicks,
		cqTicks:        c.CheckQuorumTicks,
		stallTicks:     c.StallTicks,
		snapRetryTicks: c.SnapshotRetryTicks,
		maxEntries:     c.MaxEntriesPerMsg,
		maxInflight:    c.MaxInflight,
		preVote:        c.PreVote,
		lazyTicks:      c.LazyReplicationTicks,
		lazy:           c.LazyReplicationTicks > 0,
		rand:           rand.New(rand.NewPCG(c.Seed, h.Sum64())),
	}
	r.becomeFollower(r.term, "")
	r.prevSoft = r.softState()
	r.prevHard = r.hardState()
	return r, nil
}

// ID returns the node's identity.
func (r *Raft) ID() string { return r.id }

// Status returns a snapshot of the node's state.
func (r *Raft) Status() Status {
	return Status{
		ID: r.id, Role: r.role, Term: r.term, Vote: r.vote, Lead: r.lead,
		Commit: r.log.committed, Applied: r.log.applied, LastIndex: r.log.lastIndex(),
		SnapshotIndex: r.log.snap.Index, SnapshotTerm: r.log.snap.Term, FirstIndex: r.log.firstIndex(),
	}
}

// Snapshot returns the latest snapshot (the zero Snapshot for none): the one
// given to Compact, installed from a leader or restored at start. Its Data
// must not be modified.
func (r *Raft) Snapshot() Snapshot { return r.log.snap }

// Slice returns the entries with indexes in [lo, hi) that the log holds:
// none at or below the latest snapshot. The result must not be modified.
func (r *Raft) Slice(lo, hi uint64) []Entry { return r.log.slice(lo, hi, 0) }

func (r *Raft) softState() SoftState { return SoftState{Lead: r.lead, Role: r.role, Term: r.term} }

func (r *Raft) hardState() HardState {
	return HardState{Term: r.term, Vote: r.vote, Commit: r.log.committed}
}

// ---- input ----

// Tick advances logical time by one tick.
func (r *Raft) Tick() { r.tick(r) }

// Propose appends one entry per element of data to the leader's log and
// returns the index of the first and the term they were appended in. An
// entry proposed at (index, term) is committed if and only if the entry
// later applied at index has that term. On a non-leader it returns
// ErrNotLeader and changes nothing.
func (r *Raft) Propose(data ...[]byte) (index, term uint64, err error) {
	if r.role != Leader {
		return 0, 0, ErrNotLeader
	}
	if len(data) == 0 {
		return 0, 0, errors.New("raft: empty proposal")
	}
	first := r.log.lastIndex() + 1
	ents := make([]Entry, len(data))
	for i, d := range data {
		ents[i] = Entry{Term: r.term, Index: first + uint64(i), Data: d}
	}
	r.appendEntries(ents)
	if !r.lazy {
		r.bcastAppend()
	}
	return first, r.term, nil
}

// ReadIndex requests a linearizable read point, identified by ctx (nonzero,
// unique among outstanding requests). When the leader has committed an
// entry of its current term and a quorum has acknowledged a heartbeat sent
// after this call, a ReadState{Index, ctx} appears in a Ready: a read
// served from a state machine that has applied Index is linearizable. If
// leadership is lost first, no ReadState ever appears for ctx. On a
// non-leader it returns ErrNotLeader.
func (r *Raft) ReadIndex(ctx uint64) error {
	if r.role != Leader {
		return ErrNotLeader
	}
	if ctx == 0 {
		return errors.New("raft: ReadIndex context must be nonzero")
	}
	if !r.committedInCurrentTerm() {
		r.pendingReads = append(r.pendingReads, ctx)
		return nil
	}
	r.startRead(ctx)
	return nil
}

// Compact tells the core that data is the state machine's state after
// applying every entry up to index, which must be at most the applied index
// (that is, covered by an earlier Advance). The core makes it the latest
// snapshot, to be sent to followers that need entries it no longer has, and
// drops the entries up to index from memory, keeping index's term for the
// consistency check. Persisting the snapshot is the shell's business (see
// the package documentation); the core asks nothing of it. An index at or
// below the latest snapshot's returns ErrCompacted and changes nothing.
// Like any other input, it must not be called between Ready and Advance.
func (r *Raft) Compact(index uint64, data []byte) error {
	if index <= r.log.snap.Index {
		return ErrCompacted
	}
	if index > r.log.applied {
		return fmt.Errorf("raft: compact to %d beyond the applied index %d", index, r.log.applied)
	}
	t, _ := r.log.term(index)
	r.log.compact(Snapshot{Index: index, Term: t, Data: data})
	return nil
}

// Step processes a message from a peer. Messages for another node or from
// an unknown one return an error and change nothing.
func (r *Raft) Step(m Message) error {
	if m.To != r.id {
		return fmt.Errorf("raft: message for %q delivered to %q", m.To, r.id)
	}
	if _, ok := r.prs[m.From]; !ok || m.From == r.id {
		return fmt.Errorf("raft: message from unknown peer %q", m.From)
	}
	switch {
	case m.Term > r.term:
		if m.Type == MsgVote || m.Type == MsgPreVote {
			// Leader stickiness: while we hear from a leader, ignore
			// campaigns; they come from nodes cut off from it.
			if r.cqTicks > 0 && r.lead != "" && r.electionElapsed < r.electionTicks {
				return nil
			}
		}
		switch {
		case m.Type == MsgPreVote:
			// Never change term for a pre-vote.
		case m.Type == MsgPreVoteResp && !m.Reject:
			// A granted pre-vote carries the term we would campaign in.
		case m.Type == MsgApp || m.Type == MsgHeartbeat || m.Type == MsgSnap:
			r.becomeFollower(m.Term, m.From)
		default:
			r.becomeFollower(m.Term, "")
		}
	case m.Term < r.term:
		switch {
		case (r.cqTicks > 0 || r.preVote) && (m.Type == MsgApp || m.Type == MsgHeartbeat || m.Type == MsgSnap):
			// Tell a stale leader about the newer term; with pre-vote
			// it might otherwise never hear of it.
			r.send(Message{To: m.From, Type: MsgAppResp})
		case m.Type == MsgPreVote:
			r.send(Message{To: m.From, Type: MsgPreVoteResp, Reject: true})
		}
		return nil
	}

	switch m.Type {
	case MsgVote, MsgPreVote:
		canVote := r.vote == m.From ||
			(r.vote == "" && r.lead == "") ||
			(m.Type == MsgPreVote && m.Term > r.term)
		resp := MsgVoteResp
		if m.Type == MsgPreVote {
			resp = MsgPreVoteResp
		}
		if canVote && r.log.isUpToDate(m.Index, m.LogTerm) {
			r.send(Message{To: m.From, Term: m.Term, Type: resp})
			if m.Type == MsgVote {
				r.electionElapsed = 0
				r.vote = m.From
			}
		} else {
			r.send(Message{To: m.From, Term: r.term, Type: resp, Reject: true})
		}
	default:
		r.step(r, m)
	}
	return nil
}

// ---- output ----

// HasReady reports whether Ready would return anything to do.
func (r *Raft) HasReady() bool {
	if r.softState() != r.prevSoft || r.hardState() != r.prevHard {
		return true
	}
	return len(r.msgs) > 0 || len(r.readStates) > 0 || r.log.pending != nil ||
		r.log.lastIndex() > r.log.stable || r.log.hasNextCommitted()
}

// Ready returns the pending batch of work; see the type's contract. Call
// Advance with it when done, and nothing else in between.
func (r *Raft) Ready() Ready {
	rd := Ready{
		Entries:          r.log.unstableEntries(),
		CommittedEntries: r.log.nextCommitted(),
		Messages:         r.msgs,
		ReadStates:       r.readStates,
		Snapshot:         r.log.pending,
	}
	if ss := r.softState(); ss != r.prevSoft {
		rd.SoftState = &ss
		r.prevSoft = ss
	}
	if hs := r.hardState(); hs != r.prevHard {
		rd.HardState = hs
		rd.MustSync = hs.Term != r.prevHard.Term || hs.Vote != r.prevHard.Vote
	}
	if len(rd.Entries) > 0 || rd.Snapshot != nil {
		rd.MustSync = true
	}
	r.msgs = nil
	r.readStates = nil
	return rd
}

// Advance tells the core that rd has been carried out: its snapshot and
// entries are stable and its committed entries applied.
func (r *Raft) Advance(rd Ready) {
	if !rd.HardState.IsEmpty() {
		r.prevHard = rd.HardState
	}
	if rd.Snapshot != nil && rd.Snapshot == r.log.pending {
		r.log.pending = nil
	}
	if n := len(rd.Entries); n > 0 {
		e := rd.Entries[n-1]
		r.log.stableTo(e.Index, e.Term)
	}
	if n := len(rd.CommittedEntries); n > 0 {
		r.log.appliedTo(rd.CommittedEntries[n-1].Index)
	}
}

// ---- roles ----

func (r *Raft) reset(term uint64) {
	if r.term != term {
		r.term = term
		r.vote = ""
	}
	r.lead = ""
	r.electionElapsed = 0
	r.heartbeatElapsed = 0
	r.cqElapsed = 0
	r.resetRandomizedElectionTimeout()
	r.votes = map[string]bool{}
	r.prs = make(map[string]*progress, len(r.peers))
	last := r.log.lastIndex()
	for _, id := range r.peers {
		pr := &progress{next: last + 1}
		if id == r.id {
			pr.match = last
		}
		r.prs[id] = pr
	}
	r.readOnly.reset()
	r.pendingReads = nil
}

func (r *Raft) resetRandomizedElectionTimeout() {
	r.randomizedElectionTimeout = r.electionTicks + r.rand.IntN(r.electionTicks)
}

func (r *Raft) becomeFollower(term uint64, lead string) {
	r.reset(term)
	r.lead = lead
	r.role = Follower
	r.step = stepFollower
	r.tick = tickElection
}

func (r *Raft) becomePreCandidate() {
	// A pre-candidate keeps its term and vote.
	r.role = PreCandidate
	r.lead = ""
	r.votes = map[string]bool{}
	r.electionElapsed = 0
	r.resetRandomizedElectionTimeout()
	r.step = stepCandidate
	r.tick = tickElection
}

func (r *Raft) becomeCandidate() {
	r.reset(r.term + 1)
	r.vote = r.id
	r.role = Candidate
	r.step = stepCandidate
	r.tick = tickElection
}

func (r *Raft) becomeLeader() {
	r.reset(r.term)
	r.lead = r.id
	r.role = Leader
	r.step = stepLeader
	r.tick = tickHeartbeat
	for _, pr := range r.prs {
		pr.recentActive = true
	}
	// The no-op: committing it commits every earlier entry (§5.4.2) and
	// unblocks ReadIndex.
	r.appendEntries([]Entry{{Term: r.term, Index: r.log.lastIndex() + 1}})
	r.bcastAppend()
}

func (r *Raft) hup() {
	if r.role == Leader {
		return
	}
	r.campaign(r.preVote)
}

func (r *Raft) campaign(pre bool) {
	var term uint64
	var t MsgType
	if pre {
		r.becomePreCandidate()
		term, t = r.term+1, MsgPreVote
	} else {
		r.becomeCandidate()
		term, t = r.term, MsgVote
	}
	if granted, _ := r.poll(r.id, true); granted >= r.quorum {
		if pre {
			r.campaign(false)
		} else {
			r.becomeLeader()
		}
		return
	}
	for _, id := range r.peers {
		if id != r.id {
			r.send(Message{To: id, Term: term, Type: t, Index: r.log.lastIndex(), LogTerm: r.log.lastTerm()})
		}
	}
}

func (r *Raft) poll(id string, granted bool) (yes, no int) {
	if _, ok := r.votes[id]; !ok {
		r.votes[id] = granted
	}
	for _, v := range r.votes {
		if v {
			yes++
		} else {
			no++
		}
	}
	return yes, no
}

// ---- ticks ----

func tickElection(r *Raft) {
	r.electionElapsed++
	if r.electionElapsed >= r.randomizedElectionTimeout {
		r.electionElapsed = 0
		r.hup()
	}
}

func tickHeartbeat(r *Raft) {
	r.heartbeatElapsed++
	if r.cqTicks > 0 {
		r.cqElapsed++
		if r.cqElapsed >= r.cqTicks {
			r.cqElapsed = 0
			if !r.quorumActive() {
				r.becomeFollower(r.term, "")
				return
			}
		}
	}
	last := r.log.lastIndex()
	for _, id := range r.peers {
		pr := r.prs[id]
		limit := r.stallTicks + r.lazyTicks
		if pr.state == stateSnapshot {
			limit = r.snapRetryTicks
		}
		if id == r.id || pr.state == stateProbe || pr.match >= last {
			pr.stalled = 0
			continue
		}
		if pr.stalled++; pr.stalled >= limit {
			pr.becomeProbe()
			r.sendAppend(id)
		}
	}
	if r.heartbeatElapsed >= r.heartbeatTicks {
		r.heartbeatElapsed = 0
		r.bcastHeartbeat(0)
	}
	if r.lazy {
		if r.lazyElapsed++; r.lazyElapsed >= r.lazyTicks {
			r.lazyElapsed = 0
			for _, id := range r.peers {
				if id != r.id {
					for r.maybeSendAppend(id, false) {
					}
				}
			}
		}
	}
}

// quorumActive reports whether a quorum was heard from since the previous
// call, and starts a new period.
func (r *Raft) quorumActive() bool {
	n := 0
	for id, pr := range r.prs {
		if id == r.id || pr.recentActive {
			n++
		}
		pr.recentActive = false
	}
	return n >= r.quorum
}

// ---- step functions ----

func stepLeader(r *Raft, m Message) {
	pr := r.prs[m.From]
	switch m.Type {
	case MsgAppResp:
		pr.recentActive = true
		if m.Reject {
			hint := m.RejectHint
			if m.LogTerm > 0 {
				// Skip every entry of ours whose term is above the
				// follower's term at hint: none of them can match.
				hint, _ = r.log.findConflictByTerm(m.RejectHint, m.LogTerm)
			}
			if pr.maybeDecrTo(m.Index, hint) {
				if pr.state == stateReplicate {
					pr.becomeProbe()
				}
				r.sendAppend(m.From)
			}
			return
		}
		wasPaused := pr.isPaused(r.maxInflight)
		if !pr.maybeUpdate(m.Index) {
			return
		}
		switch pr.state {
		case stateProbe:
			pr.becomeReplicate()
		case stateReplicate:
			pr.freeTo(m.Index)
		case stateSnapshot:
			switch {
			case pr.match >= r.log.offset():
				// The follower holds what we could stream after.
				pr.becomeReplicate()
			case pr.match >= pr.pendingSnapshot:
				// It installed a snapshot we have since compacted
				// past: probing sends the newer one.
				pr.becomeProbe()
			}
			// Otherwise a late ack of an older append: keep waiting
			// for the snapshot's.
		}
		if r.maybeCommit() {
			r.releasePendingReads()
			if !r.lazy {
				r.bcastAppend()
			}
		} else if wasPaused && !r.lazy {
			r.sendAppend(m.From)
		}
		if !r.lazy {
			for r.maybeSendAppend(m.From, false) {
			}
		}
	case MsgHeartbeatResp:
		pr.recentActive = true
		pr.paused = false
		if pr.state == stateReplicate && len(pr.inflight) >= r.maxInflight {
			pr.inflight = pr.inflight[1:]
		}
		if pr.match < r.log.lastIndex() && (!r.lazy || pr.state == stateProbe) {
			r.sendAppend(m.From)
		}
		if m.Context != 0 && r.readOnly.ack(m.Context, m.From) >= r.quorum {
			for _, rr := range r.readOnly.advance(m.Context) {
				r.readStates = append(r.readStates, ReadState{Index: rr.index, Context: rr.ctx})
			}
		}
	}
}

func stepCandidate(r *Raft, m Message) {
	want := MsgVoteResp
	if r.role == PreCandidate {
		want = MsgPreVoteResp
	}
	switch m.Type {
	case MsgApp:
		r.becomeFollower(m.Term, m.From)
		r.handleAppend(m)
	case MsgHeartbeat:
		r.becomeFollower(m.Term, m.From)
		r.handleHeartbeat(m)
	case MsgSnap:
		r.becomeFollower(m.Term, m.From)
		r.handleSnapshot(m)
	case want:
		yes, no := r.poll(m.From, !m.Reject)
		switch {
		case yes >= r.quorum && r.role == PreCandidate:
			r.campaign(false)
		case yes >= r.quorum:
			r.becomeLeader()
		case no >= r.quorum:
			r.becomeFollower(r.term, "")
		}
	}
}

func stepFollower(r *Raft, m Message) {
	switch m.Type {
	case MsgApp:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleAppend(m)
	case MsgHeartbeat:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleHeartbeat(m)
	case MsgSnap:
		r.electionElapsed = 0
		r.lead = m.From
		r.handleSnapshot(m)
	}
}

func (r *Raft) handleAppend(m Message) {
	if m.Index < r.log.committed {
		r.send(Message{To: m.From, Type: MsgAppResp, Index: r.log.committed})
		return
	}
	if last, ok := r.log.maybeAppend(m.Index, m.LogTerm, m.Commit, m.Entries); ok {
		r.send(Message{To: m.From, Type: MsgAppResp, Index: last})
		return
	}
	// Fast backtracking: point the leader at the last entry of ours that
	// could match, at or before its probe, whose term is at most its
	// probe's term.
	hint, hintTerm := r.log.findConflictByTerm(min(m.Index, r.log.lastIndex()), m.LogTerm)
	r.send(Message{To: m.From, Type: MsgAppResp, Index: m.Index, Reject: true, RejectHint: hint, LogTerm: hintTerm})
}

// handleSnapshot installs the leader's snapshot if it is ahead of our
// commit index and our log does not already hold its last entry, and
// acknowledges up to what we now hold committed. A snapshot at or below
// our commit index is old news (a duplicate, or overtaken by appends).
func (r *Raft) handleSnapshot(m Message) {
	if m.Snapshot == nil {
		return
	}
	s := *m.Snapshot
	switch {
	case s.Index <= r.log.committed:
	case r.log.matchTerm(s.Index, s.Term):
		// Our log holds the snapshot's last entry, and so every entry
		// before it: commit them rather than throw the log away.
		r.log.commitTo(s.Index)
	default:
		r.log.restore(s)
	}
	r.send(Message{To: m.From, Type: MsgAppResp, Index: r.log.committed})
}

func (r *Raft) handleHeartbeat(m Message) {
	// The leader sends min(its commit, our match): never beyond our log.
	r.log.commitTo(min(m.Commit, r.log.lastIndex()))
	r.send(Message{To: m.From, Type: MsgHeartbeatResp, Context: m.Context})
}

// ---- leader helpers ----

func (r *Raft) send(m Message) {
	m.From = r.id
	if m.Term == 0 {
		m.Term = r.term
	}
	r.msgs = append(r.msgs, m)
}

func (r *Raft) appendEntries(ents []Entry) {
	r.log.append(ents...)
	r.prs[r.id].maybeUpdate(r.log.lastIndex())
	if r.maybeCommit() {
		r.releasePendingReads()
	}
}

func (r *Raft) bcastAppend() {
	for _, id := range r.peers {
		if id != r.id {
			r.sendAppend(id)
		}
	}
}

func (r *Raft) sendAppend(to string) { r.maybeSendAppend(to, true) }

// maybeSendAppend sends to a follower the entries it lacks (or, with
// sendIfEmpty, an empty MsgApp as a probe), or the snapshot when the
// entries it lacks are compacted away, and reports whether it sent.
func (r *Raft) maybeSendAppend(to string, sendIfEmpty bool) bool {
	pr := r.prs[to]
	if pr.isPaused(r.maxInflight) {
		return false
	}
	last := r.log.lastIndex()
	if pr.next > last+1 {
		pr.next = last + 1
	}
	prev := pr.next - 1
	prevTerm, ok := r.log.term(prev)
	if !ok {
		// The entry before the follower's next is compacted away: only
		// the snapshot can bring it up.
		snap := r.log.snap
		r.send(Message{To: to, Type: MsgSnap, Snapshot: &snap})
		pr.becomeSnapshot(snap.Index)
		return true
	}
	ents := r.log.slice(pr.next, last+1, r.maxEntries)
	if len(ents) == 0 && !sendIfEmpty {
		return false
	}
	r.send(Message{To: to, Type: MsgApp, Index: prev, LogTerm: prevTerm, Entries: ents, Commit: r.log.committed})
	switch pr.state {
	case stateReplicate:
		if n := len(ents); n > 0 {
			pr.next = ents[n-1].Index + 1
			pr.inflight = append(pr.inflight, ents[n-1].Index)
		}
	case stateProbe:
		pr.paused = true
	}
	return true
}

func (r *Raft) bcastHeartbeat(ctx uint64) {
	for _, id := range r.peers {
		if id == r.id {
			continue
		}
		commit := min(r.prs[id].match, r.log.committed)
		r.send(Message{To: id, Type: MsgHeartbeat, Commit: commit, Context: ctx})
	}
}

// maybeCommit commits the highest index stored on a quorum, if that entry
// is of the current term (§5.4.2: older entries are committed only
// indirectly), and reports whether the commit index moved.
func (r *Raft) maybeCommit() bool {
	matches := make([]uint64, 0, len(r.peers))
	for _, id := range r.peers {
		matches = append(matches, r.prs[id].match)
	}
	sort.Slice(matches, func(i, j int) bool { return matches[i] > matches[j] })
	mci := matches[r.quorum-1]
	if mci <= r.log.committed {
		return false
	}
	if t, _ := r.log.term(mci); t != r.term {
		return false
	}
	r.log.commitTo(mci)
	return true
}

func (r *Raft) committedInCurrentTerm() bool {
	t, _ := r.log.term(r.log.committed)
	return t == r.term
}

func (r *Raft) startRead(ctx uint64) {
	r.readOnly.add(ctx, r.log.committed, r.id)
	if r.quorum == 1 {
		for _, rr := range r.readOnly.advance(ctx) {
			r.readStates = append(r.readStates, ReadState{Index: rr.index, Context: rr.ctx})
		}
		return
	}
	r.bcastHeartbeat(ctx)
}

// releasePendingReads starts the reads that waited for the first commit of
// this term; one heartbeat round, for the newest, confirms them all.
func (r *Raft) releasePendingReads() {
	if len(r.pendingReads) == 0 || !r.committedInCurrentTerm() {
		return
	}
	pending := r.pendingReads
	r.pendingReads = nil
	for _, ctx := range pending {
		r.readOnly.add(ctx, r.log.committed, r.id)
	}
	r.startRead(pending[len(pending)-1])
}
