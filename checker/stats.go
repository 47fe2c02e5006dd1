package checker

import (
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
}

// CheckStats counts client operations by f and outcome, counts nemesis
// events, and computes latency quantiles of ok operations. Its Result is
// named "stats"; it is True unless no client operation completed ok, in
// which case it is Unknown: nothing was observed working.
//
// Operations are paired by process, as in history.Validate, but CheckStats
// never fails on a malformed history: what does not pair is counted as
// Unpaired.
func CheckStats(ops []history.Op) Result {
	det := StatsDetails{ByF: make(map[string]OpStats)}
	lat := make(map[string][]int64)
	var all []int64
	open := make(map[history.Process]*history.Op)
	for i := range ops {
		op := &ops[i]
		if op.IsNemesis() {
			det.NemesisEvents++
			continue
		}
		if op.Type == history.Invoke {
			if prev := open[op.Process]; prev != nil {
				s := det.ByF[prev.F]
				s.Pending++
				det.ByF[prev.F] = s
			}
			open[op.Process] = op
			continue
		}
		inv := open[op.Process]
		delete(open, op.Process)
		if inv == nil {
			det.Unpaired++
		}
		s := det.ByF[op.F]
		switch op.Type {
		case history.OK:
			s.OK++
			if inv != nil {
				d := op.Time - inv.Time
				lat[op.F] = append(lat[op.F], d)
				all = append(all, d)
			}
		case history.Fail:
			s.Fail++
		case history.Info:
			s.Info++
		default:
			det.Unpaired++
		}
		det.ByF[op.F] = s
	}
	for _, inv := range open {
		s := det.ByF[inv.F]
		s.Pending++
		det.ByF[inv.F] = s
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

	res := Result{Checker: "stats", Valid: True}
	t := det.Total
	if t.OK == 0 {
		res.Valid = Unknown
		res.Summary = fmt.Sprintf("no client operation completed ok (%d fail, %d info, %d never completed)", t.Fail, t.Info, t.Pending)
	} else {
		res.Summary = fmt.Sprintf("%d ok, %d fail, %d info, %d never completed; %d nemesis events; latency p50 %s, p99 %s",
			t.OK, t.Fail, t.Info, t.Pending, det.NemesisEvents, fmtNanos(t.Latency.P50), fmtNanos(t.Latency.P99))
	}
	res.Details, _ = json.Marshal(det)
	return res
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
