package checker

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/faultline-io/faultline/history"
)

const (
	// DefaultLinearizableTimeout is the check's budget when
	// LinearizableOptions.Timeout is zero.
	DefaultLinearizableTimeout = time.Minute
	// DefaultMaxVisualizedOps is the cap on operations drawn when
	// LinearizableOptions.MaxVisualizedOps is zero.
	DefaultMaxVisualizedOps = 10000
	// VisualizationFile is the name of Porcupine's HTML visualization,
	// written into LinearizableOptions.OutDir when a history is not
	// linearizable.
	VisualizationFile = "linearizable.html"
)

// LinearizableOptions configures CheckLinearizable.
type LinearizableOptions struct {
	// Timeout bounds the search over all keys; zero means
	// DefaultLinearizableTimeout. Keys still undecided when it expires make
	// the verdict Unknown (unless another key failed): a timeout never
	// yields true. Explaining a failure (finding the op that cannot be
	// linearized, drawing it) gets a second budget of the same size.
	Timeout time.Duration
	// OutDir is the run directory; on failure the visualization is written
	// there as VisualizationFile. Empty means no file.
	OutDir string
	// MaxVisualizedOps caps the operations re-checked to explain a failure
	// and drawn: whole failing keys, smallest first, while they fit, else a
	// prefix of the smallest failing key. Zero means DefaultMaxVisualizedOps.
	MaxVisualizedOps int
	// MemoryBudget bounds, in bytes, the Go heap while the search runs
	// (memory.go); zero or less means DefaultMemoryBudget(). Once the heap
	// passes it, every search still running is stopped and the keys not
	// decided by then are Unknown, with the reason: running out of memory
	// never yields true or false, and never an out-of-memory kill.
	// Explaining a failure gets a second budget of the same size.
	MemoryBudget int64
}

// LinearizableDetails is Result.Details of CheckLinearizable.
type LinearizableDetails struct {
	Keys        []string           `json:"keys"` // every key checked ("" is the single register)
	Ops         LinearizableCounts `json:"ops"`
	Failures    []KeyFailure       `json:"failures,omitempty"`
	UnknownKeys []string           `json:"unknown_keys,omitempty"` // undecided when the timeout expired or the memory budget was exceeded
	Timeout     string             `json:"timeout"`
	// MemoryBudget is the budget of the search (FormatMemorySize).
	MemoryBudget string `json:"memory_budget"`
	// Memory says why the search stopped when the heap passed the budget:
	// "memory budget 1GB exceeded (heap 1.02GB)". The keys not decided by
	// then are in UnknownKeys.
	Memory string `json:"memory,omitempty"`
	// PeakHeap is the largest heap sampled during the search, in bytes.
	PeakHeap uint64 `json:"peak_heap"`
	// FastKeys counts the keys proved linearizable by the unique-value
	// fast path (fastreg.go) rather than by Porcupine.
	FastKeys int `json:"fast_keys,omitempty"`
	// Visualization is the file written, or why none was.
	Visualization string `json:"visualization,omitempty"`
}

// KeyFailure is the verdict on one key that is not linearizable.
type KeyFailure struct {
	Key   string `json:"key"`
	Valid Valid  `json:"valid"`
	Ops   int    `json:"ops"` // operations checked on this key
	// Model is the model that refuted the key: "plain", "pool", or
	// "relaxed" (no linearization even if info writes and cas could apply
	// any number of times); see pool.go.
	Model string `json:"model"`
	// Stuck is the first operation that no linearization of the key can
	// include, when the explaining pass found it.
	Stuck *StuckOp `json:"stuck,omitempty"`
	// Window is the smallest window of the key's history found that cannot
	// be linearized from any starting value (window.go), when the
	// explaining pass found the stuck operation.
	Window *Window `json:"window,omitempty"`
	// Visualized tells whether the key is drawn in VisualizationFile.
	Visualized bool `json:"visualized"`
}

// StuckOp is an operation that no linearization can include: the search
// could order everything before it, but not it.
type StuckOp struct {
	Op              string `json:"op"`
	Process         string `json:"process"`
	InvokeIndex     int64  `json:"invoke_index"`
	CompletionIndex int64  `json:"completion_index"` // -1: never completed
	Time            int64  `json:"time"`             // invoke time
}

