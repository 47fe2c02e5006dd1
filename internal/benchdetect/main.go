// Command benchdetect measures how well faultline's nemeses expose the
// bundled targets' seeded bugs (Raft's, and the CRDT store's rows): for every bug, with its paired
// nemeses, it runs `faultline run` over N seeds of T seconds each and reads
// each run's results.json; it then runs the correct build under the same
// nemeses and seeds, where any anomaly is a false alarm. It prints a
// Markdown table: per bug the detection rate and the median and p90 test
// time of the first anomalous operation (checker.Result.FirstAnomalyTime).
//
// Usage (make bench-detect runs it with the defaults):
//
//	go run ./internal/benchdetect [-seeds 10] [-time 60s] [-runtime auto]
//	    [-bin bin/faultline] [-store bench-store] [-cases lease-read,no-fsync]
//	    [-fresh] [-no-run] [-out table.md]
//
// Runs are sequential unless -parallel N (a run wants the whole machine;
// the table says how many ran at once). Each run keeps its
// run directory under -store/<case>/seed-<n>/; a later invocation reuses a
// finished run's results instead of running it again unless -fresh, so a
// long benchmark can be done in pieces and the table re-rendered.
//
// Runtime: docker when the daemon answers, else netns when root, else local.
// Cases whose nemeses need network namespaces (partition-*) are skipped on
// local, with the reason in the table.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/nemesis"
)

// benchCase is one row: a bug (empty: the correct build) and its nemeses,
// or a scenario file (docs/scenarios) instead of a generated schedule.
type benchCase struct {
	// Target and Workload default to raft and register.
	Target   string
	Workload string
	Nodes    int // default 3
	Bug      string
	Nemeses  []string
	Scenario string // path relative to the repository root
	Overlap  bool   // --nemesis-overlap: each nemesis on its own schedule, all at once
	// Rate, when set, is --rate (operations per second, all workers):
	// the throughput rows ask for more than the clusters can do.
	Rate int
}

// faults describes the row's faults for the table.
func (c benchCase) faults() string {
	if c.Scenario != "" {
		return "scenario " + filepath.Base(c.Scenario)
	}
	f := strings.Join(c.Nemeses, ",")
	if f == "" {
		f = "none"
	}
	if c.Rate > 0 {
		f += fmt.Sprintf(" (--rate %d)", c.Rate)
	}
	if c.Overlap {
		return f + " (overlapping)"
	}
	return f
}

// name is the build: the bug, or "correct".
func (c benchCase) name() string {
	if c.Bug == "" {
		return "correct"
	}
	return c.Bug
}

// target and workload resolve the defaults.
func (c benchCase) target() string   { return cmpOr(c.Target, "raft") }
func (c benchCase) workload() string { return cmpOr(c.Workload, "register") }

