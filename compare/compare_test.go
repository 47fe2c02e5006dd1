package compare

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/store"
)

// fakeRoles are the roles of the fake catalog's targets, as the bundled
// ones declare theirs.
var fakeRoles = map[string]string{"raft": "leader", "twopc": "coordinator", "crdt": ""}

// fakeCatalog draws a fixed schedule and aims role-aimed faults as
// nemesis.AimAt does for the bundled targets (nemesis tests the real one).
func fakeCatalog(faults []Fault) Catalog {
	return Catalog{
		Schedule: func(store.Config) ([]Fault, error) { return faults, nil },
		DefaultSelect: func(n string) string {
			if n == "kill-coordinator" {
				return "coordinator"
			}
			return ""
		},
		Aim: func(target, n, sel string) (Aim, error) {
			role, ok := fakeRoles[target]
			if !ok {
				return Aim{}, fmt.Errorf("unknown target %q", target)
			}
			need := map[string]string{"partition-leader": "leader", "kill-coordinator": "coordinator"}[n]
			switch {
			case need == "" || need == role:
				return Aim{n, sel}, nil
			case role == "":
				return Aim{}, fmt.Errorf("target %s cannot take nemesis %s: it aims at the %s", target, n, need)
			case n == "partition-leader":
				return Aim{Nemesis: "partition-coordinator"}, nil
			}
			return Aim{"kill", "leader"}, nil
		},
	}
}

func testConfig(targets ...string) Config {
	test := store.DefaultConfig()
	test.Target = ""
	test.Nemeses = []string{"partition", "partition-leader", "kill-coordinator"}
	return Config{Targets: targets, Parallel: 1, Test: test}
}

var plannedFaults = []Fault{
	{At: 2 * time.Second, Hold: time.Second, Nemesis: "partition", Select: "halves", Seed: 11},
	{At: 5 * time.Second, Hold: time.Second, Nemesis: "partition-leader", Seed: 12},
	{At: 8 * time.Second, Hold: time.Second, Nemesis: "kill-coordinator", Select: "coordinator", Seed: 13},
}

// TestNewPlanAimsEachTargetsRole: one schedule, the same times, holds and
// seeds on every target; a role-aimed nemesis goes to each target's own
// role; a target without roles is refused, naming it and the nemesis.
func TestNewPlanAimsEachTargetsRole(t *testing.T) {
	p, err := NewPlan(testConfig("raft", "twopc"), fakeCatalog(plannedFaults))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Faults, plannedFaults) || len(p.Runs) != 2 {
		t.Fatalf("plan %+v", p)
	}
	for _, r := range p.Runs {
		for i, f := range r.Faults {
			pf := plannedFaults[i]
			if f.At != pf.At || f.Hold != pf.Hold || f.Seed != pf.Seed {
				t.Errorf("%s fault %d: %+v, planned %+v", r.Target, i, f, pf)
			}
		}
	}
	raft, twopc := p.Runs[0], p.Runs[1]
	if want := (map[string]Aim{"kill-coordinator": {"kill", "leader"}}); !reflect.DeepEqual(raft.Aims, want) {
		t.Errorf("raft aims %v, want %v", raft.Aims, want)
	}
	if want := (map[string]Aim{"partition-leader": {Nemesis: "partition-coordinator"}}); !reflect.DeepEqual(twopc.Aims, want) {
		t.Errorf("twopc aims %v, want %v", twopc.Aims, want)
	}
	if got := raft.Faults[2]; got.Nemesis != "kill" || got.Select != "leader" {
		t.Errorf("raft takes kill-coordinator as %+v", got)
	}
	if got := twopc.Faults[1]; got.Nemesis != "partition-coordinator" {
		t.Errorf("twopc takes partition-leader as %+v", got)
	}
	if want := []string{"partition", "partition-leader", "kill"}; !reflect.DeepEqual(raft.Nemeses, want) {
		t.Errorf("raft nemeses %v, want %v", raft.Nemeses, want)
	}
	// The recorded names map back to the comparison's.
	if got := raft.neutral("kill", "leader"); got != "kill-coordinator" {
		t.Errorf("raft's kill of the leader reads %s", got)
	}
	if got := raft.neutral("kill", "one"); got != "kill" {
		t.Errorf("raft's plain kill reads %s", got)
	}
	if got := twopc.neutral("partition-coordinator", "coordinator"); got != "partition-leader" {
		t.Errorf("twopc's partition-coordinator reads %s", got)
	}

	// The scenario file holds every fault with its time and seed.
	y := string(twopc.ScenarioYAML("c"))
	for _, want := range []string{"at: 5s\n    nemesis: partition-coordinator\n", "seed: 13\n", "select: coordinator\n"} {
		if !strings.Contains(y, want) {
			t.Errorf("scenario lacks %q:\n%s", want, y)
		}
	}

	_, err = NewPlan(testConfig("raft", "crdt"), fakeCatalog(plannedFaults))
	if err == nil || !strings.Contains(err.Error(), "crdt") || !strings.Contains(err.Error(), "partition-leader") {
		t.Errorf("crdt under partition-leader: %v, want an error naming both", err)
	}
	// Refused even when the schedule never draws the nemesis.
	if _, err := NewPlan(testConfig("crdt"), fakeCatalog(nil)); err == nil {
		t.Error("crdt with a role-aimed nemesis and no faults drawn: want an error")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Targets = nil }, "targets: none"},
		{func(c *Config) { c.Targets = []string{"raft", "raft"} }, "listed twice"},
		{func(c *Config) { c.Targets = []string{"../x"} }, "not a target name"},
		{func(c *Config) { c.Parallel = 0 }, "parallel: 0"},
		{func(c *Config) { c.Test.Bugs = []string{"no-fsync"} }, "bug: no-fsync"},
	} {
		c := testConfig("raft", "crdt")
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", c, err, tc.want)
		}
	}
	if got := testConfig("raft").Name(); got != "compare-register-partition-partition-leader-kill-coordinator" {
		t.Errorf("name %s", got)
	}
}

