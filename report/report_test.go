package report

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/harness"
	"github.com/faultline-io/faultline/history"
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
	rec, err := history.NewRecorder(filepath.Join(dir, harness.HistoryFile))
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
	path, err := WriteDir(dir)
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
	if _, err := WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	if !bytes.Contains(b, []byte(">valid<")) {
		t.Error("report does not show the verdict of results.json")
	}
	if _, err := WriteDir(t.TempDir()); err == nil {
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
