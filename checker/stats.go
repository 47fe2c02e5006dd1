package checker

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/bits"
	"slices"

	"github.com/faultline-io/faultline/history"
)

// OpStats counts one kind of client operation by outcome.
type OpStats struct {
	OK      int `json:"ok"`
	Fail    int `json:"fail"`
	Info    int `json:"info"`
	Pending int `json:"pending"` // invoked, never completed
	// Latency is over ok operations (completion time minus invoke time).
	Latency Latency `json:"latency_ns"`
}

// Latency holds quantiles of operation latency in nanoseconds, by the
// nearest-rank method. All zero when there were no ok operations.
type Latency struct {
	P50 int64 `json:"p50"`
	P99 int64 `json:"p99"`
	Max int64 `json:"max"`
}

// StatsDetails is Result.Details of CheckStats.
type StatsDetails struct {
	Total OpStats            `json:"total"`
	ByF   map[string]OpStats `json:"by_f"`
	// NemesisEvents counts ops of the nemesis process.
	NemesisEvents int `json:"nemesis_events"`
	// Unpaired counts completions with no outstanding invoke of their
	// process; they are counted by outcome but have no latency.
	Unpaired int `json:"unpaired,omitempty"`
	// Faults has one entry per fault window (FaultWindows), counting the
	// client operations invoked while it was on; NoFault counts those
	// invoked while no fault was on, and DuringFaults those invoked while
	// any was.
	Faults       []WindowStats `json:"faults,omitempty"`
	NoFault      WindowStats   `json:"no_fault"`
	DuringFaults WindowStats   `json:"during_faults"`
}

// WindowStats counts the completed client operations invoked in a window
// of the test. Availability is the share of them the system answered: ok,
// or failed with an answer (AnsweredErrors, e.g. a cas whose expected value
// was not there); nil when none was invoked.
type WindowStats struct {
	Nemesis      string   `json:"nemesis,omitempty"`
	Nodes        []string `json:"nodes,omitempty"`
	Start        int64    `json:"start"`
	End          int64    `json:"end"`
	OK           int      `json:"ok"`
	Fail         int      `json:"fail"`
	Info         int      `json:"info"`
	Availability *float64 `json:"availability,omitempty"`
	Latency      Latency  `json:"latency_ns"`
}

// CheckStats counts client operations by f and outcome, counts nemesis
// events, and computes latency quantiles of ok operations. Its Result is
// named "stats"; it is True unless no client operation completed ok, in
// which case it is Unknown: nothing was observed working.
//
// Operations are paired by process, as in history.Validate, but CheckStats
// never fails on a malformed history: what does not pair is counted as
// Unpaired.
func CheckStats(ops []history.Op, o StatsOptions) Result {
	det := StatsDetails{ByF: make(map[string]OpStats)}
	// Counts and latencies per f, by the f's position in fs: a history
	// has a few fs, so looking one up is a comparison or two rather than
	// two map operations per op.
	var (
		fs    []string
		byF   []OpStats
		lats  [][]int64
		moreF map[string]int // the fs past the first few
	)
	fIndex := func(f string) int {
		for i := range min(len(fs), 8) {
			if fs[i] == f {
				return i
			}
		}
		if i, ok := moreF[f]; ok {
			return i
		}
		if len(fs) >= 8 {
			if moreF == nil {
				moreF = make(map[string]int)
			}
			moreF[f] = len(fs)
		}
		fs, byF, lats = append(fs, f), append(byF, OpStats{}), append(lats, nil)
		return len(fs) - 1
	}
	// The completions are counted as they are paired. Only the fault
	// windows need them kept (to sort them by invoke); without any, every
	// paired completion counts as outside the faults.
	faults := FaultWindows(ops)
	var (
		done []Completion // paired, when there are fault windows
		none windowTally  // when there are none
		all  = make([]int64, 0, len(ops)/2+1)
		emit = func(c Completion) {
			if !c.Paired {
				det.Unpaired++
			}
			i := fIndex(c.F)
			s := &byF[i]
			switch c.Type {
			case history.OK:
				s.OK++
				if c.Paired {
					lats[i] = append(lats[i], c.Latency())
					all = append(all, c.Latency())
				}
			case history.Fail:
				s.Fail++
			case history.Info:
				s.Info++
			default:
				det.Unpaired++
			}
			switch {
			case !c.Paired:
			case len(faults) > 0:
				done = append(done, c)
			default:
				none.count(c, o.AnsweredErrors, false)
			}
		}
		pend = func(inv *history.Op) { byF[fIndex(inv.F)].Pending++ }
	)
	det.NemesisEvents = pairOps(ops, emit, pend)
	for i, f := range fs {
		s := byF[i]
		s.Latency = quantiles(lats[i])
		det.ByF[f] = s
		det.Total.OK += s.OK
		det.Total.Fail += s.Fail
		det.Total.Info += s.Info
		det.Total.Pending += s.Pending
	}
	det.Total.Latency = quantiles(all)
	if len(faults) > 0 {
		det.Faults, det.NoFault, det.DuringFaults = windowStats(faults, done, o.AnsweredErrors)
	} else {
		// Outside the faults is every paired completion: its ok
		// latencies are all of them.
		det.NoFault = none.finish()
		det.NoFault.Latency = det.Total.Latency
		det.DuringFaults = new(windowTally).finish()
	}

	res := Result{Checker: "stats", Valid: True}
	t := det.Total
	if t.OK == 0 {
		res.Valid = Unknown
		res.Summary = fmt.Sprintf("no client operation completed ok (%d fail, %d info, %d never completed)", t.Fail, t.Info, t.Pending)
	} else {
		res.Summary = fmt.Sprintf("%d ok, %d fail, %d info, %d never completed; %d nemesis events; latency p50 %s, p99 %s",
			t.OK, t.Fail, t.Info, t.Pending, det.NemesisEvents, fmtNanos(t.Latency.P50), fmtNanos(t.Latency.P99))
		if len(det.Faults) > 0 {
			res.Summary += fmt.Sprintf("; available %s without faults, %s during faults",
				fmtShare(det.NoFault.Availability), fmtShare(det.DuringFaults.Availability))
		}
	}
	res.Details, _ = json.Marshal(det)
	return res
}

