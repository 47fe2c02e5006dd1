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
	return new(fastScratch).register(part)
}

// register is fastRegister with s's memory.
func (s *fastScratch) register(part []*regOp) bool {
	order := s.witness(part)
	return order != nil && verifyWitness(order)
}

// fastScratch is the working memory of fastWitness, kept by one goroutine
// from key to key so that a key costs no allocation once the largest has
// been seen. What witness returns lives in it until the next call.
type fastScratch struct {
	index    map[int64]int32 // value → its entry in values
	indexCap int             // the most entries index has held
	values   []fastValue
	clusters []fastCluster
	of       []int32 // per op of part: its cluster, for included reads
	reads    []int32 // the included reads, by cluster (see fastCluster.reads)
	chains   []*regOp
	blocks   []fastBlock
	order    []*regOp
}

// fastValue is what fastWitness knows of one value.
type fastValue struct {
	est     int32 // index in part of the op establishing it; -1: none
	cluster int32 // its cluster, once an included op establishes it; -1: none
	needed  bool  // some included op may observe it
}

// fastCluster is the ops observing one value.
type fastCluster struct {
	est   int32    // index in part of the op establishing the value; -1 for null
	reads [2]int32 // ok reads of the value: fastScratch.reads[reads[0]:reads[1]]
	out   int32    // the included cas from the value; -1 if none
	next  int32    // cluster established by out; -1 if none
	head  bool     // not established by a cas: a chain starts here
}

// fastBlock is a chain of clusters: fastScratch.chains[start:end].
type fastBlock struct {
	start, end      int
	minRet, maxCall int64
	null            bool
}

// fastWitness returns the candidate linearization of part (the ops it
// includes, in order), or nil if part does not qualify or its structure
// rules out a witness.
func fastWitness(part []*regOp) []*regOp {
	return new(fastScratch).witness(part)
}

// value returns v's entry, adding it if need be.
func (s *fastScratch) value(v int64) *fastValue {
	i, ok := s.index[v]
	if !ok {
		i = int32(len(s.values))
		s.index[v] = i
		s.values = append(s.values, fastValue{est: -1, cluster: -1})
	}
	return &s.values[i]
}

// lookup returns v's entry, or nil.
func (s *fastScratch) lookup(v int64) *fastValue {
	if i, ok := s.index[v]; ok {
		return &s.values[i]
	}
	return nil
}

// witness is fastWitness with s's memory.
func (s *fastScratch) witness(part []*regOp) []*regOp {
	// Clearing a map costs its capacity: one that a much larger key grew
	// is dropped rather than cleared for every small key after it.
	if s.index == nil || s.indexCap > 2*len(part)+1024 {
		s.index, s.indexCap = make(map[int64]int32, len(part)), 0
	} else {
		clear(s.index)
	}
	s.indexCap = max(s.indexCap, len(part))
	s.values = s.values[:0]

	// Qualify: every write and cas target is unique in the key.
	for i, op := range part {
		if op.f == regRead {
			continue
		}
		e := s.value(op.target())
		if e.est >= 0 {
			return nil
		}
		e.est = int32(i)
	}

	// Values that must be established: observed by an ok read or an ok
	// cas, or the from value of an unknown cas whose own target must be.
	need := func(v int64) {
		for {
			e := s.value(v)
			if e.needed {
				return
			}
			e.needed = true
			if e.est < 0 || part[e.est].f != regCas || !part[e.est].unknown {
				return
			}
			v = part[e.est].arg
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
		return !op.unknown || op.f != regRead && s.lookup(op.target()).needed
	}

	// One cluster per value an included op establishes; cluster 0 is null.
	clusters := append(s.clusters[:0], fastCluster{est: -1, out: -1, next: -1, head: true})
	for i, op := range part {
		if op.f != regRead && included(op) {
			s.lookup(op.target()).cluster = int32(len(clusters))
			clusters = append(clusters, fastCluster{est: int32(i), out: -1, next: -1, head: op.f == regWrite})
		}
	}
	s.clusters = clusters
	// The reads of each cluster, in the order of part, laid out cluster
	// after cluster in s.reads: counted first, then placed.
	of := slices.Grow(s.of[:0], len(part))[:len(part)]
	s.of = of
	for i, op := range part {
		of[i] = -1
		if !included(op) {
			continue
		}
		switch op.f {
		case regRead:
			c := int32(0)
			if !op.readNull {
				e := s.lookup(op.read)
				if e == nil || e.cluster < 0 {
					return nil // a value nothing included writes
				}
				c = e.cluster
			}
			of[i] = c
			clusters[c].reads[1]++
		case regCas:
			e := s.lookup(op.arg)
			if e == nil || e.cluster < 0 || clusters[e.cluster].out >= 0 {
				return nil // from a value never written, or two cas from it
			}
			clusters[e.cluster].out = int32(i)
			clusters[e.cluster].next = s.lookup(op.to).cluster
		}
	}
	n := int32(0)
	for c := range clusters {
		k := clusters[c].reads[1]
		clusters[c].reads = [2]int32{n, n}
		n += k
	}
	reads := slices.Grow(s.reads[:0], int(n))[:n]
	s.reads = reads
	for i, c := range of {
		if c >= 0 {
			reads[clusters[c].reads[1]] = int32(i)
			clusters[c].reads[1]++
		}
	}

	// Blocks: chains of clusters, in order, with their zones.
	chains := s.chains[:0]
	blocks := s.blocks[:0]
	seen := 0
	for c := range clusters {
		if !clusters[c].head {
			continue
		}
		b := fastBlock{start: len(chains), minRet: math.MaxInt64, maxCall: math.MinInt64, null: c == 0}
		add := func(i int32) {
			op := part[i]
			chains = append(chains, op)
			b.minRet, b.maxCall = min(b.minRet, op.ret), max(b.maxCall, op.call)
		}
		for k := int32(c); k >= 0; k = clusters[k].next {
			cl := &clusters[k]
			seen++
			if cl.head && cl.est >= 0 {
				add(cl.est)
			}
			rs := reads[cl.reads[0]:cl.reads[1]]
			slices.SortFunc(rs, func(a, b int32) int {
				return cmp.Or(cmp.Compare(part[a].ret, part[b].ret), cmp.Compare(part[a].call, part[b].call))
			})
			for _, r := range rs {
				add(r)
			}
			if cl.out >= 0 {
				add(cl.out)
			}
		}
		if b.end = len(chains); b.end > b.start {
			blocks = append(blocks, b)
		}
	}
	s.chains, s.blocks = chains, blocks
	if seen != len(clusters) {
		return nil // a cycle of cas: no chain starts it
	}
	slices.SortFunc(blocks, func(a, b fastBlock) int {
		if a.null != b.null {
			if a.null {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(min(a.minRet, a.maxCall), min(b.minRet, b.maxCall)), cmp.Compare(a.maxCall, b.maxCall))
	})
	order := s.order[:0]
	if order == nil {
		order = make([]*regOp, 0, len(part)) // empty is a witness; nil is none
	}
	for _, b := range blocks {
		order = append(order, chains[b.start:b.end]...)
	}
	s.order = order
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
