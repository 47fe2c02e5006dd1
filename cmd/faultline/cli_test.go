package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/faultline-io/faultline/history"
)

// bin is the faultline binary under test: $FAULTLINE_BIN (set by make test)
// or one built into a temporary directory.
var bin string

func TestMain(m *testing.M) {
	bin = os.Getenv("FAULTLINE_BIN")
	if bin == "" {
		dir, err := os.MkdirTemp("", "faultline-bin")
		if err != nil {
			panic(err)
		}
		bin = filepath.Join(dir, "faultline")
		cmd := exec.Command("go", "build", "-o", bin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build faultline: %v\n%s", err, out)
			os.Exit(1)
		}
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// faultline runs the binary and returns its exit code and combined output.
func faultline(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatalf("run faultline: %v", err)
	}
	return 0, out.String()
}

func TestBadArgumentsExit254(t *testing.T) {
	dir := t.TempDir()
	cases := [][]string{
		{"run", "--target", "nope"},
		{"run", "--nodes", "0"},
		{"run", "--nemesis", "kill,explode"},
		{"run", "--bug", "no-such-bug"},
		{"run", "--time-limit", "banana"},
		{"run", "--no-such-flag"},
		{"check", "does-not-exist.jsonl"},
		{"check", "--format", "xml", "x"},
		{"check", "--checker-memory", "1XB", "x"},
		{"run", "--checker-memory", "-1GB"},
		{"compare", "--targets", "raft", "--checker-memory", "1XB"},
		{"run", "--target-opt", "noequals"},
		{"report", "does-not-exist"},
		{"report", "."}, // a directory without a history
		{"replay", "."}, // a directory without test.json
		{"replay", "does-not-exist"},
	}
	for _, args := range cases {
		code, out := faultline(t, dir, args...)
		if code != exitBadInput {
			t.Errorf("%v: exit %d, want 254\n%s", args, code, out)
		}
	}
	// The error names the offending field.
	_, out := faultline(t, dir, "run", "--nodes", "0")
	if !strings.Contains(out, "nodes") {
		t.Errorf("error does not name the field: %s", out)
	}
}

func TestNetworkNemesisOnLocalRuntimeIsRefused(t *testing.T) {
	code, out := faultline(t, t.TempDir(), "run", "--runtime", "local", "--nemesis", "partition", "--time-limit", "2s")
	if code != exitBadInput || !strings.Contains(out, "partition") {
		t.Fatalf("exit %d, want 254 naming partition:\n%s", code, out)
	}
}

func TestCheckMalformedHistoryNamesLine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "h.jsonl")
	lines := `{"index":0,"process":0,"type":"invoke","f":"write","key":"k","value":1,"time":1}
{"index":1,"process":0,"type":"ok","f":"write","key":"k","value":1,"time":2}
{"index":2,"process":0,"type":"bogus","f":"read","time":3}
{"index":3,"process":0,"type":"ok","f":"read","key":"k","value":1,"time":4}
`
	if err := os.WriteFile(p, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := faultline(t, dir, "check", p)
	if code != exitBadInput || !strings.Contains(out, "line 3") {
		t.Fatalf("exit %d, want 254 naming line 3:\n%s", code, out)
	}
}

