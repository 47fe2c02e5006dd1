package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/faultline-io/faultline/history"
)

// A leaderless target is never asked for its leader: a nemesis or a
// scenario fault that needs one is bad input, and the error says why.
func TestRunCrdtLeaderNemesisRefused(t *testing.T) {
	dir := t.TempDir()
	code, out := faultline(t, dir, "run", "--target", "crdt", "--workload", "set", "--nemesis", "partition-leader", "--time-limit", "2s")
	if code != exitBadInput {
		t.Fatalf("exit %d, want 254\n%s", code, out)
	}
	for _, want := range []string{"partition-leader", "leader role", "target crdt"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not say %q:\n%s", want, out)
		}
	}
	os.WriteFile(filepath.Join(dir, "s.yaml"), []byte("faults: [{at: 1s, nemesis: kill, select: leader, hold: 1s}]\n"), 0o644)
	code, out = faultline(t, dir, "run", "--runtime", "local", "--target", "crdt", "--workload", "set", "--scenario", "s.yaml", "--time-limit", "3s")
	if code != exitBadInput || !strings.Contains(out, "faults[0]") || !strings.Contains(out, "leader role") {
		t.Fatalf("scenario killing the leader of crdt: exit %d, want 254 naming faults[0] and the role\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "store")); !os.IsNotExist(err) {
		t.Errorf("a refused run left a store directory: %v", err)
	}
}

// targetBlock returns the lines `faultline targets` prints for target name.
func targetBlock(out, name string) string {
	var b strings.Builder
	in := false
	for _, l := range strings.Split(out, "\n") {
		switch {
		case l == name:
			in = true
		case in && !strings.HasPrefix(l, " "):
			return b.String()
		case in:
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func TestTargetsListsCrdt(t *testing.T) {
	code, out := faultline(t, t.TempDir(), "targets")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	crdt := targetBlock(out, "crdt")
	if !strings.Contains(crdt, "roles: none") {
		t.Errorf("crdt should have no roles:\n%s", crdt)
	}
	for _, w := range []string{"counter", "set", "register", "lww-register", "mv-register",
		"sum-merge", "remove-by-value", "gossip-drop", "lww-wall-clock"} {
		if !regexp.MustCompile(`(?m)^    ` + regexp.QuoteMeta(w) + ` `).MatchString(crdt) {
			t.Errorf("crdt block lacks %s:\n%s", w, crdt)
		}
	}
	if !regexp.MustCompile(`(?m)^    set +read, add, remove; convergence`).MatchString(crdt) {
		t.Errorf("crdt set workload without its ops and checker:\n%s", crdt)
	}
	if raft := targetBlock(out, "raft"); !strings.Contains(raft, "roles: leader") {
		t.Errorf("raft should have the leader role:\n%s", raft)
	}
}

// TestRunCrdtLocal: the correct CRDT store under kills, pauses and dropped
// gossip on the local runtime converges, says so, and records a final read
// of every key on every node.
func TestRunCrdtLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	dir := t.TempDir()
	code, out := faultline(t, dir, "run", "--runtime", "local", "--target", "crdt", "--workload", "set",
		"--nemesis", "kill,pause,msg-drop", "--nemesis-interval", "1s", "--time-limit", "8s", "--seed", "1", "--quiet-period", "5s")
	t.Log(out)
	if code != 0 {
		t.Fatalf("correct crdt set under kill,pause,msg-drop: exit %d, want 0", code)
	}
	if !regexp.MustCompile(`(?m)^\s*convergence\s+true\s+converged .* after heal`).MatchString(out) {
		t.Errorf("no convergence line saying converged")
	}
	ops, err := history.ReadFile(filepath.Join(dir, "store", "latest", "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	finals := map[string]map[string]bool{} // node -> keys it read ok in the final phase
	faults := 0
	for _, op := range ops {
		switch {
		case op.IsNemesis():
			if op.F != "heal" && op.F != "heal-all" && op.Error == "" && op.Type == history.Info {
				faults++
			}
		case op.Final == "":
			keys[op.Key] = true
		case op.Type == history.OK:
			if op.F != "read" || op.Node != op.Final {
				t.Errorf("final op %+v: want a read answered by the node it names", op)
			}
			if finals[op.Final] == nil {
				finals[op.Final] = map[string]bool{}
			}
			finals[op.Final][op.Key] = true
		}
	}
	t.Logf("%d faults, %d keys", faults, len(keys))
	if faults == 0 {
		t.Errorf("no fault applied: the run proves little")
	}
	if len(keys) == 0 {
		t.Fatal("no client ops")
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		for k := range keys {
			if !finals[n][k] {
				t.Errorf("no ok final read of %s on %s", k, n)
			}
		}
	}
	if len(finals) != 3 {
		t.Errorf("final reads name nodes %v, want n1, n2, n3", finals)
	}
}

// TestRunCrdtSumMerge: the sum-merge bug counts increments again on every
// exchange, so counters overshoot and the run is invalid.
func TestRunCrdtSumMerge(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	code, out := faultline(t, t.TempDir(), "run", "--runtime", "local", "--target", "crdt", "--workload", "counter",
		"--bug", "sum-merge", "--nemesis", "kill", "--nemesis-interval", "1s", "--time-limit", "5s", "--seed", "1", "--quiet-period", "2s")
	t.Log(out)
	if code != 1 {
		t.Fatalf("sum-merge: exit %d, want 1", code)
	}
	if !regexp.MustCompile(`(?m)^\s*convergence\s+false`).MatchString(out) {
		t.Errorf("the convergence checker does not say false")
	}
}
