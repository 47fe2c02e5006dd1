// Package core holds the conflict-free replicated data types of the crdt
// target as pure values: G-Counter and PN-Counter, an add-wins OR-Set with
// unique tags, an LWW register ordered by hybrid logical clock timestamps
// and an MV register with vector clocks. Nothing here does I/O, reads a
// clock, starts a goroutine or draws randomness; clock readings are passed
// in. The node layer (package crdt, one directory up) decides when to
// update, gossip and merge.
//
// # Merges
//
// Every correct merge is a join: commutative, associative and idempotent,
// so replicas that have exchanged their states in any order, any number of
// times, hold equal states. Merges return fresh values that share no map
// or slice with their arguments. Equal states encode to equal JSON (maps
// encode with sorted keys, slices are kept canonical), so State.Digest
// compares states across nodes.
//
// # Seeded bugs
//
// Bugs switches on the seeded merge bugs of the crdt target: SumMerge makes
// the G-Counter merge add entries instead of taking their maximum (merges
// stop being idempotent and counters grow with every exchange), and
// RemoveByValue makes an OR-Set remove delete tags of the element it never
// observed (a concurrent or later re-add elsewhere is lost). LWWWallClock
// is read by the node layer only. The zero Bugs is the correct build.
package core
