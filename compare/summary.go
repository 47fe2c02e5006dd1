package compare

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/store"
)

// Verdicts of a run in a comparison: a checked run's composed verdict
// (checker.Valid), or why it has none.
const (
	VerdictValid      = "valid"
	VerdictInvalid    = "invalid"
	VerdictUnknown    = "unknown"
	VerdictNotChecked = "not checked" // no results.json
	VerdictError      = "error"       // the run failed (a harness error)
	VerdictNotRun     = "not run"     // never started
)

// Summary is one target's run in a comparison: the numbers of its row in
// the table, compare.json and compare.html. Times are nanoseconds; a nil
// number is one the run does not have (shown "-").
type Summary struct {
	Target string `json:"target"`
	// Dir is the run directory, relative to the comparison directory
	// ("" when the run made none); Report its report.html, likewise
	// ("" when there is none).
	Dir    string `json:"dir,omitempty"`
	Report string `json:"report,omitempty"`
	// Verdict is one of the Verdict constants; Problem says why a run has
	// no definite verdict (the run's error, its interruption).
	Verdict  string           `json:"verdict"`
	Problem  string           `json:"problem,omitempty"`
	Checkers []CheckerVerdict `json:"checkers,omitempty"`
	// Ops counts the client operations of the test phase that completed
	// (final reads are not counted, here or below); OK those ok.
	Ops int `json:"ops"`
	OK  int `json:"ok"`
	// Availability is the share of Ops the target answered (ok, or a
	// definite answer such as a cas mismatch), over the whole test;
	// NoFault while no fault was on; ByFault while a fault of each kind
	// was, by the comparison's nemesis names, in order of first use.
	Availability *float64        `json:"availability,omitempty"`
	NoFault      *float64        `json:"availability_no_fault,omitempty"`
	ByFault      []FaultKindStat `json:"availability_by_fault,omitempty"`
	// LatencyP50 and LatencyP99 are quantiles of ok operations' latency.
	LatencyP50 *int64 `json:"latency_p50_ns,omitempty"`
	LatencyP99 *int64 `json:"latency_p99_ns,omitempty"`
	// Throughput is ok operations per second of test time.
	Throughput *float64 `json:"throughput_ok_per_s,omitempty"`
	// Convergence is the convergence checker's time from heal to
	// agreement; ConvergenceNote says why there is none when the checker
	// ran ("the nodes never agreed").
	Convergence     *int64 `json:"convergence_ns,omitempty"`
	ConvergenceNote string `json:"convergence_note,omitempty"`
	// Blocking is how long participants stayed blocked in doubt, from the
	// target's own counters (a two-phase-commit target); nil when the run
	// has none.
	Blocking *Blocking `json:"blocking,omitempty"`
	// Anomalies are the results of the checkers that found one.
	Anomalies []Anomaly `json:"anomalies,omitempty"`
}

// CheckerVerdict is one checker's verdict on a run.
type CheckerVerdict struct {
	Checker string `json:"checker"`
	Valid   string `json:"valid"` // "true", "false" or "unknown"
}

// FaultKindStat is the availability of a run while faults of one nemesis
// were on.
type FaultKindStat struct {
	Nemesis      string   `json:"nemesis"`
	Ops          int      `json:"ops"`
	Availability *float64 `json:"availability,omitempty"`
}

// Blocking summarizes how long a target's participants stayed blocked in
// doubt (vote to decision), over Count transactions.
type Blocking struct {
	Count   int   `json:"count"`
	InDoubt int   `json:"in_doubt"` // still in doubt at the end
	P50     int64 `json:"p50_ns"`
	P99     int64 `json:"p99_ns"`
	Max     int64 `json:"max_ns"`
}

// Anomaly is a checker's finding on a run.
type Anomaly struct {
	Checker string `json:"checker"`
	Summary string `json:"summary"`
	// FirstAt is the test time of the earliest operation involved, when
	// known.
	FirstAt *int64 `json:"first_at_ns,omitempty"`
}

