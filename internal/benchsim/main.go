// Command benchsim measures the deterministic simulator (`faultline sim`)
// the way internal/benchdetect measures the container runtimes: for every
// seeded bug of every bundled target that runs under the simulator, over N
// seeds, the detection rate, the median virtual and (estimated) wall time to
// the first anomaly and the simulation speed; and the correct builds under
// the same faults and under every nemesis the simulator models, where any
// anomaly is a false alarm. It prints a Markdown table (docs/simulation.md).
//
// Usage (make bench-sim runs it with the defaults):
//
//	go run ./internal/benchsim [-seeds 100] [-first-seed 1] [-parallel 2]
//	    [-time 60s] [-cases raft,forget-vote] [-out table.md] [-keep] [-list]
//
// Runs are in-process: each is harness.Run of a store.Config with Runtime
// sim, into a run directory of its own under a temporary store, deleted once
// its results and sim.json are read (unless -keep). Run it from the
// repository root: scenario files are paths from there.
//
// Rows, for each target in harness.SimulatedTargets() (the others are listed
// as not simulated) and each of its seeded bugs (targets.Bug): the bug under
// its paired nemeses as a generated schedule, under its scenario file and
// under its simulator scenario when it has them; then the correct build
// under each of those fault sets, and per workload under every nemesis the
// simulator models and the target accepts, one generated schedule with a
// 1 s nemesis interval.
//
// Wall time to the first anomaly: the simulator does not check online, so
// it is estimated as the simulation's wall time × (first anomaly's virtual
// time / virtual time simulated), plus the wall time of everything after the
// simulation (reading the history, checking it, writing the results: the
// whole harness.Run minus sim.json's wall_ns).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/harness"
	"github.com/faultline-io/faultline/nemesis"
	"github.com/faultline-io/faultline/store"
	"github.com/faultline-io/faultline/targets"

	// The bundled targets register themselves, as in cmd/faultline.
	_ "github.com/faultline-io/faultline/targets/crdt"
	_ "github.com/faultline-io/faultline/targets/etcd"
	_ "github.com/faultline-io/faultline/targets/raft"
	_ "github.com/faultline-io/faultline/targets/twopc"
)

// allNemesesInterval is the nemesis interval of the rows that run the
// correct build under every simulated nemesis: more faults per minute.
const allNemesesInterval = time.Second

// nodesOf is the cluster size per target: twopc is a coordinator and three
// participants, as in its container rows (docs/detection.md).
func nodesOf(target string) int {
	if target == "twopc" {
		return 4
	}
	return 3
}

// byDesign names the workloads left out of the every-nemesis rows because
// their checkers fail the correct build on purpose, with the reason.
var byDesign = map[[2]string]string{
	{"crdt", "register"}: "its linearizable checker fails an LWW register by design (docs/detection.md)",
}

// extraScenarios are scenario files written to expose a bug that its
// targets.Bug does not name (it names one scenario, for the real runtimes,
// at most), keyed by target and bug: the scenario rows of the container
// table (internal/benchdetect), run here too for the comparison.
var extraScenarios = map[[2]string]string{
	{"raft", "lease-read"}: "docs/scenarios/lease-read.yaml",
	{"raft", "no-fsync"}:   "docs/scenarios/no-fsync.yaml",
}

// benchRow is one row of the table: a build (a seeded bug, or the correct
// build when Bug is empty) under a generated schedule of Nemeses or under
// a scenario file.
type benchRow struct {
	Target   string
	Workload string
	Nodes    int
	Bug      string
	Nemeses  []string
	Scenario string        // path from the repository root
	Interval time.Duration // nemesis interval of a generated schedule
	// All says Nemeses is every nemesis the simulator models and the
	// target accepts.
	All bool
	// Skip, when set, says why the row is listed but not run.
	Skip string
}

// build is the row's build: the bug, or "correct".
func (r benchRow) build() string {
	if r.Bug == "" {
		return "correct"
	}
	return r.Bug
}