// CheckLinearizable checks that a history of read/write/cas registers is
// linearizable, with Porcupine, each key separately (Key "" is a single
// register). Its Result is named "linearizable".
//
// Values are integers: write v, cas [from, to], and an ok read returns v or
// null (never written, distinct from 0). ok ops are checked over their
// interval [invoke, completion]; fail ops certainly did not happen and are
// left out; info ops and invokes that never completed may have taken effect
// at any time after their invoke, or never, and their outcome is unchecked.
// Nemesis ops are ignored. (Info reads, and info writes and cas whose value
// nothing can observe, are left out too: they cannot change the verdict.)
//
// Each key is decided by Porcupine under one deadline and one memory
// budget (opts.MemoryBudget, memory.go) for all keys; keys with info writes
// or cas are raced against a second, equivalent model that is faster at
// refuting them (pool.go). The verdict is False if some key is not
// linearizable; else Unknown if the timeout expired or the heap passed the
// memory budget with keys undecided (the summary says which); else True.
// A history the model cannot interpret (unpaired events, an f other than read, write or cas, non-integer values) is
// Unknown, with a summary naming the op's index. Details are a
// LinearizableDetails.
//
// On False, the failing keys (up to opts.MaxVisualizedOps operations) are
// checked again to find the operation that cannot be linearized, which sets
// Result.FirstAnomalyTime to its invoke time, and if opts.OutDir is set
// Porcupine's visualization of them is written to VisualizationFile and
// listed in Result.Files.
func CheckLinearizable(ops []history.Op, opts LinearizableOptions) Result {
	const name = "linearizable"
	timeout := cmp.Or(opts.Timeout, DefaultLinearizableTimeout)
	if timeout < 0 {
		timeout = 0 // expired: undecided keys are Unknown
	}
	maxVis := cmp.Or(opts.MaxVisualizedOps, DefaultMaxVisualizedOps)
	budget := memoryBudget(opts.MemoryBudget)

	byKey, counts, err := convertRegister(ops)
	if err != nil {
		return Result{Checker: name, Valid: Unknown, Summary: "cannot check the history: " + err.Error()}
	}
	keys := slices.Sorted(maps.Keys(byKey))
	parts := make([][]*regOp, len(keys))
	for i, k := range keys {
		parts[i] = byKey[k]
	}
	watch := watchMemory(budget)
	verdicts, modes := checkKeys(parts, timeout, watch)
	watch.close()

	det := LinearizableDetails{Keys: keys, Ops: counts, Timeout: timeout.String(),
		MemoryBudget: FormatMemorySize(budget), PeakHeap: watch.peak.Load()}
	if watch.exceeded() {
		det.Memory = watch.reason()
	}
	var failing []int
	for i, v := range verdicts {
		if v == porcupine.Ok && modes[i] == modeFast {
			det.FastKeys++
		}
		switch v {
		case porcupine.Illegal:
			failing = append(failing, i)
		case porcupine.Unknown:
			det.UnknownKeys = append(det.UnknownKeys, keys[i])
		}
	}
	res := Result{Checker: name}
	total := counts.OK + counts.Info + counts.Fail + counts.Pending
	switch {
	case len(failing) > 0:
		res.Valid = False
	case len(det.UnknownKeys) > 0 && det.Memory != "":
		res.Valid = Unknown
		res.Summary = fmt.Sprintf("unknown: %s with %d of %d keys undecided and no violation found",
			det.Memory, len(det.UnknownKeys), len(keys))
	case len(det.UnknownKeys) > 0:
		res.Valid = Unknown
		res.Summary = fmt.Sprintf("unknown: timed out after %s with %d of %d keys undecided and no violation found",
			timeout, len(det.UnknownKeys), len(keys))
	default:
		res.Valid = True
		res.Summary = fmt.Sprintf("linearizable: %d operations on %d keys (%d ok, %d info, %d fail, %d never completed)",
			total, len(keys), counts.OK, counts.Info, counts.Fail, counts.Pending)
	}
	if res.Valid == False {
		failures := make([]KeyFailure, len(failing))
		fparts := make([][]*regOp, len(failing))
		for j, i := range failing {
			failures[j] = KeyFailure{Key: keys[i], Valid: False, Ops: len(parts[i]), Model: modes[i].String()}
			fparts[j] = parts[i]
			for _, op := range parts[i] {
				op.mode = modes[i]
			}
		}
		ex := explain(fparts, failures, maxVis, timeout, budget, opts.OutDir)
		det.Failures = failures
		det.Visualization = ex.note
		if ex.file != "" {
			res.Files = []string{ex.file}
		}
		res.FirstAnomalyTime = firstAnomaly(failures, fparts)
		res.Summary = failureSummary(failures, len(keys), ex.file)
		if det.Memory != "" && len(det.UnknownKeys) > 0 {
			res.Summary += fmt.Sprintf("; %d keys undecided: %s", len(det.UnknownKeys), det.Memory)
		}
	}
	res.Details, _ = json.Marshal(det)
	return res
}

