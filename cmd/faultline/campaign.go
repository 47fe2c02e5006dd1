package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/harness"
	"github.com/faultline-io/faultline/internal/campaignrun"
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

// campaignOptions are the flags of 'faultline campaign'.
type campaignOptions struct {
	junit, summary, store string
	parallel              int
	shard                 campaignrun.Shard
	failFast              bool
	timeLimit             time.Duration
}

// campaignProgressEvery is how often the progress line is printed, besides
// after each run ends.
const campaignProgressEvery = 30 * time.Second

func newCampaignCommand(g *globals) *cobra.Command {
	o := campaignOptions{parallel: 1}
	cmd := &cobra.Command{
		Use:   "campaign <file.yaml>",
		Short: "Run a file of tests over seeds, in parallel or in shards; JUnit XML and a Markdown summary for CI",
		Long: `Run every test of a campaign file once per seed and compare each verdict with what the
test expects: "valid" (the default), "anomaly" (the default for a test with a seeded bug: the
bug must be caught) or "any".

Keys of 'defaults' and of each test are 'faultline run' flags, by name; lists may be YAML
lists or comma-separated; a relative 'scenario' path is relative to the campaign file. Runs go
to --store (default: the file's 'store', else "store").

The file expands to a list of runs: tests in file order, each test's seeds in order. --parallel
N starts up to N of them at once (each has its own cluster, network and run directory).
--shard i/n runs only the i-th of n shares of that list (run k goes to shard k mod n + 1), so
n CI jobs with --shard 1/n .. n/n run every run exactly once. --fail-fast starts no run after
one ended not as expected, unknown or failed; --time-limit starts none once the campaign has
run that long (runs in flight finish, and the summary lists the runs not started). Progress
goes to stderr: runs done of the total, the runs in flight, the time so far and an estimate of
the time left.

The campaign writes its result file, campaign-<name>.json (campaign-<name>.shard-<i>-of-<n>.json
for a shard), into the store, rewritten after each run; 'faultline campaign merge' joins those
of shards into one JUnit report and summary. --junit and --summary write the report (one test
case per run) and a Markdown summary for a CI job page: counts by verdict, a table of the runs,
and for each run not as expected the commands that reproduce it.

Exit codes: 0 every run as expected; 1 some run not as expected (an anomaly where valid was
expected, or a seeded bug not caught); 2 none of those but some verdict unknown or some run
not started (interrupted, --time-limit); 255 none of those but some run failed to run; 254 a
bad campaign file (the error names the test and key) or flag.

Example file:

` + campaignExample,
		Args: func(cmd *cobra.Command, args []string) error { return badInput(cobra.ExactArgs(1)(cmd, args)) },
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.parallel < 1 {
				return badInputf("--parallel %d: want at least 1 run at a time", o.parallel)
			}
			if o.timeLimit < 0 {
				return badInputf("--time-limit %v: want a duration of at least 0 (0: none)", o.timeLimit)
			}
			c, err := loadCampaign(args[0])
			if err != nil {
				return badInput(err)
			}
			if o.store != "" {
				c.Store = o.store
				for i := range c.Runs {
					c.Runs[i].Config.Store = o.store
				}
			}
			return runCampaign(cmd, g.logger(), c, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.junit, "junit", "", "write a JUnit XML report of the campaign (one test case per run) to this file")
	f.StringVar(&o.summary, "summary", "", "write a Markdown summary for a CI job page (e.g. $GITHUB_STEP_SUMMARY) to this file")
	f.StringVar(&o.store, "store", "", "directory that receives run directories and the campaign result file (default: the file's store, else store)")
	f.IntVar(&o.parallel, "parallel", o.parallel, "runs at once")
	f.Var(&o.shard, "shard", "run only shard i of n of the campaign's runs, e.g. 2/3")
	f.BoolVar(&o.failFast, "fail-fast", false, "start no run after one ended not as expected, unknown or failed (runs in flight finish)")
	f.DurationVar(&o.timeLimit, "time-limit", 0, "start no run once the campaign has run this long (runs in flight finish; 0: no limit)")
	cmd.AddCommand(newCampaignMergeCommand(g))
	return cmd
}

// Expectations of a campaign test.
const (
	expectValid   = campaignrun.ExpectValid
	expectAnomaly = campaignrun.ExpectAnomaly
	expectAny     = campaignrun.ExpectAny
)

// campaign is a parsed campaign file: its runs in order.
type campaign struct {
	Name string
	// File is the campaign file as named, Digest its content's
	// (campaignrun.Digest), and Store the directory that receives the
	// campaign result file: the file's 'store', else "store".
	File, Digest, Store string
	Runs                []campaignRun
}

// campaignRun is one test at one seed.
type campaignRun struct {
	Test   string
	Expect string
	// Args are the 'faultline run' arguments of this run: --name, the
	// flags the file set (defaults and the test's keys) and --seed.
	Args   []string
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
	c.File = path
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
	c := campaign{Name: f.Name, Digest: campaignrun.Digest(b)}
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
		c.Store = cfg.Store // the file's, else the default
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
		flags := runArgs(fs, cfg.Scenario)
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
			args := append([]string{"--name", t.Name}, flags...)
			args = append(args, "--seed", strconv.FormatInt(s, 10))
			c.Runs = append(c.Runs, campaignRun{Test: t.Name, Expect: expect, Args: args, Config: cfg})
		}
	}
	return c, nil
}