// faults describes the row's faults for the table.
func (r benchRow) faults() string {
	if r.Scenario != "" {
		return "scenario " + filepath.Base(r.Scenario)
	}
	f := strings.Join(r.Nemeses, ",")
	if r.All {
		f = fmt.Sprintf("all %d simulated nemeses", len(r.Nemeses))
	}
	if r.Interval != store.DefaultConfig().NemesisInterval {
		f += fmt.Sprintf(" (interval %v)", r.Interval)
	}
	return f
}

// key names the row uniquely; -cases matches substrings of it.
func (r benchRow) key() string {
	k := r.Target + "-" + r.Workload + "__" + r.build() + "__"
	if r.Scenario != "" {
		return k + "scenario-" + strings.TrimSuffix(filepath.Base(r.Scenario), ".yaml")
	}
	if r.All {
		k += "all-simulated"
	} else {
		k += strings.Join(r.Nemeses, "+")
	}
	if r.Interval != store.DefaultConfig().NemesisInterval {
		k += "__interval-" + r.Interval.String()
	}
	return k
}

// config is the store.Config of the row's run with seed, into st.
func (r benchRow) config(seed int64, limit time.Duration, st string) store.Config {
	cfg := store.DefaultConfig()
	cfg.Runtime = harness.RuntimeSim
	cfg.Target, cfg.Workload, cfg.Nodes = r.Target, r.Workload, r.Nodes
	if r.Bug != "" {
		cfg.Bugs = []string{r.Bug}
	}
	if r.Scenario != "" {
		cfg.Scenario = r.Scenario
	} else {
		cfg.Nemeses = slices.Clone(r.Nemeses)
		cfg.NemesisInterval = r.Interval
	}
	cfg.Seed, cfg.TimeLimit, cfg.Store = seed, limit, st
	if r.All {
		// The default name joins every nemesis: too long for a file name.
		cfg.Name = r.name()
	}
	return cfg
}

// name is the test name of the All rows, whose default (target, workload
// and every nemesis joined) is longer than a file name may be.
func (r benchRow) name() string { return r.Target + "-" + r.Workload + "-all-simulated" }

// command is the faultline command line that repeats the row's run with
// seed.
func (r benchRow) command(seed int64, limit time.Duration) string {
	args := []string{"faultline", "sim", "--target", r.Target, "--workload", r.Workload,
		"--nodes", strconv.Itoa(r.Nodes)}
	if r.Bug != "" {
		args = append(args, "--bug", r.Bug)
	}
	if r.Scenario != "" {
		args = append(args, "--scenario", r.Scenario)
	} else {
		args = append(args, "--nemesis", strings.Join(r.Nemeses, ","))
		if r.Interval != store.DefaultConfig().NemesisInterval {
			args = append(args, "--nemesis-interval", r.Interval.String())
		}
		if r.All {
			args = append(args, "--name", r.name())
		}
	}
	return strings.Join(append(args, "--time", limit.String(), "--seed", strconv.FormatInt(seed, 10)), " ")
}

// simulatedNemeses returns the nemeses, of names, that the simulator models
// and target accepts (harness.ValidateConfig with runtime sim), in order.
func simulatedNemeses(target, workload string, nodes int, names []string) []string {
	ids := make([]string, nodes)
	for i := range ids {
		ids[i] = fmt.Sprintf("n%d", i+1)
	}
	role := func(string) (string, error) { return ids[0], nil }
	var out []string
	for _, name := range names {
		cfg := store.DefaultConfig()
		cfg.Runtime, cfg.Target, cfg.Workload, cfg.Nodes, cfg.Nemeses = harness.RuntimeSim, target, workload, nodes, []string{name}
		if harness.ValidateConfig(&cfg) != nil {
			continue
		}
		if _, err := nemesis.ResolveForSim(nemesis.Fault{Nemesis: name}, ids, role); err != nil &&
			strings.Contains(err.Error(), "no simulated model") {
			continue
		}
		out = append(out, name)
	}
	return out
}

