// Package core is the Raft consensus algorithm as a pure state machine, in
// the style of etcd-io/raft: no goroutines, no wall clock, no global
// randomness, no I/O. A node shell (package raft, one directory up) feeds it
// and carries out what it asks for.
//
// # Driving a core
//
// Input enters through four methods:
//
//   - Tick advances logical time by one tick. Election timeouts, heartbeats
//     and the check-quorum window are counted in ticks; the shell decides how
//     long a tick is.
//   - Step delivers one message received from a peer.
//   - Propose appends commands to the leader's log.
//   - ReadIndex asks the leader for a linearizable read point.
//
// Output leaves in one batch, the Ready, which the shell takes with Ready
// and hands back with Advance:
//
//	for {
//		... Tick / Step / Propose / ReadIndex / Compact ...
//		if c.HasReady() {
//			rd := c.Ready()
//			if rd.Snapshot != nil {
//				persistSnapshot(*rd.Snapshot) // replaces the stored log
//			}
//			persist(rd.HardState, rd.Entries) // fsync if rd.MustSync
//			send(rd.Messages)
//			if rd.Snapshot != nil {
//				restore(rd.Snapshot.Data)     // replaces the state machine
//			}
//			apply(rd.CommittedEntries)
//			serve(rd.ReadStates)              // once applied >= Index
//			c.Advance(rd)
//		}
//	}
//
// The ordering contract is the one that makes Raft safe: Snapshot,
// HardState and Entries of a Ready must be durable BEFORE any of its
// Messages is sent, BEFORE anything of it is applied and BEFORE any client
// is acknowledged. No other method may be called between Ready and Advance.
//
// # Snapshots and log compaction
//
// A Snapshot is the state machine's state after applying every entry up to
// its Index, encoded by the application (Data). The core keeps only the
// entries after the latest snapshot, plus that snapshot's Index and Term for
// the consistency check:
//
//   - Compaction is the shell's decision: after an Advance, with the state
//     machine at applied index A, it encodes its state as of some index
//     I <= A and calls Compact(I, data). The core drops the entries up to I
//     from memory and keeps the snapshot to send. The shell then persists
//     the snapshot together with the HardState and the entries after I that
//     it has stored, and may delete every older record (package raft's
//     saveSnapshot does this with a WAL segment rotation). Keeping a tail
//     of entries behind A (I < A) lets a slightly lagging follower catch up
//     by appends instead of a whole snapshot.
//   - When a follower needs an entry at or below the leader's snapshot, the
//     leader sends a MsgSnap with the snapshot instead of appends and waits
//     for its acknowledgement (resending after SnapshotRetryTicks, messages
//     being best effort).
//   - A follower installs a snapshot that is ahead of its commit index (and
//     whose last entry its log does not already hold): its log becomes
//     empty after the snapshot, its commit and applied indexes become the
//     snapshot's, and the next Ready carries it in Snapshot, to persist as
//     described above and to load into the state machine before applying
//     CommittedEntries, which then start at Snapshot.Index+1.
//   - At start, Config.Snapshot is the latest persisted snapshot (already
//     loaded into the state machine) and Config.Entries the entries after
//     it.
//
// # What is implemented
//
// Leader election with randomized election timeouts and optional pre-vote;
// log replication with the consistency check, fast backtracking by term
// (the follower returns a hint, the leader skips a whole term per round) and
// pipelined appends with a bounded number of messages in flight; commitment
// of entries of the current term only, by counting replicas (Raft §5.4.2);
// an empty entry appended by every new leader; ReadIndex reads, confirmed by
// a heartbeat round acknowledged by a quorum and only after the leader has
// committed an entry of its own term; an optional long check-quorum window
// after which a leader that has not heard from a quorum steps down;
// log compaction by snapshots, and install-snapshot for a follower that
// needs compacted entries.
//
// There is no membership change. Entries with empty Data are no-ops and
// carry no command.
package core
