package core

import (
	"fmt"
	"strconv"
)

// Role is what a node currently is in the protocol.
type Role uint8

const (
	// Follower is the role of a node that does not campaign.
	Follower Role = iota
	// PreCandidate is a follower that asks for pre-votes before raising its
	// term; it is still in the term it had.
	PreCandidate
	// Candidate has raised its term and asked for votes.
	Candidate
	// Leader replicates its log to the others.
	Leader
)

var roleNames = [...]string{"follower", "pre-candidate", "candidate", "leader"}

func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return "role(" + strconv.Itoa(int(r)) + ")"
}

// MsgType is the kind of a message between peers.
type MsgType uint8

const (
	// MsgApp carries entries (possibly none) after the entry at
	// (Index, LogTerm), plus the leader's commit index.
	MsgApp MsgType = iota + 1
	// MsgAppResp acknowledges a MsgApp up to Index, or rejects it
	// (Reject, with RejectHint and LogTerm for fast backtracking). An empty
	// MsgAppResp of a higher term tells a stale leader to step down.
	MsgAppResp
	// MsgVote asks for a vote in Term for a candidate whose last entry is
	// (Index, LogTerm).
	MsgVote
	// MsgVoteResp grants or (Reject) refuses a vote.
	MsgVoteResp
	// MsgPreVote asks whether the receiver would vote in Term, without
	// anyone changing term.
	MsgPreVote
	// MsgPreVoteResp answers a MsgPreVote.
	MsgPreVoteResp
	// MsgHeartbeat asserts leadership and carries a safe commit index and,
	// for ReadIndex rounds, a Context.
	MsgHeartbeat
	// MsgHeartbeatResp answers a MsgHeartbeat, echoing its Context.
	MsgHeartbeatResp
	// MsgSnap carries the leader's Snapshot to a follower whose next entry
	// the leader has compacted away. The follower installs it if it is
	// ahead of its commit index and answers with a MsgAppResp.
	MsgSnap
)

var msgNames = [...]string{"", "MsgApp", "MsgAppResp", "MsgVote", "MsgVoteResp",
	"MsgPreVote", "MsgPreVoteResp", "MsgHeartbeat", "MsgHeartbeatResp", "MsgSnap"}

func (t MsgType) String() string {
	if int(t) < len(msgNames) && t != 0 {
		return msgNames[t]
	}
	return "MsgType(" + strconv.Itoa(int(t)) + ")"
}

// Entry is one log entry. Empty Data marks a no-op (the entry every new
// leader appends). Data is never modified once an entry exists.
type Entry struct {
	Term  uint64 `json:"term"`
	Index uint64 `json:"index"`
	Data  []byte `json:"data,omitempty"`
}

// Message is what peers exchange. Which fields matter depends on Type; see
// the MsgType constants.
type Message struct {
	Type       MsgType `json:"type"`
	From       string  `json:"from"`
	To         string  `json:"to"`
	Term       uint64  `json:"term"`
	LogTerm    uint64  `json:"log_term,omitempty"`
	Index      uint64  `json:"index,omitempty"`
	Entries    []Entry `json:"entries,omitempty"`
	Commit     uint64  `json:"commit,omitempty"`
	Reject     bool    `json:"reject,omitempty"`
	RejectHint uint64  `json:"reject_hint,omitempty"`
	Context    uint64  `json:"context,omitempty"`
	// Snapshot is set in a MsgSnap only.
	Snapshot *Snapshot `json:"snapshot,omitempty"`
}

func (m Message) String() string {
	s := fmt.Sprintf("%s %s->%s t%d i%d lt%d c%d", m.Type, m.From, m.To, m.Term, m.Index, m.LogTerm, m.Commit)
	if len(m.Entries) > 0 {
		s += fmt.Sprintf(" ents[%d..%d]", m.Entries[0].Index, m.Entries[len(m.Entries)-1].Index)
	}
	if m.Reject {
		s += fmt.Sprintf(" reject hint%d", m.RejectHint)
	}
	if m.Context != 0 {
		s += fmt.Sprintf(" ctx%d", m.Context)
	}
	if m.Snapshot != nil {
		s += fmt.Sprintf(" snap[i%d t%d %dB]", m.Snapshot.Index, m.Snapshot.Term, len(m.Snapshot.Data))
	}
	return s
}

// Snapshot is the applied state of the state machine up to and including
// the entry at Index, whose term is Term. Data is the application's
// encoding of that state; the core never looks inside it. A snapshot
// replaces the log up to Index (log compaction) and is how a leader brings
// up a follower that needs entries it no longer has. Data is never modified
// once a Snapshot exists.
type Snapshot struct {
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
	Data  []byte `json:"data,omitempty"`
}

// IsEmpty reports whether s is no snapshot at all (Index 0).
func (s Snapshot) IsEmpty() bool { return s.Index == 0 }

// HardState is the state that must survive a crash: the current term, the
// vote cast in it, and the commit index (persisting Commit is an
// optimization; a lower value after restart is safe).
type HardState struct {
	Term   uint64 `json:"term"`
	Vote   string `json:"vote,omitempty"`
	Commit uint64 `json:"commit"`
}

// IsEmpty reports whether h is the zero HardState, which a Ready carries
// when nothing changed.
func (h HardState) IsEmpty() bool { return h == HardState{} }

// SoftState is volatile state a shell may want to report: who leads and
// what this node is.
type SoftState struct {
	Lead string
	Role Role
	Term uint64
}

// ReadState says that a read requested with ReadIndex(Context) may be
// served once the state machine has applied Index.
type ReadState struct {
	Index   uint64
	Context uint64
}

// Ready is a batch of work for the shell. Contract: persist Snapshot (if
// set; it replaces the whole stored log), then HardState (if not empty) and
// Entries, durably when MustSync, BEFORE sending any of Messages, applying
// anything or acknowledging a client; then send Messages, replace the state
// machine with Snapshot (if set), apply CommittedEntries in order, serve
// ReadStates once the applied index reaches their Index, and call Advance.
type Ready struct {
	// SoftState is non-nil when lead, role or term changed since the
	// previous Ready.
	SoftState *SoftState
	// HardState is empty when unchanged.
	HardState HardState
	// Snapshot, when set, was installed from the leader: it replaces every
	// stored entry and the state machine. Entries then all follow it, and
	// CommittedEntries start at Snapshot.Index+1. MustSync is set with it.
	Snapshot *Snapshot
	// Entries are to be appended to stable storage. The first entry's
	// index may be at or below the last stored index, in which case the
	// stored log is truncated before it (a conflicting suffix replaced).
	Entries []Entry
	// CommittedEntries are to be applied to the state machine, in order.
	// They may include entries of Entries above; persist first.
	CommittedEntries []Entry
	// Messages are to be sent after persisting. Delivery is best effort:
	// they may be dropped, duplicated or reordered.
	Messages []Message
	// ReadStates are answers to ReadIndex calls.
	ReadStates []ReadState
	// MustSync is true when Snapshot, Entries, Term or Vote changed, so the write
	// must be fsynced before anything else happens. A change of Commit
	// alone need not be synced.
	MustSync bool
}

// Status is a snapshot of a core for reporting and tests.
type Status struct {
	ID        string
	Role      Role
	Term      uint64
	Vote      string
	Lead      string
	Commit    uint64
	Applied   uint64
	LastIndex uint64
	// SnapshotIndex and SnapshotTerm are the latest snapshot's (0 for
	// none): the log holds entries FirstIndex..LastIndex, FirstIndex being
	// SnapshotIndex+1.
	SnapshotIndex uint64
	SnapshotTerm  uint64
	FirstIndex    uint64
}
