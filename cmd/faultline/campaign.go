package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/harness"
	"github.com/faultline-io/faultline/report"
	"github.com/faultline-io/faultline/store"
)

const campaignExample = `name: nightly-raft
seeds: 1..5               # or [1, 2, 7], or 3; a test may set its own
defaults:                 # any 'faultline run' flag, by its name
  target: raft
  workload: register
  nodes: 3
  time-limit: 60s
tests:
  - name: crashes
    nemesis: [kill, pause]          # expect: valid (the default without a bug)
  - name: stale-read-is-caught
    bug: stale-read
    nemesis: partition-leader       # expect: anomaly (the default with a bug)
  - name: clocks
    nemesis: clock-strobe,clock-jump
    seeds: [1, 2]
    expect: valid                   # valid, anomaly or any`

func newCampaignCommand(g *globals) *cobra.Command {
	var junit, storeDir string
	cmd := &cobra.Command{
		Use:   "campaign <file.yaml>",
		Short: "Run a file of tests over seeds; JUnit XML for CI",
		Long: `Run every test of a campaign file once per seed, one run at a time, and compare each
verdict with what the test expects: "valid" (the default), "anomaly" (the default for a test
with a seeded bug: the bug must be caught) or "any".

Keys of 'defaults' and of each test are 'faultline run' flags, by name; lists may be YAML
lists or comma-separated; a relative 'scenario' path is relative to the campaign file. Runs go to --store (default: the file's 'store', else "store").

Exit codes: 0 every run as expected; 1 some run not as expected (an anomaly where valid was
expected, or a seeded bug not caught); 2 none of those but some verdict unknown or the
campaign interrupted; 255 none of those but some run failed to run; 254 a bad campaign file
(the error names the test and key).

Example file:

` + campaignExample,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadCampaign(args[0])
			if err != nil {
				return badInput(err)
			}
			if storeDir != "" {
				for i := range c.Runs {
					c.Runs[i].Config.Store = storeDir
				}
			}
			return runCampaign(cmd, g.logger(), c, junit)
		},
	}
	cmd.Flags().StringVar(&junit, "junit", "", "write a JUnit XML report of the campaign to this file")
	cmd.Flags().StringVar(&storeDir, "store", "", "directory that receives run directories (default: the file's store, else store)")
	return cmd
}

// Expectations of a campaign test.
const (
	expectValid   = "valid"
	expectAnomaly = "anomaly"
	expectAny     = "any"
)

// campaign is a parsed campaign file: its runs in order.
type campaign struct {
	Name string
	Runs []campaignRun
}

// campaignRun is one test at one seed.
type campaignRun struct {
	Test   string
	Expect string
	Config store.Config
}

// campaignFile is the YAML document. Unknown keys are errors.
type campaignFile struct {
	Name     string         `yaml:"name"`
	Store    string         `yaml:"store"`
	Seeds    *seedList      `yaml:"seeds"`
	Defaults map[string]any `yaml:"defaults"`
	Tests    []campaignTest `yaml:"tests"`
}

type campaignTest struct {
	Name   string         `yaml:"name"`
	Expect string         `yaml:"expect"`
	Seeds  *seedList      `yaml:"seeds"`
	Flags  map[string]any `yaml:",inline"`
}

// seedList is a list of seeds: a number, a list of numbers, or "a..b".
type seedList []int64

func (s *seedList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.SequenceNode:
		var xs []int64
		if err := n.Decode(&xs); err != nil {
			return fmt.Errorf("line %d: seeds: want whole numbers: %w", n.Line, err)
		}
		*s = xs
		return nil
	case yaml.ScalarNode:
		if a, b, ok := strings.Cut(n.Value, ".."); ok {
			lo, err1 := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
			hi, err2 := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
			if err1 != nil || err2 != nil || hi < lo || hi-lo >= 10000 {
				return fmt.Errorf("line %d: seeds: %q is not a range like 1..10", n.Line, n.Value)
			}
			*s = nil
			for x := lo; x <= hi; x++ {
				*s = append(*s, x)
			}
			return nil
		}
		x, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil {
			return fmt.Errorf("line %d: seeds: %q is not a number, a list or a range like 1..10", n.Line, n.Value)
		}
		*s = seedList{x}
		return nil
	}
	return fmt.Errorf("line %d: seeds: want a number, a list or a range like 1..10", n.Line)
}

