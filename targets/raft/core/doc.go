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
//		... Tick / Step / Propose / ReadIndex ...
//		if c.HasReady() {
//			rd := c.Ready()
//			persist(rd.HardState, rd.Entries) // fsync if rd.MustSync
//			send(rd.Messages)
//			apply(rd.CommittedEntries)
//			serve(rd.ReadStates)              // once applied >= Index
//			c.Advance(rd)
//		}
//	}
//
// The ordering contract is the one that makes Raft safe: HardState and
// Entries of a Ready must be durable BEFORE any of its Messages is sent,
// BEFORE its CommittedEntries are applied and BEFORE any client is
// acknowledged. No other method may be called between Ready and Advance.
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
// after which a leader that has not heard from a quorum steps down.
//
// There is no log compaction, no snapshot and no membership change: the log
// grows for the life of the cluster, which a test run is. Entries with empty
// Data are no-ops and carry no command.
package core
