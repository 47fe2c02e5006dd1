package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/faultline-io/faultline/checker"
)

// goldenTest is test.json as the harness wrote it before package store
// existed, with every field set: its names and order are a file format.
const goldenTest = `{
  "config": {
    "name": "raft-register-kill-no-fsync",
    "target": "raft",
    "workload": "register",
    "nemeses": [
      "kill"
    ],
    "bugs": [
      "no-fsync"
    ],
    "nodes": 3,
    "concurrency": 10,
    "rate": 200,
    "time_limit": 60000000000,
    "seed": 1,
    "runtime": "auto",
    "store": "store",
    "nemesis_interval": 3000000000,
    "op_timeout": 1000000000,
    "checker_timeout": 60000000000,
    "health_timeout": 30000000000,
    "quiet_period": 5000000000,
    "binary": "/bin/faultline",
    "port": 7000,
    "keys": 5,
    "ops_per_key": 400,
    "scenario": "s.yaml",
    "nemesis_overlap": true
  },
  "runtime": "local",
  "checkers": [
    "linearizable",
    "stats"
  ],
  "command_line": [
    "faultline",
    "run"
  ],
  "version": "v1",
  "git_revision": "abc",
  "go_version": "go1.26",
  "started": "2026-12-02T18:02:06.635696197Z",
  "host": "vm",
  "replay_of": "/store/x/1"
}
`

// goldenResults is results.json of an interrupted run, likewise.
const goldenResults = `{
  "valid": "unknown",
  "results": [
    {
      "checker": "stats",
      "valid": true,
      "summary": "s"
    }
  ],
  "interrupted": {
    "phase": "run",
    "signal": "interrupt",
    "at": "2026-12-02T18:02:06.635696197Z",
    "forced": true
  },
  "unfinished": {
    "pid": 7,
    "phase": "final",
    "updated": "2026-12-02T18:02:06.635696197Z",
    "error": "boom"
  }
}
`

// TestRecordFormat: an existing test.json reads into a TestRecord and
// writes back byte for byte, so old run directories keep reading and new
// ones look the same.
func TestRecordFormat(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, TestFile), []byte(goldenTest), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := ReadTestRecord(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The golden was DefaultConfig with these fields set.
	c := DefaultConfig()
	c.Name, c.Nemeses, c.Bugs = "raft-register-kill-no-fsync", []string{"kill"}, []string{"no-fsync"}
	c.Binary, c.Scenario, c.NemesisOverlap = "/bin/faultline", "s.yaml", true
	if !reflect.DeepEqual(tr.Config, c) || tr.ReplayOf != "/store/x/1" || tr.Host != "vm" {
		t.Fatalf("read %+v\nwant config %+v", tr, c)
	}
	out := t.TempDir()
	if err := WriteTestRecord(out, tr); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, TestFile)); !bytes.Equal(b, []byte(goldenTest)) {
		t.Errorf("test.json written as\n%s\nwant\n%s", b, goldenTest)
	}
}

// TestRunResultsFormat: results.json with an interruption and a dead
// harness's running record (so its verdict is unknown) round-trips byte
// for byte.
func TestRunResultsFormat(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ResultsFile), []byte(goldenResults), 0o644); err != nil {
		t.Fatal(err)
	}
	rr, err := ReadRunResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 18, 2, 6, 635696197, time.UTC)
	want := &Interruption{Phase: PhaseRun, Signal: "interrupt", At: at, Forced: true}
	if !reflect.DeepEqual(rr.Interrupted, want) || rr.Unfinished == nil || rr.Unfinished.Phase != PhaseFinal {
		t.Fatalf("read %+v", rr)
	}
	if err := WriteRunResults(dir, rr); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ResultsFile)); !bytes.Equal(b, []byte(goldenResults)) {
		t.Errorf("results.json written as\n%s\nwant\n%s", b, goldenResults)
	}
	// checker.ReadResults reads the checkers' part of the same file.
	res, err := checker.ReadResults(filepath.Join(dir, checker.ResultsFile))
	if err != nil || res.Valid != checker.Unknown || len(res.Results) != 1 {
		t.Errorf("checker.ReadResults: %+v, %v", res, err)
	}
}

