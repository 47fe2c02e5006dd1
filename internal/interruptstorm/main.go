// Command interruptstorm interrupts faultline runs in every phase and checks
// that each ends as an interrupted run must: exit 2, results.json saying
// "interrupted" and in which phase, a history that `faultline check` reads
// (and, the run being partial, calls unknown: exit 2), and nothing of the
// run left: containers, networks, namespaces, host links, host nftables
// tables, node processes.
//
// Each run aims at one phase, round robin over start, health, run, final,
// teardown and check (the runtimes alternate), and sends SIGINT a seeded
// random time after the harness logged entering it (start runs alternately
// count from the process start, so the runtime probe is hit too). The
// phase the run records is what counts; the aimed one only spreads the
// moments.
//
// With -sigkill it then SIGKILLs the harness during a partition and during
// an NFQUEUE delay on each runtime, and checks that the delayed links carry
// traffic again without the harness (fail-open: TCP connects between node
// namespaces, timed before and after the kill), that `faultline clean --run`
// removes everything of the run, and that the history parses up to its last
// fsync.
//
// Usage (make interrupt-storm runs it with the defaults; it needs root and
// Docker for the docker runtime):
//
//	go run ./internal/interruptstorm [-bin bin/faultline] [-runs 20]
//	    [-runtimes docker,netns] [-phases start,health,...] [-seed 1]
//	    [-time-limit 8s] [-sigkill]
//	    [-store dir] [-keep]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/google/nftables"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/docker"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/store"
)

var aimed = []store.Phase{store.PhaseStart, store.PhaseHealth, store.PhaseRun,
	store.PhaseFinal, store.PhaseTeardown, store.PhaseCheck}

type options struct {
	bin       string
	runs      int
	runtimes  []string
	seed      int64
	timeLimit time.Duration
	nemesis   string
	store     string
	sigkill   bool
	keep      bool
}

func main() {
	var o options
	var rts, phases string
	flag.StringVar(&o.bin, "bin", "bin/faultline", "faultline binary")
	flag.IntVar(&o.runs, "runs", 20, "interrupted runs, split over the runtimes")
	flag.StringVar(&rts, "runtimes", "docker,netns", "runtimes to alternate")
	flag.StringVar(&phases, "phases", "start,health,run,final,teardown,check", "phases to aim at, round robin")
	flag.Int64Var(&o.seed, "seed", 1, "seed of the interrupt moments (and of the runs)")
	flag.DurationVar(&o.timeLimit, "time-limit", 8*time.Second, "--time-limit of each run")
	flag.StringVar(&o.nemesis, "nemesis", "partition,kill,delay", "--nemesis of each run")
	flag.StringVar(&o.store, "store", "", "directory for the run directories (default: a temporary one)")
	flag.BoolVar(&o.sigkill, "sigkill", true, "also SIGKILL the harness during a partition and an NFQUEUE delay")
	flag.BoolVar(&o.keep, "keep", false, "keep the run directories even when every check passed")
	flag.Parse()
	o.runtimes = strings.Split(rts, ",")
	aimed = nil
	for _, p := range strings.Split(phases, ",") {
		aimed = append(aimed, store.Phase(p))
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "interruptstorm: needs root (network namespaces, nftables, the netns runtime)")
		os.Exit(2)
	}
	bin, err := filepath.Abs(o.bin)
	if err == nil {
		_, err = os.Stat(bin)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "interruptstorm: no faultline binary (make build):", err)
		os.Exit(2)
	}
	o.bin = bin
	if o.store == "" {
		o.store, err = os.MkdirTemp("", "interruptstorm-")
	} else {
		err = os.MkdirAll(o.store, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "interruptstorm:", err)
		os.Exit(2)
	}
	// A private copy: bin/ is shared, and a rebuild during the storm would
	// change the binary under it.
	if o.bin, err = copyBinary(o.bin, filepath.Join(o.store, "faultline")); err != nil {
		fmt.Fprintln(os.Stderr, "interruptstorm:", err)
		os.Exit(2)
	}
	fmt.Printf("interrupt storm: %d runs on %s, --time-limit %v, --nemesis %s, seed %d, store %s\n",
		o.runs, rts, o.timeLimit, o.nemesis, o.seed, o.store)
	failed := storm(o)
	if o.sigkill {
		failed += sigkills(o)
	}
	if failed > 0 {
		fmt.Printf("FAIL: %d checks failed; run directories kept in %s\n", failed, o.store)
		os.Exit(1)
	}
	if !o.keep {
		os.RemoveAll(o.store)
	}
	fmt.Println("PASS")
}