func cmpOrInt(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (c benchCase) key() string {
	b := c.Bug
	if b == "" {
		b = "correct"
	}
	if c.Target != "" {
		// Raft rows keep their old keys, so earlier runs are reused.
		b = c.target() + "-" + c.workload() + "__" + b
	}
	if c.Scenario != "" {
		return b + "__scenario-" + strings.TrimSuffix(filepath.Base(c.Scenario), ".yaml")
	}
	if c.Rate > 0 {
		b += "__rate-" + strconv.Itoa(c.Rate)
	}
	if c.Overlap {
		return b + "__overlap-" + strings.Join(c.Nemeses, "+")
	}
	return b + "__" + strings.Join(c.Nemeses, "+")
}

func (c benchCase) needsNetNS() bool {
	for _, n := range c.Nemeses {
		if strings.HasPrefix(n, "partition") || n == "loss" || n == "duplicate" || n == "delay" || n == "bandwidth" {
			return true
		}
	}
	return false
}

// bugCases are the Raft seeded bugs with the nemeses that should expose
// them.
var bugCases = []benchCase{
	{Bug: "ack-before-commit", Nemeses: []string{"kill"}},
	{Bug: "stale-read", Nemeses: []string{"partition-leader"}},
	{Bug: "lease-read", Nemeses: []string{"clock-strobe", "partition-leader"}},
	{Bug: "no-fsync", Nemeses: []string{"disk-lose-unsynced"}},
	{Bug: "forget-vote", Nemeses: []string{"partition-leader", "kill"}},
}

// allCases returns the rows: every bug with its paired nemeses, then the
// correct build under each of those nemesis lists and under every single
// registered nemesis (each list once).
func allCases(nemeses []string) []benchCase {
	cases := append([]benchCase(nil), bugCases...)
	seen := map[string]bool{}
	add := func(ns []string) {
		if k := strings.Join(ns, ","); !seen[k] {
			seen[k] = true
			cases = append(cases, benchCase{Nemeses: ns})
		}
	}
	for _, c := range bugCases {
		add(c.Nemeses)
	}
	for _, n := range nemeses {
		add([]string{n})
	}
	for _, c := range scenarioCases {
		cases = append(cases, c, benchCase{Nemeses: c.Nemeses, Scenario: c.Scenario})
	}
	cases = append(cases, overlapCases...)
	cases = append(cases, crdtCases...)
	cases = append(cases, twopcCases...)
	return append(cases, etcdCases...)
}

// etcdCases are etcd (the pinned release, no seeded bugs) under every
// network and process nemesis this kernel can apply (delay needs netem),
// in two groups, then etcd's and the bundled Raft's write throughput with
// no faults at a rate neither reaches: any anomaly is a false alarm (or a
// bug in etcd).
var etcdCases = []benchCase{
	{Target: "etcd", Nemeses: []string{"partition", "partition-leader", "kill", "pause"}},
	{Target: "etcd", Nemeses: []string{"bandwidth", "duplicate", "loss", "partition-bridge", "partition-one", "partition-oneway", "partition-ring"}},
	{Target: "etcd", Rate: 5000},
	{Target: "raft", Rate: 5000},
}

// twopcCases are the two-phase-commit bank's seeded bugs with what
// exposes each (targets/twopc Target.Bugs: delayed messages, and for the
// bugs that need a crash in the widened window a scenario file), and the
// correct build under each of those and under the faults of the
// acceptance run; all on 4 nodes (a coordinator and 3 participants).
var twopcCases = []benchCase{
	{Target: "twopc", Workload: "bank", Nodes: 4, Bug: "presume-abort", Nemeses: []string{"msg-delay"}, Scenario: "docs/scenarios/presume-abort.yaml"},
	{Target: "twopc", Workload: "bank", Nodes: 4, Bug: "volatile-prepare", Nemeses: []string{"msg-delay", "kill"}, Scenario: "docs/scenarios/volatile-prepare.yaml"},
	{Target: "twopc", Workload: "bank", Nodes: 4, Bug: "commit-before-log", Nemeses: []string{"msg-delay", "kill-coordinator"}, Scenario: "docs/scenarios/commit-before-log.yaml"},
	{Target: "twopc", Workload: "bank", Nodes: 4, Bug: "early-unlock", Nemeses: []string{"msg-delay"}},
	{Target: "twopc", Workload: "bank", Nodes: 4, Nemeses: []string{"msg-delay"}, Scenario: "docs/scenarios/presume-abort.yaml"},
	{Target: "twopc", Workload: "bank", Nodes: 4, Nemeses: []string{"msg-delay", "kill"}, Scenario: "docs/scenarios/volatile-prepare.yaml"},
	{Target: "twopc", Workload: "bank", Nodes: 4, Nemeses: []string{"msg-delay", "kill-coordinator"}, Scenario: "docs/scenarios/commit-before-log.yaml"},
	{Target: "twopc", Workload: "bank", Nodes: 4, Nemeses: []string{"msg-delay"}},
	{Target: "twopc", Workload: "bank", Nodes: 4, Nemeses: []string{"partition", "kill", "kill-coordinator"}},
}

// crdtCases are the CRDT store's seeded bugs with their paired nemeses
// and workloads, then its correct build under those and under the faults
// of the acceptance runs.
var crdtCases = []benchCase{
	{Target: "crdt", Workload: "counter", Bug: "sum-merge", Nemeses: []string{"partition"}},
	{Target: "crdt", Workload: "set", Bug: "remove-by-value", Nemeses: []string{"partition"}},
	{Target: "crdt", Workload: "counter", Bug: "gossip-drop", Nemeses: []string{"partition"}},
	{Target: "crdt", Workload: "lww-register", Bug: "lww-wall-clock", Nemeses: []string{"clock-jump"}},
	{Target: "crdt", Workload: "counter", Nemeses: []string{"partition"}},
	{Target: "crdt", Workload: "set", Nemeses: []string{"partition"}},
	{Target: "crdt", Workload: "lww-register", Nemeses: []string{"clock-jump"}},
	{Target: "crdt", Workload: "mv-register", Nemeses: []string{"partition", "kill", "loss"}},
}

// scenarioCases are bugs with a scenario written to expose them fast
// (docs/scenarios); Nemeses lists what the scenario uses.
var scenarioCases = []benchCase{
	{Bug: "lease-read", Nemeses: []string{"clock-strobe", "partition-leader"}, Scenario: "docs/scenarios/lease-read.yaml"},
	{Bug: "no-fsync", Nemeses: []string{"disk-lose-unsynced"}, Scenario: "docs/scenarios/no-fsync.yaml"},
}

// overlapCases run with --nemesis-overlap: a bug that needs two faults at
// once, and the correct build under many nemeses at once.
var overlapCases = []benchCase{
	{Bug: "lease-read", Nemeses: []string{"clock-strobe", "partition-leader"}, Overlap: true},
	{Nemeses: []string{"clock-strobe", "partition-leader"}, Overlap: true},
	{Nemeses: []string{"kill", "pause", "partition", "clock-strobe", "clock-jump", "msg-delay", "msg-dup", "loss"}, Overlap: true},
}

// runResult is the outcome of one run.
type runResult struct {
	Exit         int     // 0 valid, 1 anomaly, 2 unknown, other: error
	FirstAnomaly float64 // seconds of test time; < 0 when unknown
	Dir          string
	Err          string
	// WritesPerSec is the run's ok writes (write, cas, transfer) per
	// second of the test, final phase excluded; < 0 when unknown.
	WritesPerSec float64
}

func main() {
	var (
		seeds     = flag.Int("seeds", 10, "seeds per case (1..seeds, from -first-seed)")
		firstSeed = flag.Int64("first-seed", 1, "first seed")
		dur       = flag.Duration("time", 60*time.Second, "time limit of each run")
		rt        = flag.String("runtime", "auto", "auto (docker, else netns when root, else local), docker, netns or local")
		bin       = flag.String("bin", "bin/faultline", "faultline binary")
		store     = flag.String("store", "bench-store", "directory for the runs")
		only      = flag.String("cases", "", "comma-separated bugs to run (\"correct\" for the correct build); empty: all")
		fresh     = flag.Bool("fresh", false, "run again even where a finished run exists")
		outFile   = flag.String("out", "", "also write the Markdown table to this file")
		parallel  = flag.Int("parallel", 1, "runs at once (each run is a whole cluster; more than the cores distorts timing)")
		extra     = flag.String("args", "", "extra arguments for every faultline run, space-separated")
		noRun     = flag.Bool("no-run", false, "run nothing: render the table from the finished runs in -store")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	runtime, why := pickRuntime(*rt)
	fmt.Fprintf(os.Stderr, "benchdetect: runtime %s (%s); %d seeds × %v\n", runtime, why, *seeds, *dur)

	want := map[string]bool{}
	for _, c := range strings.Split(*only, ",") {
		if c = strings.TrimSpace(c); c != "" {
			want[c] = true
		}
	}
	cases := allCases(nemesis.Names())

	// Jobs in table order; results land at their index so a row's seeds
	// stay in seed order whatever order the runs finish in.
	type job struct {
		c    benchCase
		seed int64
	}
	var jobs []job
	skipped := map[string]string{}
	for _, c := range cases {
		if len(want) > 0 && !want[c.name()] && !want[c.key()] && !want[c.target()] {
			continue
		}
		if runtime == "local" && c.needsNetNS() {
			skipped[c.key()] = "needs network namespaces, unavailable on the local runtime"
			continue
		}
		for i := 0; i < *seeds; i++ {
			jobs = append(jobs, job{c, *firstSeed + int64(i)})
		}
	}
	out := make([]*runResult, len(jobs))
	if *noRun {
		for i, j := range jobs {
			if res, ok := finished(*store, j.c, j.seed); ok {
				out[i] = &res
			}
		}
	} else {
		var (
			next, done int
			mu         sync.Mutex
			wg         sync.WaitGroup
		)
		for w := 0; w < max(*parallel, 1); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					mu.Lock()
					i := next
					next++
					mu.Unlock()
					if i >= len(jobs) {
						return
					}
					j := jobs[i]
					res := runOne(ctx, *bin, runtime, *store, j.c, j.seed, *dur, *fresh, strings.Fields(*extra))
					mu.Lock()
					out[i] = &res
					done++
					fmt.Fprintf(os.Stderr, "benchdetect: [%d/%d] %s/%s %-18s %-36s seed %3d → exit %d first anomaly %s %s\n",
						done, len(jobs), j.c.target(), j.c.workload(), j.c.name(), j.c.faults(), j.seed, res.Exit, fmtSecs(res.FirstAnomaly), res.Err)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	results := map[string][]runResult{}
	for i, j := range jobs {
		if out[i] != nil {
			results[j.c.key()] = append(results[j.c.key()], *out[i])
		}
	}
	table := render(cases, results, skipped, runtime, *seeds, *dur, *parallel)
	fmt.Print(table)
	if *outFile != "" {
		if err := os.WriteFile(*outFile, []byte(table), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "benchdetect:", err)
			os.Exit(1)
		}
	}
}

// pickRuntime resolves auto: docker when the daemon answers, else netns
// when root, else local.
func pickRuntime(rt string) (string, string) {
	if rt != "auto" {
		return rt, "as asked"
	}
	if err := exec.Command("docker", "info").Run(); err == nil {
		return "docker", "the Docker daemon answers"
	}
	if os.Geteuid() == 0 {
		return "netns", "no Docker; running as root"
	}
	return "local", "no Docker and not root"
}

// runDir is where the run of c with seed keeps its files.
func runDir(store string, c benchCase, seed int64) string {
	dir, _ := filepath.Abs(filepath.Join(store, c.key(), "seed-"+strconv.FormatInt(seed, 10)))
	return dir
}

// finished returns the results of a finished run, if there is one.
func finished(store string, c benchCase, seed int64) (runResult, bool) {
	dir := runDir(store, c, seed)
	b, err := os.ReadFile(filepath.Join(dir, "exit-code"))
	if err != nil {
		return runResult{}, false
	}
	code, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return readRun(dir, code), true
}

// runOne runs (or reuses) one faultline run and reads its results.
func runOne(ctx context.Context, bin, runtime, store string, c benchCase, seed int64, dur time.Duration, fresh bool, extra []string) runResult {
	dir := runDir(store, c, seed)
	done := filepath.Join(dir, "exit-code")
	if !fresh {
		if res, ok := finished(store, c, seed); ok {
			return res
		}
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return runResult{Exit: -1, FirstAnomaly: -1, Err: err.Error()}
	}
	args := []string{"run", "--runtime", runtime, "--target", c.target(), "--workload", c.workload(),
		"--nodes", strconv.Itoa(cmpOrInt(c.Nodes, 3)), "--time-limit", dur.String(),
		"--seed", strconv.FormatInt(seed, 10), "--store", filepath.Join(dir, "store")}
	if c.Scenario != "" {
		abs, _ := filepath.Abs(c.Scenario)
		args = append(args, "--scenario", abs)
	} else {
		args = append(args, "--nemesis", strings.Join(c.Nemeses, ","))
	}
	if c.Overlap {
		args = append(args, "--nemesis-overlap")
	}
	if c.Bug != "" {
		args = append(args, "--bug", c.Bug)
	}
	if c.Rate > 0 {
		args = append(args, "--rate", strconv.Itoa(c.Rate))
	}
	args = append(args, extra...)
	logf, err := os.Create(filepath.Join(dir, "faultline.log"))
	if err != nil {
		return runResult{Exit: -1, FirstAnomaly: -1, Err: err.Error()}
	}
	defer logf.Close()
	fmt.Fprintf(logf, "%s %s\n", bin, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 2 * time.Minute
	err = cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		return runResult{Exit: -1, FirstAnomaly: -1, Err: err.Error()}
	}
	if ctx.Err() != nil {
		return runResult{Exit: -1, FirstAnomaly: -1, Err: "interrupted"}
	}
	os.WriteFile(done, []byte(strconv.Itoa(code)+"\n"), 0o644)
	return readRun(dir, code)
}

func readRun(dir string, code int) runResult {
	res := runResult{Exit: code, FirstAnomaly: -1, Dir: dir, WritesPerSec: writesPerSec(filepath.Join(dir, "store", "latest", "history.jsonl"))}
	rs, err := checker.ReadResults(filepath.Join(dir, "store", "latest", checker.ResultsFile))
	if err != nil {
		if code == 0 || code == 1 || code == 2 {
			res.Err = "no results: " + err.Error()
		} else {
			res.Err = lastLine(filepath.Join(dir, "faultline.log"))
		}
		return res
	}
	for _, r := range rs.Results {
		if r.FirstAnomalyTime != nil {
			s := float64(*r.FirstAnomalyTime) / 1e9
			if res.FirstAnomaly < 0 || s < res.FirstAnomaly {
				res.FirstAnomaly = s
			}
		}
	}
	return res
}

func lastLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

func fmtSecs(s float64) string {
	if s < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fs", s)
}

// quantile returns the q-quantile of xs (nearest rank); xs is sorted.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return -1
	}
	i := int(q*float64(len(xs))+0.999999) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}

