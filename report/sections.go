package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/faultline-io/faultline/checker"
)

// checkerSection is one checker's result as the page shows it: a section
// of its own for every result in results.json, in the order there. A
// checker the report knows (bank, convergence, linearizable, stats) gets
// its own view of the details; any other, and a known one whose details
// do not decode, gets Generic: the details as indented JSON. So nothing a
// run checked is ever missing from the page.
type checkerSection struct {
	// ID is the section's anchor, from its position (a checker's name is
	// not trusted into an id).
	ID                        string
	Checker, Heading, Verdict string
	Summary                   string
	Bank                      *bankView
	Convergence               *convergenceView
	Linearizable              *linearView
	Stats                     *statsView
	// Generic holds the details as indented JSON; NoDetails says the
	// result has none.
	Generic   string
	NoDetails bool
	// DetailsError says why a known checker's details could not be read
	// (Generic then shows them as they are).
	DetailsError string
}

// checkerHeadings names the sections of the checkers the report knows.
var checkerHeadings = map[string]string{
	"bank":         "Bank",
	"convergence":  "Convergence",
	"linearizable": "Linearizability",
	"stats":        "Stats",
}

// checkerSections builds a section for every result.
func checkerSections(rs []checker.Result) []checkerSection {
	out := make([]checkerSection, 0, len(rs))
	for i, r := range rs {
		s := checkerSection{ID: fmt.Sprintf("checker-%d", i), Checker: r.Checker, Verdict: r.Valid.String(), Summary: r.Summary}
		s.Heading = checkerHeadings[r.Checker]
		if len(r.Details) == 0 {
			s.NoDetails = true
			out = append(out, s)
			continue
		}
		var err error
		switch r.Checker {
		case "bank":
			var v bankView
			if v, err = bankOf(r); err == nil {
				s.Bank = &v
			}
		case "convergence":
			v := convergenceOf(r)
			s.Convergence = &v
		case "linearizable":
			var v linearView
			if v, err = linearOf(r); err == nil {
				s.Linearizable = &v
			}
		case "stats":
			var v statsView
			if v, err = statsOf(r); err == nil {
				s.Stats = &v
			}
		default:
			s.Generic = prettyJSON(r.Details)
		}
		if err != nil {
			s.DetailsError, s.Generic = err.Error(), prettyJSON(r.Details)
		}
		out = append(out, s)
	}
	return out
}

// prettyJSON is v indented, without encoding/json's \u003c-style escapes
// (the template escapes it for HTML); anything that does not decode is
// returned verbatim.
func prettyJSON(v json.RawMessage) string {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return string(v)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(x); err != nil {
		return string(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// maxLinearKeys caps the failing and the undecided keys shown of a
// linearizable result.
const maxLinearKeys = 20

// linearView is the linearizable checker's result as the page shows it.
type linearView struct {
	Keys                                                int
	OK, Info, Fail, Pending, InfoReads, Unobserved, Nem int
	Timeout, Visualization                              string
	// FailingKeys counts the keys that are not linearizable; Failures are
	// the first maxLinearKeys.
	FailingKeys int
	Failures    []linearFailureRow
	// UnknownKeys counts the keys undecided when the search timed out;
	// Unknown are the first maxLinearKeys.
	UnknownKeys int
	Unknown     []string
}

type linearFailureRow struct {
	Key, Valid, Model string
	Ops               int
	Stuck             string // the op no linearization can include, or ""
	// Window is the smallest failing window (checker.Window), one line per
	// operation after a heading line; empty when none was found.
	Window     []string
	Visualized bool
}

func linearOf(r checker.Result) (linearView, error) {
	var d checker.LinearizableDetails
	if err := json.Unmarshal(r.Details, &d); err != nil {
		return linearView{}, err
	}
	v := linearView{Keys: len(d.Keys), OK: d.Ops.OK, Info: d.Ops.Info, Fail: d.Ops.Fail, Pending: d.Ops.Pending,
		InfoReads: d.Ops.InfoReads, Unobserved: d.Ops.Unobserved, Nem: d.Ops.Nemesis,
		Timeout: d.Timeout, Visualization: d.Visualization,
		FailingKeys: len(d.Failures), UnknownKeys: len(d.UnknownKeys)}
	for _, f := range d.Failures[:min(len(d.Failures), maxLinearKeys)] {
		row := linearFailureRow{Key: f.Key, Valid: f.Valid.String(), Model: f.Model, Ops: f.Ops, Visualized: f.Visualized}
		if s := f.Stuck; s != nil {
			row.Stuck = stuckText(s)
		}
		row.Window = windowText(f.Window)
		v.Failures = append(v.Failures, row)
	}
	v.Unknown = d.UnknownKeys[:min(len(d.UnknownKeys), maxLinearKeys)]
	return v, nil
}

// windowText describes a smallest failing window: a heading, then its
// operations in invoke order.
func windowText(w *checker.Window) []string {
	if w == nil {
		return nil
	}
	out := []string{fmt.Sprintf("%d operations, %s to %s (history indexes %d to %d), from any starting value:",
		len(w.Ops), secs(w.From), secs(w.To), w.FirstIndex, w.LastIndex)}
	for _, op := range w.Ops {
		s := fmt.Sprintf("%s by process %s, index %d", op.Op, op.Process, op.InvokeIndex)
		if op.CompletionIndex >= 0 {
			s += fmt.Sprintf(" to %d", op.CompletionIndex)
		}
		if op.Edge {
			s += " (straddles the window's edge: may or may not have taken effect in it)"
		}
		out = append(out, s)
	}
	return out
}

// stuckText describes an operation no linearization can include.
func stuckText(s *checker.StuckOp) string {
	t := fmt.Sprintf("%s by process %s, invoked at %s (history index %d", s.Op, s.Process, secs(s.Time), s.InvokeIndex)
	if s.CompletionIndex >= 0 {
		t += fmt.Sprintf(", completed at index %d)", s.CompletionIndex)
	} else {
		t += ", never completed)"
	}
	return t
}

// statsView is the stats checker's result: the totals; the per-f counts
// and the per-fault windows are the Operations and Faults sections.
type statsView struct {
	OK, Fail, Info, Pending   int
	P50, P99, Max             string
	NemesisEvents, Unpaired   int
	AvailNoFault, AvailDuring string
	Faults                    int
}

func statsOf(r checker.Result) (statsView, error) {
	var d checker.StatsDetails
	if err := json.Unmarshal(r.Details, &d); err != nil {
		return statsView{}, err
	}
	v := statsView{OK: d.Total.OK, Fail: d.Total.Fail, Info: d.Total.Info, Pending: d.Total.Pending,
		P50: "-", P99: "-", Max: "-", NemesisEvents: d.NemesisEvents, Unpaired: d.Unpaired,
		AvailNoFault: share(d.NoFault.Availability), AvailDuring: share(d.DuringFaults.Availability), Faults: len(d.Faults)}
	if d.Total.OK > 0 {
		v.P50, v.P99, v.Max = ms(d.Total.Latency.P50), ms(d.Total.Latency.P99), ms(d.Total.Latency.Max)
	}
	return v, nil
}
