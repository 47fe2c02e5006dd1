package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/faultline-io/faultline/internal/campaignrun"
	"github.com/faultline-io/faultline/targets"
)

func TestParseCampaignExpandsTestsOverSeeds(t *testing.T) {
	c, err := parseCampaign([]byte(campaignExample), ".")
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "nightly-raft" || len(c.Runs) != 5+5+2 {
		t.Fatalf("campaign %q with %d runs, want nightly-raft with 12", c.Name, len(c.Runs))
	}
	crash, stale, clocks := c.Runs[0], c.Runs[5], c.Runs[11]
	if crash.Test != "crashes" || crash.Expect != expectValid || crash.Config.Seed != 1 || c.Runs[4].Config.Seed != 5 ||
		strings.Join(crash.Config.Nemeses, ",") != "kill,pause" || crash.Config.TimeLimit != time.Minute || crash.Config.Name != "crashes" {
		t.Errorf("crashes run = %+v", crash)
	}
	if stale.Expect != expectAnomaly || strings.Join(stale.Config.Bugs, ",") != "stale-read" ||
		strings.Join(stale.Config.Nemeses, ",") != "partition-leader" {
		t.Errorf("stale-read run = %+v", stale)
	}
	if clocks.Config.Seed != 2 || strings.Join(clocks.Config.Nemeses, ",") != "clock-strobe,clock-jump" || clocks.Expect != expectValid {
		t.Errorf("clocks run = %+v", clocks)
	}
}

func TestParseCampaignErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"tests: []", "tests: none"},
		{"nmae: x\ntests: [{name: a}]", "nmae"},
		{"tests: [{name: a, nodes: 0}]", "tests[0] (a): nodes"},
		{"tests: [{name: a, nemeses: kill}]", "tests[0] (a): nemeses: not a 'faultline run' flag"},
		{"tests: [{name: a, nemesis: [kill, explode]}]", `tests[0] (a): nemesis: explode: unknown nemesis`},
		{"tests: [{name: a, time-limit: soon}]", "tests[0] (a): time-limit"},
		{"tests: [{name: a, expect: maybe}]", `tests[0] (a): expect: "maybe"`},
		{"tests: [{name: a}, {name: a}]", "tests[1] (a): name: used by two tests"},
		{"tests: [{nemesis: kill}]", "tests[0]: name: missing"},
		{"seeds: 5..1\ntests: [{name: a}]", "seeds"},
		{"tests: [{name: a, seeds: [x]}]", "seeds"},
		{"defaults: {name: x}\ntests: [{name: a}]", "defaults: name"},
		{"defaults: {bug: no-such-bug}\ntests: [{name: a}]", "tests[0] (a): bug"},
	} {
		_, err := parseCampaign([]byte(tc.file), ".")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.file, err, tc.want)
		}
	}
}

func TestParseCampaignScenarioIsRelativeToTheFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "s.yaml"), []byte("faults: [{at: 1s, nemesis: kill, hold: 1s}]\n"), 0o644)
	c, err := parseCampaign([]byte("tests: [{name: a, scenario: s.yaml}]"), dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Runs[0].Config; got.Scenario != filepath.Join(dir, "s.yaml") || strings.Join(got.Nemeses, ",") != "kill" {
		t.Errorf("scenario %q, nemeses %v", got.Scenario, got.Nemeses)
	}
}

