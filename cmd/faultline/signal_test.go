package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/docker"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/store"
)

// leftovers lists what faultline created for the run with id run that still
// exists: labelled containers and networks, and network namespaces. Other
// runs (tests of other packages run in parallel) are not counted.
func leftovers(t *testing.T, run string) []string {
	t.Helper()
	var found []string
	if entries, err := os.ReadDir("/var/run/netns"); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "faultline-"+run+"-") {
				found = append(found, "netns "+e.Name())
			}
		}
	}
	if _, err := docker.Available(context.Background()); err != nil {
		return found
	}
	cli, err := docker.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	f := filters.NewArgs(filters.Arg("label", cluster.Label+"="+run))
	cs, err := cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		found = append(found, "container "+strings.Join(c.Names, ","))
	}
	ns, err := cli.NetworkList(context.Background(), network.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		found = append(found, "network "+n.Name)
	}
	return found
}

// TestSIGINTMidRunLeavesNothing interrupts runs on every runtime this machine
// has, and checks that the harness healed, tore down, kept the history and
// exited with "unknown" (2), results.json saying it was interrupted in the
// run phase.
func TestSIGINTMidRunLeavesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run skipped in -short mode")
	}
	runtimes := []string{"local"}
	if os.Geteuid() == 0 {
		runtimes = append(runtimes, "netns")
	} else {
		t.Log("not root: netns runtime not tested")
	}
	if _, err := docker.Available(context.Background()); err == nil {
		runtimes = append(runtimes, "docker")
	} else {
		t.Logf("docker not tested: %v", err)
	}
	for _, rt := range runtimes {
		t.Run(rt, func(t *testing.T) {
			dir := t.TempDir()
			nem := "kill,pause"
			if rt != "local" {
				nem = "partition,kill"
			}
			cmd := exec.Command(bin, "run", "--runtime", rt, "--nemesis", nem, "--nodes", "3",
				"--time-limit", "60s", "--nemesis-interval", "1s", "--seed", "4")
			cmd.Dir = dir
			stderr, _ := cmd.StderrPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			healthy := make(chan struct{})
			var logBuf strings.Builder
			go func() {
				sc := bufio.NewScanner(stderr)
				once := false
				for sc.Scan() {
					logBuf.WriteString(sc.Text() + "\n")
					if !once && strings.Contains(sc.Text(), "cluster healthy") {
						once = true
						close(healthy)
					}
				}
				io.Copy(io.Discard, stderr)
			}()
			select {
			case <-healthy:
			case <-time.After(90 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("cluster never became healthy")
			}
			time.Sleep(4 * time.Second)
			cmd.Process.Signal(syscall.SIGINT)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(2 * time.Minute):
				cmd.Process.Kill()
				t.Fatalf("run did not exit after SIGINT:\n%s", logBuf.String())
			}
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
			t.Log(logBuf.String())
			if code != exitUnknown {
				t.Errorf("exit %d after SIGINT, want 2", code)
			}
			ops, herr := history.ReadFile(filepath.Join(dir, "store", "latest", "history.jsonl"))
			if herr != nil || len(ops) == 0 {
				t.Errorf("history not kept: %d ops, %v", len(ops), herr)
			}
			if rr, err := store.ReadRunResults(filepath.Join(dir, "store", "latest")); err != nil {
				t.Errorf("no partial results: %v", err)
			} else if rr.Interrupted == nil || rr.Interrupted.Phase != store.PhaseRun || rr.Valid != checker.Unknown {
				t.Errorf("results.json: interrupted %+v, valid %v; want phase run, unknown", rr.Interrupted, rr.Valid)
			}
			var rt struct{ Runtime, Run string }
			b, err := os.ReadFile(filepath.Join(dir, "store", "latest", "runtime.json"))
			if err == nil {
				err = json.Unmarshal(b, &rt)
			}
			if err != nil || (rt.Run == "" && rt.Runtime != "local") {
				t.Fatalf("runtime.json does not name the run: %v %s", err, b)
			}
			if rt.Run != "" {
				if left := leftovers(t, rt.Run); len(left) > 0 {
					t.Errorf("left behind after SIGINT: %v", left)
				}
			}
			if rt.Runtime == "local" {
				if out, _ := exec.Command("pgrep", "-f", "faultline node raft.*"+dir).Output(); len(out) > 0 {
					t.Errorf("node processes left behind: %s", out)
				}
			}
		})
	}
}
