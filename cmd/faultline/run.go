package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"golang.org/x/term"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/harness"
	"github.com/faultline-io/faultline/report"
	"github.com/faultline-io/faultline/store"
)

func newRunCommand(g *globals) *cobra.Command {
	cfg := store.DefaultConfig()
	var nemeses, bugs []string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run one test: start a cluster, inject faults, record and check the history",
		Example: `  faultline run --runtime local --target raft --workload register \
      --nemesis kill,pause --nodes 3 --time-limit 60s --seed 1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Nemeses = splitList(nemeses)
			cfg.Bugs = splitList(bugs)
			if err := checkTargetFileFlags(cmd.Flags(), cfg); err != nil {
				return badInput(err)
			}
			if err := harness.ValidateConfig(&cfg); err != nil {
				return badInput(err)
			}
			log := g.logger()
			live := term.IsTerminal(int(os.Stderr.Fd()))
			out, err := harness.Run(cmd.Context(), cfg, harness.RunOptions{
				Log: log, Status: os.Stderr, StatusLive: live, CommandLine: os.Args,
				MoreInterrupts: moreInterrupts(cmd.Context()),
			})
			if err != nil {
				if errors.Is(err, harness.ErrUnavailable) {
					return badInput(err)
				}
				return err
			}
			return finishRun(cmd, log, out)
		},
	}
	bindRunFlags(cmd.Flags(), &cfg, &nemeses, &bugs)
	cmd.Flags().StringVar(&cfg.TargetFile, "target-file", "",
		"YAML file describing your own system (its program or Docker image, port, health path, client), used instead of --target; see docs/byo.md")
	return cmd
}

// checkTargetFileFlags refuses flags that a target file replaces: the
// file names the target, its port and its program.
func checkTargetFileFlags(f *pflag.FlagSet, cfg store.Config) error {
	if cfg.TargetFile == "" {
		return nil
	}
	for _, name := range []string{"target", "port", "node-binary"} {
		if f.Changed(name) {
			return fmt.Errorf("--%s: give it or --target-file, not both (the target file sets the name, port and program)", name)
		}
	}
	return nil
}

// bindRunFlags defines the flags of a test on f, bound to cfg, nemeses and
// bugs (lists, split with splitList once parsed). 'run' and the tests of a
// campaign file share them, so a campaign key is a run flag's name.
func bindRunFlags(f *pflag.FlagSet, cfg *store.Config, nemeses, bugs *[]string) {
	f.StringVar(&cfg.Name, "name", "", "test name in the store (default: target-workload-nemeses)")
	f.StringVar(&cfg.Target, "target", cfg.Target, "system under test (see 'faultline targets')")
	f.StringVar(&cfg.Workload, "workload", cfg.Workload, "workload")
	f.StringSliceVar(nemeses, "nemesis", nil, "comma-separated nemeses, e.g. kill,pause (none: no faults)")
	f.StringSliceVar(bugs, "bug", nil, "seeded bug(s) to switch on in the target")
	f.IntVar(&cfg.Nodes, "nodes", cfg.Nodes, "number of nodes")
	f.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "client workers")
	f.Float64Var(&cfg.Rate, "rate", cfg.Rate, "target operations per second, all workers together")
	f.DurationVar(&cfg.TimeLimit, "time-limit", cfg.TimeLimit, "how long clients and faults run")
	f.Int64Var(&cfg.Seed, "seed", cfg.Seed, "seed for the fault schedule and the workload")
	f.StringVar(&cfg.Runtime, "runtime", cfg.Runtime, "auto, docker, netns or local")
	f.StringVar(&cfg.Store, "store", cfg.Store, "directory that receives run directories")
	f.DurationVar(&cfg.NemesisInterval, "nemesis-interval", cfg.NemesisInterval, "mean time between faults and mean fault duration")
	f.BoolVar(&cfg.NemesisOverlap, "nemesis-overlap", false, "give each nemesis its own schedule, all at once, so faults of different nemeses overlap (default: one fault at a time)")
	f.DurationVar(&cfg.OpTimeout, "op-timeout", cfg.OpTimeout, "client operation timeout (a timed-out write is recorded as info)")
	f.DurationVar(&cfg.CheckerTimeout, "checker-timeout", cfg.CheckerTimeout, "linearizability search limit; past it the verdict is unknown")
	f.Var((*memorySize)(&cfg.CheckerMemory), "checker-memory", memoryFlagUsage)
	f.DurationVar(&cfg.HealthTimeout, "health-timeout", cfg.HealthTimeout, "how long to wait for a healthy cluster")
	f.DurationVar(&cfg.QuietPeriod, "quiet-period", cfg.QuietPeriod, "after the final heal, how long rounds of reads on every node wait for the nodes to agree")
	f.StringVar(&cfg.Binary, "node-binary", "", "faultline binary used for nodes (default: this executable)")
	f.IntVar(&cfg.Port, "port", cfg.Port, "node port on runtimes where each node has its own address")
	f.IntVar(&cfg.Keys, "keys", cfg.Keys, "keys in use at once")
	f.IntVar(&cfg.OpsPerKey, "ops-per-key", cfg.OpsPerKey, "retire a key after this many operations (0: never)")
	f.StringArrayVar(&cfg.TargetOpts, "target-opt", nil, "target option KEY=VALUE (repeatable; `faultline targets` lists each target's keys)")
	f.StringVar(&cfg.Scenario, "scenario", "", "scenario file (YAML) of faults at given test times, used instead of a generated schedule, e.g. faults: [{at: 5s, nemesis: kill, select: leader, hold: 3s}]")
}

// memoryFlagUsage is --checker-memory's help.
const memoryFlagUsage = "linearizability search memory budget, e.g. 512MB, 1GB or 1GiB (default a quarter of the machine's memory); past it the undecided keys, or the bank's linearizability, are unknown"

// memorySize is a flag holding a size in bytes (checker.ParseMemorySize);
// 0 means the default budget.
type memorySize int64

func (m *memorySize) Set(s string) error {
	n, err := checker.ParseMemorySize(s)
	if err != nil {
		return err
	}
	*m = memorySize(n)
	return nil
}

func (m *memorySize) String() string {
	if *m == 0 {
		return ""
	}
	return checker.FormatMemorySize(int64(*m))
}

func (m *memorySize) Type() string { return "size" }

// splitList splits comma lists inside repeated flags and drops empties.
func splitList(xs []string) []string {
	var out []string
	for _, x := range xs {
		for _, p := range strings.Split(x, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// finishRun writes a run's report, prints its outcome and returns its
// verdict as an exit code: 2 (unknown) for an interrupted run, whatever its
// checkers found in the partial history.
func finishRun(cmd *cobra.Command, log *zap.Logger, out *harness.Outcome) error {
	reportPath := writeReport(log, out.Dir)
	lateInterrupt(cmd, log, out)
	printOutcome(cmd, out, reportPath)
	// Once more, so that only the return to main and the exit are left
	// unguarded.
	lateInterrupt(cmd, log, out)
	if out.Interruption != nil {
		fmt.Fprintf(cmd.OutOrStdout(), "run %s: verdict unknown; history and partial results are in %s\n",
			out.Interruption, out.Dir)
		if anomalyIn(out.Results) {
			fmt.Fprintln(cmd.OutOrStdout(), "(a checker found an anomaly in the partial history; see above)")
		}
		return verdict(exitUnknown)
	}
	return verdict(out.Results.Valid.ExitCode())
}

// lateInterrupt records an interrupt that arrived after harness.Run had
// returned (while the report was written) in out and results.json, so that
// no interrupt goes unrecorded.
func lateInterrupt(cmd *cobra.Command, log *zap.Logger, out *harness.Outcome) {
	sig := interruptSignal(cmd.Context())
	if out.Interruption != nil || sig == "" {
		return
	}
	out.Interruption = &store.Interruption{Phase: store.PhaseReport, Signal: sig, At: time.Now().UTC()}
	out.Interrupted = true
	out.Results.Valid = checker.Unknown
	rr, err := store.ReadRunResults(out.Dir)
	if err == nil {
		rr.Interrupted = out.Interruption
		err = store.WriteRunResults(out.Dir, rr)
	}
	if err != nil {
		log.Error("record the interrupt in results.json", zap.Error(err))
	}
}

// anomalyIn reports whether a checker found an anomaly.
func anomalyIn(res checker.Results) bool {
	for _, r := range res.Results {
		if r.Valid == checker.False {
			return true
		}
	}
	return false
}

// writeReport writes report.html into a checked run directory and returns
// its path; a run is not failed for want of a report ("" then).
func writeReport(log *zap.Logger, dir string) string {
	r, err := report.Load(dir)
	path := ""
	if err == nil {
		r.AnsweredErrors = harness.AnsweredErrors(r.Test.Config)
		path, err = report.Write(r)
	}
	if err != nil {
		log.Warn("no report", zap.String("dir", dir), zap.Error(err))
		return ""
	}
	return path
}

func printOutcome(cmd *cobra.Command, out *harness.Outcome, reportPath string) {
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "run directory: %s\n", out.Dir)
	fmt.Fprintf(w, "operations: %d ok, %d fail, %d info; %d faults\n",
		out.Counts.OK, out.Counts.Fail, out.Counts.Info, out.Counts.Nemesis)
	printResults(cmd, out.Results)
	if reportPath != "" {
		fmt.Fprintf(w, "report: %s\n", reportPath)
	}
}
