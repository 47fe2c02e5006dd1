package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/harness"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/store"
	"github.com/faultline-io/faultline/targets"
)

func newCheckCommand(g *globals) *cobra.Command {
	var (
		checkers []string
		format   string
		timeout  time.Duration
		memory   int64
		outDir   string
		workload string
	)
	cmd := &cobra.Command{
		Use:   "check <run-dir | history-file>",
		Short: "Check a recorded history offline",
		Long: `Check a history offline and exit 0 (valid), 1 (anomaly), 2 (unknown) or 254 (bad input).

A run directory is checked with the checkers its test used, and results.json in it is
rewritten. A run that was interrupted (results.json says so) or whose harness died
(running.json was left) is unknown (2) whatever its partial history holds. A history file is checked with --checker (default linearizable,stats);
--format jepsen reads Jepsen EDN or jepsen.log histories.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The collector is off while the history is read, then at
			// GOGC 400 (see readPhase); a GOGC the user set is kept.
			endRead := func() {}
			if os.Getenv("GOGC") == "" {
				endRead = readPhase()
			}
			path := args[0]
			st, err := os.Stat(path)
			if err != nil {
				return badInput(err)
			}
			names := splitList(checkers)
			var ops []history.Op
			var prev store.RunResults // what the run itself recorded
			dir := outDir
			// A history file is checked as one of --workload on the
			// default target; a run directory as its test.
			cfg := store.DefaultConfig()
			cfg.Workload = workload
			switch {
			case st.IsDir():
				if prev, err = runState(path); err != nil {
					return badInput(err)
				}
				if format != "jsonl" {
					return badInputf("--format %s: a run directory holds a jsonl history", format)
				}
				tr, terr := store.ReadTestRecord(path)
				switch {
				case terr == nil:
					cfg = tr.Config
				case !errors.Is(terr, fs.ErrNotExist):
					return badInput(terr)
				}
				if len(names) == 0 {
					names = tr.Checkers
				}
				if dir == "" {
					dir = path
				}
				ops, err = history.ReadFile(filepath.Join(path, store.HistoryFile))
			case format == "jsonl":
				ops, err = history.ReadFile(path)
			case format == "jepsen":
				ops, err = history.ReadJepsenFile(path)
			default:
				return badInputf("--format %q: want jsonl or jepsen", format)
			}
			if err != nil {
				var pe *history.ParseError
				if !errors.As(err, &pe) { // a ParseError names the file already
					err = fmt.Errorf("%s: %w", path, err)
				}
				return badInput(err)
			}
			endRead()
			if len(names) == 0 {
				names = []string{"linearizable", "stats"}
			}
			opts := store.CheckerOptions(cfg, dir, harness.AnsweredErrors(cfg))
			opts.Linearizable.Timeout = timeout
			if memory != 0 { // else the test's, or the default
				opts.Linearizable.MemoryBudget = memory
				opts.Bank.MemoryBudget = memory
			}
			res, err := checker.Run(names, ops, opts)
			if err != nil {
				return badInput(err)
			}
			// A partial history keeps the verdict unknown, whatever it holds.
			incomplete := prev.Incomplete()
			if incomplete != "" {
				res.Valid = checker.Unknown
			}
			if st.IsDir() && outDir == "" {
				rr := store.RunResults{Results: res, Interrupted: prev.Interrupted, Unfinished: prev.Unfinished}
				if err := store.WriteRunResults(path, rr); err != nil {
					return err
				}
			}
			printResults(cmd, res)
			if incomplete != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: verdict unknown (the history is partial)\n", incomplete)
			}
			if st.IsDir() && outDir == "" {
				// The report shows the verdict: keep it in step.
				if p := writeReport(g.logger(), path); p != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "report: %s\n", p)
				}
			}
			return verdict(res.Valid.ExitCode())
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&checkers, "checker", nil, "checkers to run (default: the test's, or linearizable,stats)")
	f.StringVar(&format, "format", "jsonl", "history format: jsonl or jepsen")
	f.DurationVar(&timeout, "checker-timeout", 60*time.Second, "linearizability search limit; past it the verdict is unknown")
	f.Var((*memorySize)(&memory), "checker-memory", memoryFlagUsage)
	f.StringVar(&workload, "workload", "register", "the workload a history file records, for the convergence checker (a run directory's test says)")
	f.StringVar(&outDir, "out", "", "directory for files checkers write (default: the run directory; none for a file)")
	return cmd
}

// runState is what a run directory says about how its run ended: the
// interruption results.json records, or, when running.json was left, the
// phase its harness died in.
func runState(dir string) (store.RunResults, error) {
	var rr store.RunResults
	prev, err := store.ReadRunResults(dir)
	switch {
	case err == nil:
		rr.Interrupted, rr.Unfinished = prev.Interrupted, prev.Unfinished
	case !errors.Is(err, fs.ErrNotExist):
		return rr, err
	}
	running, err := store.ReadRunningRecord(dir)
	switch {
	case err == nil:
		if rr.Interrupted == nil {
			rr.Unfinished = &running
		}
	case !errors.Is(err, fs.ErrNotExist):
		return rr, err
	}
	return rr, nil
}

// answeredErrors returns the errors of failed operations that the target
// named target answers with (targets.Target.AnsweredErrors), which
// availability counts as served; none for a target that is not registered
// (an imported history's).
func answeredErrors(target string) []string {
	t, err := targets.Get(target)
	if err != nil {
		return nil
	}
	return t.AnsweredErrors()
}

func printResults(cmd *cobra.Command, res checker.Results) {
	w := cmd.OutOrStdout()
	for _, r := range res.Results {
		fmt.Fprintf(w, "  %-14s %-8s %s\n", r.Checker, r.Valid, r.Summary)
		for _, f := range r.Files {
			fmt.Fprintf(w, "  %-14s          see %s\n", "", f)
		}
	}
	fmt.Fprintf(w, "valid: %s\n", res.Valid)
}

// readPhase turns the collector off until the returned function is called,
// with a soft memory limit of the checkers' default budget so that garbage
// still gets collected near it (the Jepsen reader makes some); the
// returned function restores the limit and sets GOGC 400.
//
// Why: what the history decoder allocates is the history itself, so a
// cycle during the read frees nothing, and its marking reads the fresh
// pages of the op slice before the decoder writes them, mapping the zero
// page and then copying it on the write with a TLB shootdown per page:
// measured here, 0.5 s of system time on a 1,000,000-op history, half of
// 'faultline check'. After the read, GOGC 400: the history stays live to
// the end, so collecting at every doubling only costs time; the checkers'
// memory budget lowers the soft limit while they search, which makes the
// collector run as the heap nears the budget whatever this setting.
func readPhase() (restore func()) {
	limit := debug.SetMemoryLimit(-1)
	debug.SetMemoryLimit(min(limit, checker.DefaultMemoryBudget()))
	debug.SetGCPercent(-1)
	return func() {
		debug.SetMemoryLimit(limit)
		debug.SetGCPercent(400)
	}
}
