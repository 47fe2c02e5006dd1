package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/nemesis"
	"github.com/faultline-io/faultline/store"
	"github.com/faultline-io/faultline/targets"
	"github.com/faultline-io/faultline/workloads"
)

// ErrUnavailable wraps a request the chosen runtime or kernel cannot honour,
// such as a network nemesis on the local runtime. The CLI maps it to exit 254.
var ErrUnavailable = errors.New("unavailable")

// RunOptions are the parts of a run that are not the test itself.
type RunOptions struct {
	Log *zap.Logger
	// Status receives a live status line ("\r...") when StatusLive, else
	// progress is logged every ProgressEvery.
	Status        io.Writer
	StatusLive    bool
	ProgressEvery time.Duration
	CommandLine   []string
	// ReplayOf is the run directory this run replays, recorded in test.json.
	ReplayOf string
	// MoreInterrupts delivers the interrupts after the first one (which
	// cancels Run's context): the next skips the graceful parts of the final
	// phase and abandons a check in progress. Teardown always runs.
	MoreInterrupts <-chan os.Signal
	// OnPhase, when set, is called as the run enters each phase, before the
	// phase's work; tests drive interrupts from it.
	OnPhase func(store.Phase)
}

// Outcome is what a run produced.
type Outcome struct {
	Dir         string
	Results     checker.Results
	Interrupted bool
	// Interruption is the first interrupt of an interrupted run, else nil.
	Interruption *store.Interruption
	Counts       Counts
}

// Counts are client op completions by type.
type Counts struct{ OK, Fail, Info, Nemesis int64 }

// ScheduleEntry is one fault as it happened, written to schedule.json.
type ScheduleEntry struct {
	Fault   nemesis.Fault `json:"fault"`
	Start   int64         `json:"start"`   // ns since test start, when it took effect
	Healed  int64         `json:"healed"`  // ns since test start; 0 when never healed
	Applied bool          `json:"applied"` // false when Invoke failed
	Error   string        `json:"error,omitempty"`
}

// run is the state of one test in progress.
type run struct {
	cfg    store.Config
	opts   RunOptions
	log    *zap.Logger
	dir    string
	target targets.Target
	gen    workloads.Generator
	rec    *history.Recorder
	start  time.Time
	in     *interrupts

	ok, fail, info, nem atomic.Int64
	activeFaults        sync.Map // nemesis name → "name [nodes]" while its fault is on

	mu       sync.Mutex
	schedule []ScheduleEntry
}

func (r *run) now() int64 { return int64(time.Since(r.start)) }

