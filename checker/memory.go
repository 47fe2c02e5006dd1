package checker

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"
)

// This file bounds the memory of the linearizability searches (the
// linearizable checker's and the bank checker's).
//
// Why. Porcupine caches every state it reaches together with a bitset as
// long as the partition, and nothing bounds that cache: one key of 20,000
// events from 50 clients with 5% info ops grew to 18 GB in 30 s. The only
// way Porcupine stops early is its timeout, so an out-of-memory kill was
// the usual end of such a check.
//
// How. The models' steps are ours. A memoryWatch samples the heap
// (runtime/metrics, which does not stop the world) every
// memorySampleInterval; once the heap holds more than the budget it sets
// its over flag, and every step of a model wrapped with stoppable fails
// from then on, so each search unwinds at once (backtracking through
// failing steps allocates nothing) and its cache becomes garbage. A verdict
// that any search returns after the flag is set is not trusted: Porcupine
// reads failing steps as a violation. Those keys, and the keys not yet
// started, are Unknown with the reason; keys decided before keep their
// verdict. The bank checker has one search (and the pass before it): its
// linearizability is then Unknown with the reason, and its checks that do
// not search keep their verdicts.
//
// The budget covers the whole Go heap while a check runs (the history
// included), not the search alone: that is what the kernel kills for. While
// a watch runs, the runtime's soft memory limit is lowered to the budget
// (debug.SetMemoryLimit, never raised above GOMEMLIMIT), so the collector
// frees garbage before the sampled heap reaches the budget and the budget
// trips on what the search holds, not on what it dropped.

// memorySampleInterval is how often a memoryWatch reads the heap. At the
// fastest growth measured (about 600 MB/s) the heap overshoots the budget
// by tens of megabytes before a search sees the flag.
const memorySampleInterval = 25 * time.Millisecond

// fallbackMemoryBudget is DefaultMemoryBudget when the machine's memory
// cannot be read.
const fallbackMemoryBudget = 4 << 30

// DefaultMemoryBudget is the budget when LinearizableOptions.MemoryBudget
// or BankOptions.MemoryBudget is zero: a quarter of the machine's memory
// (MemTotal in /proc/meminfo), or 4 GiB where that cannot be read.
// memoryBudget is an options' budget: b, or DefaultMemoryBudget() when b
// is zero or less.
func memoryBudget(b int64) int64 {
	if b <= 0 {
		return DefaultMemoryBudget()
	}
	return b
}

func DefaultMemoryBudget() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return fallbackMemoryBudget
	}
	if total, ok := memTotal(b); ok {
		return total / 4
	}
	return fallbackMemoryBudget
}

// memTotal parses MemTotal (in kB) out of /proc/meminfo, in bytes.
func memTotal(meminfo []byte) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || kb <= 0 || kb > math.MaxInt64/1024 {
				return 0, false
			}
			return kb * 1024, true
		}
	}
	return 0, false
}

// sizeUnits are the units ParseMemorySize accepts, lower case: decimal
// (kB = 1000) and binary (KiB = 1024).
var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// ParseMemorySize parses a positive size such as 512MB, 1GB, 1.5GiB or a
// number of bytes. kB, MB, GB and TB are powers of 1000; KiB, MiB, GiB and
// TiB of 1024; case does not matter.
func ParseMemorySize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	v, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || num == "" {
		return 0, fmt.Errorf("%q is not a size: want a number and a unit, such as 512MB, 1GB or 1GiB", s)
	}
	b := v * mult
	if b < 1 || b >= math.MaxInt64 {
		return 0, fmt.Errorf("%q: want a size of at least 1 byte and below 8 EiB", s)
	}
	return int64(b), nil
}

