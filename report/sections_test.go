package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/store"
)

// runDir writes ops as the history of a new run directory and rs as its
// results.json, with encoding/json's escapes of < and > undone so that it
// holds hostile values as literally as a hand-written file would.
func runDir(t *testing.T, ops []history.Op, rs ...checker.Result) string {
	t.Helper()
	dir := t.TempDir()
	rec, err := history.NewRecorder(filepath.Join(dir, store.HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		if _, err := rec.Append(op); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(checker.Compose(rs...))
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(bytes.ReplaceAll(b, []byte(`\u003c`), []byte("<")), []byte(`\u003e`), []byte(">"))
	if err := os.WriteFile(filepath.Join(dir, checker.ResultsFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// bankOps builds a bank history: each op gets its own process.
type bankOps []history.Op

func (x bankOps) op(f, value, node, final string, typ history.Type, errText string, t1, t2 int64) bankOps {
	p := history.Process(len(x))
	in := history.Op{Process: p, Type: history.Invoke, F: f, Time: t1, Final: final}
	done := history.Op{Process: p, Type: typ, F: f, Time: t2, Node: node, Final: final, Error: errText}
	if f == "transfer" {
		in.Value, done.Value = json.RawMessage(value), json.RawMessage(value)
	} else if typ == history.OK {
		done.Value = json.RawMessage(value)
	}
	return append(x, in, done)
}

func mustContain(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q", w)
		}
	}
}

// section is the HTML of the report's section of the checker at index i.
func section(out string, i int) string {
	start := strings.Index(out, fmt.Sprintf(`<section id="checker-%d">`, i))
	if start < 0 {
		return ""
	}
	end := strings.Index(out[start:], "</section>")
	return out[start : start+end]
}

// A bank run's section shows the totals, the bad reads, the final reads
// and state, the transfers, the linearizability verdict and the blocking
// time from the target's stats, overall and per node; node names and read
// values from the history are escaped.
func TestReportShowsBank(t *testing.T) {
	const evilNode = `<script>alert(1)</script>`
	ops := bankOps{}.
		op("transfer", `{"from":0,"to":1,"amount":3}`, "n1", "", history.OK, "", 1e9, 1.1e9).
		op("transfer", `{"from":1,"to":0,"amount":50}`, "n2", "", history.Fail, "insufficient", 1.2e9, 1.3e9).
		op("read", `[7,13]`, evilNode, "", history.OK, "", 1.5e9, 1.6e9).
		op("read", `"<script>alert(2)</script>"`, "n2", "", history.OK, "", 1.7e9, 1.8e9).
		op("read", `[7,12]`, "n1", "", history.OK, "", 1.9e9, 2e9)
	ops = append(ops, history.Op{Process: history.Nemesis, Type: history.Info, F: "heal-all", Time: 3e9})
	ops = ops.
		op("read", `[7,13]`, "n1", "n1", history.OK, "", 4e9, 4.1e9).
		op("read", `[7,13]`, "n2", "n2", history.OK, "", 4.05e9, 4.2e9)
	ops = append(ops, history.Op{Process: history.Nemesis, Type: history.Info, F: checker.TargetStatsF, Time: 5e9,
		Value: json.RawMessage(`{"n1":{"in_doubt":1,"blocked_ns":[1000000000,2000000000,3000000000],"decided":5},` +
			`"n2":{"in_doubt":0,"blocked_ns":[500000000],"decided":4},"n3":{"in_doubt":0,"blocked_ns":[],"decided":2}}`)})
	for i := range ops {
		ops[i].Index = int64(i) // as the recorder numbers them
	}
	res := checker.CheckBank(ops, checker.BankOptions{Accounts: 2, InitialBalance: 10})
	if res.Valid != checker.False {
		t.Fatalf("bank = %v: %s", res.Valid, res.Summary)
	}
	var d checker.BankDetails
	if err := json.Unmarshal(res.Details, &d); err != nil {
		t.Fatal(err)
	}
	if got := nearestRank([]int64{1e9, 2e9, 3e9, 5e8}); d.Target == nil || got != d.Target.Blocked {
		t.Fatalf("nearestRank = %+v, the checker's blocked quantiles %+v", got, d.Target)
	}
	out := writeReport(t, runDir(t, ops, res))
	defer func() {
		if t.Failed() {
			t.Log(section(out, 0))
		}
	}()
	if strings.Contains(out, "<script>alert") {
		t.Error("report contains an unescaped script tag")
	}
	sec := section(out, 0)
	mustContain(t, out, `<td><a href="#checker-0">bank</a></td><td>false</td>`)
	mustContain(t, sec,
		"<h2>Bank (false)</h2>",
		"<dt>accounts</dt><dd>2, each starting at 10</dd>",
		"<dt>total</dt><dd>20 (every ok read must sum to it)</dd>",
		`<dt>ok reads</dt><dd>5, final reads included: 3 conserve the total, <span class="err">2 do not</span></dd>`,
		// The bad reads, in history order, with the node and the value escaped.
		"<td>n2</td><td><code>&#34;&lt;script&gt;alert(2)&lt;/script&gt;&#34;</code></td><td class=\"n\">-</td><td class=\"n\">1.700s</td><td class=\"n\">1.800s</td>",
		"<td>sums to 19, want 20</td><td>n1</td><td><code>[7,12]</code></td><td class=\"n\">19</td>",
		// The final reads agree; the final state is the acknowledged one.
		"The last ok final read of every node is the same.",
		"<tr><td>n1</td><td><code>[7,13]</code></td><td class=\"n\">20</td></tr>",
		"<tr><td>n2</td><td><code>[7,13]</code></td><td class=\"n\">20</td></tr>",
		"The last ok final read (node n2, invoked at 4.050s) is the initial balances plus every ok transfer.",
		`<tr><td class="n">0</td><td class="n">7</td><td class="n">7</td><td class="n"></td></tr>`,
		// Transfers by outcome, failures by error.
		`<tr><td>transfer</td><td class="n">1</td><td class="n">1</td><td class="n">0</td><td class="n">0</td></tr>`,
		`<tr><td><code>insufficient</code></td><td class="n">1</td></tr>`,
		// [7,12] cannot be linearized: it was read after the transfer.
		"<dt>verdict</dt><dd>false</dd>",
		"<dt>cannot be linearized</dt><dd class=\"err\">read() → [7,12] by process 8, invoked at 1.900s (history index 8, completed at index 9)</dd>",
		"<dt>unknown transfers dropped</dt><dd>0",
		// Blocking: all nodes, then each.
		`<tr><td><strong>all nodes</strong></td><td class="n">4</td><td class="n">1.00s</td><td class="n">3.00s</td><td class="n">3.00s</td><td class="n">1</td><td class="n">11</td></tr>`,
		`<tr><td>n1</td><td class="n">3</td><td class="n">2.00s</td><td class="n">3.00s</td><td class="n">3.00s</td><td class="n">1</td><td class="n">5</td></tr>`,
		`<tr><td>n2</td><td class="n">1</td><td class="n">500.00ms</td><td class="n">500.00ms</td><td class="n">500.00ms</td><td class="n">0</td><td class="n">4</td></tr>`,
		`<tr><td>n3</td><td class="n">0</td><td class="n">-</td><td class="n">-</td><td class="n">-</td><td class="n">0</td><td class="n">2</td></tr>`,
	)
}

// The bank section without target stats says so, lists the first
// maxBankBadReads bad reads, and marks the node whose final read differs.
func TestBankViewDisagreementAndCaps(t *testing.T) {
	d := checker.BankDetails{Accounts: 2, InitialBalance: 10, Total: 20, BadReadCount: 30,
		Final: checker.BankFinal{Checked: true, Balances: map[string]json.RawMessage{
			"n1": json.RawMessage("[10,10]"), "n2": json.RawMessage("[10,10]"), "n3": json.RawMessage("[9,10]")}},
		FinalState: checker.BankFinalState{Checked: true, Node: "n3", Balances: []int64{9, 10}, Acknowledged: []int64{10, 10}, Unknown: 2, Invoke: 7e9},
		TargetNote: "no target-stats record: the target reports none"}
	d.Reads.OK = 40
	for i := range 20 {
		d.BadReads = append(d.BadReads, checker.BankBadRead{Reason: fmt.Sprint("bad ", i), Process: "1", Value: json.RawMessage("[1]")})
	}
	res := checker.Result{Checker: "bank", Valid: checker.False, Details: history.MustValue(d)}
	var buf bytes.Buffer
	if err := Render(&buf, Run{Dir: "d", Results: &checker.Results{Valid: checker.False, Results: []checker.Result{res}}}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	mustContain(t, out, "<td>bad 9</td>", "First 10 of 30 shown; results.json lists up to 20.",
		"The nodes' last ok final reads disagree.",
		`<tr><td>n3</td><td><code>[9,10]</code> <span class="err">differs from the most common</span></td>`,
		"<tr><td>n1</td><td><code>[10,10]</code></td>",
		"is not the initial balances plus every ok transfer plus any subset of the 2 unknown transfers",
		`<tr><td class="n">0</td><td class="n">9</td><td class="n">10</td><td class="n">-1</td></tr>`,
		"<p>no target-stats record: the target reports none</p>")
	if strings.Contains(out, "<td>bad 10</td>") {
		t.Error("report lists an 11th bad read")
	}
}

// A checker the report does not know gets a section with its verdict,
// summary and details as indented JSON, escaped; so does a known checker
// whose details do not decode, and one without details says so.
func TestReportShowsUnknownCheckerGenerically(t *testing.T) {
	ops := []history.Op{{Process: 0, Type: history.Invoke, F: "read", Time: 1}, {Process: 0, Type: history.OK, F: "read", Time: 2e6}}
	dir := runDir(t, ops,
		checker.Result{Checker: "elle<script>alert(1)</script>", Valid: checker.False, Summary: "G1c <b>cycle</b>",
			Details: json.RawMessage(`{"anomalies":["<script>alert(2)</script>"],"count":3,"ratio":0.25}`)},
		checker.Result{Checker: "bank", Valid: checker.Unknown, Summary: "odd details", Details: json.RawMessage(`{"accounts":"<i>two</i>"}`)},
		checker.Result{Checker: "convergence", Valid: checker.Unknown, Summary: `unknown model "x"`},
	)
	out := writeReport(t, dir)
	if strings.Contains(out, "<script>alert") || strings.Contains(out, "<b>cycle") || strings.Contains(out, "<i>two") {
		t.Error("report contains an unescaped tag")
	}
	mustContain(t, section(out, 0),
		"<h2>Checker <code>elle&lt;script&gt;alert(1)&lt;/script&gt;</code> (false)</h2>",
		"<p>G1c &lt;b&gt;cycle&lt;/b&gt;</p>",
		"<pre>{\n  &#34;anomalies&#34;: [\n    &#34;&lt;script&gt;alert(2)&lt;/script&gt;&#34;\n  ],\n  &#34;count&#34;: 3,\n  &#34;ratio&#34;: 0.25\n}</pre>")
	mustContain(t, section(out, 1), "<h2>Bank (unknown)</h2>", `<p class="err">details could not be read: json: cannot unmarshal`,
		"<pre>{\n  &#34;accounts&#34;: &#34;&lt;i&gt;two&lt;/i&gt;&#34;\n}</pre>")
	mustContain(t, section(out, 2), "<h2>Convergence (unknown)</h2>", "<p>unknown model &#34;x&#34;</p>", "The result has no details.")
	mustContain(t, out, `<td><a href="#checker-0">elle&lt;script&gt;alert(1)&lt;/script&gt;</a></td>`)
}

// Every result in results.json has a section, in order, whatever the
// checker: the linearizable one with its failing keys, the stats one
// with its totals.
func TestReportHasASectionPerChecker(t *testing.T) {
	var ops []history.Op
	for i := int64(0); i < 4; i++ {
		ops = append(ops, history.Op{Process: history.Process(i), Type: history.Invoke, F: "write", Key: "k", Value: history.MustValue(i), Time: i * 1e9},
			history.Op{Process: history.Process(i), Type: history.OK, F: "write", Key: "k", Value: history.MustValue(i), Time: i*1e9 + 5e6})
	}
	stuckAt := int64(2e9)
	lin := checker.LinearizableDetails{Keys: []string{"k", "<script>alert(1)</script>"}, Timeout: "1m0s",
		Ops: checker.LinearizableCounts{OK: 8, Fail: 1, Info: 2},
		Failures: []checker.KeyFailure{{Key: "<script>alert(1)</script>", Valid: checker.False, Ops: 6, Model: "plain", Visualized: true, Stuck: &checker.StuckOp{Op: "read 3", Process: "4", InvokeIndex: 9, CompletionIndex: 10, Time: stuckAt},
			Window: &checker.Window{Key: "<script>alert(1)</script>", From: 1e9, To: 2e9, FirstIndex: 7, LastIndex: 10, Ops: []checker.WindowOp{
				{Op: "write(<b>3</b>)", Process: "3", InvokeIndex: 7, CompletionIndex: 8, Edge: true},
				{Op: "read 3", Process: "4", InvokeIndex: 9, CompletionIndex: 10}}}}},
		UnknownKeys: []string{"u1"}, Visualization: checker.VisualizationFile}
	dir := runDir(t, ops,
		checker.Result{Checker: "linearizable", Valid: checker.False, Summary: "not linearizable", Details: history.MustValue(lin),
			Files: []string{checker.VisualizationFile}, FirstAnomalyTime: &stuckAt},
		checker.CheckStats(ops, checker.StatsOptions{}),
		checker.Result{Checker: "custom", Valid: checker.True, Details: json.RawMessage(`[1,2]`)},
	)
	out := writeReport(t, dir)
	if strings.Contains(out, "<script>alert") {
		t.Error("report contains an unescaped script tag")
	}
	if n := strings.Count(out, `<section id="checker-`); n != 3 {
		t.Errorf("%d checker sections, want 3", n)
	}
	mustContain(t, section(out, 0), "<h2>Linearizability (false)</h2>",
		"<dt>keys</dt><dd>2</dd>", "<dt>keys not linearizable</dt>",
		"<tr><td><code>&lt;script&gt;alert(1)&lt;/script&gt;</code></td><td>false</td><td>plain</td><td class=\"n\">6</td><td>read 3 by process 4, invoked at 2.000s (history index 9, completed at index 10)</td>"+
			"<td>2 operations, 1.000s to 2.000s (history indexes 7 to 10), from any starting value:<br>"+
			"write(&lt;b&gt;3&lt;/b&gt;) by process 3, index 7 to 8 (straddles the window&#39;s edge: may or may not have taken effect in it)<br>"+
			"read 3 by process 4, index 9 to 10</td><td>yes</td></tr>",
		"Undecided keys: <code>u1</code>.")
	mustContain(t, section(out, 1), "<h2>Stats (true)</h2>", "<dt>client operations</dt><dd>4 ok, 0 fail, 0 info, 0 never completed</dd>",
		"<dt>ok latency</dt><dd>p50 5.00 ms, p99 5.00 ms, max 5.00 ms</dd>", `<a href="#operations">`)
	mustContain(t, section(out, 2), "<h2>Checker <code>custom</code> (true)</h2>", "<pre>[\n  1,\n  2\n]</pre>")
}
