package compare

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
)

// table is the comparison as rows of cells, shared by the terminal table
// and the page: a column per checker any run used and per fault kind.
type table struct {
	Checkers []string // checker names, in order of first use
	Kinds    []string // fault kinds (the comparison's nemesis names)
	Rows     []row
}

// row is one target's cells, formatted; "-" is a number the run lacks.
type row struct {
	Target, Verdict, Problem string
	Checkers                 []string // per table.Checkers: true, false, unknown or -
	Avail, NoFault           string
	ByKind                   []string // per table.Kinds
	P50, P99, Throughput     string
	Convergence, Blocking    string
	Anomalies                []anomalyCell
	Dir, Report              string
}

type anomalyCell struct {
	Checker, Summary, FirstAt string
}

// newTable lays out r's runs.
func newTable(r Record) table {
	var t table
	t.Kinds = slices.Clone(r.Config.Test.Nemeses)
	for _, run := range r.Runs {
		for _, c := range run.Checkers {
			if !slices.Contains(t.Checkers, c.Checker) {
				t.Checkers = append(t.Checkers, c.Checker)
			}
		}
		for _, k := range run.ByFault {
			if !slices.Contains(t.Kinds, k.Nemesis) {
				t.Kinds = append(t.Kinds, k.Nemesis)
			}
		}
	}
	for _, run := range r.Runs {
		t.Rows = append(t.Rows, newRow(run.Summary, t))
	}
	return t
}

func newRow(s Summary, t table) row {
	w := row{Target: s.Target, Verdict: s.Verdict, Problem: s.Problem, Dir: s.Dir, Report: s.Report,
		Avail: pct(s.Availability), NoFault: pct(s.NoFault),
		P50: nanos(s.LatencyP50), P99: nanos(s.LatencyP99), Throughput: "-", Convergence: "-", Blocking: "-"}
	for _, c := range t.Checkers {
		cell := "-"
		for _, v := range s.Checkers {
			if v.Checker == c {
				cell = v.Valid
			}
		}
		w.Checkers = append(w.Checkers, cell)
	}
	for _, k := range t.Kinds {
		cell := "-"
		for _, b := range s.ByFault {
			if b.Nemesis == k {
				cell = pct(b.Availability)
			}
		}
		w.ByKind = append(w.ByKind, cell)
	}
	if s.Throughput != nil {
		w.Throughput = fmt.Sprintf("%.1f", *s.Throughput)
	}
	switch {
	case s.Convergence != nil:
		w.Convergence = nanos(s.Convergence)
	case s.ConvergenceNote != "":
		w.Convergence = "never (" + s.ConvergenceNote + ")"
	}
	if b := s.Blocking; b != nil {
		w.Blocking = "none blocked"
		if b.Count > 0 {
			w.Blocking = fmt.Sprintf("p50 %s, max %s (%d txns)", nanos(&b.P50), nanos(&b.Max), b.Count)
		}
	}
	for _, a := range s.Anomalies {
		w.Anomalies = append(w.Anomalies, anomalyCell{Checker: a.Checker, Summary: a.Summary, FirstAt: nanos(a.FirstAt)})
	}
	return w
}

// PrintTable writes r as a table to w, one line per target, then each
// run's problem, anomalies and report (paths under dir, the comparison
// directory), and the schedule check.
func PrintTable(w io.Writer, dir string, r Record) error {
	t := newTable(r)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{"target", "verdict"}
	head = append(head, t.Checkers...)
	head = append(head, "avail", "no fault")
	for _, k := range t.Kinds {
		head = append(head, "during "+k)
	}
	head = append(head, "p50", "p99", "ok/s", "convergence", "blocked")
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, row := range t.Rows {
		cells := []string{row.Target, row.Verdict}
		cells = append(cells, row.Checkers...)
		cells = append(cells, row.Avail, row.NoFault)
		cells = append(cells, row.ByKind...)
		cells = append(cells, row.P50, row.P99, row.Throughput, row.Convergence, row.Blocking)
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, row := range t.Rows {
		if row.Problem != "" {
			fmt.Fprintf(w, "%s: %s: %s\n", row.Target, row.Verdict, row.Problem)
		}
		for _, a := range row.Anomalies {
			at := ""
			if a.FirstAt != "-" {
				at = " (first at " + a.FirstAt + ")"
			}
			fmt.Fprintf(w, "%s: %s found an anomaly%s: %s\n", row.Target, a.Checker, at, a.Summary)
		}
	}
	for _, row := range t.Rows {
		if row.Report != "" {
			fmt.Fprintf(w, "%s report: %s\n", row.Target, filepath.Join(dir, filepath.FromSlash(row.Report)))
		} else if row.Dir != "" {
			fmt.Fprintf(w, "%s run: %s\n", row.Target, filepath.Join(dir, filepath.FromSlash(row.Dir)))
		}
	}
	_, err := fmt.Fprintln(w, r.ScheduleCheck.Line())
	return err
}

// pct is a share as a percentage, "-" for none.
func pct(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", *p*100)
}

// nanos is a duration in ns as milliseconds below a second, else
// seconds; "-" for none.
func nanos(ns *int64) string {
	switch {
	case ns == nil:
		return "-"
	case *ns < 1e9:
		return fmt.Sprintf("%.2fms", float64(*ns)/1e6)
	}
	return fmt.Sprintf("%.2fs", float64(*ns)/1e9)
}