// checkKeys checks each partition with Porcupine, on GOMAXPROCS workers, all
// under one deadline and watch, and says which model decided each. A
// partition not started or not finished by the deadline, or before the
// watch's budget was exceeded, is Unknown.
func checkKeys(parts [][]*regOp, timeout time.Duration, watch *memoryWatch) ([]porcupine.CheckResult, []regMode) {
	deadline := time.Now().Add(timeout)
	out := make([]porcupine.CheckResult, len(parts))
	modes := make([]regMode, len(parts))
	// Largest first, so one big key does not start last.
	order := make([]int, len(parts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(len(parts[b]), len(parts[a])) })
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(parts)) {
		wg.Go(func() {
			var scratch fastScratch
			for {
				j := int(next.Add(1) - 1)
				if j >= len(order) {
					return
				}
				k := order[j]
				if watch.exceeded() {
					out[k] = porcupine.Unknown
					continue
				}
				out[k], modes[k] = checkKey(&scratch, parts[k], deadline, watch)
				// Steps fail once the budget is exceeded, which
				// Porcupine reads as Illegal: a verdict is trusted
				// only if the budget held until every search of the
				// key had returned.
				if watch.exceeded() {
					out[k] = porcupine.Unknown
				}
			}
		})
	}
	wg.Wait()
	return out, modes
}

// poolHeadStart is how long the plain model runs alone on a key with
// unknown writes or cas before the pool model joins the race.
const poolHeadStart = 200 * time.Millisecond

// relaxedBudget bounds the relaxed model's attempt to refute a key.
const relaxedBudget = 2 * time.Second

// checkKey checks one key by the deadline. Keys without unknown writes or
// cas use the plain model. Others race the plain model, which is fastest on
// valid histories, against the pool model (pool.go), which is often far
// faster at proving a history invalid, preceded by its relaxed variant,
// which refutes some invalid histories at once. The plain and pool models
// are exact, and the relaxed one is trusted only when it refutes, so the
// first decision is the answer and the other search is stopped. Before
// any of them, the unique-value fast path (fastreg.go) may prove the key
// linearizable with a checked witness; it never refutes. Every
// search also stops when watch's budget is exceeded; the caller must then
// discard the verdict. checkKey returns only once all its searches have.
// The fast path works in scratch.
func checkKey(scratch *fastScratch, part []*regOp, deadline time.Time, watch *memoryWatch) (porcupine.CheckResult, regMode) {
	rem := time.Until(deadline)
	if rem <= 0 {
		return porcupine.Unknown, modePlain
	}
	if fastRegisterEnabled && scratch.register(part) {
		return porcupine.Ok, modeFast
	}
	boxNext(part) // before the searches, which read it at once
	if !needsPool(part) {
		var never atomic.Bool
		return porcupine.CheckOperationsTimeout(stoppable(registerModel(false), &never, watch), porcupineOps(part, false, nil), rem), modePlain
	}
	type verdict struct {
		r    porcupine.CheckResult
		mode regMode
	}
	var stop atomic.Bool
	results := make(chan verdict, 2)
	go func() {
		r := porcupine.CheckOperationsTimeout(stoppable(registerModel(false), &stop, watch), porcupineOps(part, false, nil), rem)
		results <- verdict{r, modePlain}
	}()
	head := time.NewTimer(min(rem/4, poolHeadStart))
	defer head.Stop()
	select {
	case v := <-results:
		return v.r, v.mode
	case <-head.C:
	}
	go func() {
		pops := porcupineOps(part, true, nil)
		rem := time.Until(deadline)
		if rem > 0 {
			relaxed := porcupine.CheckOperationsTimeout(stoppable(poolModel(false, true), &stop, watch), pops, min(rem, relaxedBudget))
			if relaxed == porcupine.Illegal && !stop.Load() {
				results <- verdict{porcupine.Illegal, modeRelaxed}
				return
			}
			rem = time.Until(deadline)
		}
		if rem <= 0 || stop.Load() {
			results <- verdict{porcupine.Unknown, modePool}
			return
		}
		r := porcupine.CheckOperationsTimeout(stoppable(poolModel(false, false), &stop, watch), pops, rem)
		results <- verdict{r, modePool}
	}()
	v := <-results
	if v.r == porcupine.Unknown {
		v = <-results
		return v.r, v.mode
	}
	// The loser's steps now fail, so it unwinds quickly with a verdict
	// that is discarded. Wait for it, so workers stay within GOMAXPROCS.
	stop.Store(true)
	<-results
	return v.r, v.mode
}

