package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/store"
)

func nemOp(t int64, f string, value string, errText string) history.Op {
	return history.Op{Process: history.Nemesis, Type: history.Info, F: f, Value: []byte(value), Time: t, Error: errText}
}

func TestCountRowsCountsOutcomesAndNeverCompleted(t *testing.T) {
	ops := []history.Op{
		{Process: 0, Type: history.Invoke, F: "write", Time: 0},
		{Process: 0, Type: history.OK, F: "write", Time: 2e6},
		{Process: 1, Type: history.Invoke, F: "write", Time: 1},
		{Process: 1, Type: history.Info, F: "write", Time: 1e9},
		{Process: 2, Type: history.Invoke, F: "read", Time: 5},
		{Process: 3, Type: history.Invoke, F: "read", Time: 6},
		{Process: 3, Type: history.Fail, F: "read", Time: 7},
	}
	var stats checker.StatsDetails
	if err := json.Unmarshal(checker.CheckStats(ops, checker.StatsOptions{AnsweredErrors: []string{"cas-mismatch"}}).Details, &stats); err != nil {
		t.Fatal(err)
	}
	rows := countRows(stats.ByF)
	if len(rows) != 2 {
		t.Fatalf("rows = %+v", rows)
	}
	r, w := rows[0], rows[1]
	if r.F != "read" || r.Fail != 1 || r.Pend != 1 || r.OK != 0 || r.P50 != "-" {
		t.Errorf("read row = %+v", r)
	}
	if w.F != "write" || w.OK != 1 || w.Info != 1 || w.Pend != 0 || w.P50 != "2.00 ms" {
		t.Errorf("write row = %+v", w)
	}
}