// runArgs returns, as 'faultline run' arguments in flag-name order, the
// flags of fs that a campaign file set (its defaults and a test's keys),
// but for name and seed, which differ between runs; scenario is the
// scenario path as resolved against the campaign file.
func runArgs(fs *pflag.FlagSet, scenario string) []string {
	var args []string
	fs.Visit(func(f *pflag.Flag) {
		switch {
		case f.Name == "name" || f.Name == "seed":
		case f.Name == "scenario":
			args = append(args, "--scenario", scenario)
		case f.Value.Type() == "bool":
			args = append(args, "--"+f.Name+"="+f.Value.String())
		default:
			v := f.Value.String()
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				v = strings.Join(sv.GetSlice(), ",")
			}
			args = append(args, "--"+f.Name, v)
		}
	})
	return args
}

// plan is the campaign's runs as campaignrun sees them, in order.
func (c campaign) plan() []campaignrun.Run {
	out := make([]campaignrun.Run, len(c.Runs))
	for i, r := range c.Runs {
		out[i] = campaignrun.Run{Index: i, Test: r.Test, Seed: r.Config.Seed, Expect: r.Expect,
			TimeLimit: r.Config.TimeLimit, Command: r.Args}
	}
	return out
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

// runCampaign runs the runs of o.shard with campaignrun.Execute, printing a
// line per run on stdout and the progress on stderr, and writes the
// campaign result file into c.Store (after every run and at the end), then
// the JUnit report and the summary (also when interrupted: runs not
// started are skipped). It returns the worst outcome as the exit code
// (campaignrun.ExitCode).
func runCampaign(cmd *cobra.Command, log *zap.Logger, c campaign, o campaignOptions) error {
	w, ew := cmd.OutOrStdout(), &lockedWriter{w: cmd.ErrOrStderr()}
	started := time.Now()
	plan := c.plan()
	shard := o.shard
	if shard.Whole() {
		shard = campaignrun.Shard{}
	}
	mine := campaignrun.Select(plan, shard)
	res := campaignrun.Result{Campaign: c.Name, File: c.File, Digest: c.Digest, Shard: shard, Plan: plan,
		Parallel: o.parallel, FailFast: o.failFast, TimeLimit: o.timeLimit, Started: started.UTC(),
		CommandLine: os.Args, Version: harness.Version}
	done := map[int]campaignrun.Record{}
	// writeResult writes the result file with the runs done so far; the
	// rest are recorded not started until the campaign ends.
	writeResult := func(complete bool) (string, error) {
		res.Runs = make([]campaignrun.Record, len(mine))
		for k, r := range mine {
			rec, ok := done[r.Index]
			if !ok {
				rec = campaignrun.Record{Run: r, Verdict: campaignrun.VerdictNotStarted, Outcome: campaignrun.OutcomeNotStarted,
					Problem: "not finished: the campaign was still running, or was killed"}
			}
			res.Runs[k] = rec
		}
		res.Complete = complete
		if complete {
			res.Finished = time.Now().UTC()
		}
		return campaignrun.WriteResult(c.Store, res)
	}
	if _, err := writeResult(false); err != nil {
		return fmt.Errorf("campaign result: %w", err)
	}

	of := fmt.Sprintf("%d runs", len(plan))
	if !shard.Whole() {
		of = fmt.Sprintf("shard %s: %d of the campaign's %d runs", shard, len(mine), len(plan))
	}
	fmt.Fprintf(w, "campaign %s: %s, %d at a time\n", c.Name, of, o.parallel)
	pos := map[int]int{} // run index → place in this shard, from 1
	for k, r := range mine {
		pos[r.Index] = k + 1
	}
	progress := campaignrun.NewProgress(c.Name, mine, o.parallel, started)
	printProgress := func() { fmt.Fprintln(ew, progress.Line(time.Now())) }
	stopTicker := make(chan struct{})
	go func() {
		t := time.NewTicker(campaignProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				printProgress()
			case <-stopTicker:
				return
			}
		}
	}()
	more := newInterruptFanout(moreInterrupts(cmd.Context()))
	do := func(ctx context.Context, r campaignrun.Run) campaignrun.Record {
		runLog := log.With(zap.String("test", r.Test), zap.Int64("seed", r.Seed))
		interrupts, unsubscribe := more.subscribe()
		defer unsubscribe()
		out, err := harness.Run(ctx, c.Runs[r.Index].Config, harness.RunOptions{Log: runLog, CommandLine: os.Args,
			MoreInterrupts: interrupts})
		var rec campaignrun.Record
		if out != nil {
			rec.Dir = out.Dir
		}
		if err != nil {
			rec.Verdict, rec.Problem = campaignrun.VerdictError, err.Error()
			return rec
		}
		rec.Report = writeReport(runLog, out.Dir)
		var lines []string
		for _, res := range out.Results.Results {
			lines = append(lines, fmt.Sprintf("%s %s: %s", res.Checker, res.Valid, res.Summary))
		}
		rec.Detail = strings.Join(lines, "\n")
		rec.Verdict = map[checker.Valid]campaignrun.Verdict{checker.True: campaignrun.VerdictValid,
			checker.False: campaignrun.VerdictAnomaly, checker.Unknown: campaignrun.VerdictUnknown}[out.Results.Valid]
		if out.Interrupted {
			rec.Verdict, rec.Problem = campaignrun.VerdictUnknown, "interrupted"
			if out.Interruption != nil {
				rec.Problem = out.Interruption.String()
			}
		}
		return rec
	}
	notStarted := 0
	recs, stopped := campaignrun.Execute(cmd.Context(), mine, campaignrun.Options{
		Parallel: o.parallel, FailFast: o.failFast, TimeLimit: o.timeLimit,
		OnStart: func(r campaignrun.Run) {
			fmt.Fprintf(w, "[%d/%d] %s: running (%s)\n", pos[r.Index], len(mine), r.Label(), strings.Join(c.Runs[r.Index].Config.Nemeses, ","))
			progress.Start(r, time.Now())
		},
		OnFinish: func(rec campaignrun.Record) {
			progress.Finish(rec)
			done[rec.Index] = rec
			if rec.Outcome == campaignrun.OutcomeNotStarted {
				notStarted++
				return
			}
			var line string
			switch {
			case rec.Verdict == campaignrun.VerdictError:
				line = "error: " + rec.Problem
			default:
				line = fmt.Sprintf("%s (expected %s) %s", rec.Verdict, rec.Expect, rec.Dir)
			}
			if rec.Unexpected() {
				line = "NOT AS EXPECTED: " + line
			}
			fmt.Fprintf(w, "[%d/%d] %s: %s, %s\n", pos[rec.Index], len(mine), rec.Label(), line, rec.Duration.Round(time.Second))
			if _, err := writeResult(false); err != nil {
				log.Warn("write the campaign result", zap.Error(err))
			}
			printProgress()
		},
	}, do)
	close(stopTicker)
	more.stop()
	res.Stopped = stopped

	if notStarted > 0 {
		fmt.Fprintf(w, "%d runs not started: %s\n", notStarted, stopped)
	}
	fmt.Fprintf(w, "campaign %s: %s\n", c.Name, campaignrun.Count(recs).Line())
	path, err := writeResult(true)
	if err != nil {
		return fmt.Errorf("campaign result: %w", err)
	}
	fmt.Fprintf(w, "result: %s\n", path)
	if err := writeCampaignReports(w, res, o.junit, o.summary); err != nil {
		return err
	}
	return verdict(campaignrun.ExitCode(recs))
}

