package checker

import (
	"cmp"
	"math"
	"slices"
)

// This file holds the fast path for unique-value registers: keys where
// every write and cas writes a value that nothing else in the key writes,
// as the register workload does. Such a key is decided in O(n log n) time
// and O(n) memory, where Porcupine's search can take minutes and gigabytes
// on a single hot key.
//
// What it decides. Only "linearizable", and only with a witness: it builds
// one total order of the key's operations and checks, in linear time, that
// it is a linearization. When the check fails, or the key does not
// qualify, the key goes to Porcupine as before. So the fast path can never
// disagree with Porcupine: every true it gives is proved by the witness.
//
// The witness (after Gibbons and Korach, "Testing shared memories", 1997).
// With unique values, each value v other than null has one establishing op
// E(v) (write v, or cas to v), so in any linearization the register takes
// each value during one contiguous segment; every op that observes v (a
// read of v, the cas from v that applied) sits in v's segment; and a cas
// from v to w makes w's segment follow v's at once. So the ops form
// clusters, one per value: E(v), then the reads of v, then the cas from v
// (last: it establishes the next value); cas glue clusters into chains,
// and each chain is one contiguous block of any linearization, null's
// block (its reads) first. Inside a block the order is forced except among
// the reads of one value, which go by response time (if a read must
// precede another in real time, it responds first). What is left is the
// order of the blocks. If block A precedes block B, no op of B may respond
// before an op of A is invoked: maxCall(A) ≤ minRet(B). Sorting blocks by
// min(minRet, maxCall), ties by maxCall, meets that for every pair that
// meets it in some order (the zones argument of Gibbons and Korach), and
// real-time order is a property of pairs. So on a qualifying key the
// witness fails only if the key is not linearizable, but that direction is
// argued here, not used: a failure is only "undecided".
//
// Unknown ops (info, never completed). An unknown write or cas that
// nothing observes can be linearized last, where it changes nothing, so it
// is left out of the witness (at the end, as the plain model allows). One
// whose value is observed by an ok read, an ok cas, or (in turn) by an
// unknown cas that is itself included, is included: it is the only op that
// can establish that value. Unknown ops respond after every event, so they
// constrain nothing in real time after their invoke.

// fastRegisterEnabled turns the fast path on; tests turn it off to compare
// with Porcupine alone.
var fastRegisterEnabled = true

// fastRegister reports whether it proved part linearizable (a witness was
// built and checked). False means undecided, never "not linearizable".
func fastRegister(part []*regOp) bool {
	order := fastWitness(part)
	return order != nil && verifyWitness(order)
}

// fastCluster is the ops observing one value.
type fastCluster struct {
	est   int32   // index in part of the op establishing the value; -1 for null
	reads []int32 // ok reads of the value
	out   int32   // the included cas from the value; -1 if none
	next  int32   // cluster established by out; -1 if none
	head  bool    // not established by a cas: a chain starts here
}

// fastWitness returns the candidate linearization of part (the ops it
// includes, in order), or nil if part does not qualify or its structure
// rules out a witness.
func fastWitness(part []*regOp) []*regOp {
	// Qualify: every write and cas target is unique in the key.
	est := make(map[int64]int32, len(part))
	for i, op := range part {
		if op.f == regRead {
			continue
		}
		v := op.target()
		if _, dup := est[v]; dup {
			return nil
		}
		est[v] = int32(i)
	}

	// Values that must be established: observed by an ok read or an ok
	// cas, or the from value of an unknown cas whose own target must be.
	needed := make(map[int64]bool, len(est))
	var need func(v int64)
	need = func(v int64) {
		for !needed[v] {
			needed[v] = true
			e, ok := est[v]
			if !ok || part[e].f != regCas || !part[e].unknown {
				return
			}
			v = part[e].arg
		}
	}
	for _, op := range part {
		switch {
		case op.unknown:
		case op.f == regRead && !op.readNull:
			need(op.read)
		case op.f == regCas:
			need(op.arg)
		}
	}
	included := func(op *regOp) bool {
		return !op.unknown || op.f != regRead && needed[op.target()]
	}

	// One cluster per value an included op establishes; cluster 0 is null.
	clusters := []fastCluster{{est: -1, out: -1, next: -1, head: true}}
	id := make(map[int64]int32, len(est))
	for i, op := range part {
		if op.f != regRead && included(op) {
			id[op.target()] = int32(len(clusters))
			clusters = append(clusters, fastCluster{est: int32(i), out: -1, next: -1, head: op.f == regWrite})
		}
	}
	for i, op := range part {
		if !included(op) {
			continue
		}
		switch op.f {
		case regRead:
			c := int32(0)
			if !op.readNull {
				var ok bool
				if c, ok = id[op.read]; !ok {
					return nil // a value nothing included writes
				}
			}
			clusters[c].reads = append(clusters[c].reads, int32(i))
		case regCas:
			c, ok := id[op.arg]
			if !ok || clusters[c].out >= 0 {
				return nil // from a value never written, or two cas from it
			}
			clusters[c].out = int32(i)
			clusters[c].next = id[op.to]
		}
	}

	// Blocks: chains of clusters, in order, with their zones.
	type block struct {
		ops             []*regOp
		minRet, maxCall int64
		null            bool
	}
	var blocks []block
	seen := 0
	for c := range clusters {
		if !clusters[c].head {
			continue
		}
		b := block{minRet: math.MaxInt64, maxCall: math.MinInt64, null: c == 0}
		add := func(i int32) {
			op := part[i]
			b.ops = append(b.ops, op)
			b.minRet, b.maxCall = min(b.minRet, op.ret), max(b.maxCall, op.call)
		}
		for k := int32(c); k >= 0; k = clusters[k].next {
			cl := &clusters[k]
			seen++
			if cl.head && cl.est >= 0 {
				add(cl.est)
			}
			slices.SortFunc(cl.reads, func(a, b int32) int {
				return cmp.Or(cmp.Compare(part[a].ret, part[b].ret), cmp.Compare(part[a].call, part[b].call))
			})
			for _, r := range cl.reads {
				add(r)
			}
			if cl.out >= 0 {
				add(cl.out)
			}
		}
		if len(b.ops) > 0 {
			blocks = append(blocks, b)
		}
	}
	if seen != len(clusters) {
		return nil // a cycle of cas: no chain starts it
	}
	slices.SortFunc(blocks, func(a, b block) int {
		if a.null != b.null {
			if a.null {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(min(a.minRet, a.maxCall), min(b.minRet, b.maxCall)), cmp.Compare(a.maxCall, b.maxCall))
	})
	order := make([]*regOp, 0, len(part))
	for _, b := range blocks {
		order = append(order, b.ops...)
	}
	return order
}

// verifyWitness checks that order is a linearization of its ops: the
// register's sequential semantics hold (unknown cas included must apply),
// and each op can take effect inside its interval at a point no earlier
// than the op before it (point = max(previous point, invoke) ≤ return).
// Intervals are closed, as in Porcupine.
func verifyWitness(order []*regOp) bool {
	point := int64(math.MinInt64)
	null, cur := true, int64(0)
	for _, op := range order {
		point = max(point, op.call)
		if point > op.ret {
			return false
		}
		switch op.f {
		case regRead:
			if op.unknown || op.readNull != null || !null && op.read != cur {
				return false
			}
		case regWrite:
			null, cur = false, op.arg
		case regCas:
			if null || cur != op.arg {
				return false
			}
			cur = op.to
		}
	}
	return true
}

// target is the value a write or cas writes.
func (op *regOp) target() int64 {
	if op.f == regCas {
		return op.to
	}
	return op.arg
}