func TestCheckVerdicts(t *testing.T) {
	dir := t.TempDir()
	good := `{"index":0,"process":0,"type":"invoke","f":"write","key":"k","value":1,"time":1}
{"index":1,"process":0,"type":"ok","f":"write","key":"k","value":1,"time":2}
{"index":2,"process":1,"type":"invoke","f":"read","key":"k","time":3}
{"index":3,"process":1,"type":"ok","f":"read","key":"k","value":1,"time":4}
`
	bad := strings.Replace(good, `"type":"ok","f":"read","key":"k","value":1`, `"type":"ok","f":"read","key":"k","value":7`, 1)
	for name, want := range map[string]struct {
		body string
		code int
	}{"good": {good, 0}, "bad": {bad, 1}} {
		p := filepath.Join(dir, name+".jsonl")
		os.WriteFile(p, []byte(want.body), 0o644)
		if code, out := faultline(t, dir, "check", p); code != want.code {
			t.Errorf("%s: exit %d, want %d\n%s", name, code, want.code, out)
		}
	}
	jep := `{:process 0, :type :invoke, :f :write, :value 3}
{:process 0, :type :ok, :f :write, :value 3}
{:process 1, :type :invoke, :f :read, :value nil}
{:process 1, :type :ok, :f :read, :value 4}
`
	p := filepath.Join(dir, "h.edn")
	os.WriteFile(p, []byte(jep), 0o644)
	if code, out := faultline(t, dir, "check", "--format", "jepsen", p); code != 1 {
		t.Errorf("jepsen stale read: exit %d, want 1\n%s", code, out)
	}
}

