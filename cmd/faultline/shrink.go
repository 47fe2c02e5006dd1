package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/harness"
	"github.com/faultline-io/faultline/nemesis"
	"github.com/faultline-io/faultline/shrink"
	"github.com/faultline-io/faultline/store"
)

// ShrunkScenarioFile is the scenario 'shrink' writes into the run directory.
const ShrunkScenarioFile = "shrunk-scenario.yaml"

func newShrinkCommand(g *globals) *cobra.Command {
	var outPath string
	var maxTests, seeds int
	cmd := &cobra.Command{
		Use:   "shrink <run-dir>",
		Short: "Reduce a failing run's faults to the smallest scenario that still fails (re-running in the simulator)",
		Long: `Take a failing run (simulated or real) of a bundled target and find a small fault timeline
that still fails: its faults as they happened become a scenario (each with its own seed, so
every draw is the same), which is re-run in the simulator with the run's seed, target, bug,
workload and flags while shrink drops faults (delta debugging), shortens holds, narrows
selections and shortens the run. The smallest scenario that still fails is written to
<run-dir>/` + ShrunkScenarioFile + ` (or --out), with the original and final sizes. It is an
ordinary scenario file: 'faultline run --scenario FILE' runs it unchanged on docker.

Exit codes: 0 shrunk (or already minimal), 2 the run does not fail when re-run in the
simulator (nothing to shrink), 254 bad input.`,
		Example: `  faultline sim --target raft --bug lease-read --nemesis clock-strobe,partition-leader --nemesis-overlap --seed 4 --time 2m
  faultline shrink store/latest`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := filepath.EvalSymlinks(args[0])
			if err != nil {
				return badInput(err)
			}
			tr, err := store.ReadTestRecord(dir)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return badInputf("%s: not a run directory (no %s)", dir, store.TestFile)
				}
				return badInput(err)
			}
			var sched []harness.ScheduleEntry
			b, err := os.ReadFile(filepath.Join(dir, store.ScheduleFile))
			if err == nil {
				err = json.Unmarshal(b, &sched)
			}
			if err != nil {
				return badInputf("%s: %v", filepath.Join(dir, store.ScheduleFile), err)
			}
			var faults []nemesis.Fault
			var start, healed []int64
			for _, e := range sched {
				if e.Applied { // a fault that was not applied did nothing
					faults = append(faults, e.Fault)
					start, healed = append(start, e.Start), append(healed, max(e.Healed, e.Start+1))
				}
			}
			if len(faults) == 0 {
				return badInputf("%s: the run applied no faults: nothing to shrink", dir)
			}
			base := tr.Config
			base.Runtime, base.Scenario, base.Nemeses, base.NemesisOverlap = harness.RuntimeSim, "", nil, false
			base.Binary, base.TargetFile = "", ""
			work, err := os.MkdirTemp("", "faultline-shrink-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(work)
			log := g.logger()
			w := cmd.OutOrStdout()
			began := time.Now()
			// runOne runs c in the simulator with seed and reports whether
			// a checker found an anomaly.
			runs := 0
			runOne := func(c shrink.Candidate, seed int64) (bool, error) {
				runs++
				cfg := base
				cfg.Seed = seed
				cfg.Scenario = filepath.Join(work, "candidate.yaml")
				cfg.TimeLimit = c.TimeLimit
				cfg.Store = filepath.Join(work, "store")
				defer os.RemoveAll(cfg.Store)
				text, err := nemesis.MarshalScenario(c.Faults, "")
				if err != nil {
					return false, err
				}
				if err := os.WriteFile(cfg.Scenario, text, 0o644); err != nil {
					return false, err
				}
				if err := harness.ValidateConfig(&cfg); err != nil {
					return false, nil // not a valid scenario for this target: it does not fail
				}
				out, err := harness.Run(cmd.Context(), cfg, harness.RunOptions{Log: zap.NewNop()})
				if err != nil {
					if errors.Is(err, harness.ErrUnavailable) {
						return false, badInput(err)
					}
					return false, err
				}
				return out.Results.Valid == checker.False, nil
			}
			// A candidate fails when it fails on at least as many of the
			// seeds as the run's own faults do (need, set below), so that
			// what shrink keeps fails for more than one timing.
			need := 0
			try := func(c shrink.Candidate) (bool, error) {
				failed := 0
				for i := range seeds {
					if failed+seeds-i < need {
						return false, nil // cannot reach need
					}
					f, err := runOne(c, base.Seed+int64(i))
					if err != nil {
						return false, err
					}
					if f {
						failed++
					} else if i == 0 {
						return false, nil // the run's own seed must fail
					}
					if failed >= need && need > 0 {
						return true, nil
					}
				}
				return failed >= max(need, 1), nil
			}
			first := shrink.Candidate{Faults: nemesis.ScenarioOf(faults, start, healed), TimeLimit: base.TimeLimit}
			if seeds < 1 {
				return badInputf("--seeds: %d: must be at least 1", seeds)
			}
			for i := range seeds {
				f, err := runOne(first, base.Seed+int64(i))
				if err != nil {
					return err
				}
				if f {
					need++
				} else if i == 0 {
					need = 0
					break
				}
			}
			if need == 0 {
				fmt.Fprintln(w, shrink.ErrNotFailing)
				return verdict(exitUnknown)
			}
			fmt.Fprintf(w, "shrinking %s: %s; it fails in the simulator on %d of seeds %d..%d, and so must every smaller candidate\n",
				dir, shrink.SizeOf(first), need, base.Seed, base.Seed+int64(seeds)-1)
			best, candidates, err := shrink.Shrink(first, try, shrink.Options{MaxTests: maxTests, Log: func(step string, c shrink.Candidate) {
				fmt.Fprintf(w, "  still fails with %s (%s)\n", shrink.SizeOf(c), step)
			}})
			if err != nil {
				if errors.Is(err, shrink.ErrNotFailing) {
					fmt.Fprintf(w, "%v\n", err)
					return verdict(exitUnknown)
				}
				return err
			}
			if outPath == "" {
				outPath = filepath.Join(dir, ShrunkScenarioFile)
			}
			bug := ""
			for _, b := range base.Bugs {
				bug += " --bug " + b
			}
			reproduce := fmt.Sprintf("--target %s --workload %s --nodes %d%s --seed %d --scenario %s",
				base.Target, base.Workload, base.Nodes, bug, base.Seed, outPath)
			comment := fmt.Sprintf("Shrunk by 'faultline shrink %s' in %d candidates, %d simulated runs (%v):\n"+
				"from %s\nto   %s.\nReproduce:\n  faultline sim %s --time %v\n  faultline run --runtime docker %s --time-limit %v",
				dir, candidates, runs, time.Since(began).Round(time.Millisecond), shrink.SizeOf(first), shrink.SizeOf(best),
				reproduce, best.TimeLimit, reproduce, best.TimeLimit)
			text, err := nemesis.MarshalScenario(best.Faults, comment)
			if err != nil {
				return err
			}
			if err := os.WriteFile(outPath, text, 0o644); err != nil {
				return err
			}
			log.Info("shrunk", zap.String("scenario", outPath), zap.Int("runs", runs))
			fmt.Fprintf(w, "original: %s\nshrunk:   %s (%d candidates, %d simulated runs, %v)\nscenario: %s\nreproduce: faultline sim %s --time %v\n",
				shrink.SizeOf(first), shrink.SizeOf(best), candidates, runs, time.Since(began).Round(time.Millisecond), outPath, reproduce, best.TimeLimit)
			return nil
		},
	}
	cmd.Flags().StringVarP(&outPath, "out", "o", "", "where to write the scenario (default <run-dir>/"+ShrunkScenarioFile+")")
	cmd.Flags().IntVar(&maxTests, "max-runs", 300, "most candidates to try")
	cmd.Flags().IntVar(&seeds, "seeds", 5, "try each candidate with the run's seed and the next seeds-1 (other timings and operations): it must fail on as many as the run's own faults do, so that the result does not hang on one timing")
	return cmd
}
