package checker

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/anishathalye/porcupine"
)

// This file holds the register model used for keys with info (or
// never-completed) writes and cas: the "pool" model.
//
// Why. The plain encoding (regStep) gives an unknown op a return time after
// every other event, as DESIGN.md §4 says. It is exact, and fast on valid
// histories, but Porcupine will linearize each open unknown op at every
// point of the rest of the history, so proving a history invalid means
// trying every subset of them at every point: a single key with 1,000
// operations over 5 values and 25 unknown writes did not finish in a
// minute. Yet a bug is exactly when the verdict matters.
//
// What. Each unknown op becomes an enabler: an instantaneous operation at
// its invoke time that adds its effect (write v, or cas from→to) to a pool
// held in the state. An ok op that needs a value the register does not hold
// may first apply effects from the pool, each at most once; nothing else
// ever applies them. The state is then the register's value plus the pool,
// and Porcupine tracks a set of such states (the choice of which effects to
// apply is nondeterministic).
//
// Why it is exact. Take a linearization of the plain encoding. Move every
// unknown op X later, as long as the next op does not observe the state X
// produced: past an op that overwrites it (a write) X is dead and goes to
// the end; if X changed nothing (a cas that did not match) it goes to the
// end; otherwise the next op observes X's state. Now every unknown op that
// is not at the end sits, with others, in a block just before the ok op
// that needs the value the block produces, which is what the pool model
// does; and X's enabler can be placed before that block, because
// everything real time forces before X's invoke was already before X.
// Applying fewer effects than a block holds (the "minimal" paths below) is
// never worse: a state with a larger pool can do all that a smaller one
// can. Conversely a pool-model linearization is a plain one, with each
// applied effect's op placed where it was applied and the unapplied ones
// last.
//
// Differential tests check the two models agree (pool_test.go).
//
// The relaxed variant lets each effect apply any number of times. It allows
// more than the history does, so it can only refute: if even the relaxed
// model finds no linearization, there is none. It is as cheap as a history
// without unknown ops, and quickly refutes reads of values nothing wrote,
// or of null after a write, however many unknown ops there are.

// effect is an unknown op's possible effect on the register.
type effect struct {
	write    bool  // write to; else cas from → to
	from, to int64 // from: cas only
}

func (e effect) compare(o effect) int {
	if e.write != o.write {
		if e.write {
			return -1
		}
		return 1
	}
	return cmp.Or(cmp.Compare(e.from, o.from), cmp.Compare(e.to, o.to))
}

// poolEntry is an effect and how many unknown ops can still produce it.
type poolEntry struct {
	e effect
	n int32
}

// poolState is one possible state: the register's value and the pool of
// effects available. Pools are immutable, sorted by effect, without zero
// counts; states are shared, never modified.
type poolState struct {
	null bool
	v    int64
	pool []poolEntry
	h    uint64 // hash of the pool
}

