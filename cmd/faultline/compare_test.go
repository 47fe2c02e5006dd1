package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/faultline-io/faultline/compare"
	"github.com/faultline-io/faultline/store"
)

// TestCompareBadInputExits254: bad flags, unknown targets and nemeses, a
// role-aimed nemesis on a target without roles, and a test a target cannot
// run exit 254, naming what is wrong, before anything is made.
func TestCompareBadInputExits254(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in the output
	}{
		{[]string{"compare"}, "targets: none"},
		{[]string{"compare", "--targets", "raft,nope"}, "nope"},
		{[]string{"compare", "--targets", "raft,raft"}, "listed twice"},
		{[]string{"compare", "--targets", "raft,crdt", "--nemesis", "partition-leader"}, "target crdt cannot take nemesis partition-leader"},
		{[]string{"compare", "--targets", "twopc,crdt", "--nemesis", "kill-coordinator"}, "target crdt cannot take nemesis kill-coordinator"},
		{[]string{"compare", "--targets", "raft", "--nemesis", "explode"}, "explode"},
		{[]string{"compare", "--targets", "raft", "--parallel", "0"}, "parallel: 0"},
		{[]string{"compare", "--targets", "raft,crdt", "--workload", "bank"}, "target raft: workload: bank"},
		{[]string{"compare", "--targets", "raft", "--time-limit", "0s"}, "time-limit"},
		{[]string{"compare", "--targets", "raft", "--bug", "no-fsync"}, "unknown flag: --bug"},
		{[]string{"compare", "--targets", "raft", "--no-such-flag"}, "unknown flag"},
		{[]string{"replay", "testdata/no-such-comparison"}, "no such file"},
	} {
		dir := t.TempDir()
		code, out := faultline(t, dir, tc.args...)
		if code != exitBadInput || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, want 254 and %q:\n%s", tc.args, code, tc.want, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "store")); err == nil {
			t.Errorf("%v: made a store on bad input", tc.args)
		}
	}
}

// TestCompareCatalogAimsRoles: the catalog the CLI plans with draws one
// role-free schedule and aims partition-leader at raft's leader and
// twopc's coordinator.
func TestCompareCatalogAimsRoles(t *testing.T) {
	test := store.DefaultConfig()
	test.Nemeses = []string{"partition", "partition-leader"}
	test.Seed = 7
	p, err := compare.NewPlan(compare.Config{Targets: []string{"raft", "twopc"}, Parallel: 1, Test: test}, compareCatalog())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Faults) == 0 {
		t.Fatal("no faults in 60 s")
	}
	for _, f := range p.Faults {
		if f.Select == "leader" || f.Select == "coordinator" {
			t.Errorf("the shared schedule aims a plain fault at a role: %+v", f)
		}
	}
	if got := p.Runs[0].Aims; len(got) != 0 {
		t.Errorf("raft aims %v, want none", got)
	}
	if got, want := p.Runs[1].Aims, map[string]compare.Aim{"partition-leader": {Nemesis: "partition-coordinator"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("twopc aims %v, want %v", got, want)
	}
	for i := range p.Faults {
		a, b := p.Runs[0].Faults[i], p.Runs[1].Faults[i]
		if a.At != b.At || a.Hold != b.Hold || a.Seed != b.Seed || a.Select != b.Select {
			t.Errorf("fault %d: raft %+v, twopc %+v", i, a, b)
		}
	}
	// The same options, another set of targets: the same schedule.
	q, err := compare.NewPlan(compare.Config{Targets: []string{"twopc"}, Parallel: 1, Test: test}, compareCatalog())
	if err != nil || !reflect.DeepEqual(q.Faults, p.Faults) {
		t.Errorf("the schedule depends on the targets compared (%v)", err)
	}
}

// TestCompareLocal compares the three bundled targets on the local runtime
// under kills (the Docker-free end-to-end check), then replays the
// comparison from its directory.
func TestCompareLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three clusters twice (about 30 s)")
	}
	dir := t.TempDir()
	code, out := faultline(t, dir, "compare", "--runtime", "local", "--targets", "raft,crdt,twopc", "--nemesis", "kill",
		"--time-limit", "4s", "--nemesis-interval", "700ms", "--quiet-period", "2s", "--seed", "3", "--parallel", "2")
	t.Log(out)
	if code != exitValid {
		t.Fatalf("exit %d, want 0", code)
	}
	for _, want := range []string{"target  verdict  linearizable", "\nraft ", "\ncrdt ", "\ntwopc ",
		"schedule: identical on raft, crdt, twopc"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	cmpDir := comparisonDir(t, filepath.Join(dir, "store", "compare-register-kill"), "")
	rec, err := compare.ReadRecord(cmpDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Runs) != 3 || len(rec.Schedule) == 0 || !rec.ScheduleCheck.Identical {
		t.Fatalf("compare.json: %+v", rec)
	}
	for _, r := range rec.Runs {
		if r.Verdict != compare.VerdictValid && r.Verdict != compare.VerdictInvalid {
			t.Errorf("%s: verdict %s (%s)", r.Target, r.Verdict, r.Problem)
		}
		tr, err := store.ReadTestRecord(filepath.Join(cmpDir, r.Dir))
		if err != nil || tr.Config.Target != r.Target || tr.Config.Seed != 3 || tr.Config.Scenario == "" {
			t.Errorf("%s: test.json %+v (%v)", r.Target, tr.Config, err)
		}
		if _, err := os.Stat(filepath.Join(cmpDir, r.Report)); err != nil || r.Report == "" {
			t.Errorf("%s: report %q: %v", r.Target, r.Report, err)
		}
	}
	if _, err := os.Stat(filepath.Join(cmpDir, compare.HTMLFile)); err != nil {
		t.Error(err)
	}

	code, out = faultline(t, dir, "replay", cmpDir)
	t.Log(out)
	if code != exitValid {
		t.Fatalf("replay: exit %d, want 0", code)
	}
	again := comparisonDir(t, filepath.Join(dir, "store", "compare-register-kill"), cmpDir)
	rep, err := compare.ReadRecord(again)
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(cmpDir)
	if rep.ReplayOf != abs || !reflect.DeepEqual(rep.Schedule, rec.Schedule) || !rep.ScheduleCheck.Identical {
		t.Errorf("replay: of %q, schedule %+v, check %+v", rep.ReplayOf, rep.Schedule, rep.ScheduleCheck)
	}
}

// comparisonDir is the one comparison directory under parent other than
// old ("" for none).
func comparisonDir(t *testing.T, parent, old string) string {
	t.Helper()
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range ents {
		if d := filepath.Join(parent, e.Name()); d != old {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		t.Fatalf("comparison directories under %s besides %q: %v", parent, old, found)
	}
	return found[0]
}