// TestRunLocalKillPause is the spine end to end: a short run of the correct
// Raft KV under kills and pauses on the local runtime must be valid, record
// client ops and faults, and be re-checkable offline with the same verdict.
func TestRunLocalKillPause(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	dir := t.TempDir()
	code, out := faultline(t, dir, "run", "--runtime", "local", "--target", "raft", "--workload", "register",
		"--nemesis", "kill,pause", "--nodes", "3", "--time-limit", "12s", "--nemesis-interval", "2s", "--seed", "3")
	t.Log(out)
	if code != 0 {
		t.Fatalf("correct raft under kill,pause: exit %d, want 0", code)
	}
	ops, err := history.ReadFile(filepath.Join(dir, "store", "latest", "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var oks, faults int
	for _, op := range ops {
		if op.IsNemesis() && op.F != "heal" && op.Error == "" {
			faults++
		}
		if !op.IsNemesis() && op.Type == history.OK {
			oks++
		}
	}
	if oks < 200 || faults < 2 {
		t.Fatalf("want hundreds of ok ops and several faults, got %d ok, %d faults", oks, faults)
	}
	for _, f := range []string{"test.json", "schedule.json", "results.json", "report.html", "nodes/n1/node.log"} {
		if _, err := os.Stat(filepath.Join(dir, "store", "latest", f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
	var tr struct {
		Config struct{ Seed int64 } `json:"config"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, "store", "latest", "test.json"))
	if err := json.Unmarshal(b, &tr); err != nil || tr.Config.Seed != 3 {
		t.Errorf("test.json does not record the seed: %v %s", err, b)
	}
	if code, out := faultline(t, dir, "check", "store/latest"); code != 0 {
		t.Fatalf("offline check: exit %d, want 0\n%s", code, out)
	}
	code, out = faultline(t, dir, "report", "store/latest")
	if code != 0 || !strings.Contains(out, "report.html") {
		t.Fatalf("report: exit %d, want 0 and the report's path\n%s", code, out)
	}
	page, _ := os.ReadFile(filepath.Join(dir, "store", "latest", "report.html"))
	for _, want := range []string{">valid<", `src="data:image/svg`, "--seed 3", "kill"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("report.html lacks %q", want)
		}
	}

	// A replay injects the same faults: same nemesis, selection and seed,
	// in the same order.
	orig, err := filepath.EvalSymlinks(filepath.Join(dir, "store", "latest"))
	if err != nil {
		t.Fatal(err)
	}
	code, out = faultline(t, dir, "replay", "store/latest")
	if code != 0 {
		t.Fatalf("replay: exit %d, want 0\n%s", code, out)
	}
	replay, _ := filepath.EvalSymlinks(filepath.Join(dir, "store", "latest"))
	if replay == orig || filepath.Dir(replay) != filepath.Dir(orig) {
		t.Fatalf("replay wrote %s, want a new run directory next to %s", replay, orig)
	}
	type entry struct {
		Fault struct {
			Nemesis, Select string
			Seed            int64
		} `json:"fault"`
	}
	read := func(d string) []entry {
		var es []entry
		b, _ := os.ReadFile(filepath.Join(d, "schedule.json"))
		if err := json.Unmarshal(b, &es); err != nil {
			t.Fatalf("%s/schedule.json: %v", d, err)
		}
		return es
	}
	a, b2 := read(orig), read(replay)
	n := min(len(a), len(b2))
	if n < 2 {
		t.Fatalf("schedules too short to compare: %d and %d faults", len(a), len(b2))
	}
	for i := range n {
		if a[i].Fault != b2[i].Fault {
			t.Errorf("fault %d: original %+v, replay %+v", i, a[i].Fault, b2[i].Fault)
		}
	}
	// ... and every client worker asks the same sequence of ops (how many
	// it gets through depends on the run's timing, so one is a prefix of
	// the other), and every node draws from the same seed.
	sa, sb := workerSequences(t, orig), workerSequences(t, replay)
	if len(sa) == 0 || len(sa) != len(sb) {
		t.Fatalf("workers: %d in the original, %d in the replay", len(sa), len(sb))
	}
	for w := range sa {
		n := min(len(sa[w]), len(sb[w]))
		if n < 20 {
			t.Fatalf("worker %d: only %d ops to compare", w, n)
		}
		for i := range n {
			if sa[w][i] != sb[w][i] {
				t.Fatalf("worker %d op %d: original %q, replay %q", w, i, sa[w][i], sb[w][i])
			}
		}
	}
	for _, id := range []string{"n1", "n2", "n3"} {
		if a, b := nodeSeed(t, orig, id), nodeSeed(t, replay, id); a == "" || a != b {
			t.Errorf("%s: node seed %q in the original, %q in the replay", id, a, b)
		}
	}
	tb, _ := os.ReadFile(filepath.Join(replay, "test.json"))
	if !bytes.Contains(tb, []byte(`"replay_of": "`+orig+`"`)) {
		t.Errorf("replay's test.json does not name the replayed run %s:\n%s", orig, tb)
	}
}

// workerSequences returns each client worker's invocations (f, key,
// value) in order; a worker's processes are w, w+C, w+2C, ...
func workerSequences(t *testing.T, runDir string) map[int][]string {
	t.Helper()
	var tr struct {
		Config struct{ Concurrency int } `json:"config"`
	}
	b, _ := os.ReadFile(filepath.Join(runDir, "test.json"))
	if err := json.Unmarshal(b, &tr); err != nil || tr.Config.Concurrency <= 0 {
		t.Fatalf("%s/test.json: concurrency %d: %v", runDir, tr.Config.Concurrency, err)
	}
	ops, err := history.ReadFile(filepath.Join(runDir, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[int][]string{}
	for _, op := range ops {
		if op.IsNemesis() || op.Type != history.Invoke || int(op.Process) >= tr.Config.Concurrency*1_000_000 {
			continue // final reads run under processes of their own
		}
		w := int(op.Process) % tr.Config.Concurrency
		out[w] = append(out[w], op.F+" "+op.Key+" "+string(op.Value))
	}
	return out
}

// nodeSeed is the seed node id's log says it drew from.
func nodeSeed(t *testing.T, runDir, id string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(runDir, "nodes", id, "node.log"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "; seed ")
	if !ok {
		return ""
	}
	seed, _, _ := strings.Cut(rest, "\n")
	return seed
}

func TestRunScenarioAppliesFaultsAtTheirTimes(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "incident.yaml"), []byte(`faults:
  - at: 1s
    nemesis: kill
    select: leader
    hold: 1500ms
  - at: 3s
    nemesis: msg-delay
    select: all
    hold: 2s
  - at: 3500ms
    nemesis: pause
    select: majority
    hold: 1s
`), 0o644)
	code, out := faultline(t, dir, "run", "--runtime", "local", "--scenario", "incident.yaml", "--time-limit", "6s", "--seed", "4")
	if code != 0 {
		t.Fatalf("exit %d, want 0\n%s", code, out)
	}
	var sched []struct {
		Fault struct {
			Nemesis, Select string
			Nodes           []string
		} `json:"fault"`
		Start, Healed int64
		Applied       bool
	}
	b, _ := os.ReadFile(filepath.Join(dir, "store", "latest", "schedule.json"))
	if err := json.Unmarshal(b, &sched); err != nil || len(sched) != 3 {
		t.Fatalf("schedule.json: %v\n%s", err, b)
	}
	want := []struct {
		nemesis, sel string
		start, heal  float64
		nodes        int
	}{{"kill", "leader", 1, 2.5, 1}, {"msg-delay", "all", 3, 5, 3}, {"pause", "majority", 3.5, 4.5, 2}}
	// schedule.json lists faults as they were healed; the pause overlaps
	// the message delay (different nemeses may overlap in a scenario).
	sort.Slice(sched, func(i, j int) bool { return sched[i].Start < sched[j].Start })
	for i, w := range want {
		s := sched[i]
		start, heal := float64(s.Start)/1e9, float64(s.Healed)/1e9
		// A fault starts when its step comes due; applying and healing take a
		// little time on a busy machine.
		if s.Fault.Nemesis != w.nemesis || s.Fault.Select != w.sel || !s.Applied || len(s.Fault.Nodes) != w.nodes ||
			start < w.start || start > w.start+1 || heal < w.heal || heal > w.heal+2 {
			t.Errorf("fault %d = %+v (start %.2fs, healed %.2fs), want %+v", i, s, start, heal, w)
		}
	}
	if len(sched) == 3 && sched[2].Start >= sched[1].Healed {
		t.Errorf("the pause (from %d ns) did not overlap the message delay (healed %d ns)", sched[2].Start, sched[1].Healed)
	}
	if _, err := os.Stat(filepath.Join(dir, "store", "latest", "scenario.yaml")); err != nil {
		t.Errorf("the run directory keeps no copy of the scenario: %v", err)
	}
	if code, out := faultline(t, dir, "run", "--runtime", "local", "--scenario", "incident.yaml", "--nemesis", "partition"); code != exitBadInput {
		t.Errorf("--scenario with another --nemesis: exit %d, want 254\n%s", code, out)
	}
}

func TestRunNemesisOverlap(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	dir := t.TempDir()
	code, out := faultline(t, dir, "run", "--runtime", "local", "--nemesis", "kill,msg-delay", "--nemesis-overlap",
		"--nemesis-interval", "1s", "--time-limit", "6s", "--seed", "1")
	if code != 0 {
		t.Fatalf("exit %d, want 0\n%s", code, out)
	}
	var sched []struct {
		Fault struct {
			Nemesis string `json:"nemesis"`
		} `json:"fault"`
		Start, Healed int64
		Applied       bool
	}
	b, _ := os.ReadFile(filepath.Join(dir, "store", "latest", "schedule.json"))
	if err := json.Unmarshal(b, &sched); err != nil {
		t.Fatal(err)
	}
	overlaps, names := 0, map[string]bool{}
	for i, a := range sched {
		names[a.Fault.Nemesis] = true
		if !a.Applied {
			t.Errorf("fault %+v not applied", a)
		}
		for _, o := range sched[i+1:] {
			if a.Fault.Nemesis != o.Fault.Nemesis && a.Start < o.Healed && o.Start < a.Healed {
				overlaps++
			}
		}
	}
	if !names["kill"] || !names["msg-delay"] || overlaps == 0 {
		t.Errorf("nemeses %v, %d overlapping pairs; want both nemeses, overlapping\n%s", names, overlaps, b)
	}
	if code, out := faultline(t, dir, "run", "--runtime", "local", "--nemesis", "kill,disk-eio", "--nemesis-overlap"); code != exitBadInput ||
		!strings.Contains(out, "nemesis-overlap") {
		t.Errorf("kill with disk-eio overlapping: exit %d, want 254 naming nemesis-overlap\n%s", code, out)
	}
}
