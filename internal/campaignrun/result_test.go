package campaignrun

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// fakeCampaign runs shard s of runs in a store under root with a
// deterministic fake run (anomaly for every run whose seed is 3, a run
// directory per run) and writes its result file, as 'faultline campaign
// --shard s' does.
func fakeCampaign(t *testing.T, root string, runs []Run, s Shard) string {
	t.Helper()
	store := filepath.Join(root, "store")
	clk := newClock()
	mine := Select(runs, s)
	recs, stopped := Execute(context.Background(), mine, Options{Now: clk.Now}, func(_ context.Context, r Run) Record {
		clk.Advance(time.Minute)
		dir := filepath.Join(store, r.Test, fmt.Sprintf("seed-%d", r.Seed))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		v := VerdictValid
		if r.Seed == 3 {
			v = VerdictAnomaly
		}
		return Record{Verdict: v, Dir: dir, Report: filepath.Join(dir, "report.html"), Detail: "linearizable " + string(v)}
	})
	path, err := WriteResult(store, Result{Campaign: "nightly", File: "c.yaml", Digest: Digest([]byte("file")),
		Shard: s, Plan: runs, Runs: recs, Stopped: stopped, Complete: true, Started: clk.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// index, test, seed, verdict and outcome of each record, in order.
func keys(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, fmt.Sprintf("%d %s %d %s %s", r.Index, r.Test, r.Seed, r.Verdict, r.Outcome))
	}
	return out
}

// Shards 1/3, 2/3 and 3/3, each in its own store, merged, give the same
// runs and verdicts as the whole campaign in one go; the merged run
// directories are found where the stores are now (moved, as a CI artifact
// is).
func TestMergeOfShardsEqualsTheWhole(t *testing.T) {
	runs := plan(4, 5)
	whole, err := ReadResults(fakeCampaign(t, t.TempDir(), runs, Shard{}))
	if err != nil {
		t.Fatal(err)
	}
	var loaded []Loaded
	artifacts := t.TempDir()
	for i := 1; i <= 3; i++ {
		root := t.TempDir()
		fakeCampaign(t, root, runs, Shard{Index: i, Count: 3})
		moved := filepath.Join(artifacts, fmt.Sprintf("shard-%d", i))
		if err := os.Rename(filepath.Join(root, "store"), moved); err != nil {
			t.Fatal(err)
		}
		l, err := ReadResults(moved)
		if err != nil {
			t.Fatal(err)
		}
		loaded = append(loaded, l...)
	}
	sort.Slice(loaded, func(i, j int) bool { return loaded[i].Path > loaded[j].Path }) // order of arguments does not matter
	m, err := Merge(loaded)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keys(m.Runs), keys(whole[0].Result.Runs); !reflect.DeepEqual(got, want) {
		t.Errorf("merged runs differ from the whole campaign's:\n got %v\nwant %v", got, want)
	}
	if !m.Complete || m.Stopped != "" || len(m.Sources) != 3 || ExitCode(m.Runs) != ExitAnomaly {
		t.Errorf("merged: complete %v, stopped %q, %d sources, exit %d", m.Complete, m.Stopped, len(m.Sources), ExitCode(m.Runs))
	}
	for _, r := range m.Runs {
		if !strings.HasPrefix(r.Dir, artifacts) || !strings.HasPrefix(r.Report, r.Dir) {
			t.Errorf("run %d: dir %q, report %q: not under the moved stores %s", r.Index, r.Dir, r.Report, artifacts)
		}
	}
}

// Shards may share one store: 'merge DIR' reads every result file in it.
func TestMergeShardsInOneStore(t *testing.T) {
	root := t.TempDir()
	runs := plan(2, 3)
	for i := 1; i <= 2; i++ {
		fakeCampaign(t, root, runs, Shard{Index: i, Count: 2})
	}
	l, err := ReadResults(filepath.Join(root, "store"))
	if err != nil || len(l) != 2 {
		t.Fatalf("%d results, %v", len(l), err)
	}
	m, err := Merge(l)
	if err != nil || len(m.Runs) != 6 || !m.Complete {
		t.Fatalf("merge: %d runs, complete %v, %v", len(m.Runs), m.Complete, err)
	}
}

// A missing shard leaves its runs not started, naming the shard, and the
// merge's exit code at least unknown.
func TestMergeMissingShard(t *testing.T) {
	runs := plan(1, 6) // seed 3 is an anomaly in shard 1/3; keep it out
	for i := range runs {
		runs[i].Seed += 10
	}
	var loaded []Loaded
	for _, i := range []int{1, 3} {
		l, err := ReadResults(fakeCampaign(t, t.TempDir(), runs, Shard{Index: i, Count: 3}))
		if err != nil {
			t.Fatal(err)
		}
		loaded = append(loaded, l...)
	}
	m, err := Merge(loaded)
	if err != nil {
		t.Fatal(err)
	}
	if m.Complete || !strings.Contains(m.Stopped, "missing shard(s) 2/3") || ExitCode(m.Runs) != ExitUnknown {
		t.Errorf("complete %v, stopped %q, exit %d", m.Complete, m.Stopped, ExitCode(m.Runs))
	}
	for _, r := range m.Runs {
		if (r.Index%3 == 1) != (r.Outcome == OutcomeNotStarted) {
			t.Errorf("run %d: %s (%s)", r.Index, r.Outcome, r.Problem)
		}
	}
}

func TestMergeRefusesMismatches(t *testing.T) {
	runs := plan(2, 3)
	load := func(path string) Loaded {
		l, err := ReadResults(path)
		if err != nil {
			t.Fatal(err)
		}
		return l[0]
	}
	s1 := load(fakeCampaign(t, t.TempDir(), runs, Shard{Index: 1, Count: 2}))
	s2 := load(fakeCampaign(t, t.TempDir(), runs, Shard{Index: 2, Count: 2}))
	whole := load(fakeCampaign(t, t.TempDir(), runs, Shard{}))
	other := s2
	other.Result.Digest = Digest([]byte("edited"))
	renamed := s2
	renamed.Result.Campaign = "smoke"
	third := load(fakeCampaign(t, t.TempDir(), runs, Shard{Index: 1, Count: 3}))
	for _, tc := range []struct {
		name string
		ls   []Loaded
		want string
	}{
		{"none", nil, "no campaign results"},
		{"same shard twice", []Loaded{s1, s1}, "both shard 1/2"},
		{"whole and a shard", []Loaded{whole, s2}, "different splits"},
		{"different splits", []Loaded{s1, third}, "different splits"},
		{"file changed", []Loaded{s1, other}, "file changed"},
		{"other campaign", []Loaded{s1, renamed}, `campaign "smoke"`},
	} {
		if _, err := Merge(tc.ls); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestReadResultsErrorsNameThePath(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadResults(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("empty dir: %v", err)
	}
	bad := filepath.Join(dir, ResultFilePrefix+"x.json")
	os.WriteFile(bad, []byte("{"), 0o644)
	if _, err := ReadResults(dir); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad file: %v", err)
	}
	os.WriteFile(bad, []byte(`{"format": 99, "campaign": "c", "digest": "d"}`), 0o644)
	if _, err := ReadResults(bad); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("newer format: %v", err)
	}
	os.WriteFile(bad, []byte(`{"format": 1, "campaign": "c", "digest": "d", "runs": [{"index": 4}]}`), 0o644)
	if _, err := ReadResults(bad); err == nil || !strings.Contains(err.Error(), "runs[0]: index 4") {
		t.Errorf("index outside the plan: %v", err)
	}
}

func TestResultFileName(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Shard
		want string
	}{
		{"smoke", Shard{}, "campaign-smoke.json"},
		{"smoke", Shard{Index: 2, Count: 3}, "campaign-smoke.shard-2-of-3.json"},
		{"my campaign/x", Shard{}, "campaign-my-campaign-x.json"},
	} {
		if got := ResultFileName(tc.name, tc.s); got != tc.want {
			t.Errorf("ResultFileName(%q, %v) = %q, want %q", tc.name, tc.s, got, tc.want)
		}
	}
}