// Run executes the test described by cfg (which must have passed
// ValidateConfig). It always heals and tears down what it started, also when
// ctx is cancelled (Ctrl-C), and always closes the history.
//
// Cancelling ctx interrupts the run, in whatever phase it is: the run heals,
// tears down, checks what history it has and writes results.json with an
// Interruption naming the phase (its verdict is then unknown), and Run
// returns a nil error. A value on opts.MoreInterrupts after that skips the
// graceful heal; teardown always runs. The error is non-nil only when the run
// failed without being interrupted (or could not write its results), and
// then running.json in the run directory keeps the phase and the error.
func Run(ctx context.Context, cfg store.Config, opts RunOptions) (out *Outcome, err error) {
	log := opts.Log
	if log == nil {
		log = zap.NewNop()
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = 10 * time.Second
	}
	if cfg.Runtime == RuntimeSim {
		opts.Log = log
		return simulate(ctx, cfg, opts)
	}
	target, err := targetOf(&cfg)
	if err != nil {
		return nil, err
	}
	if target, err = targets.Configured(target, cfg.TargetOpts); err != nil {
		return nil, err
	}
	wl, gen, err := testWorkload(target, cfg)
	if err != nil {
		return nil, err
	}
	rtName, rt, rterr := ResolveRuntime(ctx, cfg.Runtime)
	if rterr != nil {
		if ctx.Err() == nil {
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, rterr)
		}
		// Interrupted while probing: still a run, with a directory that
		// says so.
		rtName, rt = cfg.Runtime, nil
	}
	dir, err := store.NewRunDir(cfg.Store, cfg.Name, time.Now())
	if err != nil {
		return nil, err
	}
	absDir, _ := filepath.Abs(dir)
	log.Info("run", zap.String("dir", dir), zap.String("runtime", rtName), zap.Int64("seed", cfg.Seed))
	host, _ := os.Hostname()
	if err := store.WriteTestRecord(dir, store.TestRecord{
		Config: cfg, Runtime: rtName, Checkers: wl.Checkers, CommandLine: opts.CommandLine,
		Version: Version, GitRevision: GitRevision, GoVersion: goVersion(), Started: time.Now().UTC(), Host: host,
		ReplayOf: opts.ReplayOf,
	}); err != nil {
		return nil, err
	}
	if err := keepTargetFile(cfg, dir); err != nil {
		return nil, err
	}
	in := newInterrupts(dir, opts.OnPhase)
	in.log = log
	r := &run{cfg: cfg, opts: opts, log: log, dir: dir, target: target, gen: gen, in: in}
	r.start = time.Now() // reset when the test starts; final reads of a run that never started are timed from here
	out = &Outcome{Dir: dir}

	// The history exists before anything starts, so even a run interrupted
	// while its cluster starts leaves a readable (empty) one.
	rec, err := history.NewRecorder(filepath.Join(dir, store.HistoryFile))
	if err != nil {
		return out, err
	}
	r.rec = rec
	defer func() {
		if cerr := rec.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close history: %w", cerr)
		}
	}()
	in.enter(store.PhaseStart)
	stopWatch := in.watch(ctx, opts.MoreInterrupts)
	defer stopWatch()

	// Teardown runs whatever happens below, including panics, and is not
	// cancelled by Ctrl-C.
	var cl cluster.Cluster
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error: %v\n%s", p, debug.Stack())
		}
		if cl != nil {
			tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			if terr := cl.Teardown(tctx); terr != nil {
				log.Error("teardown", zap.Error(terr))
				if err == nil {
					err = fmt.Errorf("teardown: %w", terr)
				}
			} else {
				log.Info("cluster torn down")
			}
		}
		if err != nil {
			in.failed(err)
		}
	}()

	// interrupted reports whether err is (or is explained by) an interrupt:
	// a start or health wait cut short by Ctrl-C is not a failure.
	interrupted := func(step string, err error) bool {
		if r.interruption(ctx) == nil {
			return false
		}
		log.Info(step+" interrupted", zap.Error(err))
		return true
	}

	env := nemesis.Env{}
	nems := map[string]nemesis.Nemesis{}
	ready, err := func() (bool, error) {
		if rt == nil {
			return false, nil // interrupted while resolving the runtime
		}
		var needs targets.NodeRequirements
		if p, ok := target.(targets.NodePreparer); ok {
			w := opts.Status
			if w == nil {
				w = io.Discard
			}
			if needs, err = p.PrepareNodes(ctx, w); err != nil {
				if interrupted("node preparation", err) {
					return false, nil
				}
				return false, fmt.Errorf("prepare %s nodes: %w", cfg.Target, err)
			}
		}
		spec := cluster.Spec{
			Name: cfg.Name, RunDir: absDir, Nodes: cfg.Nodes, Port: cfg.Port, Binary: cfg.Binary,
			PeerPort: needs.PeerPort, Files: needs.Files,
			Command: func(self cluster.Peer, peers []cluster.Peer, dataDir string) []string {
				return target.NodeCommand(self, peers, dataDir, cfg.Bugs, targets.NodeSeed(cfg.Seed, self.ID))
			},
			// runtime.json names the run before anything exists, so what an
			// interrupted or killed start left can be found by its id.
			OnRun: func(run string) {
				if err := store.WriteJSON(filepath.Join(dir, store.RuntimeFile), map[string]string{"runtime": rtName, "run": run}); err != nil {
					log.Warn("write runtime.json", zap.Error(err))
				}
			},
		}
		if err := useNodeProgram(ctx, target, &spec, rtName); err != nil {
			return false, err
		}
		t0 := time.Now()
		c, err := rt.Start(ctx, spec)
		if err != nil {
			if interrupted("cluster start", err) {
				return false, nil
			}
			return false, fmt.Errorf("start %d-node %s cluster on %s: %w", cfg.Nodes, cfg.Target, rtName, err)
		}
		cl = c
		started := map[string]string{"runtime": rtName}
		if ri, ok := cl.(cluster.RunIdentifier); ok {
			started["run"] = ri.Run()
		}
		if err := store.WriteJSON(filepath.Join(dir, store.RuntimeFile), started); err != nil {
			return false, err
		}
		log.Info("cluster started", zap.String("runtime", rtName), zap.String("run", started["run"]))
		in.enter(store.PhaseHealth)
		env.Cluster = cl
		if rr, ok := target.(targets.RoleResolver); ok && len(target.Roles()) > 0 {
			env.Role = func(ctx context.Context, role string) (string, error) {
				if !targets.HasRole(target, role) {
					return "", fmt.Errorf("target %s has no %s", target.Name(), role)
				}
				return rr.ResolveRole(ctx, cl.Nodes(), role)
			}
		}
		for _, name := range cfg.Nemeses {
			n, err := nemesis.New(name)
			if err != nil {
				return false, err
			}
			if err := n.Available(cl); err != nil {
				return false, fmt.Errorf("%w: nemesis %s on runtime %s: %v", ErrUnavailable, name, rtName, err)
			}
			nems[name] = n
		}
		if err := r.waitHealthy(ctx, cl); err != nil {
			if interrupted("health wait", err) {
				return false, nil
			}
			return false, fmt.Errorf("cluster never became healthy: %w", err)
		}
		log.Info("cluster healthy", zap.Int("nodes", cfg.Nodes), zap.Duration("took", time.Since(t0).Round(time.Millisecond)))
		return r.interruption(ctx) == nil, nil
	}()
	if err != nil {
		return out, err
	}

	var testErr error // a worker's or the nemesis's failure
	if ready {
		in.enter(store.PhaseRun)
		var err error
		if testErr, err = r.test(ctx, cl, env, nems); err != nil {
			return out, err // no test was run: bad schedule or scenario
		}
	}

	// Final phase: heal everything (even when interrupted), wait for health,
	// read every key. A second interrupt cuts the heal short.
	in.enter(store.PhaseFinal)
	if cl != nil {
		hctx, cancel := in.graceful(ctx, time.Minute)
		r.healAll(hctx, env, nems, r.interruption(ctx) == nil)
		cancel()
		// Checkers time convergence from here.
		r.record(history.Op{Process: history.Nemesis, Type: history.Info, F: HealAllF, Time: r.now()})
	}
	if testErr != nil {
		return out, testErr
	}
	if ready && r.interruption(ctx) == nil {
		if err := r.waitHealthy(ctx, cl); err != nil && !interrupted("final health wait", err) {
			log.Warn("cluster not healthy after final heal; final reads may fail", zap.Error(err))
		}
		r.finalReads(ctx, cl)
		r.targetStats(ctx, cl)
	}
	if err := store.WriteJSON(filepath.Join(dir, store.ScheduleFile), r.scheduleSnapshot()); err != nil {
		log.Error("write schedule", zap.Error(err))
	}
	out.Counts = Counts{OK: r.ok.Load(), Fail: r.fail.Load(), Info: r.info.Load(), Nemesis: r.nem.Load()}
	if err := rec.Close(); err != nil {
		return out, fmt.Errorf("close history: %w", err)
	}

	// Tear down before checking, so nodes do not compete with the checker.
	// Teardown is cleanup: no interrupt cuts it short.
	in.enter(store.PhaseTeardown)
	var teardownErr error
	if cl != nil {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		teardownErr = cl.Teardown(tctx)
		cancel()
		cl = nil
		if teardownErr != nil {
			log.Error("teardown", zap.Error(teardownErr))
		} else {
			log.Info("cluster torn down")
		}
	}

	in.enter(store.PhaseCheck)
	log.Info("checking history", zap.Int64("ok", out.Counts.OK), zap.Int64("fail", out.Counts.Fail),
		zap.Int64("info", out.Counts.Info), zap.Int64("faults", out.Counts.Nemesis))
	res, err := r.check(dir, wl.Checkers)
	if err != nil {
		return out, err
	}
	stopWatch() // counts every interrupt sent so far
	rr := store.RunResults{Results: res, Interrupted: r.interruption(ctx)}
	if rr.Interrupted != nil {
		res.Valid = checker.Unknown
		log.Warn("run "+rr.Interrupted.String()+"; verdict unknown", zap.String("dir", dir))
	}
	if err := store.WriteRunResults(dir, rr); err != nil {
		return out, err
	}
	out.Results = res
	out.Interruption = rr.Interrupted
	out.Interrupted = rr.Interrupted != nil
	if teardownErr != nil {
		return out, fmt.Errorf("teardown: %w", teardownErr)
	}
	in.finished()
	return out, nil
}

