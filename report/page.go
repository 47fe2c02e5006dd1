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
var page = parsePage()

// pageHTML is the report page; the sections of known checkers are the
// templates of checkerHTML.
const pageHTML = `<!DOCTYPE html>
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
{{range .Results}}<tr><td><a href="#{{.ID}}">{{.Checker}}</a></td><td>{{.Valid}}</td><td>{{.Summary}}</td><td>{{.FirstAnomaly}}</td>
<td>{{range .Files}}<a href="{{.}}">{{.}}</a> {{end}}</td></tr>
{{end}}</table>{{else}}<p>Not checked.</p>{{end}}
{{range .Sections}}<section id="{{.ID}}">
<h2>{{if .Heading}}{{.Heading}}{{else}}Checker <code>{{.Checker}}</code>{{end}} ({{.Verdict}})</h2>
{{with .Summary}}<p>{{.}}</p>
{{end}}{{if .NoDetails}}<p>The result has no details.</p>
{{end}}{{with .DetailsError}}<p class="err">details could not be read: {{.}}</p>
{{end}}{{with .Generic}}<pre>{{.}}</pre>
{{end}}{{with .Bank}}{{template "bank" .}}
{{end}}{{with .Convergence}}{{template "convergence" .}}
{{end}}{{with .Linearizable}}{{template "linearizable" .}}
{{end}}{{with .Stats}}{{template "stats" .}}
{{end}}</section>
{{end}}
<h2>Latency and throughput</h2>
{{with .PlotError}}<p class="err">plots could not be drawn: {{.}}</p>{{end}}
{{with .LatencyPlot}}<img alt="latency of each operation over test time, fault windows shaded" src="{{.}}">{{end}}
{{with .RatePlot}}<img alt="completed operations per second over test time, fault windows shaded" src="{{.}}">{{end}}

<h2 id="operations">Operations</h2>
<table>
<tr><th>f</th><th>ok</th><th>fail</th><th>info</th><th>never completed</th><th>ok latency p50</th><th>p99</th><th>max</th></tr>
{{range .Counts}}<tr><td>{{.F}}</td><td class="n">{{.OK}}</td><td class="n">{{.Fail}}</td><td class="n">{{.Info}}</td><td class="n">{{.Pend}}</td><td class="n">{{.P50}}</td><td class="n">{{.P99}}</td><td class="n">{{.Max}}</td></tr>
{{end}}</table>

<h2 id="faults">Faults ({{.FaultsShown}})</h2>
{{if .Faults}}<table>
<tr><th>start</th><th>end</th><th>held</th><th>nemesis</th><th>selection</th><th>nodes</th><th>available</th><th>ok / fail / info</th><th>note</th></tr>
{{range .Faults}}<tr><td class="n">{{.Start}}</td><td class="n">{{.End}}{{if not .Healed}} (not healed){{end}}</td><td class="n">{{.Hold}}</td><td>{{.Nemesis}}</td><td>{{.Select}}</td><td>{{.Nodes}}</td><td class="n">{{.Availability}}</td><td class="n">{{.Ops}}</td>
<td>{{.Note}}{{with .Error}} <span class="err">not applied: {{.}}</span>{{end}}</td></tr>
{{end}}</table>{{if lt (len .Faults) .FaultsShown}}<p>First {{len .Faults}} shown; the plots show all.</p>{{end}}{{else}}<p>No faults.</p>{{end}}

<h2 id="clocks">Clock offsets</h2>
{{if .ClockFaults}}{{with .ClockError}}<p class="err">the clock plot could not be drawn: {{.}}</p>{{end}}
{{with .ClockPlot}}<img alt="each node's clock offset from the host clock over test time, as the clock nemeses applied it, fault windows shaded" src="{{.}}">{{end}}
<table class="states">
<tr><th>node</th><th>furthest ahead</th><th>furthest behind</th><th>skew changes</th></tr>
{{range .ClockNodes}}<tr><td>{{.Node}}</td><td class="n">{{.Ahead}}</td><td class="n">{{.Behind}}</td><td class="n">{{.Changes}}</td></tr>
{{end}}</table>
<p>Clock faults in the run: {{.ClockFaults}}. The offset is what the harness set through each node's clock seam (jump: a step; drift: a ramp; strobe: a square wave; heal and reset: back to 0), at the time it recorded each fault; only time a node reads through its seam is skewed. A node restarted during a clock fault gets that fault again when it starts, so a drift starts over from 0 there: the plot does not show restarts.</p>
{{with .ClockNotes}}<ul>{{range .}}<li>{{.}}</li>
{{end}}</ul>{{end}}{{else}}<p>no clock faults: every node's clock followed the host's</p>{{end}}

{{with .TestJSON}}<h2>test.json</h2>
<pre>{{.}}</pre>{{end}}
</body>
</html>
`

// checkerHTML holds the sections of the checkers the report knows, by
// template name.
var checkerHTML = map[string]string{
	"convergence":  convergenceHTML,
	"bank":         bankHTML,
	"bankErrors":   bankErrorsHTML,
	"linearizable": linearizableHTML,
	"stats":        statsHTML,
}