// rowsOf returns the rows of the simulated targets, in table order, and the
// registered targets that are not simulated.
func rowsOf(simulated []string) (rows []benchRow, notSimulated []string) {
	def := store.DefaultConfig().NemesisInterval
	for _, t := range targets.All() {
		if !slices.Contains(simulated, t.Name()) {
			notSimulated = append(notSimulated, t.Name())
		}
	}
	sort.Strings(notSimulated)
	for _, name := range simulated {
		t, err := targets.Get(name)
		if err != nil {
			continue
		}
		nodes := nodesOf(name)
		var bugRows, correct []benchRow
		seen := map[string]bool{}
		addCorrect := func(r benchRow) {
			r.Bug = ""
			if !seen[r.key()] {
				seen[r.key()] = true
				correct = append(correct, r)
			}
		}
		for _, b := range t.Bugs() {
			wl := b.Workload
			if wl == "" {
				wl = t.Workloads()[0].Name
			}
			base := benchRow{Target: name, Workload: wl, Nodes: nodes, Bug: b.Name}
			var rs []benchRow
			if len(b.Nemesis) > 0 {
				r := base
				r.Nemeses, r.Interval = slices.Clone(b.Nemesis), def
				rs = append(rs, r)
			}
			for _, sc := range []string{b.Scenario, extraScenarios[[2]string{name, b.Name}], b.SimScenario} {
				if sc != "" {
					r := base
					r.Scenario, r.Interval = sc, def
					rs = append(rs, r)
				}
			}
			bugRows = append(bugRows, rs...)
			for _, r := range rs {
				addCorrect(r)
			}
		}
		for _, wl := range t.Workloads() {
			r := benchRow{Target: name, Workload: wl.Name, Nodes: nodes, Interval: allNemesesInterval, All: true}
			r.Nemeses = simulatedNemeses(name, wl.Name, nodes, nemesis.Names())
			if why, ok := byDesign[[2]string{name, wl.Name}]; ok {
				r.Skip = why
			}
			addCorrect(r)
		}
		rows = append(rows, bugRows...)
		rows = append(rows, correct...)
	}
	return rows, notSimulated
}

// runResult is what one run left; -results keeps one per line, with the
// row's key and the time limit.
type runResult struct {
	Key   string        `json:"key"`
	Limit time.Duration `json:"limit_ns"`
	Seed  int64         `json:"seed"`
	Valid checker.Valid `json:"valid"`
	// FirstAnomaly is the virtual test time of the first anomaly; < 0 when
	// none was found or its time is unknown.
	FirstAnomaly time.Duration    `json:"first_anomaly_ns"`
	Sim          harness.SimStats `json:"sim"`
	Wall         time.Duration    `json:"wall_ns"` // the whole harness.Run
	Err          string           `json:"error,omitempty"`
	// TimedOut says the run was stopped at -run-timeout of wall time;
	// Partial is then the verdict on the history it had recorded.
	TimedOut bool          `json:"timed_out,omitempty"`
	Partial  checker.Valid `json:"partial_valid,omitempty"`
}

// readResults loads the results of finished runs from path (JSON lines of
// runResult), keyed by row key, limit and seed; a missing file holds none.
func readResults(path string) (map[string]runResult, error) {
	out := map[string]runResult{}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for i, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var r runResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		out[resultKey(r.Key, r.Limit, r.Seed)] = r
	}
	return out, nil
}

func resultKey(key string, limit time.Duration, seed int64) string {
	return fmt.Sprintf("%s/%v/%d", key, limit, seed)
}

// wallToAnomaly estimates the wall time from the start of the run to the
// first anomaly's verdict: the simulation's wall time in proportion of the
// virtual time simulated, plus the wall time after the simulation (check
// and I/O). It is < 0 when there is no anomaly time.
func (r runResult) wallToAnomaly() time.Duration {
	if r.FirstAnomaly < 0 || r.Sim.Virtual <= 0 {
		return -1
	}
	frac := min(float64(r.FirstAnomaly)/float64(r.Sim.Virtual), 1)
	return time.Duration(float64(r.Sim.Wall)*frac) + max(r.Wall-r.Sim.Wall, 0)
}