// stoppable makes every step of m fail once stop is set or watch's budget
// is exceeded (watch may be nil). A search whose steps fail backtracks to
// the start, allocating nothing, and ends Illegal: its verdict is void.
func stoppable(m porcupine.Model, stop *atomic.Bool, watch *memoryWatch) porcupine.Model {
	step, stepCtx := m.Step, m.StepContext
	var over *atomic.Bool
	if watch != nil {
		over = &watch.over
	} else {
		over = new(atomic.Bool)
	}
	m.Step = nil
	m.StepContext = func(ctx context.Context, state, input, output any) (bool, any) {
		if stop.Load() || over.Load() {
			return false, state
		}
		if stepCtx != nil {
			return stepCtx(ctx, state, input, output)
		}
		return step(state, input, output)
	}
	return m
}

// porcupineOps converts one key's operations. For the pool model an unknown
// op is an enabler, an instant at its invoke; for the plain model it
// returns after every other event. With clients non-nil, operations carry a
// dense client id per process and their history indices as metadata, for
// the visualization. It boxes next (boxNext), so two calls on one key must
// not run at once unless the key was boxed before.
func porcupineOps(part []*regOp, pool bool, clients map[history.Process]int) []porcupine.Operation {
	boxNext(part)
	out := make([]porcupine.Operation, len(part))
	for i, op := range part {
		ret := op.ret
		if pool && op.unknown {
			ret = op.call
		}
		out[i] = porcupine.Operation{Input: op, Call: op.call, Return: ret}
		if clients != nil {
			out[i].ClientId = clients[op.process]
			done := "never completed"
			if op.doneIndex >= 0 {
				done = fmt.Sprintf("%s at index %d", op.doneStatus, op.doneIndex)
			}
			out[i].Metadata = fmt.Sprintf("process %s, key %q, invoke at index %d, %s", op.process, op.key, op.invIndex, done)
		}
	}
	return out
}

type explanation struct {
	file string // written visualization, relative to OutDir
	note string // what Details says about the visualization
}