// Summarize reads the run directory of outcome o (a run of plan run r,
// under the comparison directory dir) into its Summary. answered are the
// errors the target answers with (targets.Target.AnsweredErrors), which
// availability counts as served. A run whose files cannot be read gets
// the verdict "not checked" with the reason, never an error: one bad run
// does not stop the comparison.
func Summarize(dir string, r Run, o Outcome, answered []string) Summary {
	s := Summary{Target: r.Target}
	s.Verdict, s.Problem = VerdictOf(o)
	if o.NotRun || o.Dir == "" {
		return s
	}
	s.Dir = relTo(dir, o.Dir)
	if _, err := os.Stat(filepath.Join(o.Dir, "report.html")); err == nil {
		s.Report = filepath.ToSlash(filepath.Join(s.Dir, "report.html"))
	}
	rr, rrErr := store.ReadRunResults(o.Dir)
	if rrErr == nil {
		s.Checkers, s.Anomalies = checkerRows(rr.Results)
	}
	ops, err := history.ReadFile(filepath.Join(o.Dir, store.HistoryFile))
	if err != nil {
		if s.Problem == "" {
			s.Verdict, s.Problem = VerdictNotChecked, fmt.Sprintf("history: %v", err)
		}
		return s
	}
	s.addClientStats(ops, r, answered)
	if rrErr == nil {
		s.addConvergence(rr.Results)
		s.Blocking = blockingOf(rr.Results, ops)
	} else {
		s.Blocking = blockingOf(checker.Results{}, ops)
	}
	return s
}

// VerdictOf is the verdict of a run's outcome (one of the Verdict
// constants) and, when it has no definite one, why.
func VerdictOf(o Outcome) (verdict, why string) {
	switch {
	case o.NotRun:
		return VerdictNotRun, "not started: the comparison was stopped first"
	case o.Dir == "":
		return VerdictError, errText(o.Err)
	case o.Err != nil:
		return VerdictError, o.Err.Error()
	}
	rr, err := store.ReadRunResults(o.Dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return VerdictNotChecked, "no results.json: the run was not checked"
	case err != nil:
		return VerdictNotChecked, err.Error()
	}
	if why := rr.Incomplete(); why != "" {
		return VerdictUnknown, why
	}
	switch rr.Valid {
	case checker.True:
		return VerdictValid, ""
	case checker.False:
		return VerdictInvalid, ""
	}
	return VerdictUnknown, "a checker could not decide (see its summary)"
}

// checkerRows lists each checker's verdict, and the anomalies found.
func checkerRows(res checker.Results) ([]CheckerVerdict, []Anomaly) {
	var rows []CheckerVerdict
	var anoms []Anomaly
	for _, c := range res.Results {
		rows = append(rows, CheckerVerdict{Checker: c.Checker, Valid: c.Valid.String()})
		if c.Valid == checker.False {
			anoms = append(anoms, Anomaly{Checker: c.Checker, Summary: c.Summary, FirstAt: c.FirstAnomalyTime})
		}
	}
	return rows, anoms
}

// addClientStats counts the test phase's client operations of ops (final
// reads left out) into s: availability overall, without faults and per
// fault kind, latency quantiles and throughput.
func (s *Summary) addClientStats(ops []history.Op, r Run, answered []string) {
	test := testPhase(ops)
	var det checker.StatsDetails
	if err := json.Unmarshal(checker.CheckStats(test, checker.StatsOptions{AnsweredErrors: answered}).Details, &det); err != nil {
		return
	}
	comps, _ := checker.Pair(test)
	var end int64
	for _, c := range comps {
		end = max(end, c.Complete)
	}
	s.OK = det.Total.OK
	if det.Total.OK > 0 {
		p50, p99 := det.Total.Latency.P50, det.Total.Latency.P99
		s.LatencyP50, s.LatencyP99 = &p50, &p99
	}
	if end > 0 {
		tp := float64(det.Total.OK) / (float64(end) / 1e9)
		s.Throughput = &tp
	}
	var all, none share
	none.add(det.NoFault)
	all.add(det.NoFault)
	all.add(det.DuringFaults)
	s.Ops = all.n
	s.Availability, s.NoFault = all.value(), none.value()
	// det.Faults has one entry per window of checker.FaultWindows, in
	// its order.
	windows := checker.FaultWindows(test)
	byKind := map[string]*share{}
	var kinds []string
	for i, w := range det.Faults {
		var sel string
		if i < len(windows) {
			sel = windows[i].Select
		}
		k := r.neutral(w.Nemesis, sel)
		if byKind[k] == nil {
			byKind[k] = &share{}
			kinds = append(kinds, k)
		}
		byKind[k].add(w)
	}
	for _, k := range kinds {
		s.ByFault = append(s.ByFault, FaultKindStat{Nemesis: k, Ops: byKind[k].n, Availability: byKind[k].value()})
	}
}