func copyBinary(from, to string) (string, error) {
	b, err := os.ReadFile(from)
	if err != nil {
		return "", err
	}
	return to, os.WriteFile(to, b, 0o755)
}

// result is one interrupted run.
type result struct {
	n        int
	runtime  string
	aim      store.Phase
	from     string        // what the delay counts from: "spawn" or the aimed phase
	delay    time.Duration // after from
	moment   time.Duration // since the process started
	reached  string        // last phase the harness logged before the signal
	recorded store.Phase   // the phase results.json names
	code     int
	took     time.Duration
	missed   bool // the run had exited before the moment came
	late     bool // the run had printed its verdict before the moment came

	problems []string
}

// storm runs o.runs interrupted runs one after another and prints a line
// for each and a table per recorded phase; it returns the failures.
func storm(o options) int {
	rng := rand.New(rand.NewSource(o.seed))
	var results []result
	for i := 0; i < o.runs; i++ {
		rt := o.runtimes[i%len(o.runtimes)]
		aim := aimed[(i/len(o.runtimes))%len(aimed)]
		// A moment drawn after the run had ended interrupts nothing: that
		// run is not counted and another moment is drawn (four times at most).
		for attempt := 0; attempt < 5; attempt++ {
			res := interruptOne(o, i, rt, aim, rng)
			status := "ok"
			if res.missed {
				status = "missed: the run had exited (or printed its verdict and was exiting) before the moment; not counted"
			}
			if len(res.problems) > 0 {
				status = "FAIL: " + strings.Join(res.problems, "; ")
			}
			fmt.Printf("run %2d %-6s aim %-8s SIGINT at %6.2fs (%v after %s; harness had reached %q): exit %d, recorded %q, %.1fs: %s\n",
				i+1, rt, aim, res.moment.Seconds(), res.delay.Round(time.Millisecond), res.from, res.reached,
				res.code, res.recorded, res.took.Seconds(), status)
			results = append(results, res)
			if !res.missed {
				break
			}
		}
	}
	type tally struct{ pass, total int }
	per := map[string]*tally{}
	failed := 0
	missed := 0
	for _, r := range results {
		if r.missed {
			missed++
			continue
		}
		k := r.runtime + " " + string(r.recorded)
		if r.recorded == "" {
			k = r.runtime + " (none)"
		}
		if per[k] == nil {
			per[k] = &tally{}
		}
		per[k].total++
		if len(r.problems) == 0 {
			per[k].pass++
		} else {
			failed++
		}
	}
	order := map[string]int{}
	for i, p := range store.Phases {
		order[string(p)] = i
	}
	var keys []string
	for k := range per {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ri, pi, _ := strings.Cut(keys[i], " ")
		rj, pj, _ := strings.Cut(keys[j], " ")
		if ri != rj {
			return ri < rj
		}
		return order[pi] < order[pj]
	})
	fmt.Printf("\nstorm: %d/%d interrupted runs passed", len(results)-missed-failed, len(results)-missed)
	if missed > 0 {
		fmt.Printf(" (%d more SIGINTs came after their run had exited; drawn again)", missed)
	}
	fmt.Println()
	fmt.Println("runtime phase      passed")
	for _, k := range keys {
		rt, ph, _ := strings.Cut(k, " ")
		fmt.Printf("%-7s %-10s %d/%d\n", rt, ph, per[k].pass, per[k].total)
	}
	return failed
}

var phaseLine = regexp.MustCompile(`\tphase\t\{"phase": "(\w+)"\}`)