// StatsOptions configures CheckStats.
type StatsOptions struct {
	// AnsweredErrors are the errors of failed operations that the system
	// answered rather than refused or lost: the operation's precondition
	// did not hold (a target's, e.g. Raft's "cas-mismatch").
	// Availability counts them as served.
	AnsweredErrors []string
}

// Completion is a client operation's completion, paired with its invoke.
type Completion struct {
	F        string
	Type     history.Type // of the completion: ok, fail or info
	Error    string
	Invoke   int64 // history time of the invoke; meaningful when Paired
	Complete int64
	// Paired is false for a completion with no outstanding invoke of its
	// process (a malformed history).
	Paired bool
}

// Latency is Complete - Invoke.
func (c Completion) Latency() int64 { return c.Complete - c.Invoke }

// Answered reports whether the system answered the operation: ok, or a
// fail with one of answered (StatsOptions.AnsweredErrors).
func (c Completion) Answered(answered []string) bool {
	return c.Type == history.OK || (c.Type == history.Fail && slices.Contains(answered, c.Error))
}

// Pair pairs each client completion with its process's outstanding invoke,
// as history.Validate does, but never fails: it returns the completions in
// history order and the invokes that never completed (including one
// overwritten by a later invoke of its process): first those overwritten,
// as they were, then those still outstanding at the end, in history order.
// Nemesis ops are skipped.
func Pair(ops []history.Op) (done []Completion, pending []history.Op) {
	done = make([]Completion, 0, len(ops)/2+1)
	pairOps(ops, func(c Completion) { done = append(done, c) }, func(inv *history.Op) { pending = append(pending, *inv) })
	return done, pending
}

// pairOps is Pair, passing each completion to emit and each pending invoke
// to pend in the order Pair returns them. It returns the number of nemesis
// ops.
func pairOps(ops []history.Op, emit func(Completion), pend func(*history.Op)) (nemesis int) {
	open := newOpenInvokes(ops)
	for i := range ops {
		op := &ops[i]
		if op.IsNemesis() {
			nemesis++
			continue
		}
		if op.Type == history.Invoke {
			if prev, ok := open.get(op.Process); ok {
				pend(&ops[prev])
			}
			open.set(op.Process, i)
			continue
		}
		c := Completion{F: op.F, Type: op.Type, Error: op.Error, Complete: op.Time}
		if inv, ok := open.get(op.Process); ok {
			c.Invoke, c.Paired = ops[inv].Time, true
			open.remove(op.Process)
		}
		emit(c)
	}
	for _, inv := range open.positions() {
		pend(&ops[inv])
	}
	return nemesis
}