// interruption returns the run's first interrupt, or nil. A cancelled ctx
// counts even before its AfterFunc has run.
func (r *run) interruption(ctx context.Context) *store.Interruption {
	if ctx.Err() != nil {
		r.in.note(causeName(ctx))
	}
	return r.in.get()
}

// test runs the clients and the nemesis for the time limit or until ctx is
// cancelled. failed is a worker's error or a panic; err means nothing ran
// (the fault schedule could not be made).
func (r *run) test(ctx context.Context, cl cluster.Cluster, env nemesis.Env, nems map[string]nemesis.Nemesis) (failed, err error) {
	cfg := r.cfg
	selects := map[string][]string{}
	for name, n := range nems {
		if s, ok := n.(nemesis.Selector); ok {
			// A schedule never draws a role the target does not have.
			selects[name] = nemesis.SelectsFor(s.Selects(), r.target.Roles())
		}
	}
	steps, err := r.faultSteps(selects)
	if err != nil {
		return nil, err
	}
	r.start = time.Now()
	workCtx, stopWork := context.WithTimeout(ctx, cfg.TimeLimit)
	defer stopWork()
	var wg sync.WaitGroup
	errc := make(chan error, cfg.Concurrency+2)
	for w := 0; w < cfg.Concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			defer r.recoverTo(errc, stopWork)
			if err := r.worker(ctx, workCtx, cl, w); err != nil {
				errc <- err
				stopWork()
			}
		}(w)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer r.recoverTo(errc, stopWork)
		if r.cfg.Scenario != "" || r.cfg.NemesisOverlap {
			r.runConcurrently(workCtx, env, nems, steps)
		} else {
			r.runSchedule(workCtx, env, nems, steps)
		}
	}()
	progressDone := make(chan struct{})
	go r.progress(workCtx, progressDone)
	wg.Wait()
	stopWork()
	<-progressDone
	select {
	case err := <-errc:
		return err, nil
	default:
		return nil, nil
	}
}

