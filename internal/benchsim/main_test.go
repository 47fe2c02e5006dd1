package main

import (
	"strings"
	"testing"
	"time"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/harness"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{nil, -1},
		{[]float64{3}, 3},
		{[]float64{4, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2}, // the lower middle
	} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if got := median([]time.Duration{3 * time.Second, time.Second, 2 * time.Second}); got != 2*time.Second {
		t.Errorf("median of durations = %v, want 2s", got)
	}
}

func TestWallToAnomaly(t *testing.T) {
	r := runResult{FirstAnomaly: 15 * time.Second, Wall: 3 * time.Second,
		Sim: harness.SimStats{Virtual: 60 * time.Second, Wall: 2 * time.Second}}
	// A quarter of the simulation's 2 s, plus the 1 s after it.
	if got, want := r.wallToAnomaly(), 1500*time.Millisecond; got != want {
		t.Errorf("wallToAnomaly = %v, want %v", got, want)
	}
	r.FirstAnomaly = -1
	if got := r.wallToAnomaly(); got >= 0 {
		t.Errorf("wallToAnomaly without an anomaly = %v, want < 0", got)
	}
}

func TestRender(t *testing.T) {
	bug := benchRow{Target: "raft", Workload: "register", Nodes: 3, Bug: "stale-read", Nemeses: []string{"partition-leader"}, Interval: 3 * time.Second}
	correct := bug
	correct.Bug = ""
	sim := harness.SimStats{Virtual: 60 * time.Second, Wall: time.Second, Speedup: 60}
	found := func(seed int64, at time.Duration) runResult {
		return runResult{Seed: seed, Valid: checker.False, FirstAnomaly: at, Sim: sim, Wall: 2 * time.Second}
	}
	results := [][]runResult{
		{found(1, 5*time.Second), found(2, 7*time.Second), {Seed: 3, Valid: checker.True, FirstAnomaly: -1, Sim: sim, Wall: 2 * time.Second}},
		{{Seed: 1, Valid: checker.True, FirstAnomaly: -1, Sim: sim, Wall: 2 * time.Second}, found(2, 9*time.Second),
			{Seed: 3, Valid: checker.Unknown, FirstAnomaly: -1, Sim: sim, Wall: 2 * time.Second}},
	}
	out := render([]benchRow{bug, correct}, results, []string{"etcd"}, time.Minute)
	for _, want := range []string{
		"| raft | register | stale-read | partition-leader | 3 | 2/3 (67%) | 0 | 0 | 0 | 5.00s | 1.08s | 60 | 6s |",
		"| raft | register | correct | partition-leader | 3 | 1 false alarms | 1 | 0 | 0 | 9.00s |",
		"| etcd | | | not simulated",
		"- false alarm: raft-register__correct__partition-leader, seed 2 (first anomaly at 9.00s)\n" +
			"  `faultline sim --target raft --workload register --nodes 3 --nemesis partition-leader --time 1m0s --seed 2`",
		"- unknown verdict: raft-register__correct__partition-leader, seed 3",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("render lacks %q:\n%s", want, out)
		}
	}
}

func TestRowsOf(t *testing.T) {
	rows, not := rowsOf(harness.SimulatedTargets())
	keys := map[string]benchRow{}
	for _, r := range rows {
		if _, dup := keys[r.key()]; dup {
			t.Errorf("row %s twice", r.key())
		}
		keys[r.key()] = r
	}
	for _, k := range []string{"raft-register__forget-vote__scenario-forget-vote-sim", "raft-register__correct__scenario-forget-vote-sim",
		"raft-register__stale-read__partition-leader", "raft-register__correct__all-simulated__interval-1s"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("no row %s", k)
		}
	}
	all := keys["raft-register__correct__all-simulated__interval-1s"]
	for _, n := range []string{"kill-after-vote", "partition-leader", "disk-lose-unsynced"} {
		if !strings.Contains(strings.Join(all.Nemeses, ","), n) {
			t.Errorf("raft's every-nemesis row lacks %s: %v", n, all.Nemeses)
		}
	}
	if strings.Contains(strings.Join(all.Nemeses, ","), "kill-coordinator") {
		t.Errorf("raft's every-nemesis row has kill-coordinator, which raft refuses: %v", all.Nemeses)
	}
	for _, n := range not {
		if n == "raft" {
			t.Error("raft listed as not simulated")
		}
	}
}