// loadCampaign reads and validates a campaign file; every error names the
// file and the test and key at fault.
func loadCampaign(path string) (campaign, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return campaign{}, err
	}
	c, err := parseCampaign(b, filepath.Dir(path))
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// parseCampaign parses a campaign file; relative scenario paths in it are
// relative to baseDir, the file's directory.
func parseCampaign(b []byte, baseDir string) (campaign, error) {
	var f campaignFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return campaign{}, fmt.Errorf("not a campaign file: %w", err)
	}
	if len(f.Tests) == 0 {
		return campaign{}, errors.New("tests: none (want a list of tests)")
	}
	c := campaign{Name: f.Name}
	if c.Name == "" {
		c.Name = "campaign"
	}
	seen := map[string]bool{}
	for i, t := range f.Tests {
		where := fmt.Sprintf("tests[%d]", i)
		if t.Name == "" {
			return c, fmt.Errorf("%s: name: missing", where)
		}
		where += " (" + t.Name + ")"
		if seen[t.Name] {
			return c, fmt.Errorf("%s: name: used by two tests", where)
		}
		seen[t.Name] = true
		cfg := store.DefaultConfig()
		if f.Store != "" {
			cfg.Store = f.Store
		}
		var nemeses, bugs []string
		fs := pflag.NewFlagSet(t.Name, pflag.ContinueOnError)
		bindRunFlags(fs, &cfg, &nemeses, &bugs) // sets every flag's default
		cfg.Name = t.Name
		if _, ok := f.Defaults["name"]; ok {
			return c, errors.New("defaults: name: each test has its own name")
		}
		if err := setFlags(fs, f.Defaults); err != nil {
			return c, fmt.Errorf("defaults: %w", err)
		}
		if err := setFlags(fs, t.Flags); err != nil {
			return c, fmt.Errorf("%s: %w", where, err)
		}
		cfg.Nemeses, cfg.Bugs = splitList(nemeses), splitList(bugs)
		if cfg.Scenario != "" && !filepath.IsAbs(cfg.Scenario) {
			cfg.Scenario = filepath.Join(baseDir, cfg.Scenario)
		}
		expect := t.Expect
		switch {
		case expect == "" && len(cfg.Bugs) > 0:
			expect = expectAnomaly
		case expect == "":
			expect = expectValid
		case expect != expectValid && expect != expectAnomaly && expect != expectAny:
			return c, fmt.Errorf("%s: expect: %q (want valid, anomaly or any)", where, expect)
		}
		seeds := []int64{cfg.Seed}
		switch {
		case t.Seeds != nil:
			seeds = *t.Seeds
		case f.Seeds != nil && !fs.Changed("seed"):
			seeds = *f.Seeds
		}
		if len(seeds) == 0 {
			return c, fmt.Errorf("%s: seeds: empty", where)
		}
		for _, s := range seeds {
			cfg.Seed = s
			if err := harness.ValidateConfig(&cfg); err != nil {
				return c, fmt.Errorf("%s: %w", where, err)
			}
			c.Runs = append(c.Runs, campaignRun{Test: t.Name, Expect: expect, Config: cfg})
		}
	}
	return c, nil
}

