package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/nemesis"
	"github.com/faultline-io/faultline/sim"
	"github.com/faultline-io/faultline/store"
	"github.com/faultline-io/faultline/targets"
)

// RuntimeSim is the runtime name of simulated runs (`faultline sim`, or
// `run --runtime sim`): no processes, containers or packets; the bundled
// target's deterministic node layers on package sim's virtual network,
// clocks and disks.
const RuntimeSim = "sim"

// Simulable is implemented by targets that run under the simulator.
type Simulable interface {
	SimTarget() sim.Target
}

// SimulatedTargets lists the registered targets that run under the
// simulator, sorted.
func SimulatedTargets() []string {
	var out []string
	for _, t := range targets.All() {
		if _, ok := t.(Simulable); ok {
			out = append(out, t.Name())
		}
	}
	sort.Strings(out)
	return out
}

// simulate is Run on the simulated runtime: the same run directory, history,
// schedule, checkers and results as a real run, with test times in virtual
// nanoseconds. One seed and config give one history, byte for byte.
func simulate(ctx context.Context, cfg store.Config, opts RunOptions) (*Outcome, error) {
	log := opts.Log
	target, err := targetOf(&cfg)
	if err != nil {
		return nil, err
	}
	st, ok := target.(Simulable)
	if !ok {
		return nil, fmt.Errorf("%w: target %s has no simulator (simulated targets: %v)", ErrUnavailable, cfg.Target, SimulatedTargets())
	}
	wl, gen, err := testWorkload(target, cfg)
	if err != nil {
		return nil, err
	}
	ids := make([]string, cfg.Nodes)
	for i := range ids {
		ids[i] = fmt.Sprintf("n%d", i+1)
	}
	sort.Strings(ids)
	selects := map[string][]string{}
	for _, name := range cfg.Nemeses {
		n, err := nemesis.New(name)
		if err != nil {
			return nil, err
		}
		if s, ok := n.(nemesis.Selector); ok {
			selects[name] = nemesis.SelectsFor(s.Selects(), target.Roles())
		}
		// A nemesis without a model is refused before anything runs.
		probe := nemesis.Fault{Nemesis: name}
		if _, err := nemesis.ResolveForSim(probe, ids, func(string) (string, error) { return ids[0], nil }); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	}
	dir, err := store.NewRunDir(cfg.Store, cfg.Name, time.Now())
	if err != nil {
		return nil, err
	}
	log.Info("simulated run", zap.String("dir", dir), zap.Int64("seed", cfg.Seed))
	host, _ := os.Hostname()
	if err := store.WriteTestRecord(dir, store.TestRecord{
		Config: cfg, Runtime: RuntimeSim, Checkers: wl.Checkers, CommandLine: opts.CommandLine,
		Version: Version, GitRevision: GitRevision, GoVersion: goVersion(), Started: time.Now().UTC(), Host: host,
		ReplayOf: opts.ReplayOf,
	}); err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, opts: opts, log: log, dir: dir, target: target, gen: gen}
	steps, err := r.faultSteps(selects)
	if err != nil {
		return nil, err
	}
	out := &Outcome{Dir: dir}
	rec, err := history.NewRecorder(filepath.Join(dir, store.HistoryFile))
	if err != nil {
		return out, err
	}
	defer rec.Close()
	wall := time.Now()
	res, simErr := sim.Run(sim.Config{
		Target: st.SimTarget(), IDs: ids, Bugs: cfg.Bugs, Seed: cfg.Seed, Workload: cfg.Workload, Generator: gen,
		Concurrency: cfg.Concurrency, Rate: cfg.Rate, OpTimeout: cfg.OpTimeout, TimeLimit: cfg.TimeLimit,
		Steps: steps, Concurrent: cfg.Scenario != "" || cfg.NemesisOverlap,
		HealthTimeout: cfg.HealthTimeout, QuietPeriod: cfg.QuietPeriod, FinalAgree: finalAgree, Roles: target.Roles(),
		Record: func(op history.Op) error {
			_, err := rec.Append(op)
			return err
		},
		Interrupted: func() bool { return ctx.Err() != nil },
		Progress: func(elapsed time.Duration) {
			log.Info("simulating", zap.Duration("virtual", elapsed), zap.Duration("wall", time.Since(wall).Round(time.Millisecond)))
		},
		ProgressEvery: time.Minute,
		StatsF:        targets.TargetStatsF, HealAllF: HealAllF,
	})
	took := time.Since(wall)
	schedule := make([]ScheduleEntry, len(res.Schedule))
	for i, a := range res.Schedule {
		schedule[i] = ScheduleEntry{Fault: a.Fault, Start: a.Start, Healed: a.Healed, Applied: a.Applied, Error: a.Error}
	}
	if err := store.WriteJSON(filepath.Join(dir, store.ScheduleFile), schedule); err != nil {
		return out, err
	}
	if err := store.WriteJSON(filepath.Join(dir, SimFile), SimStats{
		Virtual: res.Elapsed, Wall: took, Speedup: float64(res.Elapsed) / float64(max(took, time.Microsecond)),
		Events: res.Events, Healthy: res.Healthy,
	}); err != nil {
		return out, err
	}
	out.Counts = Counts{OK: res.OK, Fail: res.Fail, Info: res.Info, Nemesis: res.Fault}
	if err := rec.Close(); err != nil {
		return out, fmt.Errorf("close history: %w", err)
	}
	var interrupted *store.Interruption
	if ctx.Err() != nil {
		interrupted = &store.Interruption{Phase: store.PhaseRun, Signal: causeName(ctx), At: time.Now().UTC()}
	} else if simErr != nil {
		return out, fmt.Errorf("simulation: %w", simErr)
	}
	log.Info("simulated", zap.Duration("virtual", res.Elapsed), zap.Duration("wall", took.Round(time.Millisecond)),
		zap.Float64("speedup", float64(res.Elapsed)/float64(max(took, time.Microsecond))), zap.Int64("events", res.Events))
	ops, err := history.ReadFile(filepath.Join(dir, store.HistoryFile))
	if err != nil {
		return out, err
	}
	results, err := CheckOps(ops, wl.Checkers, CheckerOptions(cfg, dir))
	if err != nil {
		return out, err
	}
	if interrupted != nil {
		results.Valid = checker.Unknown
	}
	if err := store.WriteRunResults(dir, store.RunResults{Results: results, Interrupted: interrupted}); err != nil {
		return out, err
	}
	out.Results, out.Interruption, out.Interrupted = results, interrupted, interrupted != nil
	return out, nil
}

// SimFile is the simulated run's timing record in the run directory.
const SimFile = "sim.json"

// SimStats is what SimFile holds: how much virtual time the simulation
// covered in how much wall time.
type SimStats struct {
	Virtual time.Duration `json:"virtual_ns"`
	Wall    time.Duration `json:"wall_ns"`
	// Speedup is virtual seconds per wall second.
	Speedup float64 `json:"speedup"`
	Events  int64   `json:"events"`
	// Healthy says the cluster was healthy again for the final reads.
	Healthy bool `json:"healthy"`
}