// runOne runs row r with seed into a store of its own under root. A run
// still going after timeout of wall time is interrupted (TimedOut): its
// partial history is checked, and that verdict is kept apart.
func runOne(ctx context.Context, r benchRow, seed int64, limit, timeout time.Duration, root string, keep bool) runResult {
	res := runResult{Key: r.key(), Limit: limit, Seed: seed, Valid: checker.Unknown, FirstAnomaly: -1}
	st := filepath.Join(root, r.key(), "seed-"+strconv.FormatInt(seed, 10))
	cfg := r.config(seed, limit, st)
	if err := harness.ValidateConfig(&cfg); err != nil {
		res.Err = err.Error()
		return res
	}
	if !keep {
		defer os.RemoveAll(st)
	}
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	out, err := harness.Run(runCtx, cfg, harness.RunOptions{CommandLine: strings.Fields(r.command(seed, limit))})
	res.Wall = time.Since(start)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	if b, err := os.ReadFile(filepath.Join(out.Dir, harness.SimFile)); err != nil {
		res.Err = "sim.json: " + err.Error()
	} else if err := json.Unmarshal(b, &res.Sim); err != nil {
		res.Err = "sim.json: " + err.Error()
	}
	if out.Interrupted {
		if ctx.Err() != nil {
			res.Err = "interrupted"
			return res
		}
		// Harness sets an interrupted run's verdict to unknown; the
		// checkers' own verdicts on the partial history remain.
		res.TimedOut, res.Partial = true, checker.Compose(out.Results.Results...).Valid
		res.Err = fmt.Sprintf("wall-time limit %v reached at %v of virtual time; the partial history checks %v",
			timeout, res.Sim.Virtual.Round(time.Millisecond), res.Partial)
		return res
	}
	res.Valid = out.Results.Valid
	for _, cr := range out.Results.Results {
		if cr.FirstAnomalyTime != nil {
			if t := time.Duration(*cr.FirstAnomalyTime); res.FirstAnomaly < 0 || t < res.FirstAnomaly {
				res.FirstAnomaly = t
			}
		}
	}
	return res
}

