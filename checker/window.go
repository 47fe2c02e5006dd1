package checker

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Window is the smallest stretch of one key's history found that cannot be
// linearized on its own, whatever value the key held when it began: the
// explanation a user reads first. Ops lists its operations in invoke
// order; those that straddle its edges count as info (they may or may not
// have taken effect inside it), and reads that straddle them are left
// out.
type Window struct {
	Key string `json:"key"`
	// From and To are the test times (ns) of the window's edges.
	From int64 `json:"from"`
	To   int64 `json:"to"`
	// FirstIndex and LastIndex are the smallest and largest history
	// indexes (invokes and completions) of its operations.
	FirstIndex int64      `json:"first_index"`
	LastIndex  int64      `json:"last_index"`
	Ops        []WindowOp `json:"ops"`
}

// WindowOp is one operation of a Window.
type WindowOp struct {
	Op              string `json:"op"`
	Process         string `json:"process"`
	InvokeIndex     int64  `json:"invoke_index"`
	CompletionIndex int64  `json:"completion_index"` // -1: never completed
	// Edge is true for a write or cas that straddles the window's edge,
	// checked as if its outcome were unknown.
	Edge bool `json:"edge,omitempty"`
}

// windowFree is the register state "some value, not known yet": the state
// of a key when a window begins. A read from it fixes it; a write or a
// completed cas replaces it; a cas whose outcome is unknown may have
// matched or not, so it leaves it free (free admits every later read, so
// it covers both branches).
type windowFreeState struct{}

var windowFree any = windowFreeState{}

func windowStep(state, input, output any) (bool, any) {
	if state != windowFree {
		return regStep(state, input, output)
	}
	op := input.(*regOp)
	switch op.f {
	case regRead:
		if op.unknown {
			return true, state
		}
		if op.readNull {
			return true, nil
		}
		return true, op.read
	case regWrite:
		return true, op.next
	case regCas:
		if op.unknown {
			return true, state
		}
		return true, op.next
	}
	return false, state
}

func windowModel() porcupine.Model {
	return porcupine.Model{
		Init:              func() any { return windowFree },
		Step:              windowStep,
		Equal:             func(a, b any) bool { return a == b },
		DescribeOperation: func(input, _ any) string { return input.(*regOp).String() },
	}
}

// windowOps returns the operations of part (one key) the window [a, b]
// checks: those inside it as they are; writes and cas that straddle an
// edge as unknown (they may have taken effect inside it, or not); nothing
// that ended before a (the free initial state stands for it) or began after
// b. Straddling reads are left out.
//
// Soundness: take any linearization of the whole key and its prefix up to
// the last operation inside the window. Operations that ended before a
// come before every operation inside, so from the last of them on the
// prefix holds only straddlers and inside operations, starting from the
// value they left: the free initial state, and the straddlers it kept as
// having taken effect. So if the window cannot be linearized, the key
// cannot either.
func windowOps(part []*regOp, a, b int64) []*regOp {
	// (An unknown op of part ends after the history's last event: never
	// at edgeReturn, which marks the edge copies.)
	var out []*regOp
	for _, op := range part {
		end := op.ret
		if op.unknown {
			end = math.MaxInt64
		}
		switch {
		case end < a || op.call > b:
			continue
		case op.unknown || op.call >= a && end <= b:
			out = append(out, op)
		case op.f == regRead:
			continue
		default:
			c := *op
			c.unknown = true
			c.ret = edgeReturn
			out = append(out, &c)
		}
	}
	return out
}

// edgeReturn is the completion time of an op made unknown at a window's
// edge: after everything, as for every unknown op, and what marks it.
const edgeReturn = math.MaxInt64 / 2

// windowStepTimeout bounds each check of the window search.
const windowStepTimeout = 500 * time.Millisecond

// windowIllegal reports whether the window [a, b] of part cannot be
// linearized, within timeout (a timeout counts as "could be"), and within
// watch's budget when watch is not nil (a stopped search counts as "could
// be" too).
func windowIllegal(part []*regOp, a, b int64, timeout time.Duration, watch *memoryWatch) bool {
	ops := windowOps(part, a, b)
	if len(ops) == 0 {
		return false
	}
	return checkWithin(windowModel(), porcupineOps(ops, false, nil), timeout, watch) == porcupine.Illegal
}

// smallestWindow finds a small window of part (one key's operations, which
// cannot be linearized) that cannot be linearized on its own: the latest
// start a (an invoke time) for which [a, end] still fails, where end is the
// stuck operation's completion (or the last completion), then the earliest
// end b for which [a, b] fails. Each step is a binary search over invoke or
// completion times, each check bounded by step; it returns nil when even
// the whole key does not fail as a window within that bound.
//
// The search runs under a memory watch of budget bytes (memory.go); past
// it, the window found so far is kept (each accepted step was a failing
// window) or nil returned.
func smallestWindow(part []*regOp, stuck *regOp, step time.Duration, budget int64) *Window {
	if len(part) == 0 {
		return nil
	}
	watch := watchMemory(budget)
	defer watch.close()
	illegal := func(a, b int64) bool { return windowIllegal(part, a, b, step, watch) }
	var calls, rets []int64
	end := int64(math.MinInt64)
	for _, op := range part {
		calls = append(calls, op.call)
		if !op.unknown {
			rets = append(rets, op.ret)
			end = max(end, op.ret)
		}
	}
	if stuck != nil && !stuck.unknown {
		end = stuck.ret
	}
	slices.Sort(calls)
	calls = slices.Compact(calls)
	slices.Sort(rets)
	rets = slices.Compact(rets)
	if len(rets) == 0 || !illegal(calls[0], end) {
		return nil
	}
	// Latest start: calls[lo] fails; find the last index that fails.
	lo, hi := 0, len(calls)-1
	for hi > lo && calls[hi] > end {
		hi--
	}
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if illegal(calls[mid], end) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	a := calls[lo]
	// Earliest end: rets[j] = end fails; find the first that fails.
	j := slices.Index(rets, end)
	i, _ := slices.BinarySearch(rets, a) // the first completion ≥ a
	for i < j {
		mid := (i + j) / 2
		if illegal(a, rets[mid]) {
			j = mid
		} else {
			i = mid + 1
		}
	}
	b := rets[j]
	ops := windowOps(part, a, b)
	slices.SortStableFunc(ops, func(x, y *regOp) int { return cmp.Compare(x.call, y.call) })
	w := &Window{Key: part[0].key, From: a, To: b, FirstIndex: math.MaxInt64, LastIndex: math.MinInt64}
	for _, op := range ops {
		w.Ops = append(w.Ops, WindowOp{Op: op.String(), Process: op.process.String(), InvokeIndex: op.invIndex,
			CompletionIndex: op.doneIndex, Edge: op.ret == edgeReturn})
		w.FirstIndex = min(w.FirstIndex, op.invIndex)
		w.LastIndex = max(w.LastIndex, op.invIndex, op.doneIndex)
	}
	return w
}

// Brief lists the window's operations on one line, for the summary.
func (w *Window) Brief() string {
	var parts []string
	for _, op := range w.Ops {
		s := op.Op + " by " + op.Process
		if op.Edge {
			s += " (edge)"
		}
		parts = append(parts, s)
	}
	if len(parts) > 6 {
		parts = append(parts[:6], fmt.Sprintf("and %d more", len(w.Ops)-6))
	}
	return strings.Join(parts, ", ")
}
