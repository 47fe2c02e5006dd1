package report

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/store"
)

// view is what the template sees; every string in it is escaped there
// except the plot URIs, which this package generates.
type view struct {
	Title       string
	Verdict     string // "valid", "invalid", "unknown" or "not checked"
	VerdictNote string
	Test        store.TestRecord
	CommandLine string
	Started     string
	Results     []resultRow
	// Sections has one section per checker result, in results.json's order.
	Sections    []checkerSection
	Counts      []countRow
	Faults      []faultRow
	FaultsShown int
	LatencyPlot template.URL
	RatePlot    template.URL
	PlotError   string
	// ClockFaults counts the clock faults; without any the page says every
	// node's clock followed the host's instead of plotting.
	ClockFaults int
	ClockPlot   template.URL
	ClockError  string
	ClockNodes  []clockNodeRow
	ClockNotes  []string
	FirstAnom   string
	Duration    string
	// Availability is the share of operations that completed ok, without
	// and during faults (checker.CheckStats).
	AvailNoFault, AvailDuring string
	TestJSON                  string
}

type resultRow struct {
	ID                      string // the checker's section
	Checker, Valid, Summary string
	Files                   []string
	FirstAnomaly            string
}

type countRow struct {
	F                    string
	OK, Fail, Info, Pend int
	P50, P99, Max        string
}

type faultRow struct {
	Start, End, Hold, Nemesis, Select, Nodes, Note, Error string
	Healed                                                bool
	Availability, Ops                                     string
}

// maxFaultRows caps the fault table (the plots show every window).
const maxFaultRows = 500

func buildView(r Run) view {
	v := view{Test: r.Test, TestJSON: r.TestJSON}
	v.Title = r.Test.Config.Name
	if v.Title == "" {
		v.Title = r.Dir
	}
	v.CommandLine = shellJoin(r.Test.CommandLine)
	if !r.Test.Started.IsZero() {
		v.Started = r.Test.Started.UTC().Format(time.RFC3339)
	}
	var last int64
	for _, op := range r.Ops {
		last = max(last, op.Time)
	}
	v.Duration = secs(last)

	var firstAnom *int64
	switch {
	case r.Results == nil:
		v.Verdict, v.VerdictNote = "not checked", "no results.json: run `faultline check` on this directory"
	default:
		v.Verdict = map[checker.Valid]string{checker.True: "valid", checker.False: "invalid", checker.Unknown: "unknown"}[r.Results.Valid]
		for _, res := range r.Results.Results {
			row := resultRow{ID: fmt.Sprintf("checker-%d", len(v.Results)), Checker: res.Checker, Valid: res.Valid.String(), Summary: res.Summary, Files: res.Files}
			if t := res.FirstAnomalyTime; t != nil {
				row.FirstAnomaly = secs(*t)
				if firstAnom == nil || *t < *firstAnom {
					firstAnom = t
				}
			}
			v.Results = append(v.Results, row)
		}
		v.Sections = checkerSections(r.Results.Results)
	}
	if firstAnom != nil {
		v.FirstAnom = secs(*firstAnom)
	}

	// The stats checker's counts, whether or not results.json has them.
	var stats checker.StatsDetails
	_ = json.Unmarshal(checker.CheckStats(r.Ops, store.CheckerOptions(r.Test.Config, "", r.AnsweredErrors).Stats).Details, &stats)
	v.Counts = countRows(stats.ByF)
	faults := checker.FaultWindows(r.Ops)
	if len(faults) > 0 {
		v.AvailNoFault, v.AvailDuring = share(stats.NoFault.Availability), share(stats.DuringFaults.Availability)
	}
	for i, f := range faults {
		if i == maxFaultRows {
			break
		}
		row := faultRow{Start: secs(f.Start), End: secs(f.End), Hold: secs(f.End - f.Start),
			Nemesis: f.Nemesis, Select: f.Select, Nodes: strings.Join(f.Nodes, " "), Note: f.Note,
			Error: f.Error, Healed: f.Healed}
		if i < len(stats.Faults) {
			w := stats.Faults[i]
			row.Availability, row.Ops = share(w.Availability), fmt.Sprintf("%d / %d / %d", w.OK, w.Fail, w.Info)
		}
		v.Faults = append(v.Faults, row)
	}
	v.FaultsShown = len(faults)

	comps, _ := checker.Pair(r.Ops)
	end := plotEnd(comps, faults)
	lat, rate, err := plots(comps, faults, firstAnom, end)
	if err != nil {
		v.PlotError = err.Error()
	}
	v.LatencyPlot, v.RatePlot = lat, rate

	oc := clockOffsetsOf(r.Ops)
	v.ClockFaults, v.ClockNotes = oc.Faults, oc.Notes
	if oc.Faults > 0 {
		for _, c := range oc.Nodes {
			lo, hi := c.Extremes(int64(end * 1e9))
			v.ClockNodes = append(v.ClockNodes, clockNodeRow{Node: c.Node, Ahead: offsetText(hi), Behind: offsetText(lo), Changes: len(c.Skews) - 1})
		}
		uri, notes, err := clockPlot(oc, faults, end)
		if err != nil {
			v.ClockError = err.Error()
		}
		v.ClockPlot, v.ClockNotes = uri, append(v.ClockNotes, notes...)
	}
	return v
}

// clockNodeRow is one node's clock offsets in words.
type clockNodeRow struct {
	Node, Ahead, Behind string
	// Changes counts the changes of its skew (faults and resets).
	Changes int
}

// offsetText is a clock offset in ns with its sign, "-" for none.
func offsetText(ns float64) string {
	switch a := math.Abs(ns); {
	case a == 0:
		return "-"
	case a >= 1e9:
		return fmt.Sprintf("%+.3fs", ns/1e9)
	case a >= 1e6:
		return fmt.Sprintf("%+.3fms", ns/1e6)
	}
	return fmt.Sprintf("%+.1fµs", ns/1e3)
}

// countRows turns the stats checker's per-f counts into table rows, by f.
func countRows(byF map[string]checker.OpStats) []countRow {
	var out []countRow
	for f, st := range byF {
		row := countRow{F: f, OK: st.OK, Fail: st.Fail, Info: st.Info, Pend: st.Pending, P50: "-", P99: "-", Max: "-"}
		if st.OK > 0 {
			row.P50, row.P99, row.Max = ms(st.Latency.P50), ms(st.Latency.P99), ms(st.Latency.Max)
		}
		out = append(out, row)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].F < out[j].F })
	return out
}

func share(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", *p*100)
}

func secs(ns int64) string { return fmt.Sprintf("%.3fs", float64(ns)/1e9) }

func ms(ns int64) string {
	if ns < 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f ms", float64(ns)/1e6)
}

// shellJoin quotes args for a POSIX shell where needed, so the line can be
// pasted to reproduce the run.
func shellJoin(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=.,/:+@%") == "" {
			b.WriteString(a)
			continue
		}
		b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	return b.String()
}