// setFlags sets each key of m as the flag of that name; lists become
// comma-separated values.
func setFlags(fs *pflag.FlagSet, m map[string]any) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first bad key is the same every time
	for _, k := range keys {
		v := m[k]
		if fs.Lookup(k) == nil {
			return fmt.Errorf("%s: not a 'faultline run' flag (see 'faultline run --help'; seeds, name and expect go on a test)", k)
		}
		var s string
		switch v := v.(type) {
		case []any:
			parts := make([]string, len(v))
			for i, x := range v {
				parts[i] = fmt.Sprint(x)
			}
			s = strings.Join(parts, ",")
		case nil:
			return fmt.Errorf("%s: no value", k)
		case map[string]any:
			return fmt.Errorf("%s: want a value or a list, not a mapping", k)
		default:
			s = fmt.Sprint(v)
		}
		if err := fs.Set(k, s); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

// runCampaign runs every run in order, prints a line per run and writes
// the JUnit report (also when interrupted: runs not done are skipped).
func runCampaign(cmd *cobra.Command, log *zap.Logger, c campaign, junit string) error {
	w := cmd.OutOrStdout()
	started := time.Now()
	var cases []report.JUnitCase
	var failed, errored, unknown int
	interrupted := false
	for i, r := range c.Runs {
		jc := report.JUnitCase{Class: c.Name + "." + r.Test, Name: fmt.Sprintf("seed-%d", r.Config.Seed)}
		if interrupted || cmd.Context().Err() != nil {
			interrupted = true
			jc.Skipped = "campaign interrupted before this run"
			cases = append(cases, jc)
			continue
		}
		fmt.Fprintf(w, "[%d/%d] %s seed %d: running (%s)\n", i+1, len(c.Runs), r.Test, r.Config.Seed, strings.Join(r.Config.Nemeses, ","))
		t0 := time.Now()
		out, err := harness.Run(cmd.Context(), r.Config, harness.RunOptions{Log: log, CommandLine: os.Args,
			MoreInterrupts: moreInterrupts(cmd.Context())})
		jc.Time = time.Since(t0)
		var line string
		switch {
		case err != nil:
			errored++
			jc.Error, jc.Detail = "run failed", err.Error()
			line = "error: " + err.Error()
		default:
			jc.Output = "run directory: " + out.Dir
			if path := writeReport(log, out.Dir); path != "" {
				jc.Output += "\nreport: " + path
			}
			got := out.Results.Valid
			var summary []string
			for _, res := range out.Results.Results {
				summary = append(summary, fmt.Sprintf("%s %s: %s", res.Checker, res.Valid, res.Summary))
			}
			jc.Detail = strings.Join(summary, "\n") + "\n" + jc.Output
			gotName := map[checker.Valid]string{checker.True: "valid", checker.False: "anomaly", checker.Unknown: "unknown"}[got]
			switch {
			case out.Interrupted:
				interrupted = true
				unknown++
				jc.Error = "interrupted"
				if out.Interruption != nil {
					jc.Error = out.Interruption.String()
				}
			case got == checker.Unknown:
				unknown++
				jc.Error = "verdict unknown (expected " + r.Expect + ")"
			case r.Expect == expectAny,
				r.Expect == expectValid && got == checker.True,
				r.Expect == expectAnomaly && got == checker.False:
			case r.Expect == expectAnomaly:
				failed++
				jc.Failure = "no anomaly found: the seeded bug was not caught"
			default:
				failed++
				jc.Failure = "anomaly found; expected valid"
			}
			line = fmt.Sprintf("%s (expected %s) %s", gotName, r.Expect, out.Dir)
			if jc.Failure != "" || jc.Error != "" {
				line = "NOT AS EXPECTED: " + line
			}
		}
		fmt.Fprintf(w, "[%d/%d] %s seed %d: %s, %s\n", i+1, len(c.Runs), r.Test, r.Config.Seed, line, jc.Time.Round(time.Second))
		cases = append(cases, jc)
	}
	fmt.Fprintf(w, "campaign %s: %d runs, %d not as expected, %d unknown, %d errors%s\n", c.Name, len(c.Runs),
		failed, unknown, errored, map[bool]string{true: ", interrupted", false: ""}[interrupted])
	if junit != "" {
		var buf bytes.Buffer
		if err := report.WriteJUnit(&buf, c.Name, started, cases); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(junit), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(junit, buf.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(w, "junit: %s\n", junit)
	}
	switch {
	case failed > 0:
		return verdict(exitAnomaly)
	case unknown > 0 || interrupted:
		return verdict(exitUnknown)
	case errored > 0:
		return verdict(exitInternal)
	}
	return nil
}
