package raft_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/harness"
	"github.com/faultline-io/faultline/sim"
	"github.com/faultline-io/faultline/store"
	_ "github.com/faultline-io/faultline/targets/raft"
)

// simRun runs a simulated raft test and returns its outcome and history.
func simRun(t *testing.T, seed int64, d time.Duration, nemeses []string, bugs ...string) (*harness.Outcome, []byte) {
	t.Helper()
	return simRunEvery(t, seed, d, time.Second, nemeses, bugs...)
}

// simRunEvery is simRun with a nemesis interval.
func simRunEvery(t *testing.T, seed int64, d, every time.Duration, nemeses []string, bugs ...string) (*harness.Outcome, []byte) {
	t.Helper()
	cfg := store.DefaultConfig()
	cfg.Runtime, cfg.Target, cfg.Workload = harness.RuntimeSim, "raft", "register"
	cfg.Seed, cfg.TimeLimit, cfg.Nemeses, cfg.Bugs = seed, d, nemeses, bugs
	cfg.NemesisInterval = every
	cfg.Store = t.TempDir()
	if err := harness.ValidateConfig(&cfg); err != nil {
		t.Fatal(err)
	}
	out, err := harness.Run(context.Background(), cfg, harness.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out.Dir, store.HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	return out, b
}

// simulatedNemeses are every nemesis the simulator models.
var simulatedNemeses = []string{"partition", "partition-one", "partition-leader", "partition-ring", "partition-bridge",
	"partition-oneway", "loss", "duplicate", "delay", "kill", "pause", "clock-jump", "clock-drift", "clock-strobe",
	"clock-reset", "msg-drop", "msg-dup", "msg-delay", "msg-reorder", "disk-lose-unsynced", "disk-eio"}

// One seed and config give one history, byte for byte; another seed
// gives another.
func TestSimSeedExact(t *testing.T) {
	nems := []string{"partition", "kill", "clock-strobe", "pause", "msg-dup", "disk-lose-unsynced"}
	_, a := simRun(t, 3, 20*time.Second, nems)
	_, b := simRun(t, 3, 20*time.Second, nems)
	if d := sim.FirstDivergence(a, b); d != nil {
		t.Fatalf("seed 3 twice: histories differ at line %d:\n%s\n%s", d.Line, d.A, d.B)
	}
	_, c := simRun(t, 4, 20*time.Second, nems)
	if sim.FirstDivergence(a, c) == nil {
		t.Fatal("seeds 3 and 4 gave the same history")
	}
}

// The correct build is linearizable under every simulated fault, one at a
// time, on every seed tried, and makes progress.
func TestSimCorrectUnderEveryNemesis(t *testing.T) {
	for seed := int64(1); seed <= 3; seed++ {
		out, _ := simRun(t, seed, 60*time.Second, simulatedNemeses)
		if out.Results.Valid != checker.True {
			t.Errorf("seed %d: %s (%s)", seed, out.Results.Valid, out.Dir)
		}
		if out.Counts.OK < 3000 || out.Counts.Nemesis < 20 {
			t.Errorf("seed %d: %d ok ops and %d faults: too little happened", seed, out.Counts.OK, out.Counts.Nemesis)
		}
	}
}

// Every seeded bug but forget-vote is caught by its paired faults on each
// seed here (the outcome of a seed is fixed: these seeds were checked).
func TestSimCatchesBugs(t *testing.T) {
	for _, tc := range []struct {
		bug     string
		nemeses []string
	}{
		{"ack-before-commit", []string{"kill"}},
		{"stale-read", []string{"partition-leader"}},
		{"no-fsync", []string{"disk-lose-unsynced"}},
		{"lease-read", []string{"clock-strobe", "partition-leader"}},
	} {
		for seed := int64(1); seed <= 3; seed++ {
			if out, _ := simRunEvery(t, seed, 60*time.Second, 3*time.Second, tc.nemeses, tc.bug); out.Results.Valid != checker.False {
				t.Errorf("%s, seed %d: %s, want false", tc.bug, seed, out.Results.Valid)
			}
		}
	}
}

// forget-vote is caught under its simulator scenario (a voter stopped
// right after each vote), and the correct build passes under it.
func TestSimForgetVote(t *testing.T) {
	for seed := int64(1); seed <= 2; seed++ {
		for _, bug := range []string{"forget-vote", ""} {
			cfg := store.DefaultConfig()
			cfg.Runtime, cfg.Target, cfg.Workload, cfg.Seed = harness.RuntimeSim, "raft", "register", seed
			cfg.Scenario, cfg.TimeLimit, cfg.Store = "../../docs/scenarios/forget-vote-sim.yaml", time.Minute, t.TempDir()
			want := checker.True
			if bug != "" {
				cfg.Bugs, want = []string{bug}, checker.False
			}
			if err := harness.ValidateConfig(&cfg); err != nil {
				t.Fatal(err)
			}
			out, err := harness.Run(context.Background(), cfg, harness.RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if out.Results.Valid != want {
				t.Errorf("bug %q, seed %d: %s, want %s", bug, seed, out.Results.Valid, want)
			}
		}
	}
}
