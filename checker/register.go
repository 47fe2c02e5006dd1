package checker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/anishathalye/porcupine"

	"github.com/faultline-io/faultline/history"
)

// This file holds the read/write/cas register: how a history's ops become
// Porcupine operations, and the sequential model they are checked against.

// regF is a register operation.
type regF uint8

const (
	regRead regF = iota
	regWrite
	regCas
)

// regOp is one operation on one key, as Porcupine sees it: it is the
// Operation's Input, and the Output is unused (a read's result is here).
//
// A register's state is nil (never written, distinct from 0) or an int64 in
// an interface. next holds the state a write or cas moves to, boxed once
// (by porcupineOps, or boxNext) so that Step never allocates; keys the fast
// path decides never need it.
type regOp struct {
	// The fields the fast path and the searches read come first, to
	// share a cache line or two.
	f         regF
	readNull  bool    // ok read: returned null
	unknown   bool    // info, or never completed: the outcome is unknown
	pending   bool    // never completed (no ok, fail or info at all)
	mode      regMode // the model that decided the key, for explaining a failure
	arg       int64   // write: the value; cas: from
	to        int64   // cas: to
	read      int64   // ok read: the value returned
	call, ret int64
	next      any // write: arg; cas: to (boxed); nil until boxNext

	key        string
	process    history.Process
	invIndex   int64 // Index of the invoke
	doneIndex  int64 // Index of the completion; -1 if pending
	doneStatus history.Type
}

// regMode names the register models: plain (regStep, DESIGN.md's encoding
// of unknown ops), pool, and the relaxed pool model (pool.go).
type regMode uint8

const (
	modePlain regMode = iota
	modePool
	modeRelaxed
	modeFast // decided by the unique-value fast path (fastreg.go)
)

func (m regMode) String() string {
	switch m {
	case modePool:
		return "pool"
	case modeRelaxed:
		return "relaxed"
	case modeFast:
		return "fast"
	}
	return "plain"
}

// boxNext sets next on the writes and cas of part that lack it. Searches
// read next concurrently: box a key before starting them.
func boxNext(part []*regOp) {
	for _, op := range part {
		if op.next == nil && op.f != regRead {
			op.next = op.target()
		}
	}
}

// regStep is the register's sequential specification.
//
// Unknown ops are accepted whatever their output: an info write may be
// linearized at any point after its invoke, and linearizing it after every
// other op is the same as it never happening. For an info cas the model
// applies it when the state matches and otherwise leaves the state alone;
// with the freedom to place it anywhere after its invoke (including at the
// end, where it affects nothing), that covers both "took effect" and "did
// not", so no nondeterministic model is needed. Info reads never reach the
// model: see convertRegister.
func regStep(state, input, _ any) (bool, any) {
	op := input.(*regOp)
	switch op.f {
	case regRead:
		if op.unknown {
			return true, state
		}
		if op.readNull {
			return state == nil, state
		}
		v, ok := state.(int64)
		return ok && v == op.read, state
	case regWrite:
		return true, op.next
	case regCas:
		if v, ok := state.(int64); ok && v == op.arg {
			return true, op.next
		}
		// A cas that completed ok must have matched; an unknown one that
		// did not match changed nothing.
		return op.unknown, state
	}
	return false, state
}

func regEqual(a, b any) bool { return a == b }

func regHash(state any) uint64 {
	if state == nil {
		return 0x9e3779b97f4a7c15
	}
	x := uint64(state.(int64))
	// splitmix64 finalizer
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

func (op *regOp) String() string {
	var s string
	switch op.f {
	case regRead:
		switch {
		case op.unknown:
			s = "read() → ?"
		case op.readNull:
			s = "read() → null"
		default:
			s = "read() → " + strconv.FormatInt(op.read, 10)
		}
	case regWrite:
		s = "write(" + strconv.FormatInt(op.arg, 10) + ")"
	case regCas:
		s = "cas(" + strconv.FormatInt(op.arg, 10) + ", " + strconv.FormatInt(op.to, 10) + ")"
	}
	switch {
	case op.pending:
		s += " (never completed)"
	case op.unknown:
		s += " (info)"
	}
	return s
}

func describeRegState(state any) string {
	if state == nil {
		return "null"
	}
	return strconv.FormatInt(state.(int64), 10)
}

// registerModel returns the register model. With partition set, it splits
// a history by key (for a single Verbose call over several keys).
func registerModel(partition bool) porcupine.Model {
	m := porcupine.Model{
		Init:              func() any { return nil },
		Step:              regStep,
		Equal:             regEqual,
		Hash:              regHash,
		DescribeOperation: func(input, _ any) string { return input.(*regOp).String() },
		DescribeState:     describeRegState,
	}
	if partition {
		m.Partition = partitionByKey
	}
	return m
}

// partitionByKey groups operations by key, keeping their order; keys come
// in order of first appearance.
func partitionByKey(ops []porcupine.Operation) [][]porcupine.Operation {
	idx := make(map[string]int)
	var out [][]porcupine.Operation
	for _, o := range ops {
		k := o.Input.(*regOp).key
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], o)
	}
	return out
}

