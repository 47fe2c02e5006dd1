package report

import "html/template"

// pageStyle is the report's style sheet, inline in the page; PageStyle
// shares it with other pages (a comparison of runs).
const pageStyle = `body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #eee; vertical-align: top; }
th { background: #f5f5f5; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font: 12px/1.4 ui-monospace, monospace; background: #f6f6f6; }
pre { padding: 0.6em; overflow-x: auto; }
.verdict { display: inline-block; padding: 0.15em 0.6em; border-radius: 4px; font-weight: 600; color: #fff; }
.v-valid { background: #2a7d2a; } .v-invalid { background: #c0392b; } .v-unknown { background: #b7791f; } .v-not { background: #777; }
.err { color: #c0392b; }
img { max-width: 100%; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 1em; }
dt { color: #666; } dd { margin: 0; }
h3 { font-size: 1em; margin: 1.5em 0 0.3em; }
td code { word-break: break-all; }
table.states { width: auto; min-width: 40%; }
.kind { font-weight: 600; }
`

// PageStyle is the style sheet of the report page, for other self-contained
// pages (compare.html) to look the same: put it in their <style> element.
const PageStyle template.CSS = pageStyle

// page is the report. html/template escapes every value by context; the
// only value not escaped is the plots' data: URIs (template.URL), which
// this package generates.
var page = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>faultline: {{.Title}} — {{.Verdict}}</title>
<style>
` + pageStyle + `</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p><span class="verdict {{if eq .Verdict "valid"}}v-valid{{else if eq .Verdict "invalid"}}v-invalid{{else if eq .Verdict "unknown"}}v-unknown{{else}}v-not{{end}}">{{.Verdict}}</span>
{{with .VerdictNote}} {{.}}{{end}}{{with .FirstAnom}} — first anomalous operation at {{.}} of test time{{end}}</p>

<dl>
{{with .Test.Config.Target}}<dt>target</dt><dd>{{.}}</dd>{{end}}
{{with .Test.Config.Workload}}<dt>workload</dt><dd>{{.}}</dd>{{end}}
{{with .Test.Config.Nemeses}}<dt>nemeses</dt><dd>{{range $i, $n := .}}{{if $i}}, {{end}}{{$n}}{{end}}</dd>{{end}}
{{with .Test.Config.Bugs}}<dt>seeded bugs</dt><dd>{{range $i, $n := .}}{{if $i}}, {{end}}{{$n}}{{end}}</dd>{{end}}
{{with .Test.Config.Nodes}}<dt>nodes</dt><dd>{{.}}</dd>{{end}}
{{if .TestJSON}}<dt>seed</dt><dd>{{.Test.Config.Seed}}</dd>{{end}}
{{with .Test.Runtime}}<dt>runtime</dt><dd>{{.}}</dd>{{end}}
{{with .Started}}<dt>started</dt><dd>{{.}}</dd>{{end}}
<dt>history length</dt><dd>{{.Duration}}</dd>
{{with .AvailNoFault}}<dt>availability</dt><dd>{{.}} of operations answered without faults, {{$.AvailDuring}} during faults (ok, or a definite answer such as a cas mismatch)</dd>{{end}}
{{with .Test.Version}}<dt>faultline</dt><dd>{{.}}{{with $.Test.GitRevision}} ({{.}}){{end}}</dd>{{end}}
</dl>
{{with .CommandLine}}<p>Reproduce:</p>
<pre>{{.}}</pre>{{end}}

