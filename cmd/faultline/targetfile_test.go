package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-io/faultline/store"
)

// exampleTarget builds examples/httpkv into dir and writes there a copy of
// examples/httpkv/target.yaml that runs it, returning the copy's path.
func exampleTarget(t *testing.T, dir string) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go toolchain to build examples/httpkv:", err)
	}
	server := filepath.Join(dir, "httpkv")
	build := exec.Command("go", "build", "-o", server, "../../examples/httpkv")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build examples/httpkv: %v\n%s", err, out)
	}
	b, err := os.ReadFile("../../examples/httpkv/target.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const program = "../../bin/httpkv"
	if !strings.Contains(string(b), program) {
		t.Fatalf("examples/httpkv/target.yaml no longer runs %s", program)
	}
	path := filepath.Join(dir, "target.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), program, "./httpkv", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRunTargetFileLocal runs the example system through its target file
// on the local runtime with kills and pauses, then replays the run. Seed 2
// kills the primary, n1, twice: the writes it acknowledged must survive.
func TestRunTargetFileLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 10 s test twice")
	}
	dir := t.TempDir()
	file := exampleTarget(t, dir)
	code, out := faultline(t, dir, "run", "--runtime", "local", "--target-file", file, "--workload", "register",
		"--nemesis", "kill,pause", "--nemesis-interval", "2s", "--time-limit", "10s", "--seed", "2", "--store", "store")
	t.Log(out)
	if code != exitValid || !strings.Contains(out, "valid: true") {
		t.Fatalf("exit %d, want 0 (valid)", code)
	}
	run, err := filepath.EvalSymlinks(filepath.Join(dir, "store", store.LatestLink))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := store.ReadTestRecord(run)
	if err != nil {
		t.Fatal(err)
	}
	if c := tr.Config; c.Target != "httpkv" || c.TargetFile != file || c.TargetDir != dir || len(c.TargetSHA256) != 64 {
		t.Errorf("test.json records target %q file %q dir %q sha %q", c.Target, c.TargetFile, c.TargetDir, c.TargetSHA256)
	}
	if _, err := os.Stat(filepath.Join(run, store.TargetFileCopy)); err != nil {
		t.Errorf("no copy of the target file: %v", err)
	}
	var sched []struct {
		Fault   struct{ Nemesis string }
		Applied bool
	}
	b, err := os.ReadFile(filepath.Join(run, store.ScheduleFile))
	if err == nil {
		err = json.Unmarshal(b, &sched)
	}
	if err != nil {
		t.Fatal(err)
	}
	kills := 0
	for _, s := range sched {
		if s.Applied && s.Fault.Nemesis == "kill" {
			kills++
		}
	}
	if kills == 0 {
		t.Errorf("no kill applied: %s", b)
	}

	// The replay runs the run directory's copy, even once the original
	// is gone; the program still resolves against the original's
	// directory.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	code, out = faultline(t, dir, "replay", run)
	t.Log(out)
	if code != exitValid || !strings.Contains(out, "valid: true") {
		t.Fatalf("replay: exit %d, want 0 (valid)", code)
	}
}

func TestTargetFileBadInputExits254(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "kv"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "name: kv\ncommand: [./kv]\nclient: http-register\n")
	cases := []struct {
		args []string
		msg  string
	}{
		{[]string{"--target-file", write("bad.yaml", "name: kv\ncommand: [./kv, \"{adr}\"]\nclient: http-register\n")},
			"target-file: " + filepath.Join(dir, "bad.yaml") + ": line 2: command[1]: unknown placeholder {adr}"},
		{[]string{"--target-file", filepath.Join(dir, "none.yaml")}, "no such file"},
		{[]string{"--target-file", good, "--nemesis", "kill,msg-drop"}, "nemesis: msg-drop"},
		{[]string{"--target-file", good, "--target", "raft"}, "--target: give it or --target-file"},
		{[]string{"--target-file", good, "--port", "9000"}, "--port: give it or --target-file"},
		{[]string{"--target-file", write("image.yaml", "name: kv\nimage: kv:1\nclient: http-register\n"), "--runtime", "netns"},
			"only the docker runtime"},
	}
	for _, c := range cases {
		args := append([]string{"run", "--runtime", "local", "--store", filepath.Join(dir, "store")}, c.args...)
		code, out := faultline(t, dir, args...)
		if code != exitBadInput || !strings.Contains(out, c.msg) {
			t.Errorf("%v: exit %d, want 254 with %q\n%s", c.args, code, c.msg, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "store")); err == nil {
		t.Error("a refused run made a run directory")
	}
}
