package sim

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"time"

	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/nemesis"
	"github.com/faultline-io/faultline/workloads"
)

// Config is one simulated test: the same knobs as a real run's.
type Config struct {
	Target    Target
	IDs       []string // node ids, sorted
	Bugs      []string
	Seed      int64
	Workload  string
	Generator workloads.Generator
	// Concurrency workers issue Rate operations per second between them,
	// each bounded by OpTimeout, for TimeLimit of virtual time.
	Concurrency int
	Rate        float64
	OpTimeout   time.Duration
	TimeLimit   time.Duration
	// Steps is the fault timeline (a generated schedule or a scenario);
	// Concurrent runs each nemesis's steps on its own, so that different
	// nemeses' faults may overlap (scenarios and overlapping schedules).
	Steps      []nemesis.Step
	Concurrent bool
	// HealthTimeout bounds the waits for a healthy cluster (a leader or
	// coordinator for targets with roles).
	HealthTimeout time.Duration
	// QuietPeriod bounds the final reads' rounds; FinalAgree says when a
	// round's reads (by node, then by key) agree, ending them.
	QuietPeriod time.Duration
	FinalAgree  func(values [][]history.Op) bool
	// Roles are the target's roles; the first is waited for at start.
	Roles []string
	// Interrupted, when set, is asked every 10 ms of virtual time; true
	// stops the simulation where it is (the history so far is kept).
	Interrupted func() bool
	// Record receives every history op in order (Index unset).
	Record func(history.Op) error
	// Progress, when set, is called about every ProgressEvery of virtual
	// time with the virtual time elapsed.
	Progress      func(elapsed time.Duration)
	ProgressEvery time.Duration
	// StatsF is the f of the op holding StatsReporter's answer.
	StatsF string
	// HealAllF is the f of the op recorded after the final heal.
	HealAllF string
}

// Applied is one fault as it happened (harness.ScheduleEntry's fields).
type Applied struct {
	Fault   nemesis.Fault
	Start   int64 // ns since the test started
	Healed  int64
	Applied bool
	Error   string
}

// Result is what a simulated test produced besides its history.
type Result struct {
	Schedule              []Applied
	OK, Fail, Info, Fault int64
	// Elapsed is the virtual time simulated, start to final reads; Events
	// the events run.
	Elapsed time.Duration
	Events  int64
	Healthy bool // the cluster was healthy for the final reads
}

// Healthier is implemented by clusters that can tell when clients can be
// served (a leader elected); without it a cluster is healthy when up.
type Healthier interface {
	Healthy() bool
}

// run is one simulated test in progress.
type run struct {
	cfg    Config
	w      *World
	cl     Cluster
	cs     *clients
	res    Result
	err    error
	active map[*activeFault]bool
	faults int           // faults applied so far
	start  time.Duration // virtual time the test began
}

// Run simulates cfg's test and returns its result; the history goes to
// cfg.Record. The same cfg gives the same history, op for op.
func Run(cfg Config) (Result, error) {
	w := NewWorld(cfg.IDs, cfg.Seed)
	cl, err := cfg.Target.NewCluster(w, ClusterConfig{IDs: cfg.IDs, Bugs: cfg.Bugs, Seed: cfg.Seed, Workload: cfg.Workload})
	if err != nil {
		return Result{}, err
	}
	w.cluster = cl
	r := &run{cfg: cfg, w: w, cl: cl, active: map[*activeFault]bool{}}
	r.cs = newClients(w, r.record, cfg.OpTimeout)
	for _, id := range cfg.IDs {
		if err := w.start(id); err != nil {
			return r.res, err
		}
	}
	if !r.waitHealthy() {
		return r.res, fmt.Errorf("the simulated cluster was not healthy within %v of virtual time", cfg.HealthTimeout)
	}
	r.start = w.now
	end := r.start + cfg.TimeLimit
	running := cfg.Concurrency
	for i := range cfg.Concurrency {
		r.startWorker(i, end, func() { running-- })
	}
	r.schedule(end)
	if cfg.Progress != nil {
		every := cfg.ProgressEvery
		if every <= 0 {
			every = 10 * time.Second
		}
		var tick func()
		tick = func() {
			cfg.Progress(w.now - r.start)
			if w.now < end {
				w.at(every, tick)
			}
		}
		w.at(every, tick)
	}
	// Run until the time limit and every operation in flight has ended.
	for (w.now < end || running > 0) && r.err == nil {
		if cfg.Interrupted != nil && cfg.Interrupted() {
			r.res.Elapsed, r.res.Events = w.now, w.events
			return r.res, fmt.Errorf("interrupted at %v of virtual time", w.now-r.start)
		}
		if err := w.runUntil(w.now + 10*time.Millisecond); err != nil {
			return r.res, err
		}
	}
	if r.err != nil {
		return r.res, r.err
	}
	r.final()
	r.res.Elapsed, r.res.Events = w.now, w.events
	return r.res, r.err
}