// TestWriteRunResultsIncompleteIsUnknown: a partial history never gets a
// definite verdict in results.json.
func TestWriteRunResultsIncompleteIsUnknown(t *testing.T) {
	dir := t.TempDir()
	rr := RunResults{Results: checker.Compose(checker.Result{Checker: "stats", Valid: checker.True}),
		Unfinished: &RunningRecord{PID: 1, Phase: PhaseRun}}
	if err := WriteRunResults(dir, rr); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRunResults(dir)
	if err != nil || got.Valid != checker.Unknown {
		t.Errorf("valid %v (%v), want unknown", got.Valid, err)
	}
}

// TestRunningRecord: running.json reads back; a missing one wraps
// fs.ErrNotExist, a bad one names its path.
func TestRunningRecord(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadRunningRecord(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing running.json: %v", err)
	}
	rec := RunningRecord{PID: 42, Phase: PhaseHealth, Updated: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Error: "x"}
	if err := WriteRunningRecord(dir, rec); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadRunningRecord(dir); err != nil || got != rec {
		t.Fatalf("read %+v, %v", got, err)
	}
	path := filepath.Join(dir, RunningFile)
	if err := os.WriteFile(path, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadRunningRecord(dir); err == nil || !bytes.Contains([]byte(err.Error()), []byte(path)) {
		t.Errorf("bad running.json: %v, want an error naming %s", err, path)
	}
	// Nothing but running.json is left behind by the writes.
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("run directory holds %d files", len(ents))
	}
}

// TestDefaultConfigRoundTrips: the defaults survive test.json.
func TestDefaultConfigRoundTrips(t *testing.T) {
	c := DefaultConfig()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var got Config
	if err := json.Unmarshal(b, &got); err != nil || !reflect.DeepEqual(got, c) {
		t.Errorf("round trip: %+v, %v", got, err)
	}
}

func TestNewRunDirAndLatest(t *testing.T) {
	root := t.TempDir()
	now := time.Date(2026, 11, 25, 20, 11, 41, 0, time.UTC)
	a, err := NewRunDir(root, "t", now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewRunDir(root, "t", now) // same second: must not collide
	if err != nil {
		t.Fatal(err)
	}
	if a == b || filepath.Base(a) != "20261125T201141" {
		t.Fatalf("run dirs %s and %s", a, b)
	}
	target, err := os.Readlink(filepath.Join(root, "latest"))
	if err != nil || filepath.Join(root, target) != b {
		t.Fatalf("latest -> %s (%v), want %s", target, err, b)
	}
}

// TestNewRunDirConcurrent: runs sharing a store make their directories
// and link latest at the same time without failing (a campaign's
// parallel runs, two terminals).
func TestNewRunDirConcurrent(t *testing.T) {
	root := t.TempDir()
	now := time.Date(2026, 11, 25, 20, 11, 41, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if _, err := NewRunDir(root, fmt.Sprintf("t%d", i%4), now); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := os.Readlink(filepath.Join(root, "latest")); err != nil {
		t.Errorf("latest: %v", err)
	}
}

// TestCheckerOptionsBudgets: the test's checker timeout and memory budget
// reach both searches, the linearizable checker's and the bank's.
func TestCheckerOptionsBudgets(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CheckerTimeout, cfg.CheckerMemory = 7*time.Second, 512<<20
	o := CheckerOptions(cfg, "", nil)
	if o.Linearizable.Timeout != cfg.CheckerTimeout || o.Linearizable.MemoryBudget != cfg.CheckerMemory ||
		o.Bank.Timeout != cfg.CheckerTimeout || o.Bank.MemoryBudget != cfg.CheckerMemory {
		t.Errorf("linearizable %+v, bank %+v; want timeout %v and budget %d in both",
			o.Linearizable, o.Bank, cfg.CheckerTimeout, cfg.CheckerMemory)
	}
}