// Every value that comes from a history, test.json or results.json is
// attacker-controlled as far as the report is concerned.
func TestRenderEscapesEveryValueFromTheRun(t *testing.T) {
	const evil = `<script>alert(1)</script>`
	ops := []history.Op{
		nemOp(1e9, evil, `{"nemesis":"<img src=x onerror=alert(2)>","nodes":["<b>n1</b>"],"note":"`+`<script>alert(3)</script>"}`, `<i>err</i>`),
		{Process: 0, Type: history.Invoke, F: evil, Key: evil, Time: 1},
		{Process: 0, Type: history.OK, F: evil, Key: evil, Time: 2e6},
	}
	first := int64(1e6)
	res := checker.Results{Valid: checker.False, Results: []checker.Result{{
		Checker: "linearizable<svg onload=alert(4)>", Valid: checker.False, Summary: evil,
		Files: []string{"javascript:alert(5)", "linearizable.html"}, FirstAnomalyTime: &first,
	}}}
	run := Run{Dir: "d", Results: &res, Ops: ops, TestJSON: `{"config":{"name":"` + evil + `"}}`}
	run.Test.Config.Name = evil
	run.Test.CommandLine = []string{"faultline", "run", "--name", evil}
	var buf bytes.Buffer
	if err := Render(&buf, run); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if i := strings.Index(out, "plots could not"); i >= 0 {
		t.Log(out[i:min(len(out), i+300)])
	}
	for _, bad := range []string{"<script>alert", "<img src=x", "<b>n1", "<svg onload", "<i>err", `href="javascript:`} {
		if strings.Contains(out, bad) {
			t.Errorf("report contains unescaped %q", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", `href="linearizable.html"`, ">invalid<",
		"first anomalous operation at 0.001s", `src="data:image/svg`} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestWriteDirReportsARunDirectory(t *testing.T) {
	dir := t.TempDir()
	rec, err := history.NewRecorder(filepath.Join(dir, store.HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i < 200; i++ {
		rec.Append(history.Op{Process: history.Process(i % 4), Type: history.Invoke, F: "write", Key: "k", Value: history.MustValue(i), Time: i * 1e7})
		rec.Append(history.Op{Process: history.Process(i % 4), Type: history.OK, F: "write", Key: "k", Value: history.MustValue(i), Time: i*1e7 + 3e6})
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	path, err := WriteDir(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// No results.json yet: the report says so rather than showing a verdict.
	if !bytes.Contains(b, []byte("not checked")) || !bytes.Contains(b, []byte(">200<")) {
		t.Errorf("report of an unchecked run:\n%s", b)
	}
	if err := checker.WriteResults(filepath.Join(dir, checker.ResultsFile), checker.Compose(checker.Result{Checker: "stats", Valid: checker.True})); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteDir(dir, nil); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	if !bytes.Contains(b, []byte(">valid<")) {
		t.Error("report does not show the verdict of results.json")
	}
	if _, err := WriteDir(t.TempDir(), nil); err == nil {
		t.Error("a directory without a history gave no error")
	}
}

// BenchmarkRender100k renders the report of a 100,000-operation history
// (200,000 entries, 100 faults).
func BenchmarkRender100k(b *testing.B) {
	var ops []history.Op
	for i := int64(0); i < 100000; i++ {
		t := i * 6e5 // 60 s
		if i%1000 == 0 {
			ops = append(ops, nemOp(t, "kill", `{"nemesis":"kill","nodes":["n1"]}`, ""))
		}
		if i%1000 == 500 {
			ops = append(ops, nemOp(t, "heal", `{"nemesis":"kill"}`, ""))
		}
		typ := history.OK
		if i%50 == 0 {
			typ = history.Fail
		}
		ops = append(ops, history.Op{Process: history.Process(i % 10), Type: history.Invoke, F: "read", Key: "k", Time: t},
			history.Op{Process: history.Process(i % 10), Type: typ, F: "read", Key: "k", Time: t + 1e6 + i%7*1e5})
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Render(io.Discard, Run{Dir: "d", Ops: ops}); err != nil {
			b.Fatal(err)
		}
	}
}

// Availability counts a failed operation the target answered
// (Run.AnsweredErrors, e.g. a cas whose expected value was not there) as
// served, and WriteDir asks its answeredErrors for the target test.json
// names.
func TestAvailabilityCountsAnsweredErrors(t *testing.T) {
	ops := []history.Op{
		{Process: 0, Type: history.Invoke, F: "cas", Key: "k", Time: 1e6},
		{Process: 0, Type: history.OK, F: "cas", Key: "k", Time: 2e6},
		{Process: 1, Type: history.Invoke, F: "cas", Key: "k", Time: 3e6},
		{Process: 1, Type: history.Fail, F: "cas", Key: "k", Time: 4e6, Error: "mismatch"},
		nemOp(5e6, "kill", `{"nemesis":"kill","nodes":["n1"]}`, ""),
		nemOp(6e6, "heal", `{"nemesis":"kill"}`, ""),
	}
	for _, tc := range []struct {
		answered []string
		want     string
	}{{nil, "50.0%"}, {[]string{"mismatch"}, "100.0%"}} {
		if v := buildView(Run{Dir: "d", Ops: ops, AnsweredErrors: tc.answered}); v.AvailNoFault != tc.want {
			t.Errorf("answered %v: availability without faults %s, want %s", tc.answered, v.AvailNoFault, tc.want)
		}
	}

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
	cfg := store.DefaultConfig()
	cfg.Target = "some-target"
	if err := store.WriteTestRecord(dir, store.TestRecord{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	var asked string
	path, err := WriteDir(dir, func(target string) []string { asked = target; return []string{"mismatch"} })
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if asked != "some-target" || !bytes.Contains(b, []byte("100.0% of operations answered without faults")) {
		t.Errorf("asked for %q; report:\n%s", asked, b)
	}
}

// convRunDir writes ops as the history of a new run directory, checks them
// with the convergence checker for model, lets edit change the details,
// and writes results.json. It returns the directory and the result.
func convRunDir(t *testing.T, ops []history.Op, model string, edit func(*checker.ConvergenceDetails)) (string, checker.Result) {
	t.Helper()
	dir := t.TempDir()
	rec, err := history.NewRecorder(filepath.Join(dir, store.HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	for i, op := range ops {
		if ops[i], err = rec.Append(op); err != nil { // Append numbers the op
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	res := checker.CheckConvergence(ops, checker.ConvergenceOptions{Model: model})
	if edit != nil {
		var d checker.ConvergenceDetails
		if err := json.Unmarshal(res.Details, &d); err != nil {
			t.Fatal(err)
		}
		edit(&d)
		res.Details = history.MustValue(d)
	}
	// Undo encoding/json's escapes of < and >, so that results.json holds
	// hostile values as literally as a hand-written one would.
	b, err := json.Marshal(checker.Compose(res))
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(bytes.ReplaceAll(b, []byte(`\u003c`), []byte("<")), []byte(`\u003e`), []byte(">"))
	if err := os.WriteFile(filepath.Join(dir, checker.ResultsFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, res
}

// convOps builds a CRDT history: each op gets its own process.
type convOps []history.Op

// op appends an invoke at t1 and its ok completion at t2 on node; a final
// read (final != "") asks for that node's state.
func (x convOps) op(f, key, value, node, final string, t1, t2 int64) convOps {
	p := history.Process(len(x))
	in := history.Op{Process: p, Type: history.Invoke, F: f, Key: key, Time: t1, Final: final}
	if f != "read" {
		in.Value = json.RawMessage(value)
	}
	return append(x, in, history.Op{Process: p, Type: history.OK, F: f, Key: key, Value: json.RawMessage(value), Time: t2, Node: node, Final: final})
}

func (x convOps) heal(t int64) convOps {
	return append(x, nemOp(t, "heal-all", `{"nemesis":"partition"}`, ""))
}

func writeReport(t *testing.T, dir string) string {
	t.Helper()
	path, err := WriteDir(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A failing convergence result shows, per failing key, every node's final
// state and each problem with the operations that explain it; keys and
// values from the history are escaped.
func TestReportShowsConvergenceFailures(t *testing.T) {
	const evilKey = `<script>alert(1)</script>`
	ops := convOps{}.
		op("write", evilKey, "1", "n1", "", 1e9, 1.1e9).
		op("write", "r", "2", "n2", "", 1e9, 1.2e9).
		heal(5e9).
		op("read", evilKey, "1", "n1", "n1", 6e9, 6.1e9).
		op("read", evilKey, "7", "n2", "n2", 6e9, 6.2e9).
		op("read", "r", "3", "n1", "n1", 6e9, 6.3e9).
		op("read", "r", "3", "n2", "n2", 6e9, 6.4e9)
	dir, res := convRunDir(t, ops, "register", func(d *checker.ConvergenceDetails) {
		// A value the register model never produces, as a hostile or
		// broken results.json might hold.
		d.Failures[0].Problems[0].Ops[0].Value = history.MustValue(`<script>alert(2)</script>`)
		d.Failures[1].States["n2"] = history.MustValue([]string{`<script>alert(3)</script>`})
	})
	if res.Valid != checker.False {
		t.Fatalf("convergence = %v: %s", res.Valid, res.Summary)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, checker.ResultsFile)); !bytes.Contains(b, []byte("<script>alert(2)")) {
		t.Fatalf("results.json does not hold the script tag literally:\n%s", b)
	}
	out := writeReport(t, dir)
	defer func() {
		if i := strings.Index(out, "<h2>Convergence"); t.Failed() && i >= 0 {
			t.Log(out[i:min(len(out), i+5000)])
		}
	}()
	if strings.Contains(out, "<script>alert") {
		t.Error("report contains an unescaped script tag")
	}
	for _, want := range []string{
		"<h2>Convergence (false)</h2>",
		"<dt>model</dt><dd>register</dd>", "<dt>keys</dt><dd>2</dd>", "<dt>nodes</dt><dd>n1 n2</dd>",
		"none: the nodes never agreed (counting from heal at 5.000s)",
		// The disagreeing key, its states, the reason and the reads that
		// showed them.
		"key <code>&lt;script&gt;alert(1)&lt;/script&gt;</code>",
		"<tr><td>n1</td><td><code>1</code></td></tr>", "<tr><td>n2</td><td><code>7</code></td></tr>",
		`<span class="kind">disagreement</span>: nodes disagree after the final phase: n1=1, n2=7`,
		"<td>read (final read of n1)</td><td>ok</td><td>n1</td><td><code>&#34;&lt;script&gt;alert(2)&lt;/script&gt;&#34;</code></td>",
		"<td>read (final read of n2)</td><td>ok</td><td>n2</td><td><code>7</code></td><td class=\"n\">6.000s</td><td class=\"n\">6.200s</td><td>7</td><td class=\"n\">7, 8</td>",
		// The agreeing key whose value no write explains.
		"key <code>r</code>", `<span class="kind">never-written</span>`,
		"<tr><td>n1</td><td><code>3</code></td></tr>",
		"<tr><td>n2</td><td><code>[&#34;&lt;script&gt;alert(3)&lt;/script&gt;&#34;]</code></td></tr>",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// A passing convergence result shows the time from heal to agreement.
func TestReportShowsConvergenceTime(t *testing.T) {
	ops := convOps{}.
		op("add", "c", "2", "n1", "", 1e9, 1.1e9).
		heal(5e9).
		op("read", "c", "2", "n1", "n1", 5.1e9, 5.2e9).
		op("read", "c", "2", "n2", "n2", 5.1e9, 5.45e9)
	dir, res := convRunDir(t, ops, "counter", nil)
	if res.Valid != checker.True {
		t.Fatalf("convergence = %v: %s", res.Valid, res.Summary)
	}
	out := writeReport(t, dir)
	for _, want := range []string{
		"<h2>Convergence (true)</h2>",
		"<dt>convergence time</dt><dd>0.450s from heal at 5.000s to agreement at 5.450s</dd>",
		"<dt>model</dt><dd>counter</dd>", "<dt>nodes</dt><dd>n1 n2</dd>",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(out, "<h3>key") {
		t.Error("a passing convergence result shows failing keys")
	}
}

// The report shows the first maxConvKeys failing and incomplete keys, a
// node without a final read, and an op that never completed.
func TestConvergenceViewCapsKeys(t *testing.T) {
	var d checker.ConvergenceDetails
	d.Model, d.Nodes = "set", []string{"n1", "n2", "n3"}
	for i := range 25 {
		d.Failures = append(d.Failures, checker.ConvergenceFailure{
			Key:    fmt.Sprint("k", i),
			States: map[string]json.RawMessage{"n1": json.RawMessage("[1, 2]"), "n2": json.RawMessage("[1]")},
			Problems: []checker.ConvergenceProblem{{Kind: "disagreement", Reason: "nodes disagree", OmittedOps: 3,
				Ops: []checker.ConvergenceOp{{Role: "lost add", F: "add", Type: "pending", Process: "4", Value: json.RawMessage("2"),
					InvokeIndex: 12, Invoke: 2.5e9, CompleteIndex: -1}}}},
		})
		d.Incomplete = append(d.Incomplete, checker.ConvergenceIncomplete{Key: fmt.Sprint("m", i), Missing: []string{"n2", "n3"}})
	}
	d.FailingKeys, d.IncompleteKeys = 130, 25
	v := convergenceOf(checker.Result{Checker: "convergence", Valid: checker.False, Details: history.MustValue(d)})
	if len(v.Failures) != maxConvKeys || len(v.Incomplete) != maxConvKeys {
		t.Fatalf("%d failures, %d incomplete shown", len(v.Failures), len(v.Incomplete))
	}
	f := v.Failures[0]
	want := []convStateRow{{Node: "n1", State: "[1,2]"}, {Node: "n2", State: "[1]"}, {Node: "n3", Missing: true}}
	if fmt.Sprint(f.States) != fmt.Sprint(want) {
		t.Errorf("states = %+v, want %+v", f.States, want)
	}
	if op := f.Problems[0].Ops[0]; op.Complete != "never" || op.Index != "12" || op.Invoke != "2.500s" {
		t.Errorf("op row = %+v", op)
	}
	var buf bytes.Buffer
	res := checker.Results{Valid: checker.False, Results: []checker.Result{{Checker: "convergence", Valid: checker.False, Details: history.MustValue(d)}}}
	if err := Render(&buf, Run{Dir: "d", Results: &res}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"First 20 of 130 failing keys shown", "First 20 of 25 incomplete keys shown", "3 more operations not shown",
		"<td>n3</td><td><em>no ok final read</em></td>", "<tr><td><code>m0</code></td><td>n2 n3</td></tr>"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("report lacks %q", s)
		}
	}
	if strings.Contains(buf.String(), "<code>k20</code>") {
		t.Error("report shows a 21st failing key")
	}
}
