package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/store"
)

// TestCheckOfPartialRunIsUnknown checks run directories whose history is
// partial: one interrupted (results.json says so) and one whose harness
// died (running.json left). Both hold a valid history, and both exit 2 and
// keep saying why in the rewritten results.json.
func TestCheckOfPartialRunIsUnknown(t *testing.T) {
	history := `{"index":0,"process":0,"type":"invoke","f":"write","key":"k1","value":1,"time":1000}
{"index":1,"process":0,"type":"ok","f":"write","key":"k1","value":1,"time":2000}
{"index":2,"process":0,"type":"invoke","f":"read","key":"k1","time":3000}
{"index":3,"process":0,"type":"ok","f":"read","key":"k1","value":1,"time":4000}
`
	for _, tc := range []struct {
		name, file, body, want string
	}{
		{"interrupted", store.ResultsFile,
			`{"valid": true, "results": [], "interrupted": {"phase": "final", "signal": "interrupt"}}`,
			"interrupted (interrupt) during final"},
		{"killed", store.RunningFile, `{"pid": 1, "phase": "run"}`, "stopped during run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, store.HistoryFile), []byte(history), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out := faultline(t, dir, "check", "--checker", "linearizable", ".")
			if code != exitUnknown || !strings.Contains(out, tc.want) || !strings.Contains(out, "verdict unknown") {
				t.Fatalf("exit %d, want 2 and %q:\n%s", code, tc.want, out)
			}
			rr, err := store.ReadRunResults(dir)
			if err != nil {
				t.Fatal(err)
			}
			if rr.Valid != checker.Unknown || rr.Incomplete() == "" || len(rr.Results.Results) != 1 {
				t.Errorf("results.json after check: %+v", rr)
			}
			// Checking again keeps the verdict: the record survives the rewrite.
			if code, out := faultline(t, dir, "check", "--checker", "linearizable", "."); code != exitUnknown {
				t.Errorf("second check: exit %d\n%s", code, out)
			}
		})
	}
}

// TestInterruptionString is what the CLI prints for an interrupted run.
func TestInterruptionString(t *testing.T) {
	i := &store.Interruption{Phase: store.PhaseTeardown, Signal: "interrupt", At: time.Now(), Forced: true}
	if got := i.String(); !strings.Contains(got, "during teardown") || !strings.Contains(got, "second interrupt") {
		t.Errorf("String() = %q", got)
	}
}