// LinearizableCounts counts a history's client operations by outcome.
type LinearizableCounts struct {
	OK        int `json:"ok"`
	Info      int `json:"info"`
	Fail      int `json:"fail"`
	Pending   int `json:"pending"`    // invoked, never completed: checked like info
	InfoReads int `json:"info_reads"` // info or pending reads, which constrain nothing and are left out
	// Unobserved counts info or pending writes and cas left out because no
	// operation that may follow them observes the value they would write.
	Unobserved int `json:"unobserved"`
	Nemesis    int `json:"nemesis"` // nemesis events, ignored
}

// historyError is a history the register checker cannot interpret.
type historyError struct{ msg string }

func (e *historyError) Error() string { return e.msg }

func badOp(op *history.Op, format string, args ...any) error {
	return &historyError{fmt.Sprintf("op index %d: ", op.Index) + fmt.Sprintf(format, args...)}
}

// convertRegister pairs each client invoke with its completion and returns
// the operations to check, grouped by key.
//
//   - ok ops are checked with their real interval;
//   - fail ops certainly did not happen and are left out;
//   - info ops, and invokes that never completed, get a return time after
//     every event of the history (max time + 1 + i) and an unknown outcome;
//   - info reads are left out: a read changes nothing, and with an unknown
//     result it constrains nothing, so every linearization of the history
//     without it extends to one with it. Leaving them out is exact, and
//     spares the search one open operation each until the end;
//   - so are info writes and cas whose value nothing observes; see
//     dropUnobserved;
//   - nemesis ops are ignored.
//
// A history that does not pair up, or whose values are not integers (write
// v, cas [from, to], a read returning v or null), is a *historyError naming
// the op's index.
func convertRegister(ops []history.Op) (byKey map[string][]*regOp, counts LinearizableCounts, err error) {
	// Each key's ops are laid out together, in the order they are
	// converted, so that the passes over a key read memory in order:
	// first the keys of the invokes are numbered and counted.
	maxTime := int64(0)
	ids := make(map[string]int32)
	var keys []string
	var sizes []int
	keyOf := make([]int32, len(ops))
	for i := range ops {
		op := &ops[i]
		maxTime = max(maxTime, op.Time)
		if op.Type != history.Invoke || op.IsNemesis() {
			continue
		}
		id, ok := ids[op.Key]
		if !ok {
			id = int32(len(keys))
			ids[op.Key] = id
			keys, sizes = append(keys, op.Key), append(sizes, 0)
		}
		keyOf[i] = id
		sizes[id]++
	}
	invokes := 0
	for _, n := range sizes {
		invokes += n
	}
	store := make([]regOp, invokes)
	mem := make([][]regOp, len(keys)) // each key's ops, in store
	for id, n := range sizes {
		mem[id], store = store[:0:n], store[n:]
	}

	open := newOpenInvokes(ops)
	unknownSeq := int64(0)
	add := func(j int, done *history.Op) error {
		inv := &ops[j]
		var f regF
		switch inv.F {
		case "read":
			f = regRead
		case "write":
			f = regWrite
		case "cas":
			f = regCas
		default:
			return badOp(inv, "f %q is not a register operation (read, write or cas)", inv.F)
		}
		unknown := done == nil
		if done != nil {
			switch done.Type {
			case history.Fail:
				counts.Fail++
				return nil
			case history.Info:
				unknown = true
				counts.Info++
			case history.OK:
				counts.OK++
				if done.Time < inv.Time {
					return badOp(done, "completes at time %d, before its invoke (op index %d) at time %d", done.Time, inv.Index, inv.Time)
				}
			}
		} else {
			counts.Pending++
		}
		ret := int64(0)
		if unknown {
			unknownSeq++
			ret = maxTime + unknownSeq
			if f == regRead {
				counts.InfoReads++
				return nil
			}
		} else {
			ret = done.Time
		}
		// Filled in place, in the key's next slot.
		id := keyOf[j]
		k := len(mem[id])
		mem[id] = mem[id][:k+1]
		op := &mem[id][k]
		*op = regOp{
			f: f, unknown: unknown, pending: done == nil, call: inv.Time, ret: ret,
			key: inv.Key, process: inv.Process, invIndex: inv.Index, doneIndex: -1,
		}
		if done != nil {
			op.doneIndex, op.doneStatus = done.Index, done.Type
		}
		switch f {
		case regRead:
			null, v, ok := parseIntOrNull(done.Value)
			if !ok {
				return badOp(done, "read returned %s; want an integer or null", shortJSON(done.Value))
			}
			op.readNull, op.read = null, v
		case regWrite:
			null, v, ok := parseIntOrNull(inv.Value)
			if !ok || null {
				return badOp(inv, "write of %s; want an integer", shortJSON(inv.Value))
			}
			op.arg = v
		case regCas:
			from, to, ok := parseIntPair(inv.Value)
			if !ok {
				return badOp(inv, "cas of %s; want [from, to] with integers", shortJSON(inv.Value))
			}
			op.arg, op.to = from, to
		}
		return nil
	}
	for i := range ops {
		op := &ops[i]
		if op.IsNemesis() {
			counts.Nemesis++
			continue
		}
		switch op.Type {
		case history.Invoke:
			if j, ok := open.get(op.Process); ok {
				return nil, counts, badOp(op, "process %s invokes while its invoke at op index %d is outstanding", op.Process, ops[j].Index)
			}
			open.set(op.Process, i)
		case history.OK, history.Fail, history.Info:
			j, ok := open.get(op.Process)
			if !ok {
				return nil, counts, badOp(op, "%s of process %s has no outstanding invoke", op.Type, op.Process)
			}
			open.remove(op.Process)
			if ops[j].F != op.F {
				return nil, counts, badOp(op, "%s has f %q but its invoke (op index %d) has f %q", op.Type, op.F, ops[j].Index, ops[j].F)
			}
			if err := add(j, op); err != nil {
				return nil, counts, err
			}
		default:
			return nil, counts, badOp(op, "type %q is not invoke, ok, fail or info", op.Type)
		}
	}
	// Never-completed invokes, in history order so unknown return times are
	// deterministic.
	for _, j := range open.positions() {
		if err := add(j, nil); err != nil {
			return nil, counts, err
		}
	}

	// Pointers to each key's ops, pruned (dropUnobserved) key by key in
	// parallel.
	ptrs := make([]*regOp, 0, invokes)
	parts := make([][]*regOp, len(keys))
	for id := range mem {
		start := len(ptrs)
		for i := range mem[id] {
			ptrs = append(ptrs, &mem[id][i])
		}
		parts[id] = ptrs[start:len(ptrs):len(ptrs)]
	}
	dropped := make([]int, len(parts))
	forEachKey(len(parts), func(id int) {
		kept := dropUnobserved(parts[id])
		dropped[id] = len(parts[id]) - len(kept)
		parts[id] = kept[:len(kept):len(kept)]
	})
	byKey = make(map[string][]*regOp, len(keys))
	for id, k := range keys {
		if len(mem[id]) > 0 { // a key whose ops all failed is none
			byKey[k] = parts[id]
		}
		counts.Unobserved += dropped[id]
	}
	return byKey, counts, nil
}

