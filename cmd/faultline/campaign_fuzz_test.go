package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/faultline-io/faultline/harness"
)

// campaignErr is the shape of every parseCampaign error: it names the key
// (tests[i] (name): key, defaults: key, seeds, tests), or says the file is
// not a campaign, with YAML's line.
var campaignErr = regexp.MustCompile(`^(not a campaign file: |tests(\[\d+\])?( \(.*\))?: |defaults: )`)

// FuzzParseCampaign: parseCampaign never panics; errors name the test and
// key; a campaign that parses has runs of named tests, each with a known
// expectation and a config that validates.
func FuzzParseCampaign(f *testing.F) {
	base := filepath.Join("testdata", "campaign")
	paths, err := filepath.Glob(filepath.Join(base, "*.yaml"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no campaigns in %s: %v", base, err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		campaignExample,
		"tests: [{name: a, nodes: 0}]",
		"tests: [{name: a, nemesis: [kill, explode]}]",
		"seeds: 5..1\ntests: [{name: a}]",
		"tests: [{name: a, seeds: [x]}]",
		"defaults: {bug: no-such-bug}\ntests: [{name: a}]",
		"tests: [{name: a, scenario: incident.yaml, nemesis-overlap: true}]",
		"tests: [{name: a, rate: 1e3, time-limit: 1m30s, seed: 3, keys: [1, 2]}]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// ValidateConfig reads the scenario a campaign names; keep the fuzzer
		// to files beside the seeds (no /dev/zero, no /dev/stdin).
		if bytes.Contains(b, []byte("scenario")) && bytes.ContainsAny(b, `/\!`) || bytes.Contains(b, []byte("..")) && bytes.Contains(b, []byte("scenario")) {
			t.Skip("a scenario path outside testdata")
		}
		c, err := parseCampaign(b, base)
		if err != nil {
			if !campaignErr.MatchString(err.Error()) {
				t.Fatalf("error %q names no test or key", err)
			}
			return
		}
		if len(c.Runs) == 0 || c.Name == "" {
			t.Fatalf("campaign %q with %d runs", c.Name, len(c.Runs))
		}
		done := map[string]bool{} // tests whose runs are over
		for i, r := range c.Runs {
			if r.Test == "" || done[r.Test] {
				t.Fatalf("run %d: test %q (its runs must be together)", i, r.Test)
			}
			if i > 0 && c.Runs[i-1].Test != r.Test {
				done[c.Runs[i-1].Test] = true
			}
			switch r.Expect {
			case expectValid, expectAnomaly, expectAny:
			default:
				t.Fatalf("run %d: expect %q", i, r.Expect)
			}
			if r.Config.Name != r.Test {
				t.Fatalf("run %d: config name %q, test %q", i, r.Config.Name, r.Test)
			}
			cfg := r.Config
			if err := harness.ValidateConfig(&cfg); err != nil {
				t.Fatalf("run %d: config no longer validates: %v", i, err)
			}
		}
	})
}