// check checks the closed history. An interrupt during the check (the
// first, or a second when the run was already interrupted) abandons it: the
// verdict is then unknown with no checker results.
func (r *run) check(dir string, names []string) (checker.Results, error) {
	ops, err := history.ReadFile(filepath.Join(dir, store.HistoryFile))
	if err != nil {
		return checker.Results{}, err
	}
	stop := r.in.fired
	if r.in.get() != nil {
		stop = r.in.forced
	}
	type result struct {
		res checker.Results
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := CheckOps(ops, names, CheckerOptions(r.cfg, dir))
		done <- result{res, err}
	}()
	select {
	case d := <-done:
		return d.res, d.err
	case <-stop:
		r.log.Warn("check interrupted; verdict unknown")
		return checker.Results{Valid: checker.Unknown}, nil
	}
}

func (r *run) recoverTo(errc chan<- error, stop func()) {
	if p := recover(); p != nil {
		errc <- fmt.Errorf("internal error: %v\n%s", p, debug.Stack())
		stop()
	}
}

func (r *run) waitHealthy(ctx context.Context, cl cluster.Cluster) error {
	hc, ok := r.target.(targets.HealthChecker)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.HealthTimeout)
	defer cancel()
	var last error
	for {
		cctx, c := context.WithTimeout(ctx, time.Second)
		last = hc.Healthy(cctx, cl.Nodes())
		c()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (r *run) record(op history.Op) {
	if _, err := r.rec.Append(op); err != nil {
		// Losing history silently would make the verdict a lie.
		panic(fmt.Sprintf("history: append failed: %v", err))
	}
}

// worker issues ops until workCtx is done. ctx is the run's context: Ctrl-C
// cancels in-flight ops, the time limit does not.
func (r *run) worker(ctx, workCtx context.Context, cl cluster.Cluster, w int) error {
	client, err := r.target.NewClient(cl.Nodes(), r.cfg.Workload)
	if err != nil {
		return fmt.Errorf("client %d: %w", w, err)
	}
	defer client.Close()
	// The worker's ops are a function of the seed and w alone (replay
	// repeats them); only their timing and outcomes depend on the run.
	rng := rand.New(rand.NewSource(r.cfg.Seed*1_000_003 + int64(w)))
	stream := r.gen.Worker(w)
	process := history.Process(w)
	interval := time.Duration(float64(time.Second) * float64(r.cfg.Concurrency) / r.cfg.Rate)
	// Stagger workers so they do not fire in lockstep.
	next := time.Now().Add(time.Duration(rng.Int63n(int64(interval) + 1)))
	for {
		if d := time.Until(next); d > 0 {
			select {
			case <-workCtx.Done():
				return nil
			case <-time.After(d):
			}
		} else if workCtx.Err() != nil {
			return nil
		}
		next = next.Add(interval)
		if behind := time.Since(next); behind > interval {
			next = time.Now()
		}
		op := stream.Next(rng)
		if r.invoke(ctx, client, process, op).Type == history.Info {
			// A process that got info never issues again (DESIGN.md §4).
			process += history.Process(r.cfg.Concurrency)
		}
	}
}

// invoke records op's invocation, performs it and records its completion.
func (r *run) invoke(ctx context.Context, client targets.Client, p history.Process, op history.Op) history.Op {
	op.Process, op.Type, op.Time = p, history.Invoke, r.now()
	r.record(op)
	octx, cancel := context.WithTimeout(ctx, r.cfg.OpTimeout)
	done := client.Invoke(octx, op)
	cancel()
	done.Process, done.F, done.Key, done.Final, done.Time = p, op.F, op.Key, op.Final, r.now()
	switch done.Type {
	case history.OK:
		r.ok.Add(1)
	case history.Fail:
		r.fail.Add(1)
	default:
		if done.Type != history.Info {
			done.Error = fmt.Sprintf("client returned type %q; recorded as info", done.Type)
			done.Type = history.Info
		}
		r.info.Add(1)
	}
	r.record(done)
	return done
}

// runConcurrently runs steps that carry their test times (a scenario's, or
// an overlapping schedule's): each nemesis's faults one after another,
// different nemeses' faults concurrently, so they may overlap (a nemesis's
// own faults never do).
func (r *run) runConcurrently(workCtx context.Context, env nemesis.Env, nems map[string]nemesis.Nemesis, steps []nemesis.Step) {
	byNemesis := map[string][]nemesis.Step{}
	for _, s := range steps {
		byNemesis[s.Fault.Nemesis] = append(byNemesis[s.Fault.Nemesis], s)
	}
	var wg sync.WaitGroup
	for _, own := range byNemesis {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.runSchedule(workCtx, env, nems, own)
		}()
	}
	wg.Wait()
}

