package main

import (
	"strings"
	"testing"
	"time"
)

func TestQuantileNearestRank(t *testing.T) {
	xs := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for q, want := range map[float64]float64{0.5: 5, 0.9: 9, 1: 10, 0: 1} {
		if got := quantile(xs, q); got != want {
			t.Errorf("quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if got := quantile(nil, 0.5); got != -1 {
		t.Errorf("quantile of nothing = %v, want -1", got)
	}
}

func TestRenderRows(t *testing.T) {
	bug := benchCase{Bug: "no-fsync", Nemeses: []string{"disk-lose-unsynced"}}
	correct := benchCase{Nemeses: []string{"disk-lose-unsynced"}}
	part := benchCase{Bug: "stale-read", Nemeses: []string{"partition-leader"}}
	results := map[string][]runResult{
		bug.key(): {{Exit: 1, FirstAnomaly: 10, WritesPerSec: 100}, {Exit: 1, FirstAnomaly: 30, WritesPerSec: 120},
			{Exit: 0, FirstAnomaly: -1, WritesPerSec: 90}, {Exit: 255, FirstAnomaly: -1, WritesPerSec: -1}},
		correct.key(): {{Exit: 0, FirstAnomaly: -1, WritesPerSec: -1}, {Exit: 2, FirstAnomaly: -1, WritesPerSec: -1}},
	}
	skipped := map[string]string{part.key(): "needs network namespaces"}
	out := render([]benchCase{bug, part, correct}, results, skipped, "local", 4, time.Minute, 1)
	for _, want := range []string{
		"| no-fsync | disk-lose-unsynced | 4 | 2/4 (50%) | 0 | 1 | 10.0s | 30.0s | 100 |",
		"| stale-read | partition-leader | skipped: needs network namespaces |",
		"| correct | disk-lose-unsynced | 2 | 0 false alarms | 1 | 0 | - | - | - |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if !part.needsNetNS() || bug.needsNetNS() {
		t.Error("needsNetNS is wrong")
	}
}

func TestAllCasesCoverEveryNemesisOnce(t *testing.T) {
	cases := allCases([]string{"kill", "pause", "partition-leader", "clock-strobe"})
	var correct []string
	for _, c := range cases {
		if c.Bug == "" && c.target() == "raft" {
			correct = append(correct, c.faults())
		}
	}
	got := strings.Join(correct, " ")
	want := "kill partition-leader clock-strobe,partition-leader disk-lose-unsynced partition-leader,kill pause clock-strobe" +
		" scenario lease-read.yaml scenario no-fsync.yaml clock-strobe,partition-leader (overlapping)" +
		" kill,pause,partition,clock-strobe,clock-jump,msg-delay,msg-dup,loss (overlapping)" +
		" none (--rate 5000)" // the throughput row beside etcd's
	if got != want {
		t.Errorf("correct rows = %q, want %q", got, want)
	}
	if want := len(bugCases) + 7 + 2*len(scenarioCases) + len(overlapCases) + len(crdtCases) + len(twopcCases) + len(etcdCases); len(cases) != want {
		t.Errorf("%d rows, want %d", len(cases), want)
	}
}

// TestCrdtBugsHaveCorrectRows: every CRDT bug row has a correct-build row
// with the same workload and nemeses (its false-alarm control), and the
// rows run the crdt target with their own workload.
func TestCrdtBugsHaveCorrectRows(t *testing.T) {
	control := map[string]bool{}
	for _, c := range crdtCases {
		if c.Bug == "" {
			control[c.workload()+" "+c.faults()] = true
		}
	}
	bugs := 0
	for _, c := range crdtCases {
		if c.target() != "crdt" || c.workload() == "register" {
			t.Errorf("row %s runs %s/%s", c.key(), c.target(), c.workload())
		}
		if c.Bug != "" {
			bugs++
			if !control[c.workload()+" "+c.faults()] {
				t.Errorf("bug row %s has no correct-build row under the same workload and nemeses", c.key())
			}
		}
	}
	if bugs != 4 {
		t.Errorf("%d crdt bug rows, want 4", bugs)
	}
	if k := crdtCases[0].key(); !strings.HasPrefix(k, "crdt-counter__") {
		t.Errorf("crdt row key %q does not name its target and workload", k)
	}
}
