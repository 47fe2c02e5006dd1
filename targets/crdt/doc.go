// Package crdt is the crdt target of faultline: a leaderless store of
// conflict-free replicated data types where every node accepts every
// update and nodes converge by state-based anti-entropy gossip.
//
// Each key holds one data type, named by its kind (package core): a
// PN-Counter ("counter"), an add-wins OR-Set of integers ("set"), an LWW
// register stamped by a hybrid logical clock ("lww") and an MV register
// with vector clocks ("mv"). A key is stored under the internal key
// "kind/key".
//
// # Layers
//
//   - core: the CRDTs as pure values and their merges.
//   - Machine: the deterministic node layer (DESIGN.md §6.1) — client
//     requests, gossip decisions and the seeded bugs — driven by Request,
//     Step and Tick with the node clock's reading passed in. Its Batch
//     states the order the driver must keep: persist (fsync'd), then send,
//     then reply.
//   - The node shell around a Machine: HTTP client API (POST /op with a
//     Request, answered by a Response), gossip transport (POST /gossip
//     with a Message), storage and clock.
//
// # Gossip
//
// Every gossip interval a node sends one peer, chosen from a seeded
// source, a digest (hash) of each key's state; the peer answers with its
// states that differ and asks for the ones it lacks; the first node merges
// and sends back what was asked for. Because merges are joins
// (commutative, associative, idempotent), any pattern of exchanges between
// nodes that can talk converges to equal states, and a lost message only
// waits for a later round.
//
// # Seeded bugs
//
//   - sum-merge: G-Counter merges add entries instead of taking the
//     maximum; counters overshoot the sum of the adds.
//   - remove-by-value: an OR-Set remove deletes tags of the element it
//     never observed; a re-add on another node after a remove is lost.
//   - gossip-drop: a digest covers only the keys changed since the last
//     digest to that peer, and is forgotten once sent; an exchange lost to
//     a partition is never retried, so nodes disagree after the heal.
//   - lww-wall-clock: LWW writes are stamped with the raw node clock; with
//     a clock ahead on one node, a causally later write elsewhere loses.
package crdt
