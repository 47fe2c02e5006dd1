// Package raft is faultline's bundled Raft key-value store: the node shell
// around the pure protocol core (package core), its client, and its entry in
// the target registry.
//
// # Node
//
// NodeMain runs one node (`faultline node raft --id n1 --listen HOST:PORT
// --peers n1=HOST:PORT,... --data DIR [--bug NAME]...`). A Node connects the
// core to three seams given in its Config, each with a real and a test
// implementation: a Clock (RealClock, ManualClock), a Storage for the
// write-ahead log (FileStorage with fsync, MemStorage) and a Transport to
// peers (HTTPTransport, MemNetwork). Fault injectors wrap these seams.
//
// Between the core and the shell sits the deterministic node layer,
// Machine (DESIGN.md §6.1): request handling, read batching, snapshots and
// the seeded bugs, driven by explicit events (Tick with the clock's
// reading, Step, Request) and returning Batches, with no goroutine, clock
// or unseeded randomness of its own. Node is the process shell: one
// goroutine turns ticks, peer messages and client requests into those
// events and carries out each Batch in order: append term, vote and entries
// to the WAL and fsync; only then send messages and answer clients. Every
// write that arrived meanwhile is proposed in one batch and every read
// joins one ReadIndex round, so one fsync covers a whole batch. The tests
// drive Machines over a simulated network with a virtual clock and one
// seed (sim_test.go): one seed, one history.
//
// Every DefaultSnapshotEvery applied entries the log is compacted into a
// snapshot of the key-value state, the WAL rotated to a new segment that
// starts with it and the older segments deleted; a follower too far behind
// gets the snapshot from the leader. After a SIGKILL the node replays its
// WAL (a torn last record is dropped): the latest snapshot, then the
// entries after it.
//
// Timing at the default 10 ms tick: election timeouts are drawn from
// [150, 300) ms, heartbeats go out every 30 ms, pre-vote is on. A leader
// that has not heard from a quorum during a 2.5 s check-quorum period
// steps down at the end of it (so 2.5-5 s after it was cut off). That window
// is deliberately long: a leader cut off from its peers keeps believing it
// leads, as leaders in real systems do, which is what lets the stale-read
// bug be observed under a leader partition. The correct build does not rely
// on it: its reads are confirmed by a heartbeat quorum round and its writes
// by commitment, and the majority elects a new leader within ~0.5 s anyway.
// Followers that heard from a leader within the election timeout ignore
// vote requests, so a node cut off from the leader alone cannot depose it.
//
// # HTTP protocol
//
// One server on --listen serves:
//
//	POST /raft/message   peer messages: a JSON array of core.Message; 204
//	POST /kv             {"f":"read"|"write"|"cas","key":"k1","value":...}
//	GET  /status         {"id","state","term","leader","leader_addr","commit","applied","last_index"}
//	GET  /healthz        200 "ok" while the node runs
//	/admin/...           the fault seams (package targets/seam): GET /admin/state,
//	                     POST /admin/clock, /admin/disk, /admin/msg, /admin/reset
//
// /kv takes a JSON int as the value of write and [from, to] for cas, and
// answers a KVResponse: {"ok":true} (with "value": the int or null for a
// read), or {"ok":false,"error":CODE,"definite":BOOL,...}. Definite errors
// mean the operation did not take effect: not-leader (421, nothing was
// proposed; "leader" and "leader_addr" hint where to go), cas-mismatch (409;
// "value" holds what was found, null for an absent key), overwritten (409),
// leadership-lost (503, reads), busy (503), bad-request (400). Indefinite
// ones mean it may have: timeout (504: proposed, not known committed by the
// deadline) and stopping (503). Writes and cas are answered only after their
// entry is committed and applied; reads after a ReadIndex round, from a
// state that has applied the read index. A read of a key never written is
// not an error: its value is null. A request's deadline is the node's
// --request-timeout (1 s), shortened by the request's "timeout_ms".
//
// # Seeded bugs
//
// ack-before-commit (exposed by kill): the leader answers writes and cas as
// soon as the entry is in its own log, answers (confirmed) reads from the
// state its log would produce, and sends new entries to followers only
// every 100 ms. Without faults the history stays linearizable; when the
// leader is killed, the acknowledged entries no follower had yet are
// overwritten by the next leader, so later reads contradict earlier
// acknowledgements and reads.
// stale-read (exposed by partition-leader): the leader answers reads from
// its applied state without a ReadIndex round; cut off from its peers, it
// keeps serving values the new leader has overwritten until check-quorum
// makes it step down.
//
// lease-read (exposed by clock-strobe with partition-leader): the leader
// answers reads without a quorum round while it holds a lease measured on
// its own clock. Each confirmed ReadIndex round extends the lease to the
// round's start plus two thirds of the minimum election timeout (100 ms),
// and the lease never shrinks. With true clocks that is safe: followers
// cannot elect anyone for 150 ms after they last heard from the leader.
// But a leader whose clock was ahead when it extended the lease (the ahead
// phase of a strobe, a forward jump) and has since fallen back holds a
// lease that lasts that much longer in real time; cut off and replaced
// during it, it serves reads the new leader has overwritten.
//
// no-fsync (exposed by disk-lose-unsynced): the WAL is written but never
// fsynced, so followers acknowledge AppendEntries and the leader answers
// clients with the entries only in the page cache. A plain SIGKILL keeps
// them; the storage seam's lose-unsynced mode followed by a kill of a
// majority (or all) loses acknowledged writes.
//
// forget-vote (rarely exposed; see docs/detection.md): the vote is not
// persisted, only the term, so a node restarted within an election can
// vote a second time in the same term and two leaders can share a term.
//
// # Fault seams
//
// NodeMain gives the node the seams of package targets/seam: a seam.Clock
// is the node's Clock (ticks and the lease-read bug's lease read it; HTTP
// and transport timeouts and the loop's time.Ticker run on the real
// clock), the WAL writes through a seam.Disk (lose-unsynced, EIO) and
// peer messages pass a seam.Shim (delay, jitter, dup, reorder, drop). On a
// failed fsync, EIO included, the node crash-stops (NodeMain returns the
// error and the process exits) without acknowledging anything that record
// held, as etcd does; the disk-eio nemesis restarts it at heal.
package raft
