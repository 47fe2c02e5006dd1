package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"golang.org/x/term"

	"github.com/faultline-io/faultline/compare"
	"github.com/faultline-io/faultline/harness"
	"github.com/faultline-io/faultline/store"
)

func newReplayCommand(g *globals) *cobra.Command {
	var runtime, storeDir string
	cmd := &cobra.Command{
		Use:   "replay <run-dir | comparison-dir>",
		Short: "Run a recorded test or comparison again: same config, seed, fault schedule and workload",
		Long: `Run the test recorded in <run-dir>/test.json again, into a new run directory, and check it.

The seed fixes the fault schedule (which nemesis, when, for how long, which selection and
parameters) and every client's operation sequence, so a replay injects the same faults at the
same test times. What cannot be fixed is the system's timing: which node is leader when a
"leader" fault fires, and how client operations interleave. Compare the two schedule.json files
to see what was applied.

By default the replay uses the runtime the original run used and writes next to it (the
original's store); --runtime and --store change that. Exit codes are those of 'run'.

A comparison directory (one holding compare.json, made by 'faultline compare') is compared
again: every target, the same schedule, into a new comparison directory next to it; exit codes
are then those of 'compare'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// store/latest is a link: resolve it, to write next to the
			// run it points to and to record which run this replays.
			dir, err := filepath.EvalSymlinks(args[0])
			if err != nil {
				return badInput(err)
			}
			if compare.IsDir(dir) {
				return replayComparison(cmd, g, dir, runtime, storeDir)
			}
			tr, err := store.ReadTestRecord(dir)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return badInputf("%s: not a run directory (no %s)", dir, store.TestFile)
				}
				return badInput(err)
			}
			log := g.logger()
			cfg := tr.Config
			cfg.Runtime = tr.Runtime
			if runtime != "" {
				cfg.Runtime = runtime
			}
			cfg.Store = filepath.Dir(filepath.Dir(dir)) // store/<name>/<time>
			if storeDir != "" {
				cfg.Store = storeDir
			}
			cfg.Binary = "" // this executable: the recorded path may not exist here
			if cfg.Scenario != "" {
				// The run kept a copy: the original path may be gone or edited.
				cfg.Scenario = filepath.Join(dir, store.ScenarioFile)
			}
			if cfg.TargetFile != "" {
				// Its copy, likewise; relative paths in it still resolve
				// against the original's directory (cfg.TargetDir), and
				// ValidateConfig checks it against the recorded hash.
				cfg.TargetFile = filepath.Join(dir, store.TargetFileCopy)
			}
			if err := harness.ValidateConfig(&cfg); err != nil {
				return badInput(fmt.Errorf("%s: %w", filepath.Join(dir, store.TestFile), err))
			}
			if tr.Version != harness.Version {
				log.Warn("replaying a run recorded by another faultline version; schedules and workloads may differ",
					zap.String("recorded", tr.Version), zap.String("this", harness.Version))
			}
			abs, _ := filepath.Abs(dir)
			out, err := harness.Run(cmd.Context(), cfg, harness.RunOptions{
				Log: log, Status: os.Stderr, StatusLive: term.IsTerminal(int(os.Stderr.Fd())),
				CommandLine: os.Args, ReplayOf: abs, MoreInterrupts: moreInterrupts(cmd.Context()),
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
	f := cmd.Flags()
	f.StringVar(&runtime, "runtime", "", "runtime (default: the one the recorded run used)")
	f.StringVar(&storeDir, "store", "", "directory that receives the run directory (default: the recorded run's store)")
	return cmd
}