// estimate is about how long a phase lasts, the range of the delay drawn
// for a run aimed at it.
func estimate(o options, rt string, p store.Phase) time.Duration {
	// Measured on a 2-core machine with the node image cached.
	d := map[store.Phase][2]time.Duration{ // docker, netns
		store.PhaseStart:    {1200 * time.Millisecond, 10 * time.Millisecond},
		store.PhaseHealth:   {150 * time.Millisecond, 250 * time.Millisecond},
		store.PhaseRun:      {o.timeLimit, o.timeLimit},
		store.PhaseFinal:    {300 * time.Millisecond, 40 * time.Millisecond},
		store.PhaseTeardown: {500 * time.Millisecond, 20 * time.Millisecond},
		store.PhaseCheck:    {8 * time.Millisecond, 8 * time.Millisecond}, // then the report
	}[p]
	if rt == "docker" {
		return d[0]
	}
	return d[1]
}

func interruptOne(o options, i int, rt string, aim store.Phase, rng *rand.Rand) result {
	res := result{n: i, runtime: rt, aim: aim, from: string(aim)}
	// Every other docker run aimed at start counts from the process start,
	// so the runtime probe and image check are hit too; not before 100 ms,
	// when main has installed its handler (before it, SIGINT kills the
	// process the default way, as it would any program).
	fromSpawn := aim == store.PhaseStart && rt == "docker" && (i/len(o.runtimes)/len(aimed))%2 == 0
	if fromSpawn {
		res.from = "spawn"
		res.delay = 100*time.Millisecond + time.Duration(rng.Int63n(int64(1200*time.Millisecond)))
	} else {
		res.delay = time.Duration(rng.Int63n(int64(estimate(o, rt, aim)) + 1))
	}
	storeDir := filepath.Join(o.store, fmt.Sprintf("storm-%02d", i+1))
	// The pid keeps names apart from an earlier storm's leftovers.
	name := fmt.Sprintf("storm-%d-%02d-%d", o.seed, i+1, os.Getpid())
	before := snapshot()
	cmd := exec.Command(o.bin, "-v", "run", "--runtime", rt, "--nemesis", o.nemesis, "--nodes", "3",
		"--time-limit", o.timeLimit.String(), "--nemesis-interval", "1s", "--seed", fmt.Sprint(o.seed+int64(i)),
		"--store", storeDir, "--name", name, "--checker-timeout", "20s")
	logf, err := os.Create(storeDir + ".log")
	if err != nil {
		res.problems = append(res.problems, err.Error())
		return res
	}
	defer logf.Close()
	cmd.Stdout = logf
	stderr, _ := cmd.StderrPipe()
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		res.problems = append(res.problems, err.Error())
		return res
	}
	var mu sync.Mutex
	reached := ""
	fire := make(chan struct{}, 1)
	if fromSpawn {
		fire <- struct{}{}
	}
	scanDone := make(chan struct{})
	go func() {
		defer close(scanDone)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if m := phaseLine.FindStringSubmatch(line); m != nil {
				mu.Lock()
				reached = m[1]
				mu.Unlock()
				if m[1] == string(aim) && !fromSpawn {
					select {
					case fire <- struct{}{}:
					default:
					}
				}
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	waitc := make(chan error, 1)
	go func() {
		<-scanDone
		waitc <- cmd.Wait()
	}()
	var werr error
	exited := false
	select {
	case <-fire:
		if fromSpawn {
			time.Sleep(res.delay - time.Since(t0))
		} else {
			time.Sleep(res.delay)
		}
		mu.Lock()
		res.reached = reached
		mu.Unlock()
		res.moment = time.Since(t0)
		switch {
		case exitedAlready(cmd.Process.Pid):
			// A zombie: the run ended before this moment came, so it
			// interrupts nothing.
			res.missed = true
		case printedVerdict(storeDir + ".log"):
			// The run has printed its verdict, so it is in its last
			// microseconds or in the kernel's exit (which takes a few ms
			// for a large process, and in which signals are not acted
			// on). If the signal is still recorded, the run counts.
			res.late = true
			_ = cmd.Process.Signal(syscall.SIGINT)
		default:
			_ = cmd.Process.Signal(syscall.SIGINT)
		}
	case werr = <-waitc:
		exited = true
		res.problems = append(res.problems, "exited before reaching phase "+string(aim))
	case <-time.After(3 * time.Minute):
		res.problems = append(res.problems, "phase "+string(aim)+" not reached in 3 min")
	}
	if !exited {
		select {
		case werr = <-waitc:
		case <-time.After(3 * time.Minute):
			_ = cmd.Process.Kill()
			werr = <-waitc
			res.problems = append(res.problems, "no exit within 3 min of SIGINT (killed)")
		}
	}
	res.took = time.Since(t0)
	res.code = exitCode(werr)
	if res.late && res.code == 0 {
		res.missed = true
	}
	if res.missed {
		return res
	}
	if res.code != 2 {
		res.problems = append(res.problems, fmt.Sprintf("exit %d, want 2", res.code))
	}
	dir, err := filepath.EvalSymlinks(filepath.Join(storeDir, "latest"))
	if err != nil {
		res.problems = append(res.problems, "no run directory: "+err.Error())
		return res
	}
	rr, err := store.ReadRunResults(dir)
	switch {
	case err != nil:
		res.problems = append(res.problems, "results.json: "+err.Error())
	case rr.Interrupted == nil:
		res.problems = append(res.problems, "results.json does not say interrupted")
	default:
		res.recorded = rr.Interrupted.Phase
		if rr.Valid != checker.Unknown {
			res.problems = append(res.problems, "results.json valid "+rr.Valid.String()+", want unknown")
		}
		if rr.Interrupted.Signal != "interrupt" {
			res.problems = append(res.problems, "results.json signal "+rr.Interrupted.Signal)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, store.RunningFile)); err == nil {
		res.problems = append(res.problems, "running.json left")
	}
	res.problems = append(res.problems, checkHistory(o, dir, 2)...)
	res.problems = append(res.problems, leftovers(dir, name, before)...)
	if len(res.problems) == 0 && !o.keep {
		os.RemoveAll(storeDir)
		os.Remove(storeDir + ".log")
	}
	return res
}

// printedVerdict reports whether the run's output (in log) holds its
// verdict line, which the CLI prints last but for the report's path and a
// last check for an interrupt.
func printedVerdict(log string) bool {
	b, _ := os.ReadFile(log)
	return strings.Contains(string(b), "\nvalid: ")
}

// exitedAlready reports whether child pid has exited, without reaping it
// (cmd.Wait does that).
func exitedAlready(pid int) bool {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	return err == nil && info.Signo == int32(unix.SIGCHLD)
}

func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return -1
}