// FormatMemorySize writes n bytes for humans: in the binary unit that
// divides it exactly (512MiB), else the largest decimal one, to two
// decimals (1.07GB).
func FormatMemorySize(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	for _, u := range []struct {
		name string
		size float64
	}{{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3}} {
		if float64(n) >= u.size {
			return strconv.FormatFloat(math.Round(float64(n)/u.size*100)/100, 'f', -1, 64) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// heapSample is the metric a memoryWatch reads: heap memory occupied by
// objects, live or not yet swept.
const heapSample = "/memory/classes/heap/objects:bytes"

// readHeap returns the heap's size in bytes.
func readHeap() uint64 {
	s := []metrics.Sample{{Name: heapSample}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// memoryWatch watches the heap while searches run, and says when it passed
// the budget. The zero value is not usable; see watchMemory.
type memoryWatch struct {
	budget int64
	over   atomic.Bool
	heap   atomic.Uint64 // the sample that passed the budget
	peak   atomic.Uint64 // the largest sample
	stop   chan struct{}
	done   chan struct{}
}

// readHeapFunc is the heap reader; tests replace it.
var readHeapFunc = readHeap

// watchMemory starts a watch of budget bytes (budget > 0); the caller must
// call close. The heap is read once at once, so a heap already over the
// budget stops the search before it starts.
func watchMemory(budget int64) *memoryWatch {
	w := &memoryWatch{budget: budget, stop: make(chan struct{}), done: make(chan struct{})}
	lowerMemoryLimit(budget)
	read := readHeapFunc
	w.sample(read)
	go func() {
		defer close(w.done)
		t := time.NewTicker(memorySampleInterval)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				if w.sample(read) {
					return // tripped: nothing more to watch
				}
			}
		}
	}()
	return w
}

// sample reads the heap once and reports whether the budget is passed.
func (w *memoryWatch) sample(read func() uint64) bool {
	h := read()
	for p := w.peak.Load(); h > p && !w.peak.CompareAndSwap(p, h); p = w.peak.Load() {
	}
	if h > uint64(w.budget) && !w.over.Load() {
		w.heap.Store(h)
		w.over.Store(true)
	}
	return w.over.Load()
}

// exceeded reports whether the heap passed the budget. Once true, it stays
// true: no search result obtained after is to be trusted.
func (w *memoryWatch) exceeded() bool { return w != nil && w.over.Load() }

// reason says why the watch stopped the search, for summaries.
func (w *memoryWatch) reason() string {
	b := FormatMemorySize(w.budget)
	return fmt.Sprintf("memory budget %s exceeded (heap %s)", b, formatLike(int64(w.heap.Load()), b))
}

// formatLike writes n bytes in the unit that ends like (as FormatMemorySize
// wrote it), to three decimals, so that a heap compares at a glance with
// its budget: "budget 300MiB, heap 300.495MiB".
func formatLike(n int64, like string) string {
	for _, u := range []struct {
		name string
		size float64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
		{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3}} {
		if strings.HasSuffix(like, u.name) {
			return strconv.FormatFloat(math.Round(float64(n)/u.size*1000)/1000, 'f', -1, 64) + u.name
		}
	}
	return FormatMemorySize(n)
}

// close stops the watch and restores the memory limit.
func (w *memoryWatch) close() {
	close(w.stop)
	<-w.done
	restoreMemoryLimit()
}

// The soft memory limit is the process's; watches share it: the first
// saves the limit in force, each lowers it to its budget if smaller, and
// the last restores the saved one.
var memLimit struct {
	sync.Mutex
	watches int
	saved   int64
}

func lowerMemoryLimit(budget int64) {
	memLimit.Lock()
	defer memLimit.Unlock()
	cur := debug.SetMemoryLimit(-1)
	if memLimit.watches == 0 {
		memLimit.saved = cur
	}
	memLimit.watches++
	debug.SetMemoryLimit(min(cur, budget))
}

func restoreMemoryLimit() {
	memLimit.Lock()
	defer memLimit.Unlock()
	memLimit.watches--
	if memLimit.watches == 0 {
		debug.SetMemoryLimit(memLimit.saved)
	}
}

// checkWithin is Porcupine's check of ops against m for at most timeout,
// stopped once watch's budget is exceeded (m wrapped with stoppable). A
// verdict returned after the budget was exceeded is Unknown: failing steps
// read as Illegal.
func checkWithin(m porcupine.Model, ops []porcupine.Operation, timeout time.Duration, watch *memoryWatch) porcupine.CheckResult {
	r := porcupine.CheckOperationsTimeout(stoppable(m, new(atomic.Bool), watch), ops, timeout)
	if watch.exceeded() {
		return porcupine.Unknown
	}
	return r
}