// testPhase is ops without the final phase's reads: the client operations
// made while faults came and went, and every nemesis op.
func testPhase(ops []history.Op) []history.Op {
	return slices.DeleteFunc(slices.Clone(ops), func(op history.Op) bool { return !op.IsNemesis() && op.Final != "" })
}

// share sums windows' answered and completed operations.
type share struct {
	answered float64
	n        int
}

// add counts w: its availability times its operations are those answered.
func (s *share) add(w checker.WindowStats) {
	n := w.OK + w.Fail + w.Info
	if w.Availability != nil {
		s.answered += math.Round(*w.Availability * float64(n))
	}
	s.n += n
}

func (s share) value() *float64 {
	if s.n == 0 {
		return nil
	}
	v := s.answered / float64(s.n)
	return &v
}

// addConvergence takes the convergence checker's time, when it ran.
func (s *Summary) addConvergence(res checker.Results) {
	for _, c := range res.Results {
		if c.Checker != "convergence" || len(c.Details) == 0 {
			continue
		}
		var d checker.ConvergenceDetails
		if err := json.Unmarshal(c.Details, &d); err != nil {
			s.ConvergenceNote = "details unreadable: " + err.Error()
			return
		}
		switch {
		case d.ConvergenceNanos != nil:
			v := *d.ConvergenceNanos
			s.Convergence = &v
		case len(d.Nodes) == 0:
			s.ConvergenceNote = "no final reads"
		default:
			s.ConvergenceNote = "the nodes never agreed"
		}
		return
	}
}

// blockingOf is the blocking time of a two-phase-commit target: the bank
// checker's summary of the target's counters when it has one, else the
// history's last target-stats record (a register run checks no bank);
// nil when the run has neither.
func blockingOf(res checker.Results, ops []history.Op) *Blocking {
	for _, c := range res.Results {
		if c.Checker != "bank" || len(c.Details) == 0 {
			continue
		}
		var d checker.BankDetails
		if json.Unmarshal(c.Details, &d) == nil && d.Target != nil {
			return &Blocking{Count: d.Target.BlockedCount, InDoubt: d.Target.InDoubt,
				P50: d.Target.Blocked.P50, P99: d.Target.Blocked.P99, Max: d.Target.Blocked.Max}
		}
	}
	for i := len(ops) - 1; i >= 0; i-- {
		op := ops[i]
		if !op.IsNemesis() || op.F != targetStatsF || len(op.Value) == 0 {
			continue
		}
		var nodes map[string]checker.BankNodeStats
		if json.Unmarshal(op.Value, &nodes) != nil || len(nodes) == 0 {
			return nil
		}
		b := &Blocking{}
		var all []int64
		for _, n := range nodes {
			b.InDoubt += n.InDoubt
			all = append(all, n.BlockedNanos...)
		}
		b.Count = len(all)
		b.P50, b.P99, b.Max = quantile(all, 500), quantile(all, 990), quantile(all, 1000)
		return b
	}
	return nil
}

// targetStatsF is the f of the history op that records a target's own
// counters (targets.TargetStatsF, which this package does not import).
const targetStatsF = "target-stats"

// quantile is the quantile permille/1000 of xs by the nearest rank, as
// the checkers compute theirs: the smallest value with at least that
// share of xs at or below it (0 for none).
func quantile(xs []int64, permille int) int64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	r := (permille*len(s) + 999) / 1000
	return s[max(r, 1)-1]
}

// relTo is path relative to dir, with forward slashes (a link in a page),
// or path itself when it has no relative form.
func relTo(dir, path string) string {
	rel, err := filepath.Rel(dir, path)
	if err != nil {
		return filepath.ToSlash(path)
	}
	return filepath.ToSlash(rel)
}

func errText(err error) string {
	if err == nil {
		return "the run made no directory"
	}
	return err.Error()
}
