package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/faultline-io/faultline/history"
)

// TestEtcdRefusesSeamNemeses: etcd does not serve the bundled nodes'
// admin endpoint, so clock, disk and message nemeses are bad input (254)
// with the reason, before anything is built or started; so is an unknown
// target option.
func TestEtcdRefusesSeamNemeses(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"run", "--target", "etcd", "--nemesis", "clock-jump"},
		{"run", "--target", "etcd", "--nemesis", "kill,msg-delay"},
	} {
		code, out := faultline(t, dir, args...)
		if code != 254 || !strings.Contains(out, "admin endpoint") {
			t.Errorf("%v: exit %d, want 254 naming the reason\n%s", args, code, out)
		}
	}
	code, out := faultline(t, dir, "run", "--target", "etcd", "--target-opt", "read-consistency=sometimes")
	if code != 254 || !strings.Contains(out, "read-consistency") {
		t.Errorf("bad target option: exit %d, want 254 naming it\n%s", code, out)
	}
	code, out = faultline(t, dir, "run", "--target", "raft", "--target-opt", "a=b")
	if code != 254 || !strings.Contains(out, "takes no options") {
		t.Errorf("an option for a target without any: exit %d, want 254\n%s", code, out)
	}
}

// TestRunEtcdLocal runs a real etcd cluster (the pinned server, built once
// into the cache) as local processes under kills, and checks that the
// history is linearizable, that the target options are recorded in
// test.json, and that the nodes were restarted on their data.
func TestRunEtcdLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	if _, err := exec.LookPath("go"); err != nil && os.Getenv("FAULTLINE_ETCD") == "" {
		t.Skip("building etcd needs the go command (or FAULTLINE_ETCD)")
	}
	dir := t.TempDir()
	code, out := faultline(t, dir, "run", "--runtime", "local", "--target", "etcd", "--workload", "register",
		"--nemesis", "kill", "--nodes", "3", "--time-limit", "12s", "--nemesis-interval", "2s", "--seed", "2",
		"--target-opt", "request-timeout=2s", "--target-opt", "election-timeout=1s")
	t.Log(out)
	if code != 0 {
		t.Fatalf("etcd under kill: exit %d, want 0", code)
	}
	latest := filepath.Join(dir, "store", "latest")
	ops, err := history.ReadFile(filepath.Join(latest, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var oks, kills int
	for _, op := range ops {
		if op.IsNemesis() && op.F == "kill" && op.Error == "" {
			kills++
		}
		if !op.IsNemesis() && op.Type == history.OK {
			oks++
		}
	}
	if oks < 100 || kills < 1 {
		t.Fatalf("want hundreds of ok ops and a kill, got %d ok, %d kills", oks, kills)
	}
	var tr struct {
		Config struct {
			TargetOpts []string `json:"target_opts"`
		} `json:"config"`
	}
	b, _ := os.ReadFile(filepath.Join(latest, "test.json"))
	if err := json.Unmarshal(b, &tr); err != nil || !slices.Equal(tr.Config.TargetOpts, []string{"request-timeout=2s", "election-timeout=1s"}) {
		t.Errorf("test.json does not record the target options: %v %s", err, b)
	}
	log, _ := os.ReadFile(filepath.Join(latest, "nodes", "n1", "node.log"))
	if !strings.Contains(string(log), "exec ") || !strings.Contains(string(log), "--initial-cluster") {
		t.Errorf("n1's log does not show the etcd exec:\n%.2000s", log)
	}
}

// TestTargetsListNemesesAndOptions: `faultline targets` and `doctor` say
// which nemeses each target takes, and the options a target accepts.
func TestTargetsListNemesesAndOptions(t *testing.T) {
	code, out := faultline(t, t.TempDir(), "targets")
	if code != 0 {
		t.Fatalf("targets: exit %d\n%s", code, out)
	}
	for _, want := range []string{
		"nemeses: all but clock-drift, clock-jump", // etcd: the seam nemeses
		"admin endpoint",
		"read-consistency     linearizable (default) or serializable",
		"nemeses: all but partition-leader (aimed at a role it does not have)", // twopc
	} {
		if !strings.Contains(out, want) {
			t.Errorf("targets output lacks %q:\n%s", want, out)
		}
	}
	if code, out := faultline(t, t.TempDir(), "doctor"); !strings.Contains(out, "etcd   all but clock-drift") {
		t.Errorf("doctor (exit %d) does not list etcd's nemeses:\n%s", code, out)
	}
}
