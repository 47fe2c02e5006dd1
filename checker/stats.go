package checker

import (
	"cmp"
	"encoding/json"
	"fmt"
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
	lat := make(map[string][]int64)
	var all []int64
	done, pending := Pair(ops)
	for _, op := range ops {
		if op.IsNemesis() {
			det.NemesisEvents++
		}
	}
	for _, inv := range pending {
		s := det.ByF[inv.F]
		s.Pending++
		det.ByF[inv.F] = s
	}
	for _, c := range done {
		if !c.Paired {
			det.Unpaired++
		}
		s := det.ByF[c.F]
		switch c.Type {
		case history.OK:
			s.OK++
			if c.Paired {
				lat[c.F] = append(lat[c.F], c.Latency())
				all = append(all, c.Latency())
			}
		case history.Fail:
			s.Fail++
		case history.Info:
			s.Info++
		default:
			det.Unpaired++
		}
		det.ByF[c.F] = s
	}
	for f, s := range det.ByF {
		s.Latency = quantiles(lat[f])
		det.ByF[f] = s
		det.Total.OK += s.OK
		det.Total.Fail += s.Fail
		det.Total.Info += s.Info
		det.Total.Pending += s.Pending
	}
	det.Total.Latency = quantiles(all)
	det.Faults, det.NoFault, det.DuringFaults = windowStats(FaultWindows(ops), done, o.AnsweredErrors)

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
// overwritten by a later invoke of its process). Nemesis ops are skipped.
func Pair(ops []history.Op) (done []Completion, pending []history.Op) {
	done = make([]Completion, 0, len(ops)/2+1)
	open := make(map[history.Process]*history.Op)
	for i := range ops {
		op := &ops[i]
		if op.IsNemesis() {
			continue
		}
		if op.Type == history.Invoke {
			if prev := open[op.Process]; prev != nil {
				pending = append(pending, *prev)
			}
			open[op.Process] = op
			continue
		}
		c := Completion{F: op.F, Type: op.Type, Error: op.Error, Complete: op.Time}
		if inv := open[op.Process]; inv != nil {
			c.Invoke, c.Paired = inv.Time, true
			delete(open, op.Process)
		}
		done = append(done, c)
	}
	for _, inv := range open {
		pending = append(pending, *inv)
	}
	return done, pending
}

// windowStats counts the paired completions of done by the window their
// invoke falls in: per fault window, outside every window, and inside any.
// It reorders done.
func windowStats(faults []FaultWindow, done []Completion, answeredErrs []string) (per []WindowStats, none, during WindowStats) {
	done = slices.DeleteFunc(done, func(c Completion) bool { return !c.Paired })
	slices.SortFunc(done, func(a, b Completion) int { return cmp.Compare(a.Invoke, b.Invoke) })
	answered := map[*WindowStats]int{}
	count := func(w *WindowStats, c Completion, lat *[]int64) {
		switch c.Type {
		case history.OK:
			w.OK++
			*lat = append(*lat, c.Latency())
		case history.Fail:
			w.Fail++
		case history.Info:
			w.Info++
		}
		if c.Answered(answeredErrs) {
			answered[w]++
		}
	}
	finish := func(w *WindowStats, lat []int64) {
		if n := w.OK + w.Fail + w.Info; n > 0 {
			a := float64(answered[w]) / float64(n)
			w.Availability = &a
		}
		w.Latency = quantiles(lat)
	}
	for _, f := range faults {
		w := WindowStats{Nemesis: f.Nemesis, Nodes: f.Nodes, Start: f.Start, End: f.End}
		var lat []int64
		i, _ := slices.BinarySearchFunc(done, f.Start, func(c Completion, t int64) int { return cmp.Compare(c.Invoke, t) })
		for ; i < len(done) && done[i].Invoke < f.End; i++ {
			count(&w, done[i], &lat)
		}
		finish(&w, lat)
		per = append(per, w)
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
	var noneLat, duringLat []int64
	j := 0
	for _, c := range done {
		for j < len(spans) && spans[j][1] <= c.Invoke {
			j++
		}
		if j < len(spans) && spans[j][0] <= c.Invoke {
			count(&during, c, &duringLat)
		} else {
			count(&none, c, &noneLat)
		}
	}
	finish(&none, noneLat)
	finish(&during, duringLat)
	return per, none, during
}

func fmtShare(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", *p*100)
}

// quantiles sorts d in place and returns its p50, p99 and max.
func quantiles(d []int64) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	// Nearest rank: the smallest value with at least q of the data at or
	// below it, at 1-based rank ceil(q*n); q is in thousandths, for exact
	// integer arithmetic.
	rank := func(permille int) int64 {
		r := (permille*len(d) + 999) / 1000
		return d[max(r, 1)-1]
	}
	return Latency{P50: rank(500), P99: rank(990), Max: d[len(d)-1]}
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