func parsePage() *template.Template {
	t := template.Must(template.New("report").Parse(pageHTML))
	for name, text := range checkerHTML {
		template.Must(t.New(name).Parse(text))
	}
	return t
}

// convergenceHTML shows a convergenceView.
const convergenceHTML = `{{$c := .}}{{with .DetailsError}}<p class="err">details could not be read: {{.}}</p>{{else}}<dl>
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
`

// bankHTML shows a bankView.
const bankHTML = `<h3>Totals</h3>
<dl>
<dt>accounts</dt><dd>{{.Accounts}}, each starting at {{.InitialBalance}}</dd>
<dt>total</dt><dd>{{.Total}} (every ok read must sum to it)</dd>
<dt>ok reads</dt><dd>{{.Reads.OK}}, final reads included: {{if .BadReadCount}}{{.GoodReads}} conserve the total, <span class="err">{{.BadReadCount}} do not</span>{{else}}every one conserves the total{{end}}</dd>
</dl>
{{if .BadReads}}<h3>Reads that cannot be a state of the bank</h3>
<table>
<tr><th>reason</th><th>node</th><th>balances</th><th>sum</th><th>invoke</th><th>complete</th><th>process</th><th>history index</th></tr>
{{range .BadReads}}<tr><td>{{.Reason}}</td><td>{{.Node}}</td><td><code>{{.Value}}</code></td><td class="n">{{.Sum}}</td><td class="n">{{.Invoke}}</td><td class="n">{{.Complete}}</td><td>{{.Process}}</td><td class="n">{{.Index}}</td></tr>
{{end}}</table>{{if lt (len .BadReads) .BadReadCount}}<p>First {{len .BadReads}} of {{.BadReadCount}} shown; results.json lists up to 20.</p>{{end}}{{end}}

<h3>Final reads</h3>
{{if .FinalChecked}}<p>{{if .FinalAgree}}The last ok final read of every node is the same.{{else}}<span class="err">The nodes' last ok final reads disagree.</span>{{end}}</p>
<table class="states">
<tr><th>node</th><th>last ok final read</th><th>sum</th></tr>
{{range .Finals}}<tr><td>{{.Node}}</td><td><code>{{.Balances}}</code>{{if and .Differs (not $.FinalAgree)}} <span class="err">differs from the most common</span>{{end}}</td><td class="n">{{.Sum}}</td></tr>
{{end}}</table>{{else}}<p>Not checked: no final read completed ok.</p>{{end}}
{{with .FinalMissing}}<p>No ok final read on {{.}}.</p>{{end}}

<h3>Final state against the acknowledged transfers</h3>
{{if .StateChecked}}<p>{{if .StateExplained}}The last ok final read (node {{.StateNode}}, invoked at {{.StateInvoke}}) is the initial balances plus every ok transfer{{if .StateUnknown}} plus some subset of the {{.StateUnknown}} unknown (info or never completed) transfers{{end}}.{{else}}<span class="err">The last ok final read (node {{.StateNode}}, invoked at {{.StateInvoke}}) is not the initial balances plus every ok transfer plus any subset of the {{.StateUnknown}} unknown transfers: an acknowledged transfer was lost, or a failed one took effect.</span>{{end}}</p>
<table class="states">
<tr><th>account</th><th>final read</th><th>initial + ok transfers</th><th>difference</th></tr>
{{range .StateRows}}<tr><td class="n">{{.Account}}</td><td class="n">{{.Final}}</td><td class="n">{{.Acknowledged}}</td><td class="n">{{.Diff}}</td></tr>
{{end}}</table>{{else}}<p>Not checked{{with .StateWhy}}: {{.}}{{end}}.</p>{{end}}

<h3>Transfers and reads</h3>
<table>
<tr><th>f</th><th>ok</th><th>fail</th><th>info</th><th>never completed</th></tr>
<tr><td>transfer</td><td class="n">{{.Transfers.OK}}</td><td class="n">{{.Transfers.Fail}}</td><td class="n">{{.Transfers.Info}}</td><td class="n">{{.Transfers.Pending}}</td></tr>
<tr><td>read</td><td class="n">{{.Reads.OK}}</td><td class="n">{{.Reads.Fail}}</td><td class="n">{{.Reads.Info}}</td><td class="n">{{.Reads.Pending}}</td></tr>
</table>
{{with .Transfers}}{{if .Errors}}<p>Failed transfers by error:</p>
{{template "bankErrors" .}}{{end}}{{end}}{{with .Reads}}{{if .Errors}}<p>Failed reads by error:</p>
{{template "bankErrors" .}}{{end}}{{end}}

<h3>Linearizability</h3>
<dl>
<dt>verdict</dt><dd>{{.LinValid}}</dd>
<dt>operations checked</dt><dd>{{.LinOps}} (ok transfers and reads, unknown transfers)</dd>
<dt>unknown transfers settled</dt><dd>{{.LinSettled}} (placed without the search: the last read decided them, or no linearization needed them)</dd>
<dt>unknown transfers dropped</dt><dd>{{.LinDropped}} (no ok operation completed after their invoke: nothing could observe them)</dd>
<dt>search budget</dt><dd>{{.LinTimeout}}</dd>
{{with .LinStuck}}<dt>cannot be linearized</dt><dd class="err">{{.}}</dd>{{end}}
</dl>

<h3>Blocking time: participants blocked in doubt</h3>
{{with .Blocked}}<table>
<tr><th>node</th><th>blocked in doubt</th><th>p50</th><th>p99</th><th>max</th><th>in doubt at the end</th><th>decided</th></tr>
{{with .All}}<tr><td><strong>all nodes</strong></td><td class="n">{{.Count}}</td><td class="n">{{.P50}}</td><td class="n">{{.P99}}</td><td class="n">{{.Max}}</td><td class="n">{{.InDoubt}}</td><td class="n">{{.Decided}}</td></tr>
{{end}}{{range .Nodes}}<tr><td>{{.Node}}</td><td class="n">{{.Count}}</td><td class="n">{{.P50}}</td><td class="n">{{.P99}}</td><td class="n">{{.Max}}</td><td class="n">{{.InDoubt}}</td><td class="n">{{.Decided}}</td></tr>
{{end}}</table>
<p>As the target reported it at the end of the run (not part of the verdict): a participant that voted yes and had to ask for the decision was blocked from its vote until it learnt the decision; in doubt at the end are those still waiting.</p>
{{else}}<p>{{with .TargetNote}}{{.}}{{else}}No blocking report: the history has no target-stats record.{{end}}</p>{{end}}
`