// fakeRunOptions vary the fake run directory.
type fakeRunOptions struct {
	results     checker.Results
	schedule    []Entry
	targetStats string // the value of a target-stats op, "" for none
	noResults   bool
	failOpError string
}

const ms = int64(time.Millisecond)

// fakeRun writes a minimal run directory of target under dir, as the
// harness lays one out, and returns it. Its history: three ok operations
// (10, 20 and 30 ms) outside the one fault, a kill from 1 s to 2 s during
// which an operation times out (info) and one fails, and a final read
// that the comparison must leave out.
func fakeRun(t *testing.T, dir, target string, o fakeRunOptions) string {
	t.Helper()
	runDir, err := store.NewRunDir(dir, target, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	cfg := store.DefaultConfig()
	cfg.Target, cfg.Name, cfg.Nemeses = target, target, []string{"kill"}
	if err := store.WriteTestRecord(runDir, store.TestRecord{Config: cfg, Runtime: "local"}); err != nil {
		t.Fatal(err)
	}
	rec, err := history.NewRecorder(filepath.Join(runDir, store.HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	v := func(x any) json.RawMessage { return history.MustValue(x) }
	ops := []history.Op{
		{Process: 0, Type: history.Invoke, F: "read", Key: "k1", Time: 100 * ms},
		{Process: 0, Type: history.OK, F: "read", Key: "k1", Value: v(nil), Time: 110 * ms, Node: "n1"},
		{Process: 1, Type: history.Invoke, F: "write", Key: "k1", Value: v(1), Time: 200 * ms},
		{Process: 1, Type: history.OK, F: "write", Key: "k1", Value: v(1), Time: 220 * ms, Node: "n1"},
		{Process: history.Nemesis, Type: history.Info, F: "kill", Time: 1000 * ms,
			Value: v(map[string]any{"nemesis": "kill", "select": "one", "seed": 5, "nodes": []string{"n2"}})},
		{Process: 0, Type: history.Invoke, F: "write", Key: "k1", Value: v(2), Time: 1200 * ms},
		{Process: 1, Type: history.Invoke, F: "write", Key: "k1", Value: v(3), Time: 1500 * ms},
		{Process: 1, Type: history.Fail, F: "write", Key: "k1", Value: v(3), Time: 1600 * ms, Error: o.failOpError},
		{Process: history.Nemesis, Type: history.Info, F: "heal", Value: v(map[string]string{"nemesis": "kill"}), Time: 2000 * ms},
		{Process: 0, Type: history.Info, F: "write", Key: "k1", Value: v(2), Time: 2200 * ms, Error: "timeout"},
		{Process: 2, Type: history.Invoke, F: "read", Key: "k1", Time: 2500 * ms},
		{Process: 2, Type: history.OK, F: "read", Key: "k1", Value: v(1), Time: 2530 * ms, Node: "n3"},
		{Process: history.Nemesis, Type: history.Info, F: "heal-all", Time: 3000 * ms},
		{Process: 100, Type: history.Invoke, F: "read", Key: "k1", Time: 3100 * ms, Final: "n1"},
		{Process: 100, Type: history.OK, F: "read", Key: "k1", Value: v(1), Time: 9100 * ms, Final: "n1", Node: "n1"},
	}
	if o.targetStats != "" {
		ops = append(ops, history.Op{Process: history.Nemesis, Type: history.Info, F: "target-stats",
			Value: json.RawMessage(o.targetStats), Time: 9200 * ms})
	}
	for _, op := range ops {
		if _, err := rec.Append(op); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if !o.noResults {
		if err := store.WriteRunResults(runDir, store.RunResults{Results: o.results}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.WriteJSON(filepath.Join(runDir, store.ScheduleFile), o.schedule); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(runDir, "report.html"), []byte("<!DOCTYPE html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	return runDir
}

// entry is a schedule.json entry of the fault planned with seed 5.
func entry(nemesis, sel string, start int64, nodes ...string) Entry {
	var e Entry
	e.Fault.Nemesis, e.Fault.Select, e.Fault.Seed, e.Fault.Nodes = nemesis, sel, 5, nodes
	e.Start, e.Healed, e.Applied = start, start+int64(time.Second), true
	return e
}

// killPlan is a plan of three targets under one kill at 1 s.
func killPlan() Plan {
	c := testConfig("raft", "crdt", "twopc")
	c.Test.Nemeses = []string{"kill"}
	f := []Fault{{At: time.Second, Hold: time.Second, Nemesis: "kill", Select: "one", Seed: 5}}
	p := Plan{Config: c, Faults: f}
	for _, target := range c.Targets {
		p.Runs = append(p.Runs, Run{Target: target, Faults: f, Nemeses: []string{"kill"}})
	}
	return p
}

const evil = `<script>alert("x")</script>`

// comparison writes three fake runs (raft valid; crdt not linearizable,
// with a convergence time; twopc valid, with blocking times) under a
// comparison directory and collects them.
func comparison(t *testing.T) (string, Record) {
	t.Helper()
	dir := t.TempDir()
	p := killPlan()
	sched := []Entry{entry("kill", "one", 1010*ms, "n2")}
	stats := checker.Result{Checker: "stats", Valid: checker.True, Summary: "3 ok"}
	first := 110 * ms
	conv := int64(250 * ms)
	convDetails, _ := json.Marshal(checker.ConvergenceDetails{Model: "register", Nodes: []string{"n1", "n2", "n3"}, ConvergenceNanos: &conv})
	outs := []Outcome{
		{Target: "raft", Dir: fakeRun(t, dir, "raft", fakeRunOptions{schedule: sched,
			results: checker.Compose(checker.Result{Checker: "linearizable", Valid: checker.True}, stats)})},
		{Target: "crdt", Dir: fakeRun(t, dir, "crdt", fakeRunOptions{schedule: sched, failOpError: evil,
			results: checker.Compose(
				checker.Result{Checker: "linearizable", Valid: checker.False, FirstAnomalyTime: &first,
					Summary: "not linearizable: key " + evil},
				checker.Result{Checker: "convergence", Valid: checker.True, Details: convDetails}, stats)})},
		{Target: "twopc", Dir: fakeRun(t, dir, "twopc", fakeRunOptions{schedule: sched,
			targetStats: `{"n1":{"in_doubt":0,"blocked_ns":[5000000,7000000],"decided":4},"n2":{"in_doubt":1,"blocked_ns":[9000000],"decided":3}}`,
			results:     checker.Compose(checker.Result{Checker: "linearizable", Valid: checker.True}, stats)})},
	}
	rec := Collect(dir, p, outs, []string{"", "", ""}, func(string) []string { return nil })
	return dir, rec
}

func near(p *float64, want float64) bool { return p != nil && math.Abs(*p-want) < 1e-9 }

// TestCollectSummarizesRunDirectories: the numbers of each row come from
// the run directories: verdicts, availability overall, without faults and
// during each fault kind, latency quantiles, throughput, convergence and
// blocking times, anomalies and relative links.
func TestCollectSummarizesRunDirectories(t *testing.T) {
	_, rec := comparison(t)
	if len(rec.Runs) != 3 {
		t.Fatalf("%d runs", len(rec.Runs))
	}
	raft, crdt, twopc := rec.Runs[0], rec.Runs[1], rec.Runs[2]
	if raft.Verdict != VerdictValid || crdt.Verdict != VerdictInvalid || twopc.Verdict != VerdictValid {
		t.Errorf("verdicts %s %s %s", raft.Verdict, crdt.Verdict, twopc.Verdict)
	}
	// 5 completed client ops in the test phase (the final read is left
	// out): 3 ok outside the fault, 1 info and 1 fail during it.
	if raft.Ops != 5 || raft.OK != 3 {
		t.Errorf("ops %d ok %d, want 5 and 3", raft.Ops, raft.OK)
	}
	if !near(raft.Availability, 0.6) || !near(raft.NoFault, 1) {
		t.Errorf("availability %v, no fault %v", raft.Availability, raft.NoFault)
	}
	if len(raft.ByFault) != 1 || raft.ByFault[0].Nemesis != "kill" || raft.ByFault[0].Ops != 2 || !near(raft.ByFault[0].Availability, 0) {
		t.Errorf("by fault %+v", raft.ByFault)
	}
	if raft.LatencyP50 == nil || *raft.LatencyP50 != 20*ms || *raft.LatencyP99 != 30*ms {
		t.Errorf("latency %v %v, want 20ms 30ms", raft.LatencyP50, raft.LatencyP99)
	}
	if !near(raft.Throughput, 3/2.53) { // 3 ok by the last test-phase completion at 2.53 s
		t.Errorf("throughput %v", *raft.Throughput)
	}
	if raft.Convergence != nil || raft.Blocking != nil || len(raft.Anomalies) != 0 {
		t.Errorf("raft has convergence %v, blocking %v, anomalies %v", raft.Convergence, raft.Blocking, raft.Anomalies)
	}
	if crdt.Convergence == nil || *crdt.Convergence != 250*ms {
		t.Errorf("crdt convergence %v", crdt.Convergence)
	}
	if len(crdt.Anomalies) != 1 || crdt.Anomalies[0].Checker != "linearizable" || *crdt.Anomalies[0].FirstAt != 110*ms {
		t.Errorf("crdt anomalies %+v", crdt.Anomalies)
	}
	if want := (&Blocking{Count: 3, InDoubt: 1, P50: 7 * ms, P99: 9 * ms, Max: 9 * ms}); !reflect.DeepEqual(twopc.Blocking, want) {
		t.Errorf("twopc blocking %+v, want %+v", twopc.Blocking, want)
	}
	if raft.Dir != "raft/20260102T030405" || raft.Report != "raft/20260102T030405/report.html" {
		t.Errorf("raft dir %q report %q, want them relative", raft.Dir, raft.Report)
	}
	if !rec.ScheduleCheck.Identical || rec.ScheduleCheck.MaxLate != 10*time.Millisecond {
		t.Errorf("schedule check %+v", rec.ScheduleCheck)
	}
	if rec.ExitCode() != ExitComplete {
		t.Errorf("exit %d: an invalid crdt is a finding, not a failure", rec.ExitCode())
	}
}

// TestRecordAndTable: compare.json reads back whole, and the table has a
// row per target with its verdicts and numbers.
func TestRecordAndTable(t *testing.T) {
	dir, rec := comparison(t)
	rec.CommandLine = []string{"faultline", "compare", "--targets", "raft,crdt,twopc"}
	if err := rec.Write(dir); err != nil {
		t.Fatal(err)
	}
	if !IsDir(dir) || IsDir(t.TempDir()) {
		t.Error("IsDir does not tell a comparison directory by its compare.json")
	}
	got, err := ReadRecord(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(rec)
	b, _ := json.Marshal(got)
	if !bytes.Equal(a, b) {
		t.Errorf("compare.json round trip:\n%s\n%s", a, b)
	}
	var raw map[string]any
	data, _ := os.ReadFile(filepath.Join(dir, RecordFile))
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"config", "command_line", "schedule", "runs", "schedule_check"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("compare.json has no %q", k)
		}
	}

	var out bytes.Buffer
	if err := PrintTable(&out, dir, rec); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	lines := strings.Split(text, "\n")
	for _, want := range []string{
		"target  verdict  linearizable  stats  convergence  avail  no fault  during kill  p50",
	} {
		if !strings.HasPrefix(lines[0], want) {
			t.Errorf("header %q, want it to start %q", lines[0], want)
		}
	}
	for i, want := range [][]string{
		{"raft", "valid", "true", "true", "-", "60.0%", "100.0%", "0.0%", "20.00ms", "30.00ms", "1.2", "-", "-"},
		{"crdt", "invalid", "false", "true", "true", "60.0%", "250.00ms", "-"},
		{"twopc", "valid", "true", "true", "-", "p50 7.00ms, max 9.00ms (3 txns)"},
	} {
		row := lines[i+1]
		if !strings.HasPrefix(row, want[0]+" ") {
			t.Errorf("row %d: %q, want %s first", i+1, row, want[0])
		}
		for _, cell := range want[1:] {
			if !strings.Contains(row, cell) {
				t.Errorf("row %q lacks %q", row, cell)
			}
		}
	}
	for _, want := range []string{"crdt: linearizable found an anomaly (first at 110.00ms)",
		filepath.Join(dir, "raft/20260102T030405/report.html"), "schedule: identical on raft, crdt, twopc"} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
}

// TestExitCode: 0 whatever the verdicts, 2 when one is not definite, 255
// for a harness error.
func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		verdicts []string
		want     int
	}{
		{[]string{VerdictValid, VerdictInvalid}, ExitComplete},
		{[]string{VerdictValid, VerdictUnknown}, ExitIncomplete},
		{[]string{VerdictNotChecked, VerdictValid}, ExitIncomplete},
		{[]string{VerdictValid, VerdictNotRun}, ExitIncomplete},
		{[]string{VerdictUnknown, VerdictError}, ExitRunError},
	} {
		var r Record
		for _, v := range tc.verdicts {
			r.Runs = append(r.Runs, RunRecord{Summary: Summary{Verdict: v}})
		}
		if got := r.ExitCode(); got != tc.want {
			t.Errorf("%v: exit %d, want %d", tc.verdicts, got, tc.want)
		}
	}
}

// TestSummarizeRunsWithoutVerdict: a run not checked, one that failed and
// one never started each say why.
func TestSummarizeRunsWithoutVerdict(t *testing.T) {
	dir := t.TempDir()
	run := Run{Target: "raft"}
	unchecked := fakeRun(t, dir, "raft", fakeRunOptions{noResults: true})
	if s := Summarize(dir, run, Outcome{Dir: unchecked}, nil); s.Verdict != VerdictNotChecked || s.Ops != 5 {
		t.Errorf("unchecked: %+v", s)
	}
	if s := Summarize(dir, run, Outcome{Dir: unchecked, Err: errors.New("teardown: boom")}, nil); s.Verdict != VerdictError || s.Problem != "teardown: boom" {
		t.Errorf("failed: %+v", s)
	}
	if s := Summarize(dir, run, Outcome{NotRun: true}, nil); s.Verdict != VerdictNotRun {
		t.Errorf("not run: %+v", s)
	}
	interrupted := fakeRun(t, dir, "raft", fakeRunOptions{})
	rr := store.RunResults{Results: checker.Compose(checker.Result{Checker: "stats", Valid: checker.True}),
		Interrupted: &store.Interruption{Phase: store.PhaseRun, Signal: "interrupt"}}
	if err := store.WriteRunResults(interrupted, rr); err != nil {
		t.Fatal(err)
	}
	if s := Summarize(dir, run, Outcome{Dir: interrupted}, nil); s.Verdict != VerdictUnknown || !strings.Contains(s.Problem, "interrupted") {
		t.Errorf("interrupted: %+v", s)
	}
}

// TestCheckSchedulesFindsDifferences: a fault missing, another nemesis,
// other nodes or another selection in one run is a difference; a role's
// node differing is not.
func TestCheckSchedulesFindsDifferences(t *testing.T) {
	p := killPlan()
	same := []Entry{entry("kill", "one", 1000*ms, "n2")}
	for _, tc := range []struct {
		name  string
		crdt  []Entry
		want  string
		equal bool
	}{
		{"same", same, "", true},
		{"missing", nil, "crdt recorded 0 faults", false},
		{"nodes", []Entry{entry("kill", "one", 1000*ms, "n3")}, "fault 1: nodes [n2] on raft, [n3] on crdt", false},
		{"select", []Entry{entry("kill", "majority", 1000*ms, "n2")}, "selection one on raft, majority on crdt", false},
		{"nemesis", []Entry{entry("pause", "one", 1000*ms, "n2")}, "crdt: fault 1 is pause, planned kill", false},
		{"role", []Entry{entry("kill", "leader", 1000*ms, "n3")}, "", true},
		{"late", []Entry{entry("kill", "one", 2500*ms, "n2")}, "crdt: fault 1 took effect 1.5s after its planned time 1s", false},
	} {
		rec := map[string][]Entry{"raft": same, "crdt": tc.crdt, "twopc": same}
		if tc.name == "role" {
			role := []Entry{entry("kill", "leader", 1000*ms, "n1")}
			rec = map[string][]Entry{"raft": role, "crdt": tc.crdt, "twopc": role}
		}
		c := CheckSchedules(p, rec)
		if c.Identical != tc.equal || (tc.want != "" && !strings.Contains(strings.Join(c.Differences, "\n"), tc.want)) {
			t.Errorf("%s: %+v, want identical %v and %q", tc.name, c, tc.equal, tc.want)
		}
		if !tc.equal && !strings.Contains(c.Line(), "NOT identical") {
			t.Errorf("%s: line %q", tc.name, c.Line())
		}
	}
	if c := CheckSchedules(p, map[string][]Entry{"raft": same}); c.Identical {
		t.Error("two runs without a schedule: want not identical")
	}
}

// TestExecuteRunsAtMostParallel: never more than Parallel runs at once,
// all of them run, outcomes in plan order.
func TestExecuteRunsAtMostParallel(t *testing.T) {
	configs := make([]store.Config, 5)
	for i := range configs {
		configs[i].Target = fmt.Sprintf("t%d", i)
	}
	var running, most atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{}, len(configs))
	run := func(ctx context.Context, i int, c store.Config) (string, error) {
		n := running.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		started <- struct{}{}
		<-release
		running.Add(-1)
		return "dir-" + c.Target, nil
	}
	done := make(chan []Outcome)
	go func() { done <- Execute(context.Background(), configs, run, Options{Parallel: 2}) }()
	<-started
	<-started // two are running and blocked: a third cannot have started
	if got := most.Load(); got != 2 {
		t.Errorf("%d running at once, want 2", got)
	}
	close(release)
	outs := <-done
	if most.Load() != 2 {
		t.Errorf("%d ran at once, want at most 2", most.Load())
	}
	for i, o := range outs {
		if o.NotRun || o.Dir != fmt.Sprintf("dir-t%d", i) || o.Target != configs[i].Target {
			t.Errorf("outcome %d: %+v", i, o)
		}
	}
}

// TestExecuteStops: an error Stop accepts, or a cancelled context, starts
// no more runs.
func TestExecuteStops(t *testing.T) {
	configs := []store.Config{{Target: "a"}, {Target: "b"}, {Target: "c"}}
	unavailable := errors.New("unavailable")
	var mu sync.Mutex
	var ran []string
	run := func(ctx context.Context, i int, c store.Config) (string, error) {
		mu.Lock()
		ran = append(ran, c.Target)
		mu.Unlock()
		return "", unavailable
	}
	outs := Execute(context.Background(), configs, run, Options{Parallel: 1, Stop: func(err error) bool { return errors.Is(err, unavailable) }})
	if len(ran) != 1 || outs[0].Err == nil || !outs[1].NotRun || !outs[2].NotRun {
		t.Errorf("ran %v, outcomes %+v", ran, outs)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran = nil
	cancelling := func(ctx context.Context, i int, c store.Config) (string, error) {
		ran = append(ran, c.Target)
		cancel() // an interrupt during the first run
		return "dir", nil
	}
	outs = Execute(ctx, configs, cancelling, Options{Parallel: 1})
	if len(ran) != 1 || outs[0].NotRun || !outs[1].NotRun || !outs[2].NotRun {
		t.Errorf("after the interrupt: ran %v, outcomes %+v", ran, outs)
	}
}

func TestNewDirNeverReuses(t *testing.T) {
	st := t.TempDir()
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	a, err := NewDir(st, "compare-register", now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewDir(st, "compare-register", now)
	if err != nil || a == b || filepath.Base(a) != "20260304T050607" {
		t.Fatalf("dirs %s %s (%v)", a, b, err)
	}
	if _, err := os.Lstat(filepath.Join(st, store.LatestLink)); err == nil {
		t.Error("a comparison directory moved store/latest")
	}
}