// explain re-checks failing partitions with Porcupine's Verbose variant to
// find, per key, the operation that cannot be linearized, and draws them.
// It fills failures[i].Stuck and .Visualized. It runs under its own memory
// watch of budget bytes; past it, nothing is explained or drawn.
func explain(parts [][]*regOp, failures []KeyFailure, maxVis int, timeout time.Duration, budget int64, outDir string) explanation {
	// Whole failing keys, smallest first, while they fit under the cap.
	order := make([]int, len(parts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(len(parts[a]), len(parts[b])) })
	var chosen []int
	total := 0
	for _, i := range order {
		if total+len(parts[i]) <= maxVis {
			chosen = append(chosen, i)
			total += len(parts[i])
		}
	}
	sel := make([][]*regOp, 0, len(chosen))
	truncated := false
	if len(chosen) == 0 {
		// Even the smallest failing key is too large: take the operations
		// invoked first. The prefix may well be linearizable; if so, we
		// say so rather than draw it.
		i := order[0]
		prefix := slices.Clone(parts[i])
		slices.SortStableFunc(prefix, func(a, b *regOp) int { return cmp.Compare(a.call, b.call) })
		prefix = prefix[:maxVis]
		chosen, truncated = []int{i}, true
		sel = append(sel, prefix)
	} else {
		slices.Sort(chosen)
		for _, i := range chosen {
			sel = append(sel, parts[i])
		}
	}

	// Dense client ids, in process order, for readable rows.
	var procs []history.Process
	seen := make(map[history.Process]bool)
	for _, p := range sel {
		for _, op := range p {
			if !seen[op.process] {
				seen[op.process] = true
				procs = append(procs, op.process)
			}
		}
	}
	slices.Sort(procs)
	clients := make(map[history.Process]int, len(procs))
	for i, p := range procs {
		clients[p] = i
	}
	var pops []porcupine.Operation
	for _, p := range sel {
		pops = append(pops, porcupineOps(p, p[0].mode != modePlain, clients)...)
	}
	model := explainModel()
	watch := watchMemory(budget)
	var never atomic.Bool
	result, info := porcupine.CheckOperationsVerbose(stoppable(model, &never, watch), pops, timeout)
	watch.close()
	if watch.exceeded() {
		// The partial linearizations are cut short by failing steps:
		// they name no stuck operation.
		return explanation{note: "not written: re-checking the failing keys for the drawing stopped: " + watch.reason()}
	}

	// Porcupine numbers a partition's operations in the order the
	// partition function returns them; partitionByKey is deterministic.
	vparts := partitionByKey(pops)
	partials := info.PartialLinearizations()
	for p, vp := range vparts {
		if p >= len(partials) || len(vp) == 0 {
			break
		}
		var longest []int
		for _, l := range partials[p] {
			if len(l) > len(longest) {
				longest = l
			}
		}
		if len(longest) == len(vp) {
			continue // linearizable (a prefix of a too-large key)
		}
		in := make([]bool, len(vp))
		for _, id := range longest {
			in[id] = true
		}
		var stuck *regOp
		for id, o := range vp {
			op := o.Input.(*regOp)
			if !in[id] && !op.unknown && (stuck == nil || op.ret < stuck.ret || op.ret == stuck.ret && op.call < stuck.call) {
				stuck = op
			}
		}
		if stuck == nil {
			continue
		}
		for j := range failures {
			if failures[j].Key == stuck.key {
				failures[j].Stuck = &StuckOp{
					Op: stuck.String(), Process: stuck.process.String(),
					InvokeIndex: stuck.invIndex, CompletionIndex: stuck.doneIndex, Time: stuck.call,
				}
				if j < len(parts) && len(parts[j]) > 0 && parts[j][0].key == stuck.key {
					failures[j].Window = smallestWindow(parts[j], stuck, windowStepTimeout, budget)
				}
			}
		}
	}

	switch {
	case outDir == "":
		return explanation{note: "not written: no output directory"}
	case result != porcupine.Illegal && truncated:
		return explanation{note: fmt.Sprintf("not written: the smallest failing key has %d operations, more than the cap of %d, and its first %d are linearizable",
			len(parts[chosen[0]]), maxVis, maxVis)}
	case result != porcupine.Illegal:
		return explanation{note: fmt.Sprintf("not written: re-checking the failing keys for the drawing ended %s", result)}
	}
	path := filepath.Join(outDir, VisualizationFile)
	if err := porcupine.VisualizePath(model, info, path); err != nil {
		return explanation{note: "not written: " + err.Error()}
	}
	for _, i := range chosen {
		failures[i].Visualized = true
	}
	note := VisualizationFile
	if truncated {
		note += fmt.Sprintf(" (first %d of %d operations of key %q)", maxVis, len(parts[chosen[0]]), failures[chosen[0]].Key)
	} else if len(chosen) < len(parts) {
		note += fmt.Sprintf(" (%d of %d failing keys; the rest exceed the cap of %d operations)", len(chosen), len(parts), maxVis)
	}
	return explanation{file: VisualizationFile, note: note}
}

// firstAnomaly is the earliest invoke time of an operation found stuck, or
// failing that the earliest invoke on a failing key.
func firstAnomaly(failures []KeyFailure, parts [][]*regOp) *int64 {
	var t *int64
	for _, f := range failures {
		if f.Stuck != nil && (t == nil || f.Stuck.Time < *t) {
			t = &f.Stuck.Time
		}
	}
	if t != nil {
		return t
	}
	for _, p := range parts {
		for _, op := range p {
			if t == nil || op.call < *t {
				c := op.call
				t = &c
			}
		}
	}
	return t
}

func failureSummary(failures []KeyFailure, nkeys int, file string) string {
	var b strings.Builder
	b.WriteString("not linearizable: key ")
	b.WriteString(strconv.Quote(failures[0].Key))
	if len(failures) > 1 {
		fmt.Fprintf(&b, " and %d more", len(failures)-1)
	}
	fmt.Fprintf(&b, " (%d of %d keys)", len(failures), nkeys)
	for _, f := range failures {
		if f.Stuck != nil {
			fmt.Fprintf(&b, "; on key %q, %s by process %s (invoke at index %d) cannot be linearized",
				f.Key, f.Stuck.Op, f.Stuck.Process, f.Stuck.InvokeIndex)
			if w := f.Window; w != nil {
				fmt.Fprintf(&b, "; smallest failing window: %d operations at history indexes %d to %d (%s)",
					len(w.Ops), w.FirstIndex, w.LastIndex, w.Brief())
			}
			break
		}
	}
	if file != "" {
		b.WriteString("; see " + file)
	}
	return b.String()
}