<h2>Checkers</h2>
{{if .Results}}<table>
<tr><th>checker</th><th>verdict</th><th>summary</th><th>first anomaly</th><th>files</th></tr>
{{range .Results}}<tr><td>{{.Checker}}</td><td>{{.Valid}}</td><td>{{.Summary}}</td><td>{{.FirstAnomaly}}</td>
<td>{{range .Files}}<a href="{{.}}">{{.}}</a> {{end}}</td></tr>
{{end}}</table>{{else}}<p>Not checked.</p>{{end}}
{{range $c := .Convergence}}
<h2>Convergence ({{.Verdict}})</h2>
{{with .DetailsError}}<p class="err">details could not be read: {{.}}</p>{{else}}<dl>
<dt>convergence time</dt><dd>{{with .Time}}{{.}} from {{$c.From}} to agreement{{with $c.At}} at {{.}}{{end}}{{else}}none: {{.NoTime}}{{with $c.From}} (counting from {{.}}){{end}}{{end}}</dd>
<dt>model</dt><dd>{{.Model}}</dd>
<dt>keys</dt><dd>{{.Keys}}</dd>
<dt>nodes</dt><dd>{{.Nodes}}</dd>
<dt>ok final reads</dt><dd>{{.FinalReads}}</dd>
{{with .Quiet}}<dt>quiet period</dt><dd>{{.}}</dd>{{end}}
{{if .FailingKeys}}<dt>failing keys</dt><dd>{{.FailingKeys}}</dd>{{end}}
{{if .IncompleteKeys}}<dt>incomplete keys</dt><dd>{{.IncompleteKeys}} (some node has no ok final read)</dd>{{end}}
</dl>{{end}}
{{range .Failures}}<h3>key <code>{{.Key}}</code></h3>
<table class="states">
<tr><th>node</th><th>final state</th></tr>
{{range .States}}<tr><td>{{.Node}}</td><td>{{if .Missing}}<em>no ok final read</em>{{else}}<code>{{.State}}</code>{{end}}</td></tr>
{{end}}</table>
{{range .Problems}}<p><span class="kind">{{.Kind}}</span>: {{.Reason}}</p>
{{if .Ops}}<table>
<tr><th>cited as</th><th>f</th><th>type</th><th>node</th><th>value</th><th>invoke</th><th>complete</th><th>process</th><th>history index</th></tr>
{{range .Ops}}<tr><td>{{.Role}}</td><td>{{.F}}{{with .Final}} (final read of {{.}}){{end}}</td><td>{{.Type}}</td><td>{{.Node}}</td><td><code>{{.Value}}</code></td><td class="n">{{.Invoke}}</td><td class="n">{{.Complete}}</td><td>{{.Process}}</td><td class="n">{{.Index}}</td></tr>
{{end}}</table>{{end}}{{with .OmittedOps}}<p>{{.}} more operations not shown.</p>{{end}}
{{end}}{{end}}{{if lt (len .Failures) .FailingKeys}}<p>First {{len .Failures}} of {{.FailingKeys}} failing keys shown; results.json lists up to 100.</p>{{end}}
{{with .Incomplete}}<h3>Keys without an ok final read on every node</h3>
<table>
<tr><th>key</th><th>missing on</th></tr>
{{range .}}<tr><td><code>{{.Key}}</code></td><td>{{.Missing}}</td></tr>
{{end}}</table>{{end}}{{if lt (len .Incomplete) .IncompleteKeys}}<p>First {{len .Incomplete}} of {{.IncompleteKeys}} incomplete keys shown.</p>{{end}}
{{end}}

<h2>Latency and throughput</h2>
{{with .PlotError}}<p class="err">plots could not be drawn: {{.}}</p>{{end}}
{{with .LatencyPlot}}<img alt="latency of each operation over test time, fault windows shaded" src="{{.}}">{{end}}
{{with .RatePlot}}<img alt="completed operations per second over test time, fault windows shaded" src="{{.}}">{{end}}

<h2>Operations</h2>
<table>
<tr><th>f</th><th>ok</th><th>fail</th><th>info</th><th>never completed</th><th>ok latency p50</th><th>p99</th><th>max</th></tr>
{{range .Counts}}<tr><td>{{.F}}</td><td class="n">{{.OK}}</td><td class="n">{{.Fail}}</td><td class="n">{{.Info}}</td><td class="n">{{.Pend}}</td><td class="n">{{.P50}}</td><td class="n">{{.P99}}</td><td class="n">{{.Max}}</td></tr>
{{end}}</table>

<h2>Faults ({{.FaultsShown}})</h2>
{{if .Faults}}<table>
<tr><th>start</th><th>end</th><th>held</th><th>nemesis</th><th>selection</th><th>nodes</th><th>available</th><th>ok / fail / info</th><th>note</th></tr>
{{range .Faults}}<tr><td class="n">{{.Start}}</td><td class="n">{{.End}}{{if not .Healed}} (not healed){{end}}</td><td class="n">{{.Hold}}</td><td>{{.Nemesis}}</td><td>{{.Select}}</td><td>{{.Nodes}}</td><td class="n">{{.Availability}}</td><td class="n">{{.Ops}}</td>
<td>{{.Note}}{{with .Error}} <span class="err">not applied: {{.}}</span>{{end}}</td></tr>
{{end}}</table>{{if lt (len .Faults) .FaultsShown}}<p>First {{len .Faults}} shown; the plots show all.</p>{{end}}{{else}}<p>No faults.</p>{{end}}

{{with .TestJSON}}<h2>test.json</h2>
<pre>{{.}}</pre>{{end}}
</body>
</html>
`))