// checkHistory checks that the run's history parses and that `faultline
// check` of the run directory reads it and exits want.
func checkHistory(o options, dir string, want int) []string {
	var problems []string
	if _, err := history.ReadFile(filepath.Join(dir, store.HistoryFile)); err != nil {
		problems = append(problems, "history unreadable: "+err.Error())
	}
	out, err := exec.Command(o.bin, "check", dir).CombinedOutput()
	if code := exitCode(err); code != want {
		problems = append(problems, fmt.Sprintf("faultline check exit %d, want %d: %s", code, want, lastLine(out)))
	}
	return problems
}

// lineWith returns the first line of b containing s, else its last line.
func lineWith(b []byte, s string) string {
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return lastLine(b)
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// state is what faultline-named resources exist on the host.
type state struct {
	namespaces map[string]bool
	nftTables  map[string]bool
}

func snapshot() state {
	s := state{namespaces: map[string]bool{}, nftTables: map[string]bool{}}
	if es, err := os.ReadDir("/var/run/netns"); err == nil {
		for _, e := range es {
			if strings.HasPrefix(e.Name(), cluster.NetnsPrefix) {
				s.namespaces[e.Name()] = true
			}
		}
	}
	if c, err := nftables.New(); err == nil {
		if ts, err := c.ListTables(); err == nil {
			for _, t := range ts {
				if strings.HasPrefix(t.Name, cluster.Label) {
					s.nftTables[t.Name] = true
				}
			}
		}
	}
	return s
}

// leftovers lists what of the run in dir (test name name) still exists:
// containers and networks with its run id or test name, namespaces and a
// host link with its run id, namespaces and host nft tables that appeared
// since before when the run id is unknown, and processes whose command line
// names the run directory.
func leftovers(dir, name string, before state) []string {
	var found []string
	run := runID(dir)
	after := snapshot()
	for ns := range after.namespaces {
		if run != "" && strings.HasPrefix(ns, cluster.NetnsPrefix+run+"-") {
			found = append(found, "namespace "+ns)
		} else if run == "" && !before.namespaces[ns] {
			found = append(found, "new namespace "+ns+" (run id unknown)")
		}
	}
	for t := range after.nftTables {
		if !before.nftTables[t] {
			found = append(found, "host nft table "+t)
		}
	}
	if run != "" {
		if _, err := os.Stat("/sys/class/net/" + cluster.LinkPrefix + run); err == nil {
			found = append(found, "link "+cluster.LinkPrefix+run)
		}
	}
	found = append(found, dockerLeftovers(run, name)...)
	found = append(found, processes(dir)...)
	if len(found) > 0 {
		return []string{"left behind: " + strings.Join(found, ", ")}
	}
	return nil
}

func runID(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, store.RuntimeFile))
	if err != nil {
		return ""
	}
	m := regexp.MustCompile(`"run": "([0-9a-f]+)"`).FindSubmatch(b)
	if m == nil {
		return ""
	}
	return string(m[1])
}