// runSchedule applies the schedule's faults one after another until workCtx
// ends; each fault is healed before the next quiet period.
func (r *run) runSchedule(workCtx context.Context, env nemesis.Env, nems map[string]nemesis.Nemesis, steps []nemesis.Step) {
	sleep := func(d time.Duration) bool {
		select {
		case <-workCtx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	for _, s := range steps {
		wait := s.Quiet
		if s.At > 0 { // a scenario's fault: due at a test time, whatever the drift
			wait = s.At - time.Duration(r.now())
		}
		if !sleep(max(wait, 0)) {
			return
		}
		n := nems[s.Fault.Nemesis]
		ictx, cancel := context.WithTimeout(context.WithoutCancel(workCtx), 30*time.Second)
		applied, err := n.Invoke(ictx, env, s.Fault)
		cancel()
		entry := ScheduleEntry{Fault: applied, Start: r.now(), Applied: err == nil}
		op := history.Op{Process: history.Nemesis, Type: history.Info, F: s.Fault.Nemesis,
			Value: applied.MarshalValue(), Time: entry.Start}
		if err != nil {
			entry.Error = err.Error()
			op.Error = err.Error()
			r.log.Warn("fault not applied", zap.String("nemesis", s.Fault.Nemesis), zap.Error(err))
		} else {
			r.log.Debug("fault", zap.String("nemesis", s.Fault.Nemesis), zap.Strings("nodes", applied.Nodes))
			r.activeFaults.Store(s.Fault.Nemesis, fmt.Sprintf("%s %v", s.Fault.Nemesis, applied.Nodes))
		}
		r.record(op)
		r.nem.Add(1)
		sleep(s.Hold)
		hctx, cancel := context.WithTimeout(context.WithoutCancel(workCtx), 30*time.Second)
		herr := n.Heal(hctx, env)
		cancel()
		entry.Healed = r.now()
		r.recordHeal(s.Fault.Nemesis, herr)
		r.activeFaults.Delete(s.Fault.Nemesis)
		r.mu.Lock()
		r.schedule = append(r.schedule, entry)
		r.mu.Unlock()
		if workCtx.Err() != nil {
			return
		}
	}
}

// faultSteps is the run's fault timeline: the scenario file's (kept in the
// run directory as store.ScenarioFile), else one generated from the seed.
func (r *run) faultSteps(selects map[string][]string) ([]nemesis.Step, error) {
	cfg := r.cfg
	if cfg.Scenario == "" {
		o := nemesis.ScheduleOptions{
			Nemeses: cfg.Nemeses, Selects: selects, Interval: cfg.NemesisInterval,
			Until: cfg.TimeLimit - cfg.NemesisInterval/2, Seed: cfg.Seed,
		}
		if cfg.NemesisOverlap {
			return nemesis.OverlappingSchedule(o)
		}
		return nemesis.Schedule(o)
	}
	steps, b, err := scenarioSteps(&cfg)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", cfg.Scenario, err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, store.ScenarioFile), b, 0o644); err != nil {
		return nil, err
	}
	return steps, nil
}

func (r *run) recordHeal(name string, err error) {
	op := history.Op{Process: history.Nemesis, Type: history.Info, F: "heal",
		Value: history.MustValue(map[string]string{"nemesis": name}), Time: r.now()}
	if err != nil {
		op.Error = err.Error()
		r.log.Error("heal failed", zap.String("nemesis", name), zap.Error(err))
	}
	r.record(op)
}

// healAll heals every nemesis and, when restart, resumes and restarts every
// node for the final reads (an interrupted run has none).
func (r *run) healAll(ctx context.Context, env nemesis.Env, nems map[string]nemesis.Nemesis, restart bool) {
	for name, n := range nems {
		if err := n.Heal(ctx, env); err != nil {
			r.log.Error("final heal", zap.String("nemesis", name), zap.Error(err))
			r.recordHeal(name, err)
		}
	}
	if !restart {
		for _, node := range env.Cluster.Nodes() {
			_ = node.Resume(ctx)
		}
		return
	}
	// Whatever the nemeses did, every node must be up and running for the
	// final reads.
	for _, node := range env.Cluster.Nodes() {
		_ = node.Resume(ctx)
		if err := node.Start(ctx); err != nil {
			r.log.Error("restart after heal", zap.String("node", node.ID()), zap.Error(err))
		}
	}
}

// HealAllF is the f of the nemesis op recorded once the final phase has
// healed every fault and every node runs again.
const HealAllF = "heal-all"

// finalRoundEvery is the least time between the starts of two rounds of
// final reads.
const finalRoundEvery = 100 * time.Millisecond

// finalReads performs the final phase's reads: rounds in which every key
// the workload touched is read on every node separately, each read marked
// as a final read of that node (Op.Final), the nodes in parallel. Rounds
// repeat until one round has every node answer every key ok with the same
// value, or QuietPeriod has passed since the first round began; each
// node's last ok read of a key is its final state of the key, and the
// rounds before show when the nodes came to agree. A target whose reads
// are linearizable agrees in the first round.
func (r *run) finalReads(ctx context.Context, cl cluster.Cluster) {
	nodes := cl.Nodes()
	reads := r.gen.FinalReads()
	if len(nodes) == 0 || len(reads) == 0 {
		return
	}
	clients := make([]targets.Client, len(nodes))
	for i, n := range nodes {
		c, err := r.target.NewClient([]cluster.Node{n}, r.cfg.Workload)
		if err != nil {
			r.log.Error("final reads", zap.String("node", n.ID()), zap.Error(err))
			return
		}
		defer c.Close()
		clients[i] = c
	}
	// Each node's reader is its own process, moving on after an info.
	procs := make([]history.Process, len(nodes))
	for i := range procs {
		procs[i] = history.Process(r.cfg.Concurrency*1_000_000 + i*100_000)
	}
	// The rounds' reads stop a bounded time after the quiet period.
	pctx, cancel := context.WithTimeout(ctx, r.cfg.QuietPeriod+r.cfg.OpTimeout*time.Duration(min(len(reads), 30)))
	defer cancel()
	deadline := time.Now().Add(r.cfg.QuietPeriod)
	round := 0
	agreed := false
	for !agreed && pctx.Err() == nil {
		round++
		began := time.Now()
		values := make([][]history.Op, len(nodes))
		var wg sync.WaitGroup
		for i, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				values[i] = make([]history.Op, len(reads))
				for j, op := range reads {
					op.Final = n.ID()
					done := r.invoke(pctx, clients[i], procs[i], op)
					if done.Type == history.Info {
						procs[i]++
					}
					values[i][j] = done
				}
			}()
		}
		wg.Wait()
		agreed = finalAgree(values)
		if agreed || time.Now().After(deadline) {
			break
		}
		select {
		case <-pctx.Done():
		case <-time.After(time.Until(began.Add(finalRoundEvery))):
		}
	}
	r.log.Info("final reads", zap.Int("keys", len(reads)), zap.Int("nodes", len(nodes)), zap.Int("rounds", round),
		zap.Bool("agreed", agreed))
}

