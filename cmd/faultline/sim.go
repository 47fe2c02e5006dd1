package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/faultline-io/faultline/harness"
	"github.com/faultline-io/faultline/sim"
	"github.com/faultline-io/faultline/store"
)

func newSimCommand(g *globals) *cobra.Command {
	cfg := store.DefaultConfig()
	var nemeses, bugs []string
	var twice bool
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Simulate one test: a bundled target's nodes in one process, on virtual time, network, clocks and disks",
		Long: `Simulate one test of a bundled target deterministically: all nodes run their real protocol
code (the deterministic node layer) in one process, on a simulated network (latency, drop,
duplication, reordering, every partition shape), simulated clocks (offset, drift, strobe, jump)
and disks (unsynced writes lost at a crash, EIO), with simulated crashes, pauses and restarts,
all driven by one seed and a virtual clock that jumps to the next event.

Workloads, nemesis names, schedules, scenario files, the history format, checkers and the run
directory are those of 'run'; 'check', 'report', 'replay' and 'shrink' work on the result. The
same seed and flags give a byte-identical history.jsonl. --time is virtual time: ten minutes
usually take seconds. sim.json in the run directory records the virtual and wall time.`,
		Example: `  faultline sim --target raft --nemesis partition,kill,clock-strobe --seed 1 --time 10m
  faultline sim --target raft --bug lease-read --scenario docs/scenarios/lease-read.yaml --seed 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Nemeses = splitList(nemeses)
			cfg.Bugs = splitList(bugs)
			if cmd.Flags().Changed("time") && cmd.Flags().Changed("time-limit") {
				return badInputf("--time and --time-limit: give one (they are the same)")
			}
			for _, name := range []string{"runtime", "node-binary", "port"} {
				if cmd.Flags().Changed(name) {
					return badInputf("--%s: a simulation has no processes or runtime (use 'faultline run' for that)", name)
				}
			}
			cfg.Runtime = harness.RuntimeSim
			if err := harness.ValidateConfig(&cfg); err != nil {
				return badInput(err)
			}
			log := g.logger()
			out, err := harness.Run(cmd.Context(), cfg, harness.RunOptions{
				Log: log, Status: os.Stderr, CommandLine: os.Args,
			})
			if err != nil {
				if errors.Is(err, harness.ErrUnavailable) {
					return badInput(err)
				}
				return err
			}
			if twice {
				again, err := harness.Run(cmd.Context(), cfg, harness.RunOptions{Log: log, CommandLine: os.Args})
				if err != nil {
					return err
				}
				a, errA := os.ReadFile(filepath.Join(out.Dir, store.HistoryFile))
				b, errB := os.ReadFile(filepath.Join(again.Dir, store.HistoryFile))
				if err := errors.Join(errA, errB); err != nil {
					return err
				}
				if d := sim.FirstDivergence(a, b); d != nil {
					return fmt.Errorf("the simulation is not deterministic: %s and %s first differ at line %d:\n  %s\n  %s",
						out.Dir, again.Dir, d.Line, d.A, d.B)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deterministic: %s and %s hold identical histories (%d bytes)\n", out.Dir, again.Dir, len(a))
			}
			var st harness.SimStats
			if b, err := os.ReadFile(filepath.Join(out.Dir, harness.SimFile)); err == nil && json.Unmarshal(b, &st) == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "simulated %v in %v of wall time (%.0fx real time, %d events)\n",
					st.Virtual.Round(1e6), st.Wall.Round(1e6), st.Speedup, st.Events)
			}
			return finishRun(cmd, log, out)
		},
	}
	f := cmd.Flags()
	bindRunFlags(f, &cfg, &nemeses, &bugs)
	f.BoolVar(&twice, "twice", false, "run the simulation twice and fail (exit 255) at the first line where the two histories differ")
	f.DurationVar(&cfg.TimeLimit, "time", cfg.TimeLimit, "virtual time clients and faults run (same as --time-limit)")
	_ = f.MarkHidden("runtime")
	_ = f.MarkHidden("node-binary")
	_ = f.MarkHidden("port")
	return cmd
}
