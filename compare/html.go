package compare

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/report"
	"github.com/faultline-io/faultline/store"
)

// WriteHTML writes compare.html of the comparison r into its directory
// dir, replacing an earlier one only once the new one is whole, and
// returns its path.
func WriteHTML(dir string, r Record) (string, error) {
	var buf bytes.Buffer
	if err := Render(&buf, dir, r); err != nil {
		return "", err
	}
	path := filepath.Join(dir, HTMLFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("compare: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("compare: %w", err)
	}
	return path, nil
}

// Render writes the page of comparison r (whose directory is dir: the
// runs' histories are read from it for the plots) to w. The page is
// self-contained like a run's report: inline style, plots as data: URIs,
// links only to the runs' reports, relative; every value from a run goes
// through html/template's escaping.
func Render(w io.Writer, dir string, r Record) error {
	return comparePage.Execute(w, buildPage(dir, r))
}

// pageView is what the template sees.
type pageView struct {
	Style       template.CSS
	Title       string
	Rec         Record
	Nemeses     string
	TimeLimit   string
	Started     string
	CommandLine string
	Replay      string
	Table       table
	Aims        []aimRow
	Faults      []faultRow
	Schedule    string
	Identical   bool
	Throughput  template.URL
	Avail       template.URL
	PlotError   string
}

type aimRow struct{ Target, Nemesis, Takes string }

type faultRow struct {
	N                         int
	At, Hold, Nemesis, Select string
	Seed                      int64
}

func buildPage(dir string, r Record) pageView {
	v := pageView{Style: report.PageStyle, Rec: r, Table: newTable(r), Schedule: r.ScheduleCheck.Line(),
		Identical: r.ScheduleCheck.Identical, TimeLimit: r.Config.Test.TimeLimit.String()}
	v.Nemeses = strings.Join(r.Config.Test.Nemeses, ", ")
	if v.Nemeses == "" {
		v.Nemeses = "none"
	}
	v.Title = fmt.Sprintf("%s: %s under %s", strings.Join(r.Config.Targets, " vs "), r.Config.Test.Workload, v.Nemeses)
	if !r.Started.IsZero() {
		v.Started = r.Started.UTC().Format(time.RFC3339)
	}
	v.CommandLine = shellJoin(r.CommandLine)
	v.Replay = "faultline replay " + shellJoin([]string{dir})
	for _, run := range r.Runs {
		for _, n := range r.Config.Test.Nemeses {
			if a, ok := run.Aims[n]; ok {
				takes := a.Nemesis
				if a.Select != "" {
					takes += " with select " + a.Select
				}
				v.Aims = append(v.Aims, aimRow{Target: run.Target, Nemesis: n, Takes: takes})
			}
		}
	}
	for i, f := range r.Schedule {
		v.Faults = append(v.Faults, faultRow{N: i + 1, At: f.At.String(), Hold: f.Hold.String(), Nemesis: f.Nemesis,
			Select: f.Select, Seed: f.Seed})
	}
	var err error
	if v.Throughput, v.Avail, err = plots(dir, r, v.Table); err != nil {
		v.PlotError = err.Error()
	}
	return v
}

// plots draws the runs' throughput over the shared fault windows, and
// their availability by fault kind.
func plots(dir string, r Record, t table) (throughput, avail template.URL, err error) {
	var series []report.Series
	var bars []report.Bars
	groups := append([]string{"overall", "no fault"}, t.Kinds...)
	for _, run := range r.Runs {
		if run.Dir == "" {
			continue
		}
		ops, err := history.ReadFile(filepath.Join(dir, filepath.FromSlash(run.Dir), store.HistoryFile))
		if err != nil {
			continue // the table says what the run lacks
		}
		comps, _ := checker.Pair(testPhase(ops))
		series = append(series, report.Series{Name: run.Target, Comps: comps})
		vals := []*float64{run.Availability, run.NoFault}
		for _, k := range t.Kinds {
			var v *float64
			for _, b := range run.ByFault {
				if b.Nemesis == k {
					v = b.Availability
				}
			}
			vals = append(vals, v)
		}
		bars = append(bars, report.Bars{Name: run.Target, Values: vals})
	}
	if len(series) == 0 {
		return "", "", nil
	}
	var windows []checker.FaultWindow
	for _, f := range r.Schedule {
		windows = append(windows, checker.FaultWindow{Nemesis: f.Nemesis, Start: int64(f.At), End: int64(f.At + f.Hold), Healed: true})
	}
	if throughput, err = report.ThroughputPlot(series, windows); err != nil {
		return "", "", err
	}
	if avail, err = report.AvailabilityPlot(groups, bars); err != nil {
		return "", "", err
	}
	return throughput, avail, nil
}

// shellJoin quotes args for a POSIX shell where needed, so that a line can
// be pasted to run it again.
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

// comparePage is compare.html. html/template escapes every value by
// context; only the style (report.PageStyle) and the plots' data: URIs,
// which packages report and compare generate, are not.
var comparePage = template.Must(template.New("compare").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>faultline compare: {{.Title}}</title>
<style>
{{.Style}}
td.ok { color: #2a7d2a; } td.bad { color: #c0392b; font-weight: 600; } td.unk { color: #b7791f; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p>{{if .Identical}}One fault schedule, applied to every target alike.{{else}}<span class="err">The runs did not record the same schedule; see below.</span>{{end}}</p>

<dl>
<dt>targets</dt><dd>{{range $i, $t := .Rec.Config.Targets}}{{if $i}}, {{end}}{{$t}}{{end}}</dd>
<dt>workload</dt><dd>{{.Rec.Config.Test.Workload}}</dd>
<dt>nemeses</dt><dd>{{.Nemeses}}</dd>
<dt>nodes</dt><dd>{{.Rec.Config.Test.Nodes}}</dd>
<dt>time limit</dt><dd>{{.TimeLimit}}</dd>
<dt>seed</dt><dd>{{.Rec.Config.Test.Seed}}</dd>
<dt>runtime</dt><dd>{{.Rec.Config.Test.Runtime}}</dd>
<dt>runs at once</dt><dd>{{.Rec.Config.Parallel}}</dd>
{{with .Started}}<dt>started</dt><dd>{{.}}</dd>{{end}}
{{with .Rec.ReplayOf}}<dt>replay of</dt><dd>{{.}}</dd>{{end}}
{{with .Rec.Version}}<dt>faultline</dt><dd>{{.}}{{with $.Rec.GitRevision}} ({{.}}){{end}}</dd>{{end}}
</dl>
<p>Run it again:</p>
<pre>{{.Replay}}</pre>
{{with .CommandLine}}<p>Command line:</p>
<pre>{{.}}</pre>{{end}}

<h2>Results</h2>
<table>
<tr><th>target</th><th>verdict</th>{{range .Table.Checkers}}<th>{{.}}</th>{{end}}<th>availability</th><th>no fault</th>{{range .Table.Kinds}}<th>during {{.}}</th>{{end}}<th>ok latency p50</th><th>p99</th><th>ok ops/s</th><th>convergence</th><th>blocked in doubt</th><th>report</th></tr>
{{range .Table.Rows}}<tr><td>{{.Target}}</td>
<td><span class="verdict {{if eq .Verdict "valid"}}v-valid{{else if eq .Verdict "invalid"}}v-invalid{{else if eq .Verdict "unknown"}}v-unknown{{else}}v-not{{end}}">{{.Verdict}}</span></td>
{{range .Checkers}}<td class="{{if eq . "true"}}ok{{else if eq . "false"}}bad{{else if eq . "unknown"}}unk{{end}}">{{.}}</td>{{end}}
<td class="n">{{.Avail}}</td><td class="n">{{.NoFault}}</td>{{range .ByKind}}<td class="n">{{.}}</td>{{end}}
<td class="n">{{.P50}}</td><td class="n">{{.P99}}</td><td class="n">{{.Throughput}}</td><td>{{.Convergence}}</td><td>{{.Blocking}}</td>
<td>{{if .Report}}<a href="{{.Report}}">report.html</a>{{else if .Dir}}<code>{{.Dir}}</code>{{else}}-{{end}}</td></tr>
{{end}}</table>
<p>Client operations of the test phase (the final reads after the last heal are left out). Availability is the share
of them the target answered: ok, or a definite answer such as a cas mismatch; "during" counts the operations invoked
while a fault of that kind was on. Throughput is ok operations per second of test time.</p>

<h2>Anomalies and problems</h2>
{{$any := false}}{{range .Table.Rows}}{{if or .Anomalies .Problem}}{{$any = true}}<h3>{{.Target}}{{if .Report}} — <a href="{{.Report}}">report.html</a>{{end}}</h3>
{{with .Problem}}<p class="err">{{.}}</p>{{end}}
{{range .Anomalies}}<p><span class="kind">{{.Checker}}</span>{{if ne .FirstAt "-"}} (first anomalous operation at {{.FirstAt}}){{end}}: {{.Summary}}</p>
{{end}}{{end}}{{end}}{{if not $any}}<p>None: every checker passed on every target.</p>{{end}}

<h2>Latency and throughput</h2>
{{with .PlotError}}<p class="err">plots could not be drawn: {{.}}</p>{{end}}
{{with .Throughput}}<img alt="ok operations per second of each target over test time, fault windows shaded" src="{{.}}">{{end}}
{{with .Avail}}<img alt="availability of each target overall and during each kind of fault" src="{{.}}">{{end}}

<h2>Fault schedule ({{len .Faults}})</h2>
<p>{{.Schedule}}</p>
{{with .Rec.ScheduleCheck.NotApplied}}<p>Faults recorded as not applied (the target could not take them at the time):
{{range $t, $n := .}}{{$t}} {{$n}}; {{end}}</p>{{end}}
{{if .Aims}}<p>Role-aimed nemeses, aimed at each target's own role:</p>
<table>
<tr><th>target</th><th>nemesis</th><th>taken as</th></tr>
{{range .Aims}}<tr><td>{{.Target}}</td><td>{{.Nemesis}}</td><td>{{.Takes}}</td></tr>
{{end}}</table>{{end}}
{{if .Faults}}<table>
<tr><th>#</th><th>at</th><th>hold</th><th>nemesis</th><th>selection</th><th>seed</th></tr>
{{range .Faults}}<tr><td class="n">{{.N}}</td><td class="n">{{.At}}</td><td class="n">{{.Hold}}</td><td>{{.Nemesis}}</td><td>{{or .Select "(default)"}}</td><td class="n">{{.Seed}}</td></tr>
{{end}}</table>{{else}}<p>No faults.</p>{{end}}
</body>
</html>
`))