func TestCampaignRunsAndWritesJUnit(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end campaign skipped in -short mode")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	// The correct build is valid, so the second test, which expects an
	// anomaly from it, must be reported as not as expected.
	os.WriteFile(file, []byte(`name: smoke
defaults: {runtime: local, target: raft, nodes: 3, time-limit: 4s, nemesis: kill, nemesis-interval: 1s}
tests:
  - name: correct
    seeds: 1
  - name: expects-a-bug
    expect: anomaly
    seeds: [2]
`), 0o644)
	code, out := faultline(t, dir, "campaign", file, "--junit", "out/junit.xml")
	t.Log(out)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (one run not as expected)", code)
	}
	if !strings.Contains(out, "[1/2] correct seed 1: valid (expected valid)") ||
		!strings.Contains(out, "[2/2] expects-a-bug seed 2: NOT AS EXPECTED: valid (expected anomaly)") {
		t.Errorf("progress lines missing")
	}
	b, err := os.ReadFile(filepath.Join(dir, "out", "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil || doc.Tests != 2 || doc.Failures != 1 {
		t.Errorf("junit: %+v %v\n%s", doc, err, b)
	}
	if code, out := faultline(t, dir, "campaign", filepath.Join(dir, "missing.yaml")); code != exitBadInput {
		t.Errorf("missing file: exit %d, want 254\n%s", code, out)
	}
}

// Ctrl-C stops a campaign: the run in progress ends as interrupted, the
// rest are skipped, the JUnit report is still written, and the exit code
// says unknown (2).
func TestCampaignInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end campaign skipped in -short mode")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte(`name: cut
defaults: {runtime: local, nodes: 3, time-limit: 30s, nemesis: pause}
seeds: 1..3
tests: [{name: long}]
`), 0o644)
	cmd := exec.Command(bin, "campaign", file, "--junit", "junit.xml")
	cmd.Dir = dir
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the first run is under way.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "cluster healthy") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUnknown {
		t.Fatalf("exit %v, want 2\n%s", err, out.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err != nil {
		t.Fatalf("no junit report after Ctrl-C: %v\n%s", err, out.String())
	}
	var doc struct {
		Tests   int `xml:"tests,attr"`
		Errors  int `xml:"errors,attr"`
		Skipped int `xml:"skipped,attr"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil || doc.Tests != 3 || doc.Errors != 1 || doc.Skipped != 2 {
		t.Errorf("junit after Ctrl-C: %+v %v\n%s", doc, err, b)
	}
}