func dockerLeftovers(run, name string) []string {
	if _, err := docker.Available(context.Background()); err != nil {
		return nil
	}
	cli, err := docker.NewClient()
	if err != nil {
		return []string{"docker client: " + err.Error()}
	}
	defer cli.Close()
	var found []string
	sels := []filters.Args{filters.NewArgs(filters.Arg("label", docker.LabelTest+"="+name))}
	if run != "" {
		sels = append(sels, filters.NewArgs(filters.Arg("label", cluster.Label+"="+run)))
	}
	seen := map[string]bool{}
	ctx := context.Background()
	for _, f := range sels {
		cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil {
			found = append(found, "list containers: "+err.Error())
		}
		for _, c := range cs {
			if !seen[c.ID] {
				seen[c.ID] = true
				found = append(found, "container "+strings.Join(c.Names, ","))
			}
		}
		ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
		if err != nil {
			found = append(found, "list networks: "+err.Error())
		}
		for _, n := range ns {
			if !seen[n.ID] {
				seen[n.ID] = true
				found = append(found, "network "+n.Name)
			}
		}
	}
	return found
}

// processes lists processes (other than this one) whose command line
// contains dir: the netns and local runtimes' nodes take their data
// directory under it.
func processes(dir string) []string {
	var found []string
	ps, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range ps {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), dir) {
			continue
		}
		pid := strings.Split(p, "/")[2]
		if pid == fmt.Sprint(os.Getpid()) {
			continue
		}
		found = append(found, "process "+pid+" ("+strings.ReplaceAll(string(b), "\x00", " ")[:min(60, len(b))]+"…)")
	}
	return found
}

// sigkills SIGKILLs the harness during a partition and during an NFQUEUE
// delay on each runtime; it returns the failures.
func sigkills(o options) int {
	fmt.Println("\nSIGKILL of the harness during a fault:")
	failed := 0
	for _, rt := range o.runtimes {
		for _, nem := range []string{"partition", "delay"} {
			problems := killOne(o, rt, nem)
			if len(problems) > 0 {
				failed++
				fmt.Printf("  %s %s: FAIL: %s\n", rt, nem, strings.Join(problems, "; "))
			} else {
				fmt.Printf("  %s %s: ok\n", rt, nem)
			}
		}
	}
	return failed
}

const delayLatency = 300 * time.Millisecond