// writeCampaignReports writes the JUnit report and the Markdown summary of
// r to the files named ("" for none) and says where.
func writeCampaignReports(w io.Writer, r campaignrun.Result, junit, summary string) error {
	for _, out := range []struct {
		what, path string
		write      func(io.Writer, campaignrun.Result) error
	}{{"junit", junit, campaignrun.WriteJUnit}, {"summary", summary, campaignrun.WriteSummary}} {
		if out.path == "" {
			continue
		}
		var buf bytes.Buffer
		if err := out.write(&buf, r); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(out.path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(out.path, buf.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s: %s\n", out.what, out.path)
	}
	return nil
}

// interruptFanout hands every interrupt after the first (moreInterrupts)
// to each run in flight, so that a second Ctrl-C cuts all of them short,
// not just the one that happened to read it.
type interruptFanout struct {
	mu   sync.Mutex
	subs map[chan os.Signal]bool
	done chan struct{}
}

// newInterruptFanout forwards src (which may be nil) until stop.
func newInterruptFanout(src <-chan os.Signal) *interruptFanout {
	f := &interruptFanout{subs: map[chan os.Signal]bool{}, done: make(chan struct{})}
	if src == nil {
		return f
	}
	go func() {
		for {
			select {
			case <-f.done:
				return
			case s := <-src:
				f.mu.Lock()
				for c := range f.subs {
					select {
					case c <- s:
					default: // one pending is enough
					}
				}
				f.mu.Unlock()
			}
		}
	}()
	return f
}

// subscribe returns a channel of the interrupts from now on, and the
// function that ends the subscription.
func (f *interruptFanout) subscribe() (<-chan os.Signal, func()) {
	c := make(chan os.Signal, 1)
	f.mu.Lock()
	f.subs[c] = true
	f.mu.Unlock()
	return c, func() {
		f.mu.Lock()
		delete(f.subs, c)
		f.mu.Unlock()
	}
}

// stop ends the forwarding.
func (f *interruptFanout) stop() { close(f.done) }

// lockedWriter serializes writes of lines from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
