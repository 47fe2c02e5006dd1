package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"golang.org/x/term"

	"github.com/faultline-io/faultline/compare"
	"github.com/faultline-io/faultline/harness"
	"github.com/faultline-io/faultline/nemesis"
	"github.com/faultline-io/faultline/store"
	"github.com/faultline-io/faultline/targets"
)

// compareRunFlags are the flags of 'run' that 'compare' shares: the test
// every target runs. A run's --target, --name, --bug, --scenario and
// --nemesis-overlap have no place in a comparison.
var compareRunFlags = []string{"workload", "nemesis", "nodes", "concurrency", "rate", "time-limit", "seed",
	"runtime", "store", "nemesis-interval", "op-timeout", "checker-timeout", "checker-memory", "health-timeout", "quiet-period",
	"node-binary", "port", "keys", "ops-per-key"}

func newCompareCommand(g *globals) *cobra.Command {
	cfg := compare.Config{Parallel: 1, Test: store.DefaultConfig()}
	cfg.Test.Target = "" // set per run
	var nemeses, bugs []string
	cmd := &cobra.Command{
		Use:   "compare",
		Short: "Run one test against several targets under one fault schedule and compare them",
		Long: `Run the same test (workload, nemeses, nodes, time limit, seed...) against each of --targets,
under one fault schedule, and compare the runs: each checker's verdict, availability overall and
during each kind of fault, ok latency p50/p99, throughput, convergence time and the time
participants stayed blocked in doubt (where the target reports it).

One schedule: it is drawn once from the seed, from the selections every target understands (no
role selections such as leader), and every run applies the same faults at the same test times
with the same seeds, so the same nodes n1..nN are hit. A role-aimed nemesis is aimed at each
target's own role: partition-leader is partition-leader on raft and partition-coordinator on
twopc; kill-coordinator is kill-coordinator on twopc and a kill of the leader on raft; a target
without roles (crdt) cannot take one (exit 254). Afterwards the schedule.json of every run is
compared with the plan and the others, and the output says whether they are identical.

The comparison directory is <store>/compare-<workload>[-<nemeses>]/<time>/. It is a store of its
runs: each target's run is a normal run directory <target>/<time>/ in it (its report.html,
'faultline check', 'faultline replay' work as for any run), next to scenario-<target>.yaml (the
schedule as that target took it), compare.json (the config, command line, each target's run
directory and numbers, the schedule check) and compare.html (self-contained, like report.html).
'faultline replay <comparison dir>' runs the whole comparison again.

Exit codes: 0 when every run completed and was checked, whatever the verdicts (a target found
not linearizable is a finding shown in the table, not a failure of the command); 2 when some
run's verdict is unknown, a run could not be checked, or an interrupt stopped the comparison;
254 for bad input (unknown target or nemesis, bad flag, a nemesis a target cannot take or the
runtime cannot apply); 255 when a run failed with a harness error (the other runs still run
and are compared).`,
		Example: `  faultline compare --targets raft,crdt,twopc --workload register --nemesis partition \
      --time-limit 60s --seed 7
  faultline compare --runtime local --targets raft,crdt,twopc --nemesis kill --time-limit 10s --parallel 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Test.Nemeses = splitList(nemeses)
			cfg.Test.Bugs = splitList(bugs)
			cfg.Targets = splitList(cfg.Targets)
			return runComparison(cmd, g, cfg, nil)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&cfg.Targets, "targets", nil, "comma-separated targets to compare, e.g. raft,crdt,twopc (see 'faultline targets')")
	f.IntVar(&cfg.Parallel, "parallel", cfg.Parallel, "how many runs go at once (1: one after another)")
	shared := pflag.NewFlagSet("run", pflag.ContinueOnError)
	bindRunFlags(shared, &cfg.Test, &nemeses, &bugs)
	for _, name := range compareRunFlags {
		f.AddFlag(shared.Lookup(name))
	}
	return cmd
}

// comparisonReplay is what 'faultline replay' of a comparison directory
// knows of the comparison it replays.
type comparisonReplay struct {
	dir      string            // the comparison directory replayed, absolute
	runs     map[string]string // target → its run directory there, absolute
	schedule []compare.Fault   // the schedule it recorded
}

// runComparison plans the comparison cfg, runs it into a new comparison
// directory, writes compare.json and compare.html, prints the table and
// returns the exit code (compare.Record.ExitCode; 254 for bad input or a
// nemesis the runtime cannot apply). replay is nil for a new comparison.
func runComparison(cmd *cobra.Command, g *globals, cfg compare.Config, replay *comparisonReplay) error {
	log := g.logger()
	w := &syncWriter{w: cmd.OutOrStdout()}
	plan, err := compare.NewPlan(cfg, compareCatalog())
	if err != nil {
		return badInput(err)
	}
	if err := validateComparisonRuns(plan); err != nil {
		return badInput(err)
	}
	if replay != nil && !reflect.DeepEqual(plan.Faults, replay.schedule) {
		log.Warn("this faultline draws another schedule than the one recorded (another version?); the replay uses its own",
			zap.String("replaying", replay.dir))
	}
	started := time.Now()
	dir, err := compare.NewDir(cfg.Test.Store, cfg.Name(), started)
	if err != nil {
		return err
	}
	configs, scenarios, err := writeComparisonRuns(plan, dir)
	if err != nil {
		return err
	}
	printPlan(w, plan, dir)

	outs := executeComparison(cmd, log, w, configs, cfg.Parallel, replay)

	rec := compare.Collect(dir, plan, outs, scenarios, answeredErrors)
	rec.CommandLine, rec.Version, rec.GitRevision = os.Args, harness.Version, harness.GitRevision
	rec.Started, rec.Finished = started.UTC(), time.Now().UTC()
	rec.Interrupted = cmd.Context().Err() != nil
	if replay != nil {
		rec.ReplayOf = replay.dir
	}
	if err := rec.Write(dir); err != nil {
		return fmt.Errorf("write %s: %w", compare.RecordFile, err)
	}
	htmlPath, herr := compare.WriteHTML(dir, rec)
	fmt.Fprintln(w)
	if err := compare.PrintTable(w, dir, rec); err != nil {
		return err
	}
	fmt.Fprintf(w, "comparison: %s\n", filepath.Join(dir, compare.RecordFile))
	if herr != nil {
		log.Warn("no compare.html", zap.Error(herr))
	} else {
		fmt.Fprintf(w, "page: %s\n", htmlPath)
	}
	return comparisonExit(rec, outs)
}

// compareCatalog is what planning a comparison needs of the nemesis and
// target packages.
func compareCatalog() compare.Catalog {
	return compare.Catalog{Schedule: neutralSchedule, DefaultSelect: defaultSelect, Aim: aimAt}
}

// neutralSchedule draws test's schedule as a run of a target without roles
// would (the same options as the harness's generated schedule, selections
// from nemesis.NeutralSelects), with each fault's test time.
func neutralSchedule(test store.Config) ([]compare.Fault, error) {
	selects, err := nemesis.NeutralSelects(test.Nemeses)
	if err != nil {
		return nil, fmt.Errorf("nemesis: %w", err)
	}
	if test.NemesisInterval <= 0 {
		return nil, fmt.Errorf("nemesis-interval: %v: must be positive", test.NemesisInterval)
	}
	steps, err := nemesis.Schedule(nemesis.ScheduleOptions{Nemeses: test.Nemeses, Selects: selects,
		Interval: test.NemesisInterval, Until: test.TimeLimit - test.NemesisInterval/2, Seed: test.Seed})
	if err != nil {
		return nil, err
	}
	var faults []compare.Fault
	var at time.Duration
	for _, s := range steps {
		at += s.Quiet
		faults = append(faults, compare.Fault{At: at, Hold: s.Hold, Nemesis: s.Fault.Nemesis, Select: s.Fault.Select, Seed: s.Fault.Seed})
		at += s.Hold
	}
	return faults, nil
}

// defaultSelect is the selection every fault of a role-aimed nemesis
// gets in a neutral schedule (kill-coordinator: coordinator), else "".
func defaultSelect(name string) string {
	if nemesis.RoleNeeded(name, "") == "" {
		return ""
	}
	sel, err := nemesis.NeutralSelects([]string{name})
	if err != nil || len(sel[name]) != 1 {
		return ""
	}
	return sel[name][0]
}

// aimAt is how target takes a fault of nemesis name with selection sel
// (nemesis.AimAt with the target's roles).
func aimAt(target, name, sel string) (compare.Aim, error) {
	t, err := targets.Get(target)
	if err != nil {
		return compare.Aim{}, fmt.Errorf("targets: %w", err)
	}
	a, err := nemesis.AimAt(name, sel, t.Roles())
	if err != nil {
		return compare.Aim{}, fmt.Errorf("target %s cannot take nemesis %s: %w", target, name, err)
	}
	return compare.Aim{Nemesis: a.Nemesis, Select: a.Select}, nil
}

// validateComparisonRuns checks each planned run's config against its
// target (harness.ValidateConfig) before anything is made.
func validateComparisonRuns(p compare.Plan) error {
	for i := range p.Runs {
		c := p.RunConfig(i, p.Config.Test.Store, "")
		if err := harness.ValidateConfig(&c); err != nil {
			return fmt.Errorf("target %s: %w", p.Runs[i].Target, err)
		}
	}
	return nil
}

// writeComparisonRuns writes each run's scenario file into the comparison
// directory dir and returns the runs' validated configs and the scenario
// paths ("" for none: a schedule without faults).
func writeComparisonRuns(p compare.Plan, dir string) ([]store.Config, []string, error) {
	var configs []store.Config
	var scenarios []string
	for i, r := range p.Runs {
		var path string
		if len(r.Faults) > 0 {
			path = filepath.Join(dir, compare.ScenarioFile(r.Target))
			if err := os.WriteFile(path, r.ScenarioYAML(p.Config.Name()), 0o644); err != nil {
				return nil, nil, err
			}
		}
		c := p.RunConfig(i, dir, path)
		if err := harness.ValidateConfig(&c); err != nil {
			return nil, nil, fmt.Errorf("internal error: the planned run of %s: %w", r.Target, err)
		}
		configs = append(configs, c)
		scenarios = append(scenarios, path)
	}
	return configs, scenarios, nil
}

// printPlan says what is about to run.
func printPlan(w io.Writer, p compare.Plan, dir string) {
	c := p.Config
	how := "one run at a time"
	if c.Parallel > 1 {
		how = fmt.Sprintf("%d runs at a time", c.Parallel)
	}
	nems := strings.Join(c.Test.Nemeses, ",")
	if nems == "" {
		nems = "no faults"
	}
	faults := fmt.Sprintf("%d faults", len(p.Faults))
	if len(p.Faults) == 1 {
		faults = "1 fault"
	}
	fmt.Fprintf(w, "compare %s: %s under %s, %s planned (seed %d, %v), %s\n",
		strings.Join(c.Targets, ", "), c.Test.Workload, nems, faults, c.Test.Seed, c.Test.TimeLimit, how)
	for _, n := range c.Test.Nemeses {
		var takes []string
		for _, r := range p.Runs {
			if a, ok := r.Aims[n]; ok {
				s := r.Target + " as " + a.Nemesis
				if a.Select != "" {
					s += " with select " + a.Select
				}
				takes = append(takes, s)
			}
		}
		if len(takes) > 0 {
			fmt.Fprintf(w, "%s aimed at each target's role: %s\n", n, strings.Join(takes, ", "))
		}
	}
	fmt.Fprintf(w, "comparison directory: %s\n", dir)
}

// executeComparison runs the comparison's runs (compare.Execute with
// harness.Run), printing a line as each starts and ends. Every interrupt
// after the first reaches every run in flight.
func executeComparison(cmd *cobra.Command, log *zap.Logger, w io.Writer, configs []store.Config, parallel int,
	replay *comparisonReplay) []compare.Outcome {
	live := parallel == 1 && term.IsTerminal(int(os.Stderr.Fd()))
	more, stopFan := fanInterrupts(moreInterrupts(cmd.Context()), len(configs))
	defer stopFan()
	run := func(ctx context.Context, i int, c store.Config) (string, error) {
		runLog := log.With(zap.String("target", c.Target))
		opts := harness.RunOptions{Log: runLog, Status: os.Stderr, StatusLive: live, CommandLine: os.Args,
			MoreInterrupts: more[i]}
		if replay != nil {
			opts.ReplayOf = replay.runs[c.Target]
		}
		out, err := harness.Run(ctx, c, opts)
		var dir string
		if out != nil {
			dir = out.Dir
		}
		if err != nil {
			return dir, err
		}
		writeReport(runLog, out.Dir)
		return dir, nil
	}
	n := len(configs)
	return compare.Execute(cmd.Context(), configs, run, compare.Options{
		Parallel: parallel,
		Stop:     func(err error) bool { return errors.Is(err, harness.ErrUnavailable) },
		OnStart: func(i int, target string) {
			fmt.Fprintf(w, "[%d/%d] %s: running\n", i+1, n, target)
		},
		OnFinish: func(i int, o compare.Outcome) {
			what, why := compare.VerdictOf(o)
			if why != "" {
				what += " (" + why + ")"
			}
			fmt.Fprintf(w, "[%d/%d] %s: %s, %s, %s\n", i+1, n, o.Target, what,
				o.Finished.Sub(o.Started).Round(time.Second), o.Dir)
		},
	})
}

// comparisonExit is the comparison's exit: 254 when a run was refused for
// want of what a nemesis needs (the same for every run), else the
// record's exit code with, for a harness error, the first such error.
func comparisonExit(rec compare.Record, outs []compare.Outcome) error {
	for _, o := range outs {
		if o.Err != nil && errors.Is(o.Err, harness.ErrUnavailable) {
			return badInput(fmt.Errorf("target %s: %w", o.Target, o.Err))
		}
	}
	code := rec.ExitCode()
	if code == compare.ExitRunError {
		for _, o := range outs {
			if o.Err != nil {
				return &exitError{code: exitInternal, err: fmt.Errorf("the run of %s failed: %w", o.Target, o.Err)}
			}
		}
	}
	return verdict(code)
}

// fanInterrupts hands every signal from src (nil: none) to each of n
// channels, which keep one pending each, until stop: a second Ctrl-C cuts
// every run in flight short, not only the one that would have read it.
func fanInterrupts(src <-chan os.Signal, n int) (chans []<-chan os.Signal, stop func()) {
	outs := make([]chan os.Signal, n)
	for i := range outs {
		outs[i] = make(chan os.Signal, 1)
		chans = append(chans, outs[i])
	}
	done := make(chan struct{})
	if src != nil {
		go func() {
			for {
				select {
				case <-done:
					return
				case s := <-src:
					for _, c := range outs {
						select {
						case c <- s:
						default:
						}
					}
				}
			}
		}()
	}
	var once sync.Once
	return chans, func() { once.Do(func() { close(done) }) }
}

// syncWriter serializes writes from the runs' goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// replayComparison runs the comparison recorded in the comparison
// directory dir again, into a new comparison directory next to it (or
// under storeDir), on the runtime its runs used (or runtime).
func replayComparison(cmd *cobra.Command, g *globals, dir, runtime, storeDir string) error {
	rec, err := compare.ReadRecord(dir)
	if err != nil {
		return badInput(err)
	}
	abs, _ := filepath.Abs(dir)
	cfg := rec.Config
	cfg.Test.Store = filepath.Dir(filepath.Dir(dir)) // <store>/compare-.../<time>
	if storeDir != "" {
		cfg.Test.Store = storeDir
	}
	cfg.Test.Binary = "" // this executable: the recorded path may not exist here
	replay := &comparisonReplay{dir: abs, runs: map[string]string{}, schedule: rec.Schedule}
	for _, r := range rec.Runs {
		if r.Dir == "" {
			continue
		}
		runDir := filepath.Join(abs, filepath.FromSlash(r.Dir))
		replay.runs[r.Target] = runDir
		if tr, err := store.ReadTestRecord(runDir); err == nil && tr.Runtime != "" && cfg.Test.Runtime == "auto" {
			cfg.Test.Runtime = tr.Runtime // the runtime the runs used
		}
	}
	if runtime != "" {
		cfg.Test.Runtime = runtime
	}
	if !slices.Equal(cfg.Targets, targetsOf(rec)) {
		return badInputf("%s: its config and its runs name different targets", filepath.Join(dir, compare.RecordFile))
	}
	return runComparison(cmd, g, cfg, replay)
}

// targetsOf lists the targets of a comparison's runs, in order.
func targetsOf(rec compare.Record) []string {
	var ts []string
	for _, r := range rec.Runs {
		ts = append(ts, r.Target)
	}
	return ts
}