// finalAgree reports whether every node read every key ok, with equal
// values.
func finalAgree(values [][]history.Op) bool {
	for j := range values[0] {
		for i := range values {
			d := values[i][j]
			if d.Type != history.OK || !bytes.Equal(d.Value, values[0][j].Value) {
				return false
			}
		}
	}
	return true
}

// targetStats records what a StatsReporter target's nodes measured.
func (r *run) targetStats(ctx context.Context, cl cluster.Cluster) {
	sr, ok := r.target.(targets.StatsReporter)
	if !ok {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	op := history.Op{Process: history.Nemesis, Type: history.Info, F: targets.TargetStatsF, Time: r.now()}
	v, err := sr.TargetStats(sctx, cl.Nodes())
	if err != nil {
		op.Error = err.Error()
		r.log.Warn("target stats", zap.Error(err))
	}
	if len(v) > 0 {
		op.Value = v
	}
	r.record(op)
}

func (r *run) scheduleSnapshot() []ScheduleEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ScheduleEntry{}, r.schedule...)
}

// progress shows a status line on a terminal, or logs every ProgressEvery.
func (r *run) progress(workCtx context.Context, done chan<- struct{}) {
	defer close(done)
	every := time.Second
	if !r.opts.StatusLive {
		every = r.opts.ProgressEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-workCtx.Done():
			if r.opts.StatusLive && r.opts.Status != nil {
				fmt.Fprint(r.opts.Status, "\r\033[K")
			}
			return
		case <-t.C:
		}
		el := time.Since(r.start).Truncate(time.Second)
		var active []string
		r.activeFaults.Range(func(_, v any) bool {
			active = append(active, v.(string))
			return true
		})
		sort.Strings(active)
		fault := strings.Join(active, ", ")
		if r.opts.StatusLive && r.opts.Status != nil {
			fmt.Fprintf(r.opts.Status, "\r\033[K[%v/%v] ok %d  fail %d  info %d  faults %d  %s",
				el, r.cfg.TimeLimit, r.ok.Load(), r.fail.Load(), r.info.Load(), r.nem.Load(), fault)
			continue
		}
		r.log.Info("progress", zap.Duration("elapsed", el), zap.Duration("limit", r.cfg.TimeLimit),
			zap.Int64("ok", r.ok.Load()), zap.Int64("fail", r.fail.Load()), zap.Int64("info", r.info.Load()),
			zap.Int64("faults", r.nem.Load()), zap.String("fault", fault))
	}
}

// testWorkload returns cfg's workload on target and its generator.
func testWorkload(target targets.Target, cfg store.Config) (targets.Workload, workloads.Generator, error) {
	wl, err := targets.WorkloadOf(target, cfg.Workload)
	if err != nil {
		return wl, nil, err
	}
	gen, err := workloads.New(cfg.Workload, workloads.Options{Keys: cfg.Keys, OpsPerKey: cfg.OpsPerKey, Workers: cfg.Concurrency, Ops: wl.Ops})
	return wl, gen, err
}
