package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-io/faultline/nemesis"
)

func TestSimBadInputExit254(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"sim", "--target", "etcd"},                    // no simulator
		{"sim", "--nemesis", "bandwidth"},              // no simulated model
		{"sim", "--runtime", "docker"},                 // a simulation has no runtime
		{"sim", "--time", "10s", "--time-limit", "5s"}, // both
		{"run", "--runtime", "docker", "--nemesis", "kill-after-vote"},
		{"sim", "--target", "crdt", "--workload", "counter", "--nemesis", "kill-after-vote"},
		{"shrink", dir},
	} {
		if code, out := faultline(t, dir, args...); code != 254 {
			t.Errorf("%v: exit %d, want 254\n%s", args, code, out)
		}
	}
}

// sim, check, replay and shrink on a simulated run: the run is checked as
// a real one, a replay of it holds the same history, and shrink writes a
// scenario of at most three faults that still fails.
func TestSimReplayShrink(t *testing.T) {
	dir := t.TempDir()
	code, out := faultline(t, dir, "sim", "--target", "raft", "--bug", "stale-read", "--nemesis", "partition-leader,kill",
		"--seed", "2", "--time", "30s", "--store", "store")
	if code != 1 {
		t.Fatalf("sim: exit %d, want 1 (stale reads found)\n%s", code, out)
	}
	run, err := filepath.EvalSymlinks(filepath.Join(dir, "store", "latest"))
	if err != nil {
		t.Fatal(err)
	}
	if code, out := faultline(t, dir, "check", run); code != 1 {
		t.Errorf("check: exit %d, want 1\n%s", code, out)
	}
	if code, out := faultline(t, dir, "replay", run); code != 1 {
		t.Errorf("replay: exit %d, want 1\n%s", code, out)
	}
	again, err := filepath.EvalSymlinks(filepath.Join(dir, "store", "latest"))
	if err != nil || again == run {
		t.Fatalf("no replay run directory (%v)", err)
	}
	a, _ := os.ReadFile(filepath.Join(run, "history.jsonl"))
	b, _ := os.ReadFile(filepath.Join(again, "history.jsonl"))
	if len(a) == 0 || string(a) != string(b) {
		t.Errorf("the replay's history differs from the run's (%d and %d bytes)", len(a), len(b))
	}
	code, out = faultline(t, dir, "shrink", run, "--seeds", "1")
	if code != 0 {
		t.Fatalf("shrink: exit %d\n%s", code, out)
	}
	text, err := os.ReadFile(filepath.Join(run, ShrunkScenarioFile))
	if err != nil {
		t.Fatal(err)
	}
	steps, err := nemesis.ParseScenario(text, 2)
	if err != nil || len(steps) == 0 || len(steps) > 3 {
		t.Fatalf("shrunk scenario: %d faults, %v\n%s", len(steps), err, text)
	}
	// It still fails, with the command it prints.
	i := strings.Index(out, "reproduce: faultline ")
	if i < 0 {
		t.Fatalf("no reproduce line:\n%s", out)
	}
	args := strings.Fields(strings.TrimPrefix(strings.SplitN(out[i:], "\n", 2)[0], "reproduce: faultline "))
	if code, out := faultline(t, dir, append(args, "--store", "store2")...); code != 1 {
		t.Errorf("the shrunk scenario: exit %d, want 1\n%s", code, out)
	}
	// A run that passes has nothing to shrink.
	if code, out := faultline(t, dir, "sim", "--target", "raft", "--nemesis", "kill", "--seed", "1", "--time", "10s", "--store", "store3"); code != 0 {
		t.Fatalf("correct sim: exit %d\n%s", code, out)
	}
	if code, out := faultline(t, dir, "shrink", filepath.Join(dir, "store3", "latest"), "--seeds", "1"); code != 2 {
		t.Errorf("shrink of a passing run: exit %d, want 2\n%s", code, out)
	}
}