func killOne(o options, rt, nem string) []string {
	var problems []string
	storeDir := filepath.Join(o.store, "sigkill-"+rt+"-"+nem)
	if err := os.MkdirAll(storeDir, 0o755); err != nil {
		return []string{err.Error()}
	}
	name := fmt.Sprintf("sigkill-%d-%s-%s", o.seed, rt, nem)
	scenario := filepath.Join(storeDir, "scenario.yaml")
	fault := "  - {at: 1s, nemesis: partition, select: one, hold: 100s}\n"
	if nem == "delay" {
		fault = fmt.Sprintf("  - {at: 1s, nemesis: delay, select: all, hold: 100s, params: {latency: %v, jitter: 0s}}\n", delayLatency)
	}
	if err := os.WriteFile(scenario, []byte("faults:\n"+fault), 0o644); err != nil {
		return []string{err.Error()}
	}
	logf, err := os.Create(storeDir + ".log")
	if err != nil {
		return []string{err.Error()}
	}
	defer logf.Close()
	cmd := exec.Command(o.bin, "-v", "run", "--runtime", rt, "--nemesis", nem, "--scenario", scenario,
		"--nodes", "3", "--time-limit", "120s", "--store", storeDir, "--name", name, "--seed", fmt.Sprint(o.seed))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return []string{err.Error()}
	}
	waitc := make(chan error, 1)
	go func() { waitc <- cmd.Wait() }()
	defer func() { _ = cmd.Process.Kill() }()
	// The fault is in the history once applied; the history is fsynced at
	// least every 100 ms.
	var dir string
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if time.Now().After(deadline) {
			return []string{"fault never applied (see " + storeDir + ".log)"}
		}
		select {
		case err := <-waitc:
			return []string{fmt.Sprintf("run ended before the fault: exit %d (see %s.log)", exitCode(err), storeDir)}
		case <-time.After(100 * time.Millisecond):
		}
		if dir == "" {
			dir, _ = filepath.EvalSymlinks(filepath.Join(storeDir, "latest"))
		}
		if dir != "" && faultApplied(filepath.Join(dir, store.HistoryFile), nem) {
			break
		}
	}
	time.Sleep(time.Second)
	run := runID(dir)
	if run == "" {
		return []string{"no run id in runtime.json"}
	}
	links, closeLinks, err := nodeLinks(rt, run)
	if err != nil {
		problems = append(problems, "node namespaces: "+err.Error())
		closeLinks = func() {}
	}
	probeAll := func(when string) (answered, total int) {
		var parts []string
		for _, l := range links {
			d, outcome := tcpProbe(l.from, l.to)
			total++
			if outcome != "timeout" {
				answered++
			}
			parts = append(parts, fmt.Sprintf("%s→%s %s %v", l.fromID, l.toID, outcome, d.Round(time.Millisecond)))
		}
		fmt.Printf("    %s %s, %s: %s\n", rt, nem, when, strings.Join(parts, ", "))
		return answered, total
	}
	probeAll("fault on, harness alive")
	opsBefore := countOps(filepath.Join(dir, store.HistoryFile))
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-waitc
	time.Sleep(300 * time.Millisecond)
	answered, total := probeAll("harness SIGKILLed")
	if nem == "delay" {
		// Fail-open: every delayed link answers, and quickly.
		if answered != total {
			problems = append(problems, fmt.Sprintf("delay: %d of %d links blackholed after the harness died", total-answered, total))
		}
		for _, l := range links {
			if d, outcome := tcpProbe(l.from, l.to); outcome != "timeout" && d >= delayLatency {
				problems = append(problems, fmt.Sprintf("delay: %s→%s still delayed (%v) without the harness", l.fromID, l.toID, d))
			}
		}
	}
	closeLinks()
	ops, herr := history.ReadFile(filepath.Join(dir, store.HistoryFile))
	if herr != nil {
		problems = append(problems, "history unreadable: "+herr.Error())
	} else {
		fmt.Printf("    %s %s: history parses after the kill: %d ops (%d read just before it)\n", rt, nem, len(ops), opsBefore)
		if len(ops) < opsBefore {
			problems = append(problems, fmt.Sprintf("history lost ops: %d < %d seen before the kill", len(ops), opsBefore))
		}
	}
	out, err := exec.Command(o.bin, "check", dir).CombinedOutput()
	if code := exitCode(err); code != 2 {
		problems = append(problems, fmt.Sprintf("faultline check exit %d, want 2: %s", code, lastLine(out)))
	} else {
		fmt.Printf("    %s %s: faultline check: exit 2, %s\n", rt, nem, lineWith(out, "verdict unknown"))
	}
	leftBefore := leftovers(dir, name, snapshot())
	out, err = exec.Command(o.bin, "clean", "--run", run).CombinedOutput()
	if err != nil {
		problems = append(problems, fmt.Sprintf("faultline clean --run %s: %v: %s", run, err, out))
	}
	fmt.Printf("    %s %s: before clean, %v; faultline clean --run %s: %s\n", rt, nem, leftBefore, run,
		strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", ", "))
	if left := leftovers(dir, name, snapshot()); len(left) > 0 {
		problems = append(problems, "after clean: "+strings.Join(left, "; "))
	}
	if len(problems) == 0 && !o.keep {
		os.RemoveAll(storeDir)
		os.Remove(storeDir + ".log")
	}
	return problems
}