// sample is a finished campaign with one run of each outcome.
func sample() Result {
	cmd := []string{"--name", "t", "--target", "raft", "--nemesis", "kill", "--seed", "1"}
	start := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	return Result{Campaign: "smoke", File: "campaigns/smoke.yaml", Digest: Digest([]byte("x")), Started: start,
		Finished: start.Add(5 * time.Minute), Stopped: "fail-fast: not started after bug seed 1 was not as expected",
		Plan: make([]Run, 5),
		Runs: []Record{
			{Run: Run{Index: 0, Test: "ok", Seed: 1, Expect: ExpectValid, Command: cmd}, Verdict: VerdictValid,
				Outcome: OutcomeAsExpected, Dir: "store/ok/1", Duration: 31 * time.Second},
			{Run: Run{Index: 1, Test: "bug", Seed: 1, Expect: ExpectAnomaly, Command: append(cmd, "--bug", "stale read")},
				Verdict: VerdictValid, Outcome: OutcomeNotAsExpected, Problem: "no anomaly found: the seeded bug was not caught",
				Detail: "linearizable true: 10 ops\nstats true: 10 ok", Dir: "store/bug/1", Report: "store/bug/1/report.html"},
			{Run: Run{Index: 2, Test: "slow", Seed: 2, Expect: ExpectValid, Command: cmd}, Verdict: VerdictUnknown,
				Outcome: OutcomeUnknown, Problem: "verdict unknown (expected valid)", Dir: "store/slow/2"},
			{Run: Run{Index: 3, Test: "broken", Seed: 1, Expect: ExpectValid}, Verdict: VerdictError,
				Outcome: OutcomeError, Problem: "start 3-node raft cluster on docker: no | pipes"},
			{Run: Run{Index: 4, Test: "late", Seed: 1, Expect: ExpectValid}, Verdict: VerdictNotStarted,
				Outcome: OutcomeNotStarted, Problem: "fail-fast: not started after bug seed 1 was not as expected"},
		},
	}
}