// lockedBuffer is a bytes.Buffer safe to read while a command writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// plans returns the campaigns whose expansion the sharding tests split:
// the example, the test data and the bundled campaign files.
func plans(t *testing.T) map[string]campaign {
	t.Helper()
	out := map[string]campaign{}
	c, err := parseCampaign([]byte(campaignExample), ".")
	if err != nil {
		t.Fatal(err)
	}
	out["example"] = c
	for _, p := range []string{"testdata/campaign/nightly.yaml", "../../campaigns/smoke.yaml", "../../campaigns/nightly.yaml"} {
		c, err := loadCampaign(p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = c
	}
	return out
}

// The expansion is stable (the same file gives the same list) and shards
// 1/n..n/n of it hold every run exactly once, in the expansion's order.
func TestCampaignShardsCoverEveryRunOnce(t *testing.T) {
	for name, c := range plans(t) {
		plan := c.plan()
		if again, _ := loadOrParse(t, name); fmt.Sprint(again.plan()) != fmt.Sprint(plan) {
			t.Fatalf("%s: two expansions differ", name)
		}
		for n := 1; n <= 5; n++ {
			held := make([]int, len(plan))
			for i := 1; i <= n; i++ {
				for _, r := range campaignrun.Select(plan, campaignrun.Shard{Index: i, Count: n}) {
					held[r.Index]++
					if r.Test != c.Runs[r.Index].Test || r.Seed != c.Runs[r.Index].Config.Seed {
						t.Fatalf("%s: run %d is %s, the campaign's is %s seed %d", name, r.Index, r.Label(),
							c.Runs[r.Index].Test, c.Runs[r.Index].Config.Seed)
					}
				}
			}
			for i, h := range held {
				if h != 1 {
					t.Fatalf("%s, %d shards: run %d (%s) held %d times", name, n, i, plan[i].Label(), h)
				}
			}
		}
	}
}

func loadOrParse(t *testing.T, name string) (campaign, error) {
	if name == "example" {
		return parseCampaign([]byte(campaignExample), ".")
	}
	return loadCampaign(name)
}

// A run's recorded 'faultline run' arguments give back its config: the
// reproduce command in a summary repeats the run.
func TestCampaignRunArgsRepeatTheRun(t *testing.T) {
	base, err := parseCampaign([]byte("tests: [{name: x}]"), ".")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range plans(t) {
		for i, r := range c.Runs {
			cfg := base.Runs[0].Config // the defaults
			cfg.Store = r.Config.Store // the file's store is not a run flag
			var nemeses, bugs []string
			fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
			bindRunFlags(fs, &cfg, &nemeses, &bugs)
			if err := fs.Parse(r.Args); err != nil {
				t.Fatalf("%s: run %d: %v: %v", name, i, r.Args, err)
			}
			cfg.Nemeses, cfg.Bugs = splitList(nemeses), splitList(bugs)
			if cfg.Scenario != "" {
				cfg.Nemeses = r.Config.Nemeses // validation sets them from the scenario
			}
			if !reflect.DeepEqual(cfg, r.Config) {
				t.Errorf("%s: run %d: faultline run %s\n gives %+v\n  want %+v", name, i, strings.Join(r.Args, " "), cfg, r.Config)
			}
		}
	}
}

// The bundled smoke campaign: at least 8 tests over raft, crdt and twopc,
// short runs on the docker runtime.
func TestCampaignSmokeFile(t *testing.T) {
	c, err := loadCampaign("../../campaigns/smoke.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests, byTarget := map[string]bool{}, map[string]int{}
	var total time.Duration
	for _, r := range c.Runs {
		if !tests[r.Test] {
			byTarget[r.Config.Target]++
		}
		tests[r.Test] = true
		total += r.Config.TimeLimit
		if r.Config.TimeLimit > 20*time.Second || r.Config.Runtime != "docker" {
			t.Errorf("%s: time limit %v, runtime %s; want at most 20s on docker", r.Test, r.Config.TimeLimit, r.Config.Runtime)
		}
	}
	if len(tests) < 8 || byTarget["raft"] == 0 || byTarget["crdt"] == 0 || byTarget["twopc"] == 0 {
		t.Errorf("%d tests, by target %v", len(tests), byTarget)
	}
	t.Logf("%d runs, %v of test time", len(c.Runs), total)
}

// The bundled nightly campaign: every seeded bug of every target exposed
// as 'faultline targets' says (its nemeses, or its scenario file), and the
// correct build under each of those, 10 seeds each.
func TestCampaignNightlyFile(t *testing.T) {
	c, err := loadCampaign("../../campaigns/nightly.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// how names what exposes a bug: a scenario file, else the nemeses.
	type key struct{ target, workload, how, bug string }
	seeds := map[key]int{}
	for _, r := range c.Runs {
		how := strings.Join(r.Config.Nemeses, ",")
		if r.Config.Scenario != "" {
			how = "scenario " + filepath.Base(r.Config.Scenario)
		}
		seeds[key{r.Config.Target, r.Config.Workload, how, strings.Join(r.Config.Bugs, ",")}]++
	}
	if n := len(targets.All()); n < 3 {
		t.Fatalf("%d targets registered, want raft, crdt and twopc", n)
	}
	for _, tg := range targets.All() {
		for _, b := range tg.Bugs() {
			how := strings.Join(b.Nemesis, ",")
			if b.Scenario != "" {
				how = "scenario " + filepath.Base(b.Scenario)
			}
			if n := seeds[key{tg.Name(), b.Workload, how, b.Name}]; n != 10 {
				t.Errorf("campaigns/nightly.yaml: %d seeds of %s bug %s under --workload %s, %s; want 10 (see 'faultline targets')",
					n, tg.Name(), b.Name, b.Workload, how)
			}
			if n := seeds[key{tg.Name(), b.Workload, how, ""}]; n != 10 {
				t.Errorf("campaigns/nightly.yaml: %d seeds of the correct %s build under --workload %s, %s; want 10",
					n, tg.Name(), b.Workload, how)
			}
		}
	}
}

func TestCampaignBadFlagsExit254(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte("tests: [{name: a, runtime: local}]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "campaign-x.json"), []byte("{}"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"campaign", file, "--shard", "0/3"}, `"--shard"`},
		{[]string{"campaign", file, "--shard", "4/3"}, `"--shard"`},
		{[]string{"campaign", file, "--shard", "x"}, `"--shard"`},
		{[]string{"campaign", file, "--parallel", "0"}, "--parallel"},
		{[]string{"campaign", file, "--time-limit", "-1s"}, "--time-limit"},
		{[]string{"campaign", file, "--time-limit", "soon"}, `"--time-limit"`},
		{[]string{"campaign"}, "arg"},
		{[]string{"campaign", "merge"}, "at least one"},
		{[]string{"campaign", "merge", filepath.Join(dir, "nothing")}, "nothing"},
		{[]string{"campaign", "merge", filepath.Join(dir, "campaign-x.json")}, "not a campaign result"},
	} {
		code, out := faultline(t, dir, tc.args...)
		if code != exitBadInput || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, want 254 and an error naming %s\n%s", tc.args, code, tc.want, out)
		}
	}
}

// campaignResult reads the one campaign result file in store.
func campaignResult(t *testing.T, store string) campaignrun.Result {
	t.Helper()
	l, err := campaignrun.ReadResults(store)
	if err != nil || len(l) != 1 {
		t.Fatalf("%d results in %s: %v", len(l), store, err)
	}
	return l[0].Result
}

var servingOn = regexp.MustCompile(`serving on (127\.0\.0\.1:\d+)`)

// Two runs at once, of the same test in the same second: each has its own
// run directory, its own node ports and a valid verdict.
func TestCampaignParallelRunsDoNotCollide(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end campaign skipped in -short mode")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte(`name: twins
defaults: {runtime: local, target: raft, nodes: 3, time-limit: 3s, nemesis: kill, nemesis-interval: 1s}
tests: [{name: twin, seeds: [1, 2]}]
`), 0o644)
	code, out := faultline(t, dir, "campaign", file, "--parallel", "2", "--store", "s")
	t.Log(out)
	if code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	res := campaignResult(t, filepath.Join(dir, "s"))
	if len(res.Runs) != 2 || res.Runs[0].Dir == res.Runs[1].Dir || !res.Complete {
		t.Fatalf("runs %+v", res.Runs)
	}
	addrs := map[string]string{} // node address → run directory
	var started [2]time.Time
	var ended [2]time.Time
	for i, r := range res.Runs {
		if r.Verdict != campaignrun.VerdictValid {
			t.Errorf("%s: %s (%s)", r.Label(), r.Verdict, r.Problem)
		}
		run := filepath.Join(dir, r.Dir)
		tr, err := os.ReadFile(filepath.Join(run, "test.json"))
		if err != nil {
			t.Fatal(err)
		}
		var rec struct{ Started time.Time }
		json.Unmarshal(tr, &rec)
		started[i] = rec.Started
		st, err := os.Stat(filepath.Join(run, "results.json"))
		if err != nil {
			t.Fatal(err)
		}
		ended[i] = st.ModTime()
		logs, _ := filepath.Glob(filepath.Join(run, "nodes", "*", "node.log"))
		if len(logs) != 3 {
			t.Fatalf("%s: %d node logs", run, len(logs))
		}
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			for _, m := range servingOn.FindAllStringSubmatch(string(b), -1) {
				if other, ok := addrs[m[1]]; ok && other != r.Dir {
					t.Errorf("node address %s used by %s and %s", m[1], other, r.Dir)
				}
				addrs[m[1]] = r.Dir
			}
		}
	}
	if len(addrs) < 6 {
		t.Errorf("%d node addresses, want 3 per run: %v", len(addrs), addrs)
	}
	// Both ran at once: each started before the other had results.
	if !started[1].Before(ended[0]) || !started[0].Before(ended[1]) {
		t.Errorf("the runs did not overlap: started %v, ended %v", started, ended)
	}
}

// Shards 1/3, 2/3 and 3/3, each in its own store, then 'campaign merge':
// one JUnit test case per run of the campaign, the merged exit code the
// worst shard's; a merge without shard 3 reports its run not started.
func TestCampaignShardsAndMerge(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end campaign skipped in -short mode")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte(`name: split
defaults: {runtime: local, target: raft, nodes: 3, time-limit: 2s, nemesis: kill, nemesis-interval: 1s}
tests:
  - name: a
    seeds: [1, 2]
  - name: b
    expect: anomaly
    seeds: 3
`), 0o644)
	c, err := loadCampaign(file)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, r := range c.Runs {
		want[fmt.Sprintf("split.%s seed-%d", r.Test, r.Config.Seed)] = true
	}
	wantExit := []int{0, 0, 1} // shard 3/3 holds b, which expects an anomaly of a correct build
	for i := 1; i <= 3; i++ {
		code, out := faultline(t, dir, "campaign", file, "--shard", fmt.Sprintf("%d/3", i), "--store", fmt.Sprintf("s%d", i))
		t.Log(out)
		if code != wantExit[i-1] {
			t.Fatalf("shard %d/3: exit %d, want %d", i, code, wantExit[i-1])
		}
	}
	code, out := faultline(t, dir, "campaign", "merge", "s1", "s2", "s3", "--junit", "junit.xml", "--summary", "summary.md")
	t.Log(out)
	if code != 1 {
		t.Fatalf("merge: exit %d, want 1", code)
	}
	b, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Cases []struct {
				Class string `xml:"classname,attr"`
				Name  string `xml:"name,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil || len(doc.Suites) != 1 {
		t.Fatalf("junit: %v\n%s", err, b)
	}
	got := map[string]bool{}
	for _, c := range doc.Suites[0].Cases {
		got[c.Class+" "+c.Name] = true
	}
	if len(doc.Suites[0].Cases) != len(want) || !reflect.DeepEqual(got, want) {
		t.Errorf("merged junit cases %v, want one per run: %v", got, want)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "summary.md"))
	if !strings.Contains(string(md), "#### b seed 3: no anomaly found") || !strings.Contains(string(md), "faultline replay s3/b/") {
		t.Errorf("summary:\n%s", md)
	}
	code, out = faultline(t, dir, "campaign", "merge", "s1", "s2", "--summary", "partial.md")
	if md, _ := os.ReadFile(filepath.Join(dir, "partial.md")); code != exitUnknown || !strings.Contains(string(md), "shard 3/3 is missing") {
		t.Errorf("merge without shard 3: exit %d, want 2\n%s\n%s", code, out, md)
	}
}