// windowStats counts the paired completions of done by the window their
// invoke falls in: per fault window, outside every window, and inside any.
// It reorders done.
func windowStats(faults []FaultWindow, done []Completion, answeredErrs []string) (per []WindowStats, none, during WindowStats) {
	done = slices.DeleteFunc(done, func(c Completion) bool { return !c.Paired })
	slices.SortFunc(done, func(a, b Completion) int { return cmp.Compare(a.Invoke, b.Invoke) })
	for _, f := range faults {
		t := windowTally{w: WindowStats{Nemesis: f.Nemesis, Nodes: f.Nodes, Start: f.Start, End: f.End}}
		i, _ := slices.BinarySearchFunc(done, f.Start, func(c Completion, t int64) int { return cmp.Compare(c.Invoke, t) })
		for ; i < len(done) && done[i].Invoke < f.End; i++ {
			t.count(done[i], answeredErrs, true)
		}
		per = append(per, t.finish())
	}
	// The union of the windows, merged, split the rest.
	var spans [][2]int64
	for _, f := range faults { // in start order
		if n := len(spans); n > 0 && f.Start <= spans[n-1][1] {
			spans[n-1][1] = max(spans[n-1][1], f.End)
			continue
		}
		spans = append(spans, [2]int64{f.Start, f.End})
	}
	var noneT, duringT windowTally
	j := 0
	for _, c := range done {
		for j < len(spans) && spans[j][1] <= c.Invoke {
			j++
		}
		if j < len(spans) && spans[j][0] <= c.Invoke {
			duringT.count(c, answeredErrs, true)
		} else {
			noneT.count(c, answeredErrs, true)
		}
	}
	return per, noneT.finish(), duringT.finish()
}

// windowTally is a window's counts as they are made.
type windowTally struct {
	w        WindowStats
	answered int
	lat      []int64
}

// count counts c, keeping its latency if it is ok and latency is set.
func (t *windowTally) count(c Completion, answeredErrs []string, latency bool) {
	switch c.Type {
	case history.OK:
		t.w.OK++
		if latency {
			t.lat = append(t.lat, c.Latency())
		}
	case history.Fail:
		t.w.Fail++
	case history.Info:
		t.w.Info++
	}
	if c.Answered(answeredErrs) {
		t.answered++
	}
}

// finish returns the window's stats.
func (t *windowTally) finish() WindowStats {
	w := t.w
	if n := w.OK + w.Fail + w.Info; n > 0 {
		a := float64(t.answered) / float64(n)
		w.Availability = &a
	}
	w.Latency = quantiles(t.lat)
	return w
}

func fmtShare(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", *p*100)
}

// quantiles returns the p50, p99 and max of d, reordering it.
func quantiles(d []int64) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	// Nearest rank: the smallest value with at least q of the data at or
	// below it, at 1-based rank ceil(q*n); q is in thousandths, for exact
	// integer arithmetic.
	rank := func(permille int) int {
		r := (permille*len(d) + 999) / 1000
		return max(r, 1) - 1
	}
	r50, r99 := rank(500), rank(990)
	// Selecting the two ranks, the larger first so that the smaller is
	// found in what lies below it, takes linear time where sorting took
	// most of the stats checker's.
	p99 := selectRank(d, r99)
	p50 := selectRank(d[:r99+1], r50)
	return Latency{P50: p50, P99: p99, Max: slices.Max(d[r99:])}
}

// selectRank returns the value of rank k (0-based) in d, which it reorders
// so that d[k] holds it, with nothing greater before it and nothing smaller
// after: quickselect, with a median-of-three pivot and a sort of what is
// left once it has partitioned more often than a good pivot needs, so
// that no input makes it quadratic.
func selectRank(d []int64, k int) int64 {
	lo, hi := 0, len(d) // d[k] is in d[lo:hi]
	for budget := 2 * bits.Len(uint(len(d))); hi-lo > 16; budget-- {
		if budget == 0 {
			slices.Sort(d[lo:hi])
			return d[k]
		}
		// Median of three to d[lo], then Hoare's partition around it.
		m := lo + (hi-lo)/2
		a, b, c := d[lo], d[m], d[hi-1]
		switch {
		case a <= b && b <= c || c <= b && b <= a:
			d[lo], d[m] = b, a
		case b <= c && c <= a || a <= c && c <= b:
			d[lo], d[hi-1] = c, a
		}
		pivot := d[lo]
		i, j := lo, hi
		for {
			for i++; i < hi && d[i] < pivot; i++ {
			}
			for j--; d[j] > pivot; j-- {
			}
			if i >= j {
				break
			}
			d[i], d[j] = d[j], d[i]
		}
		d[lo], d[j] = d[j], d[lo] // d[lo:j] <= pivot = d[j] <= d[j+1:hi]
		switch {
		case k < j:
			hi = j
		case k > j:
			lo = j + 1
		default:
			return pivot
		}
	}
	slices.Sort(d[lo:hi])
	return d[k]
}

func fmtNanos(ns int64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.2fs", float64(ns)/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.2fms", float64(ns)/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1fµs", float64(ns)/1e3)
	}
	return fmt.Sprintf("%dns", ns)
}