func main() {
	var (
		seeds     = flag.Int("seeds", 100, "seeds per row (from -first-seed)")
		firstSeed = flag.Int64("first-seed", 1, "first seed")
		limit     = flag.Duration("time", 60*time.Second, "virtual time limit of each run")
		parallel  = flag.Int("parallel", 2, "runs at once (each simulation is one goroutine; its check may use more)")
		only      = flag.String("cases", "", "comma-separated substrings of row keys (target-workload__build__faults); empty: every row")
		outFile   = flag.String("out", "", "also write the Markdown table to this file")
		storeDir  = flag.String("store", "", "directory for the run directories (default: a temporary one, removed)")
		keep      = flag.Bool("keep", false, "keep every run directory")
		list      = flag.Bool("list", false, "list the rows' keys and run nothing")
		resFile   = flag.String("results", "", "keep each run's result in this file (JSON lines) and reuse those found there instead of running them again")
		noRun     = flag.Bool("no-run", false, "run nothing: render the table from -results")
		timeout   = flag.Duration("run-timeout", 0, "wall time after which a run is stopped, a timeout in the table (its partial history is still checked); 0: -time, i.e. a simulation slower than real time")
		cpuProf   = flag.String("cpuprofile", "", "write a CPU profile of the whole benchmark to this file")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *timeout <= 0 {
		*timeout = *limit
	}
	simulated := harness.SimulatedTargets()
	rows, notSimulated := rowsOf(simulated)
	var want []string
	for _, c := range strings.Split(*only, ",") {
		if c = strings.TrimSpace(c); c != "" {
			want = append(want, c)
		}
	}
	var picked []benchRow
	for _, r := range rows {
		if len(want) == 0 || slices.ContainsFunc(want, func(w string) bool { return strings.Contains(r.key(), w) }) {
			picked = append(picked, r)
		}
	}
	if *list {
		for _, r := range picked {
			fmt.Printf("%s\t%s\n", r.key(), r.Skip)
		}
		fmt.Printf("not simulated: %v\n", notSimulated)
		return
	}
	root := *storeDir
	if root == "" {
		d, err := os.MkdirTemp("", "benchsim-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchsim:", err)
			os.Exit(1)
		}
		root = d
		if !*keep {
			defer os.RemoveAll(d)
		}
	}
	fmt.Fprintf(os.Stderr, "benchsim: simulated targets %v, not simulated %v; %d rows × %d seeds × %v, %d at a time, store %s\n",
		simulated, notSimulated, len(picked), *seeds, *limit, *parallel, root)

	// Jobs in table order; results land at their index so a row's seeds
	// stay in seed order whatever order the runs finish in.
	type job struct {
		row  int
		seed int64
	}
	var jobs []job
	for i, r := range picked {
		if r.Skip != "" {
			continue
		}
		for s := range *seeds {
			jobs = append(jobs, job{i, *firstSeed + int64(s)})
		}
	}
	out := make([]*runResult, len(jobs))
	var resf *os.File
	if *resFile != "" {
		kept, err := readResults(*resFile)
		if err == nil {
			resf, err = os.OpenFile(*resFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchsim:", err)
			os.Exit(1)
		}
		defer resf.Close()
		for i, j := range jobs {
			if r, ok := kept[resultKey(picked[j.row].key(), *limit, j.seed)]; ok {
				out[i] = &r
			}
		}
	}
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchsim:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	began := time.Now()
	var (
		next, done int
		mu         sync.Mutex
		wg         sync.WaitGroup
	)
	for range max(*parallel, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(jobs) || *noRun {
					return
				}
				if out[i] != nil {
					continue // kept from an earlier invocation
				}
				r := picked[jobs[i].row]
				res := runOne(ctx, r, jobs[i].seed, *limit, *timeout, root, *keep)
				mu.Lock()
				out[i] = &res
				done++
				if resf != nil && ctx.Err() == nil {
					b, _ := json.Marshal(res)
					if _, err := resf.Write(append(b, '\n')); err != nil {
						fmt.Fprintln(os.Stderr, "benchsim:", err)
					}
				}
				fmt.Fprintf(os.Stderr, "benchsim: [%d/%d] %-60s seed %3d → %-7s first anomaly %-8s sim %v in %v (%.0fx) %s\n",
					done, len(jobs), r.key(), res.Seed, res.Valid, fmtDur(res.FirstAnomaly), res.Sim.Virtual.Round(time.Millisecond),
					res.Wall.Round(time.Millisecond), res.Sim.Speedup, res.Err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	results := make([][]runResult, len(picked))
	for i, j := range jobs {
		if out[i] != nil {
			results[j.row] = append(results[j.row], *out[i])
		}
	}
	var total time.Duration
	for _, r := range out {
		if r != nil {
			total += r.Wall
		}
	}
	header := fmt.Sprintf("%d seeds from %d (%d runs, %d at a time) of %v virtual time each, stopped after %v of wall time: %v of run wall time summed (this invocation: %v elapsed, %d runs); %s, %d CPUs; %s.\n",
		*seeds, *firstSeed, len(jobs), max(*parallel, 1), *limit, *timeout, total.Round(time.Second), time.Since(began).Round(time.Second), done,
		runtime.Version(), runtime.NumCPU(), time.Now().UTC().Format("2006-01-02"))
	table := header + "\n" + render(picked, results, notSimulated, *limit)
	fmt.Print(table)
	if *outFile != "" {
		if err := os.WriteFile(*outFile, []byte(table), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "benchsim:", err)
			os.Exit(1)
		}
	}
	if ctx.Err() != nil {
		pprof.StopCPUProfile()
		os.Exit(2)
	}
}

// median returns the median of xs (the lower middle of an even count), or
// -1 when xs is empty. It sorts xs.
func median[T int64 | float64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return -1
	}
	slices.Sort(xs)
	return xs[(len(xs)-1)/2]
}

func fmtDur(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < 10*time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// render returns the Markdown table of rows and their results, followed by
// every run of a correct build that found an anomaly, every unknown verdict
// and every error, each with the command that repeats it.
func render(rows []benchRow, results [][]runResult, notSimulated []string, limit time.Duration) string {
	var b, notes strings.Builder
	fmt.Fprintln(&b, "| target | workload | build | faults | seeds | detected / false alarms | unknown | timed out | errors | median virtual time to first anomaly | median est. wall time to first anomaly | median speedup (virtual s / wall s) | wall time of the row (sum of runs) |")
	fmt.Fprintln(&b, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for i, r := range rows {
		if r.Skip != "" {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | not run: %s | | | | | | | | |\n", r.Target, r.Workload, r.build(), r.faults(), r.Skip)
			continue
		}
		rs := results[i]
		if len(rs) == 0 {
			continue
		}
		var det, unk, tout, errs int
		var virt, wall []time.Duration
		var speed []float64
		var total time.Duration
		for _, res := range rs {
			total += res.Wall
			if res.TimedOut {
				tout++
				fmt.Fprintf(&notes, "- timed out: %s, seed %d: %s\n  `%s`\n", r.key(), res.Seed, res.Err, r.command(res.Seed, limit))
				continue
			}
			if res.Err != "" {
				errs++
				fmt.Fprintf(&notes, "- error: %s, seed %d: %s\n  `%s`\n", r.key(), res.Seed, res.Err, r.command(res.Seed, limit))
				continue
			}
			speed = append(speed, res.Sim.Speedup)
			switch res.Valid {
			case checker.False:
				det++
				if res.FirstAnomaly >= 0 {
					virt = append(virt, res.FirstAnomaly)
					wall = append(wall, res.wallToAnomaly())
				}
				if r.Bug == "" {
					fmt.Fprintf(&notes, "- false alarm: %s, seed %d (first anomaly at %s)\n  `%s`\n", r.key(), res.Seed, fmtDur(res.FirstAnomaly), r.command(res.Seed, limit))
				}
			case checker.Unknown:
				unk++
				fmt.Fprintf(&notes, "- unknown verdict: %s, seed %d\n  `%s`\n", r.key(), res.Seed, r.command(res.Seed, limit))
			}
		}
		label := fmt.Sprintf("%d/%d (%.0f%%)", det, len(rs), 100*float64(det)/float64(len(rs)))
		if r.Bug == "" {
			label = fmt.Sprintf("%d false alarms", det)
		}
		sp := "-"
		if m := median(speed); m >= 10 {
			sp = fmt.Sprintf("%.0f", m)
		} else if m >= 0 {
			sp = fmt.Sprintf("%.1f", m)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %s | %d | %d | %d | %s | %s | %s | %s |\n", r.Target, r.Workload, r.build(), r.faults(),
			len(rs), label, unk, tout, errs, fmtDur(median(virt)), fmtDur(median(wall)), sp, total.Round(time.Second))
	}
	var all strings.Builder
	for i, r := range rows {
		if r.All && (len(results[i]) > 0 || r.Skip != "") {
			fmt.Fprintf(&all, "- %s / %s: %s\n", r.Target, r.Workload, strings.Join(r.Nemeses, ", "))
		}
	}
	for _, t := range notSimulated {
		fmt.Fprintf(&b, "| %s | | | not simulated (no SimTarget) | | | | | | | | | |\n", t)
	}
	if all.Len() > 0 {
		fmt.Fprintf(&b, "\nThe nemeses of the \"all simulated nemeses\" rows (one generated schedule, one fault at a time):\n\n%s", all.String())
	}
	if notes.Len() > 0 {
		fmt.Fprintf(&b, "\nFalse alarms, unknown verdicts, timeouts and errors, each with the command that repeats it:\n\n%s", notes.String())
	}
	return b.String()
}