// now is the test time: virtual ns since the test began.
func (r *run) now() int64 { return int64(r.w.now - r.start) }

func (r *run) record(op history.Op) {
	if r.err != nil {
		return
	}
	if op.Process != history.Nemesis {
		op.Time -= int64(r.start)
		switch op.Type {
		case history.OK:
			r.res.OK++
		case history.Fail:
			r.res.Fail++
		case history.Info:
			r.res.Info++
		}
	}
	if err := r.cfg.Record(op); err != nil {
		r.err = fmt.Errorf("history: %w", err)
	}
}

func (r *run) startWorker(i int, end time.Duration, stopped func()) {
	cfg := r.cfg
	_, roundRobin := r.cl.(RoundRobin)
	wk := &worker{cs: r.cs, stream: cfg.Generator.Worker(i),
		// The worker's ops are a function of the seed and i alone, as
		// in real runs.
		rng:     rand.New(rand.NewSource(cfg.Seed*1_000_003 + int64(i))),
		process: history.Process(i), workers: cfg.Concurrency, cur: i % len(cfg.IDs), roundRobin: roundRobin,
		every: time.Duration(float64(time.Second) * float64(cfg.Concurrency) / cfg.Rate), end: end, stopped: stopped}
	stagger := time.Duration(wk.rng.Int63n(int64(wk.every) + 1))
	wk.next = r.w.now + stagger
	r.w.at(stagger, wk.issue)
}

// waitHealthy runs the world until the cluster is healthy, for at most
// HealthTimeout of virtual time.
func (r *run) waitHealthy() bool {
	h, ok := r.cl.(Healthier)
	if !ok {
		return true
	}
	for deadline := r.w.now + r.cfg.HealthTimeout; r.w.now <= deadline; {
		if h.Healthy() {
			return true
		}
		if err := r.w.runUntil(r.w.now + 10*time.Millisecond); err != nil {
			r.err = err
			return false
		}
	}
	return false
}

// final heals every fault still on, restarts and resumes every node, and
// performs the final reads and the target's stats.
func (r *run) final() {
	w := r.w
	for _, f := range r.activeFaults() {
		f.undo()
	}
	r.record(history.Op{Process: history.Nemesis, Type: history.Info, F: r.cfg.HealAllF, Time: r.now()})
	for _, id := range r.cfg.IDs {
		w.resume(id)
		if err := w.start(id); err != nil {
			r.err = err
			return
		}
	}
	r.res.Healthy = r.waitHealthy()
	r.finalReads()
	if sr, ok := r.cl.(StatsReporter); ok && r.err == nil {
		op := history.Op{Process: history.Nemesis, Type: history.Info, F: r.cfg.StatsF, Time: r.now()}
		v, err := sr.Stats()
		if err != nil {
			op.Error = err.Error()
		}
		if len(v) > 0 {
			op.Value = json.RawMessage(v)
		}
		r.record(op)
	}
}

// finalRoundEvery is how often final read rounds start.
const finalRoundEvery = 100 * time.Millisecond

// finalReads reads every key on every node in rounds until a round
// agrees or QuietPeriod has passed, as real runs do.
func (r *run) finalReads() {
	reads := r.cfg.Generator.FinalReads()
	n := len(r.cfg.IDs)
	if len(reads) == 0 || r.err != nil {
		return
	}
	procs := make([]history.Process, n)
	for i := range procs {
		procs[i] = history.Process(r.cfg.Concurrency*1_000_000 + i*100_000)
	}
	deadline := r.w.now + r.cfg.QuietPeriod
	for r.err == nil {
		began := r.w.now
		values := make([][]history.Op, n)
		pending := n
		for i := range n {
			values[i] = make([]history.Op, len(reads))
			var next func(j int)
			next = func(j int) {
				if j == len(reads) {
					pending--
					return
				}
				op := reads[j]
				op.Final, op.Process = r.cfg.IDs[i], procs[i]
				r.cs.invoke(op, i, func(res history.Op, _ *clientCall) {
					if res.Type == history.Info {
						procs[i]++
					}
					values[i][j] = res
					next(j + 1)
				})
			}
			next(0)
		}
		for pending > 0 && r.err == nil {
			if err := r.w.runUntil(r.w.now + time.Millisecond); err != nil {
				r.err = err
				return
			}
		}
		if r.cfg.FinalAgree == nil || r.cfg.FinalAgree(values) || r.w.now >= deadline {
			return
		}
		if err := r.w.runUntil(began + finalRoundEvery); err != nil {
			r.err = err
		}
	}
}