func (s *poolState) compare(o *poolState) int {
	if s.null != o.null {
		if s.null {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(s.v, o.v); c != 0 {
		return c
	}
	return slices.CompareFunc(s.pool, o.pool, func(a, b poolEntry) int {
		return cmp.Or(a.e.compare(b.e), cmp.Compare(a.n, b.n))
	})
}

func (s *poolState) hash() uint64 {
	x := s.h
	if s.null {
		x ^= 0x9e3779b97f4a7c15
	} else {
		x ^= mix64(uint64(s.v))
	}
	return x
}

func poolHash(pool []poolEntry) uint64 {
	var h uint64 = 0xcbf29ce484222325
	for _, p := range pool {
		x := uint64(p.e.from)*31 + uint64(p.e.to)*0x100000001b3 + uint64(p.n)<<1
		if p.e.write {
			x ^= 0xff51afd7ed558ccd
		}
		h = (h ^ mix64(x)) * 0x100000001b3
	}
	return h
}

func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// covers reports whether pool a holds at least what pool b holds.
func covers(a, b []poolEntry) bool {
	i := 0
	for _, pb := range b {
		for i < len(a) && a[i].e.compare(pb.e) < 0 {
			i++
		}
		if i == len(a) || a[i].e != pb.e || a[i].n < pb.n {
			return false
		}
	}
	return true
}

// withEffect returns pool plus one e.
func withEffect(pool []poolEntry, e effect) []poolEntry {
	i, found := slices.BinarySearchFunc(pool, e, func(p poolEntry, e effect) int { return p.e.compare(e) })
	out := make([]poolEntry, 0, len(pool)+1)
	out = append(out, pool[:i]...)
	if found {
		out = append(out, poolEntry{e, pool[i].n + 1})
		return append(out, pool[i+1:]...)
	}
	out = append(out, poolEntry{e, 1})
	return append(out, pool[i:]...)
}

// without returns pool minus one of each effect at the given indices
// (distinct, into pool).
func without(pool []poolEntry, used []int) []poolEntry {
	out := make([]poolEntry, 0, len(pool))
	for i, p := range pool {
		if slices.Contains(used, i) {
			p.n--
		}
		if p.n > 0 {
			out = append(out, p)
		}
	}
	return out
}

// stateSet is the model's state: the possible poolStates, sorted, none
// dominated by another (same value, a pool that covers it).
type stateSet struct {
	states []*poolState
	h      uint64
}

func newStateSet(states []*poolState) *stateSet {
	// Drop dominated and duplicate states.
	kept := states[:0:0]
	for i, s := range states {
		dominated := false
		for j, o := range states {
			if i == j || s.null != o.null || s.v != o.v || !covers(o.pool, s.pool) {
				continue
			}
			// o covers s; s goes unless they are equal and s comes first.
			if len(o.pool) != len(s.pool) || !covers(s.pool, o.pool) || j < i {
				dominated = true
				break
			}
		}
		if !dominated {
			kept = append(kept, s)
		}
	}
	slices.SortFunc(kept, (*poolState).compare)
	var h uint64
	for _, s := range kept {
		h = h*0x100000001b3 ^ s.hash()
	}
	return &stateSet{states: kept, h: h}
}

func poolSetEqual(a, b any) bool {
	x, y := a.(*stateSet), b.(*stateSet)
	if x == y {
		return true
	}
	if x.h != y.h || len(x.states) != len(y.states) {
		return false
	}
	for i := range x.states {
		if x.states[i].compare(y.states[i]) != 0 {
			return false
		}
	}
	return true
}

// poolStep is the pool model's step; see the top of this file. With relaxed
// set, effects are never used up.
func poolStep(ctx context.Context, relaxed bool, state, input any) (bool, any) {
	set := state.(*stateSet)
	op := input.(*regOp)
	if op.unknown && op.f == regRead {
		return true, set // not produced by convertRegister
	}
	if op.unknown { // an enabler
		e := effect{write: op.f == regWrite, from: op.arg, to: op.to}
		if e.write {
			e.to = op.arg
		}
		if relaxed && len(set.states) == 1 && slices.ContainsFunc(set.states[0].pool, func(p poolEntry) bool { return p.e == e }) {
			return true, set
		}
		next := make([]*poolState, len(set.states))
		for i, s := range set.states {
			pool := withEffect(s.pool, e)
			next[i] = &poolState{null: s.null, v: s.v, pool: pool, h: poolHash(pool)}
		}
		return true, newStateSet(next)
	}
	var next []*poolState
	for _, s := range set.states {
		if ctx.Err() != nil {
			return false, nil
		}
		switch op.f {
		case regWrite:
			next = append(next, &poolState{v: op.arg, pool: s.pool, h: s.h})
		case regRead:
			if op.readNull {
				if s.null { // no effect can produce null
					next = append(next, s)
				}
				continue
			}
			if !s.null && s.v == op.read {
				next = append(next, s) // the common case: nothing to apply
				continue
			}
			if relaxed {
				if len(reach(ctx, s, op.read)) > 0 {
					next = append(next, &poolState{v: op.read, pool: s.pool, h: s.h})
				}
				continue
			}
			for _, pool := range reach(ctx, s, op.read) {
				next = append(next, &poolState{v: op.read, pool: pool, h: poolHash(pool)})
			}
		case regCas:
			if !s.null && s.v == op.arg {
				next = append(next, &poolState{v: op.to, pool: s.pool, h: s.h})
				continue
			}
			if relaxed {
				if len(reach(ctx, s, op.arg)) > 0 {
					next = append(next, &poolState{v: op.to, pool: s.pool, h: s.h})
				}
				continue
			}
			for _, pool := range reach(ctx, s, op.arg) {
				next = append(next, &poolState{v: op.to, pool: pool, h: poolHash(pool)})
			}
		}
	}
	switch {
	case len(next) == 0:
		return false, set
	case len(next) == 1 && len(set.states) == 1 && next[0] == set.states[0]:
		return true, set
	case len(next) == 1:
		return true, &stateSet{states: next, h: next[0].hash()}
	}
	return true, newStateSet(next)
}

// reach returns the pools left after each minimal way of bringing the
// register from s to target with effects from s's pool: at most one write
// (first: a later write would make what came before useless), then cas
// effects along a path that visits no value twice (a loop could be cut).
// Pools that cover another are left out by newStateSet.
func reach(ctx context.Context, s *poolState, target int64) [][]poolEntry {
	var out [][]poolEntry
	var used []int
	visited := map[int64]bool{}
	var walk func(v int64)
	walk = func(v int64) {
		if ctx.Err() != nil {
			return
		}
		if v == target {
			out = append(out, without(s.pool, used))
			return
		}
		visited[v] = true
		for i, p := range s.pool {
			if p.e.write || p.e.from != v || visited[p.e.to] || slices.Contains(used, i) {
				continue
			}
			used = append(used, i)
			walk(p.e.to)
			used = used[:len(used)-1]
		}
		delete(visited, v)
	}
	if !s.null {
		walk(s.v)
	}
	for i, p := range s.pool {
		if !p.e.write || (!s.null && p.e.to == s.v) {
			continue // writing the value held is never minimal
		}
		used = append(used[:0], i)
		walk(p.e.to)
	}
	return out
}

func describePoolSet(state any) string {
	set := state.(*stateSet)
	parts := make([]string, len(set.states))
	for i, s := range set.states {
		v := "null"
		if !s.null {
			v = strconv.FormatInt(s.v, 10)
		}
		if len(s.pool) > 0 {
			var p []string
			for _, e := range s.pool {
				d := "write " + strconv.FormatInt(e.e.to, 10)
				if !e.e.write {
					d = "cas " + strconv.FormatInt(e.e.from, 10) + "→" + strconv.FormatInt(e.e.to, 10)
				}
				if e.n > 1 {
					d += " ×" + strconv.Itoa(int(e.n))
				}
				p = append(p, d)
			}
			v += " (may still apply: " + strings.Join(p, ", ") + ")"
		}
		parts[i] = v
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "one of {" + strings.Join(parts, "; ") + "}"
}

// poolModel returns the pool model, or its relaxed variant, which may only
// be trusted when it says Illegal. With partition set it splits by key.
func poolModel(partition, relaxed bool) porcupine.Model {
	m := porcupine.Model{
		Init: func() any {
			return newStateSet([]*poolState{{null: true, h: poolHash(nil)}})
		},
		StepContext: func(ctx context.Context, state, input, _ any) (bool, any) {
			return poolStep(ctx, relaxed, state, input)
		},
		Equal:             poolSetEqual,
		Hash:              func(state any) uint64 { return state.(*stateSet).h },
		DescribeOperation: func(input, _ any) string { return input.(*regOp).String() },
		DescribeState:     describePoolSet,
	}
	if partition {
		m.Partition = partitionByKey
	}
	return m
}

// needsPool reports whether a key has unknown writes or cas, which the
// plain model handles exactly but can take exponential time to refute.
func needsPool(part []*regOp) bool {
	for _, op := range part {
		if op.unknown {
			return true
		}
	}
	return false
}

// explainModel steps each key with the model that decided it (its ops'
// mode), so one Verbose call can explain keys decided by different models.
// The initial state is nil: the plain register's null, or for the pool
// models the empty pool.
func explainModel() porcupine.Model {
	initial := newStateSet([]*poolState{{null: true, h: poolHash(nil)}})
	return porcupine.Model{
		Partition: partitionByKey,
		Init:      func() any { return nil },
		StepContext: func(ctx context.Context, state, input, output any) (bool, any) {
			op := input.(*regOp)
			if op.mode == modePlain {
				return regStep(state, input, output)
			}
			if state == nil {
				state = initial
			}
			return poolStep(ctx, op.mode == modeRelaxed, state, input)
		},
		Equal: func(a, b any) bool {
			if _, ok := a.(*stateSet); ok {
				if _, ok := b.(*stateSet); ok {
					return poolSetEqual(a, b)
				}
			}
			return a == b
		},
		Hash: func(state any) uint64 {
			if s, ok := state.(*stateSet); ok {
				return s.h
			}
			return regHash(state)
		},
		DescribeOperation: func(input, _ any) string { return input.(*regOp).String() },
		DescribeState: func(state any) string {
			if _, ok := state.(*stateSet); ok {
				return describePoolSet(state)
			}
			return describeRegState(state)
		},
	}
}