func faultApplied(path, nem string) bool {
	ops, err := history.ReadFile(path)
	if err != nil {
		return false
	}
	for _, op := range ops {
		if op.Process == history.Nemesis && op.F == nem && op.Error == "" {
			return true
		}
	}
	return false
}

func countOps(path string) int {
	ops, _ := history.ReadFile(path)
	return len(ops)
}

// link is a node-to-node path to probe: a TCP connect from node from's
// namespace to node to's address.
type link struct {
	fromID, toID string
	from         netns.NsHandle
	to           string // ip:port
}

// nodeLinks returns every ordered pair of the run's three nodes.
func nodeLinks(rt, run string) ([]link, func(), error) {
	ids := []string{"n1", "n2", "n3"}
	handles := map[string]netns.NsHandle{}
	for _, id := range ids {
		var h netns.NsHandle
		var err error
		if rt == "docker" {
			h, err = dockerNetns(cluster.Label + "-" + run + "-" + id)
		} else {
			h, err = netns.GetFromName(cluster.NetnsPrefix + run + "-" + id)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", id, err)
		}
		handles[id] = h
	}
	ips := map[string]string{}
	for id, h := range handles {
		ip, err := nsIPv4(h)
		if err != nil {
			return nil, nil, fmt.Errorf("address of %s: %w", id, err)
		}
		ips[id] = net.JoinHostPort(ip, "7000")
	}
	var links []link
	for _, a := range ids {
		for _, b := range ids {
			if a != b {
				links = append(links, link{fromID: a, toID: b, from: handles[a], to: ips[b]})
			}
		}
	}
	return links, func() {
		for _, h := range handles {
			h.Close()
		}
	}, nil
}

func dockerNetns(name string) (netns.NsHandle, error) {
	cli, err := docker.NewClient()
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	info, err := cli.ContainerInspect(context.Background(), name)
	if err != nil {
		return 0, err
	}
	if info.State == nil || info.State.Pid == 0 {
		return 0, fmt.Errorf("container %s is not running", name)
	}
	return netns.GetFromPid(info.State.Pid)
}

// inNS runs fn on a thread inside ns.
func inNS(ns netns.NsHandle, fn func()) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		fn()
		if err := netns.Set(orig); err != nil {
			errc <- err // the thread stays locked and dies with the goroutine
			return
		}
		runtime.UnlockOSThread()
		errc <- nil
	}()
	return <-errc
}

func nsIPv4(ns netns.NsHandle) (string, error) {
	var ip string
	var ierr error
	err := inNS(ns, func() {
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			ierr = err
			return
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
				ip = n.IP.String()
				return
			}
		}
		ierr = errors.New("no IPv4 address")
	})
	if err == nil {
		err = ierr
	}
	return ip, err
}

// tcpProbe connects from ns to addr and says how it went: "connected",
// "refused" (a reset came back: the path carries packets both ways) or
// "timeout" (blackholed), and how long it took.
func tcpProbe(ns netns.NsHandle, addr string) (time.Duration, string) {
	var d time.Duration
	outcome := "timeout"
	err := inNS(ns, func() {
		t0 := time.Now()
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		d = time.Since(t0)
		switch {
		case err == nil:
			c.Close()
			outcome = "connected"
		case errors.Is(err, syscall.ECONNREFUSED):
			outcome = "refused"
		case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
			outcome = "unreachable"
		}
	})
	if err != nil {
		return 0, "probe error: " + err.Error()
	}
	return d, outcome
}