func render(cases []benchCase, results map[string][]runResult, skipped map[string]string, runtime string, seeds int, dur time.Duration, parallel int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Runtime %s; seeds 1..N (N = runs) of %v each, %d run(s) at a time; 3 nodes (twopc: 4), default rate (200/s), "+
		"concurrency (10) and nemesis interval (3 s).\n\n", runtime, dur, max(parallel, 1))
	fmt.Fprintln(&b, "| target / workload | build | nemeses | runs | detected (exit 1) | unknown (exit 2) | errors | median first anomaly | p90 first anomaly | ok writes/s (median) |")
	fmt.Fprintln(&b, "|---|---|---|---|---|---|---|---|---|---|")
	for _, c := range cases {
		name := c.name()
		nem := c.faults()
		if why, ok := skipped[c.key()]; ok {
			fmt.Fprintf(&b, "| %s / %s | %s | %s | skipped: %s | | | | | | |\n", c.target(), c.workload(), name, nem, why)
			continue
		}
		rs := results[c.key()]
		if len(rs) == 0 {
			continue
		}
		var det, unk, errs int
		var times, wps []float64
		for _, r := range rs {
			if r.WritesPerSec >= 0 {
				wps = append(wps, r.WritesPerSec)
			}
			switch r.Exit {
			case 1:
				det++
				if r.FirstAnomaly >= 0 {
					times = append(times, r.FirstAnomaly)
				}
			case 2:
				unk++
			case 0:
			default:
				errs++
			}
		}
		sort.Float64s(times)
		label := fmt.Sprintf("%d/%d (%.0f%%)", det, len(rs), 100*float64(det)/float64(len(rs)))
		if c.Bug == "" {
			label = fmt.Sprintf("%d false alarms", det)
		}
		sort.Float64s(wps)
		rate := "-"
		if m := quantile(wps, 0.5); m >= 0 {
			rate = fmt.Sprintf("%.0f", m)
		}
		fmt.Fprintf(&b, "| %s / %s | %s | %s | %d | %s | %d | %d | %s | %s | %s |\n", c.target(), c.workload(), name, nem, len(rs), label, unk, errs,
			fmtSecs(quantile(times, 0.5)), fmtSecs(quantile(times, 0.9)), rate)
	}
	return b.String()
}

// writesPerSec reads a run's history and returns its ok writes (write,
// cas, transfer) per second between the first client op and the last one
// before the final phase; -1 when the history cannot be read.
func writesPerSec(path string) float64 {
	ops, err := history.ReadFile(path)
	if err != nil {
		return -1
	}
	var n int
	var first, last int64 = -1, -1
	for _, op := range ops {
		if op.IsNemesis() || op.Final != "" {
			continue
		}
		if first < 0 {
			first = op.Time
		}
		last = op.Time
		if op.Type == history.OK && (op.F == "write" || op.F == "cas" || op.F == "transfer") {
			n++
		}
	}
	if last <= first {
		return -1
	}
	return float64(n) / (float64(last-first) / 1e9)
}