// --time-limit: no run starts after it; the summary lists them.
func TestCampaignTimeLimitStartsNothingLate(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte("defaults: {runtime: local}\nseeds: 1..3\ntests: [{name: a}]\n"), 0o644)
	code, out := faultline(t, dir, "campaign", file, "--time-limit", "1ns", "--summary", "summary.md", "--junit", "junit.xml")
	md, _ := os.ReadFile(filepath.Join(dir, "summary.md"))
	if code != exitUnknown || !strings.Contains(string(md), "### Not started (3)") || !strings.Contains(string(md), "time limit 1ns") {
		t.Errorf("exit %d, want 2\n%s\n%s", code, out, md)
	}
}

// The campaign result file goes to the file's store (else "store"); the
// digest is of the file's content.
func TestParseCampaignStoreAndDigest(t *testing.T) {
	c, err := loadCampaign("testdata/campaign/nightly.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile("testdata/campaign/nightly.yaml")
	if c.Store != "store/nightly" || c.Digest != campaignrun.Digest(b) || c.File != "testdata/campaign/nightly.yaml" {
		t.Errorf("store %q, digest %q, file %q", c.Store, c.Digest, c.File)
	}
	c, err = parseCampaign([]byte("tests: [{name: a, store: elsewhere}]"), ".")
	if err != nil || c.Store != "store" || c.Runs[0].Config.Store != "elsewhere" {
		t.Errorf("store %q, the run's %q, %v", c.Store, c.Runs[0].Config.Store, err)
	}
}
