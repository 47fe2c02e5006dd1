package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseCampaignExpandsTestsOverSeeds(t *testing.T) {
	c, err := parseCampaign([]byte(campaignExample), ".")
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "nightly-raft" || len(c.Runs) != 5+5+2 {
		t.Fatalf("campaign %q with %d runs, want nightly-raft with 12", c.Name, len(c.Runs))
	}
	crash, stale, clocks := c.Runs[0], c.Runs[5], c.Runs[11]
	if crash.Test != "crashes" || crash.Expect != expectValid || crash.Config.Seed != 1 || c.Runs[4].Config.Seed != 5 ||
		strings.Join(crash.Config.Nemeses, ",") != "kill,pause" || crash.Config.TimeLimit != time.Minute || crash.Config.Name != "crashes" {
		t.Errorf("crashes run = %+v", crash)
	}
	if stale.Expect != expectAnomaly || strings.Join(stale.Config.Bugs, ",") != "stale-read" ||
		strings.Join(stale.Config.Nemeses, ",") != "partition-leader" {
		t.Errorf("stale-read run = %+v", stale)
	}
	if clocks.Config.Seed != 2 || strings.Join(clocks.Config.Nemeses, ",") != "clock-strobe,clock-jump" || clocks.Expect != expectValid {
		t.Errorf("clocks run = %+v", clocks)
	}
}

func TestParseCampaignErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"tests: []", "tests: none"},
		{"nmae: x\ntests: [{name: a}]", "nmae"},
		{"tests: [{name: a, nodes: 0}]", "tests[0] (a): nodes"},
		{"tests: [{name: a, nemeses: kill}]", "tests[0] (a): nemeses: not a 'faultline run' flag"},
		{"tests: [{name: a, nemesis: [kill, explode]}]", `tests[0] (a): nemesis: explode: unknown nemesis`},
		{"tests: [{name: a, time-limit: soon}]", "tests[0] (a): time-limit"},
		{"tests: [{name: a, expect: maybe}]", `tests[0] (a): expect: "maybe"`},
		{"tests: [{name: a}, {name: a}]", "tests[1] (a): name: used by two tests"},
		{"tests: [{nemesis: kill}]", "tests[0]: name: missing"},
		{"seeds: 5..1\ntests: [{name: a}]", "seeds"},
		{"tests: [{name: a, seeds: [x]}]", "seeds"},
		{"defaults: {name: x}\ntests: [{name: a}]", "defaults: name"},
		{"defaults: {bug: no-such-bug}\ntests: [{name: a}]", "tests[0] (a): bug"},
	} {
		_, err := parseCampaign([]byte(tc.file), ".")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.file, err, tc.want)
		}
	}
}

func TestParseCampaignScenarioIsRelativeToTheFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "s.yaml"), []byte("faults: [{at: 1s, nemesis: kill, hold: 1s}]\n"), 0o644)
	c, err := parseCampaign([]byte("tests: [{name: a, scenario: s.yaml}]"), dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Runs[0].Config; got.Scenario != filepath.Join(dir, "s.yaml") || strings.Join(got.Nemeses, ",") != "kill" {
		t.Errorf("scenario %q, nemeses %v", got.Scenario, got.Nemeses)
	}
}

func TestCampaignRunsAndWritesJUnit(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end campaign skipped in -short mode")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	// The correct build is valid, so the second test, which expects an
	// anomaly from it, must be reported as not as expected.
	os.WriteFile(file, []byte(`name: smoke
defaults: {runtime: local, target: raft, nodes: 3, time-limit: 4s, nemesis: kill, nemesis-interval: 1s}
tests:
  - name: correct
    seeds: 1
  - name: expects-a-bug
    expect: anomaly
    seeds: [2]
`), 0o644)
	code, out := faultline(t, dir, "campaign", file, "--junit", "out/junit.xml")
	t.Log(out)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (one run not as expected)", code)
	}
	if !strings.Contains(out, "[1/2] correct seed 1: valid (expected valid)") ||
		!strings.Contains(out, "[2/2] expects-a-bug seed 2: NOT AS EXPECTED: valid (expected anomaly)") {
		t.Errorf("progress lines missing")
	}
	b, err := os.ReadFile(filepath.Join(dir, "out", "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil || doc.Tests != 2 || doc.Failures != 1 {
		t.Errorf("junit: %+v %v\n%s", doc, err, b)
	}
	if code, out := faultline(t, dir, "campaign", filepath.Join(dir, "missing.yaml")); code != exitBadInput {
		t.Errorf("missing file: exit %d, want 254\n%s", code, out)
	}
}

// Ctrl-C stops a campaign: the run in progress ends as interrupted, the
// rest are skipped, the JUnit report is still written, and the exit code
// says unknown (2).
func TestCampaignInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end campaign skipped in -short mode")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	os.WriteFile(file, []byte(`name: cut
defaults: {runtime: local, nodes: 3, time-limit: 30s, nemesis: pause}
seeds: 1..3
tests: [{name: long}]
`), 0o644)
	cmd := exec.Command(bin, "campaign", file, "--junit", "junit.xml")
	cmd.Dir = dir
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the first run is under way.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "cluster healthy") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUnknown {
		t.Fatalf("exit %v, want 2\n%s", err, out.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err != nil {
		t.Fatalf("no junit report after Ctrl-C: %v\n%s", err, out.String())
	}
	var doc struct {
		Tests   int `xml:"tests,attr"`
		Errors  int `xml:"errors,attr"`
		Skipped int `xml:"skipped,attr"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil || doc.Tests != 3 || doc.Errors != 1 || doc.Skipped != 2 {
		t.Errorf("junit after Ctrl-C: %+v %v\n%s", doc, err, b)
	}
}

// lockedBuffer is a bytes.Buffer safe to read while a command writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