// bankErrorsHTML lists a bankCountsView's errors.
const bankErrorsHTML = `<table class="states">
<tr><th>error</th><th>count</th></tr>
{{range .Errors}}<tr><td><code>{{.Error}}</code></td><td class="n">{{.Count}}</td></tr>
{{end}}</table>{{with .MoreErrors}}<p>{{.}} more distinct errors not shown.</p>{{end}}`

// linearizableHTML shows a linearView.
const linearizableHTML = `<dl>
<dt>keys</dt><dd>{{.Keys}}</dd>
<dt>operations</dt><dd>{{.OK}} ok, {{.Fail}} fail (left out), {{.Info}} info, {{.Pending}} never completed; {{.InfoReads}} info reads and {{.Unobserved}} unobserved writes left out; {{.Nem}} nemesis events ignored</dd>
<dt>search budget</dt><dd>{{.Timeout}}</dd>
{{with .Visualization}}<dt>visualization</dt><dd>{{.}}</dd>{{end}}
{{if .FailingKeys}}<dt>keys not linearizable</dt><dd class="err">{{.FailingKeys}}</dd>{{end}}
{{if .UnknownKeys}}<dt>keys undecided</dt><dd>{{.UnknownKeys}} (the search timed out)</dd>{{end}}
</dl>
{{with .Failures}}<table>
<tr><th>key</th><th>verdict</th><th>model</th><th>operations</th><th>cannot be linearized</th><th>smallest failing window</th><th>drawn</th></tr>
{{range .}}<tr><td><code>{{.Key}}</code></td><td>{{.Valid}}</td><td>{{.Model}}</td><td class="n">{{.Ops}}</td><td>{{.Stuck}}</td><td>{{range $i, $l := .Window}}{{if $i}}<br>{{end}}{{$l}}{{end}}</td><td>{{if .Visualized}}yes{{else}}no{{end}}</td></tr>
{{end}}</table>{{end}}{{if lt (len .Failures) .FailingKeys}}<p>First {{len .Failures}} of {{.FailingKeys}} failing keys shown.</p>{{end}}
{{with .Unknown}}<p>Undecided keys: {{range $i, $k := .}}{{if $i}}, {{end}}<code>{{$k}}</code>{{end}}{{if lt (len .) $.UnknownKeys}} and {{$.UnknownKeys}} in all{{end}}.</p>{{end}}`

// statsHTML shows a statsView; its counts per f and per fault are the
// Operations and Faults sections.
const statsHTML = `<dl>
<dt>client operations</dt><dd>{{.OK}} ok, {{.Fail}} fail, {{.Info}} info, {{.Pending}} never completed{{with .Unpaired}}; {{.}} completions without an invoke{{end}}</dd>
<dt>ok latency</dt><dd>p50 {{.P50}}, p99 {{.P99}}, max {{.Max}}</dd>
<dt>nemesis events</dt><dd>{{.NemesisEvents}}</dd>
<dt>availability</dt><dd>{{.AvailNoFault}} without faults, {{.AvailDuring}} during the {{.Faults}} fault windows</dd>
</dl>
<p>Per operation: <a href="#operations">Operations</a>; per fault window: <a href="#faults">Faults</a>.</p>`