// forEachKey calls f(0), ..., f(n-1) on up to GOMAXPROCS goroutines, and
// returns when every call has. A panic in a call is raised again in the
// caller.
func forEachKey(n int, f func(int)) {
	workers := min(runtime.GOMAXPROCS(0), n/64+1, n)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		mu     sync.Mutex
		panicV any
	)
	for range workers {
		wg.Go(func() {
			defer func() {
				if v := recover(); v != nil {
					mu.Lock()
					panicV = v
					mu.Unlock()
					next.Store(int64(n)) // stop the others
				}
			}()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
	if panicV != nil {
		panic(panicV)
	}
}

// dropUnobserved returns part without the unknown writes and cas that no
// operation able to follow them observes, reusing part's array. It is
// exact, not a heuristic.
//
// Unknown ops are what makes a failing history expensive: each stays open
// until the end, and Porcupine explores every subset of them. Say X is an
// unknown write of v (or cas to v), and no operation Y that may be
// linearized after X (Y returns at or after X's invoke) observes v: no ok
// read returns v, and no ok or unknown cas compares against v. Then the
// history is linearizable iff it is without X. If: put X last; an unknown
// op is legal anywhere after its invoke, and last it affects nothing. Only
// if: in a linearization with X, the ops between X and the next write
// cannot observe v, so they are reads of v (excluded), cas from v
// (excluded) or unknown cas that did not match, which can be moved to the
// end; what remains is legal without X. Dropping an unknown cas can make
// another op droppable, so this repeats until nothing changes.
func dropUnobserved(part []*regOp) []*regOp {
	var vals []int64   // values unknown ops write, sorted, distinct
	var latest []int64 // latest[i]: latest return of an op observing vals[i]
	var seen []bool    // whether any op observes vals[i]
	for {
		// Only the values of unknown ops matter: few, so a sorted slice
		// rather than a map of every value observed.
		vals = vals[:0]
		for _, op := range part {
			if op.unknown && op.f != regRead {
				vals = append(vals, op.target())
			}
		}
		if len(vals) == 0 {
			return part
		}
		slices.Sort(vals)
		vals = slices.Compact(vals)
		latest, seen = slices.Grow(latest[:0], len(vals))[:len(vals)], slices.Grow(seen[:0], len(vals))[:len(vals)]
		clear(seen)
		observe := func(v, ret int64) {
			if i, ok := slices.BinarySearch(vals, v); ok && (!seen[i] || ret > latest[i]) {
				latest[i], seen[i] = ret, true
			}
		}
		for _, op := range part {
			switch {
			case op.f == regRead && !op.readNull:
				observe(op.read, op.ret)
			case op.f == regCas:
				observe(op.arg, op.ret)
			}
		}
		kept := part[:0]
		for _, op := range part {
			if op.unknown && op.f != regRead {
				i, _ := slices.BinarySearch(vals, op.target())
				if !seen[i] || latest[i] < op.call {
					continue
				}
			}
			kept = append(kept, op)
		}
		if len(kept) == len(part) {
			return part
		}
		clear(part[len(kept):])
		part = kept
	}
}

// parseIntOrNull parses a JSON integer or null (absent counts as null).
func parseIntOrNull(v json.RawMessage) (null bool, n int64, ok bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return true, 0, true
	}
	if n, ok := history.ParseInt(v); ok {
		return false, n, true
	}
	// Tolerate integral numbers written as 1.0 or 1e3.
	var num json.Number
	if json.Unmarshal(v, &num) != nil {
		return false, 0, false
	}
	f, err := num.Float64()
	if err != nil || f != float64(int64(f)) {
		return false, 0, false
	}
	return false, int64(f), true
}

// parseIntPair parses [from, to].
func parseIntPair(v json.RawMessage) (from, to int64, ok bool) {
	v = bytes.TrimSpace(v)
	if len(v) < 2 || v[0] != '[' || v[len(v)-1] != ']' {
		return 0, 0, false
	}
	a, b, found := bytes.Cut(v[1:len(v)-1], []byte{','})
	if !found {
		return 0, 0, false
	}
	n1, f, ok1 := parseIntOrNull(a)
	n2, t, ok2 := parseIntOrNull(b)
	if !ok1 || !ok2 || n1 || n2 || len(bytes.TrimSpace(a)) == 0 || len(bytes.TrimSpace(b)) == 0 {
		return 0, 0, false
	}
	return f, t, true
}

func shortJSON(v json.RawMessage) string {
	if len(v) == 0 {
		return "no value"
	}
	if len(v) > 40 {
		return string(v[:37]) + "..."
	}
	return string(v)
}

func (c LinearizableCounts) String() string {
	return fmt.Sprintf("%d ok, %d info (%d reads, %d unobserved left out), %d fail, %d never completed",
		c.OK, c.Info, c.InfoReads, c.Unobserved, c.Fail, c.Pending)
}