func TestSummary(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSummary(&b, sample()); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	t.Log(md)
	for _, want := range []string{
		"## Campaign smoke: 1 not as expected, 1 unknown, 1 failed to run, 1 not started (of 5 runs)\n",
		"**Exit code 1:** some run not as expected.",
		"| valid | 2 |", "| anomaly | 0 |", "| unknown | 1 |", "| error | 1 |", "| not started | 1 |", "| **total** | **5** |",
		"| 2 | bug | 1 | anomaly | valid | ❌ not as expected | 0s | `store/bug/1` |",
		"#### bug seed 1: no anomaly found: the seeded bug was not caught",
		"- linearizable true: 10 ops\n- stats true: 10 ok\n- report: `store/bug/1/report.html`",
		"faultline replay store/bug/1\n# or, from scratch in the directory the campaign ran in:\nfaultline run --name t --target raft --nemesis kill --seed 1 --bug 'stale read'\n",
		"#### slow seed 2: verdict unknown (expected valid)",
		"#### broken seed 1: start 3-node raft cluster on docker: no \\| pipes\n\nNo command recorded",
		"### Not started (1)\n\n- late seed 1: fail-fast",
		"**Stopped early:** fail-fast",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	if strings.Contains(md, "#### ok seed 1") || strings.Contains(md, "#### late seed 1") {
		t.Errorf("a reproduce section for a run as expected or not started")
	}
	// One table row per run: the table's lines all have the same cells.
	var rows int
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "| ") && strings.Count(l, " | ") == 7 {
			rows++
		}
	}
	if rows != 1+5 {
		t.Errorf("%d rows of 8 cells (header and runs), want 6", rows)
	}
}

func TestJUnitOneCasePerRun(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJUnit(&b, sample()); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests, Failures, Errors, Skipped int `xml:",attr"`
		Suites                           []struct {
			Cases []struct {
				Class   string    `xml:"classname,attr"`
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
				Error   *struct {
					Message string `xml:"message,attr"`
					Body    string `xml:",chardata"`
				} `xml:"error"`
				Skipped *struct{} `xml:"skipped"`
				Out     string    `xml:"system-out"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, b.String())
	}
	// encoding/xml matches attributes by field name here: tests, failures...
	if len(doc.Suites) != 1 || len(doc.Suites[0].Cases) != 5 {
		t.Fatalf("suites %+v", doc.Suites)
	}
	cs := doc.Suites[0].Cases
	if cs[1].Class != "smoke.bug" || cs[1].Name != "seed-1" || cs[1].Failure == nil ||
		!strings.Contains(cs[1].Out, "replay: faultline replay store/bug/1") {
		t.Errorf("case 1: %+v", cs[1])
	}
	if cs[2].Error == nil || cs[3].Error == nil || cs[3].Error.Message != "run failed" ||
		!strings.Contains(cs[3].Error.Body, "no | pipes") || cs[4].Skipped == nil || cs[0].Failure != nil {
		t.Errorf("cases %+v", cs)
	}
}
