// Package gen generates histories of a correct, concurrent read/write/cas
// register service, for testing and benchmarking checkers.
//
// Clients run concurrently with random latencies. Every operation takes
// effect at one instant inside its interval (its linearization point), on a
// sequential register per key, so the history is linearizable by
// construction. Some operations end in info (the client gave up; the
// operation took effect, possibly after the client gave up, or never did),
// some fail definitely (not applied), and a cas whose compare does not
// match fails. A process that got info never issues again; its worker goes
// on under a new process id, as in Jepsen.
package gen

import (
	"cmp"
	"container/heap"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/faultline-io/faultline/history"
)

// Config describes a history to generate. Zero fields take the defaults
// noted.
type Config struct {
	Ops          int     // events in the history, invokes + completions + nemesis (required)
	Keys         int     // default 1
	Processes    int     // concurrent client workers; default 5
	Values       int     // writes and cas pick values in [0, Values); default 5
	InfoRate     float64 // chance an operation ends in info
	FailRate     float64 // chance a write or cas fails definitely (is not applied)
	NemesisEvery int64   // ns between nemesis events; 0: none
	Seed         uint64
	// MeanLatency is the mean operation latency in ns; default 1 ms.
	// Operations of the same key overlap when it is large relative to
	// the gap between operations on that key.
	MeanLatency int64
	// UniqueValues makes every write and cas target a value written
	// nowhere else (1, 2, 3, … across keys), as the register workload
	// does; a cas compares against the key's latest value scheduled so far
	// (or, one time in four, an earlier one). Values is then unused.
	UniqueValues bool
}

type genOp struct {
	process   history.Process
	f         string
	key       string
	arg, to   int64
	call, ret int64
	lin       int64 // linearization point
	applies   bool  // whether it takes effect (at lin)
	outcome   history.Type
	read      *int64 // for reads: result; nil is null
	seq       int
}

type worker struct {
	next    int64 // time of the next invoke
	process history.Process
	idx     int
}

type workers []*worker

func (w workers) Len() int { return len(w) }
func (w workers) Less(i, j int) bool {
	if w[i].next != w[j].next {
		return w[i].next < w[j].next
	}
	return w[i].idx < w[j].idx
}
func (w workers) Swap(i, j int) { w[i], w[j] = w[j], w[i] }
func (w *workers) Push(x any)   { *w = append(*w, x.(*worker)) }
func (w *workers) Pop() (x any) { old := *w; x = old[len(old)-1]; *w = old[:len(old)-1]; return x }

// Register generates a linearizable register history of exactly cfg.Ops
// events (the last few operations may lack their completion), with Index
// 0, 1, 2, … and times in ns.
func Register(cfg Config) []history.Op {
	keys := cmp.Or(cfg.Keys, 1)
	procs := cmp.Or(cfg.Processes, 5)
	values := cmp.Or(cfg.Values, 5)
	lat := cmp.Or(cfg.MeanLatency, int64(1_000_000))
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	keyNames := make([]string, keys)
	for i := range keyNames {
		keyNames[i] = "k" + strconv.Itoa(i)
	}

	// 1. Schedule operations, in invoke order, until they and the nemesis
	// events among them make up the history.
	enough := func(nops int, end int64) bool {
		n := 2 * nops
		if cfg.NemesisEvery > 0 {
			n += int(end / cfg.NemesisEvery)
		}
		return n >= cfg.Ops
	}
	ws := make(workers, procs)
	for i := range ws {
		ws[i] = &worker{next: rng.Int64N(lat), process: history.Process(i), idx: i}
	}
	heap.Init(&ws)
	ops := make([]genOp, 0, cfg.Ops/2+1)
	lastRet := int64(0)
	fresh := int64(0)
	written := make(map[string][]int64) // UniqueValues: values scheduled per key
	for !enough(len(ops), lastRet) {
		w := ws[0]
		op := genOp{process: w.process, key: keyNames[rng.IntN(keys)], call: w.next, seq: len(ops)}
		// Latency: mostly around the mean, with a long tail.
		d := 1 + rng.Int64N(lat) + rng.Int64N(lat)/2
		if rng.IntN(50) == 0 {
			d += rng.Int64N(8 * lat)
		}
		switch r := rng.IntN(10); {
		case r < 5:
			op.f = "read"
		case r < 8:
			op.f = "write"
			op.arg = rng.Int64N(int64(values))
		default:
			op.f = "cas"
			op.arg, op.to = rng.Int64N(int64(values)), rng.Int64N(int64(values))
		}
		if cfg.UniqueValues && op.f != "read" {
			fresh++
			w := written[op.key]
			if op.f == "write" {
				op.arg = fresh
			} else {
				switch {
				case len(w) == 0:
					op.arg = 0
				case rng.IntN(4) == 0:
					op.arg = w[rng.IntN(len(w))]
				default:
					op.arg = w[len(w)-1]
				}
				op.to = fresh
			}
			written[op.key] = append(w, fresh)
		}
		op.ret = op.call + d
		op.lin = op.call + rng.Int64N(d+1)
		op.applies = true
		op.outcome = history.OK
		switch {
		case rng.Float64() < cfg.InfoRate:
			op.outcome = history.Info
			// The client gave up; the operation took effect before, or
			// after, or never.
			switch rng.IntN(3) {
			case 0:
				op.applies = false
			case 1:
				op.lin = op.ret + rng.Int64N(4*lat)
			}
			w.process += history.Process(procs)
		case op.f != "read" && rng.Float64() < cfg.FailRate:
			op.outcome = history.Fail
			op.applies = false
		}
		ops = append(ops, op)
		lastRet = max(lastRet, op.ret)
		w.next = op.ret + 1 + rng.Int64N(lat/4+1)
		heap.Fix(&ws, 0)
	}

	// 2. Apply them in linearization order to a register per key.
	order := make([]int, len(ops))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(ops[a].lin, ops[b].lin), cmp.Compare(a, b))
	})
	state := make(map[string]*int64)
	for _, i := range order {
		op := &ops[i]
		if !op.applies {
			continue
		}
		cur := state[op.key]
		switch op.f {
		case "read":
			op.read = cur
		case "write":
			v := op.arg
			state[op.key] = &v
		case "cas":
			if cur != nil && *cur == op.arg {
				v := op.to
				state[op.key] = &v
			} else if op.outcome == history.OK {
				op.outcome = history.Fail
			}
		}
	}

	// 3. Emit invokes and completions in time order.
	type event struct {
		time int64
		op   int
		done bool
		nem  int // nemesis event number + 1, or 0
	}
	events := make([]event, 0, 2*len(ops))
	end := int64(0)
	for i := range ops {
		events = append(events, event{time: ops[i].call, op: i}, event{time: ops[i].ret, op: i, done: true})
		end = max(end, ops[i].ret)
	}
	if cfg.NemesisEvery > 0 {
		for n, t := 1, cfg.NemesisEvery; t < end; n, t = n+1, t+cfg.NemesisEvery {
			events = append(events, event{time: t, nem: n})
		}
	}
	slices.SortFunc(events, func(a, b event) int {
		// At equal times an invoke sorts before completions (it cannot
		// be its own completion: latencies are at least 1 ns).
		return cmp.Or(cmp.Compare(a.time, b.time), cmp.Compare(btoi(a.done), btoi(b.done)), cmp.Compare(a.op, b.op), cmp.Compare(a.nem, b.nem))
	})
	if len(events) > cfg.Ops {
		events = events[:cfg.Ops]
	}
	out := make([]history.Op, len(events))
	for i, e := range events {
		if e.nem > 0 {
			f := "start-partition"
			if e.nem%2 == 0 {
				f = "stop-partition"
			}
			out[i] = history.Op{Index: int64(i), Process: history.Nemesis, Type: history.Info, F: f, Time: e.time,
				Value: history.MustValue(map[string][]string{"n1": {"n2", "n3"}})}
			continue
		}
		op := &ops[e.op]
		h := history.Op{Index: int64(i), Process: op.process, Type: history.Invoke, F: op.f, Key: op.key, Time: e.time}
		switch op.f {
		case "write":
			h.Value = history.MustValue(op.arg)
		case "cas":
			h.Value = history.MustValue([2]int64{op.arg, op.to})
		}
		if e.done {
			h.Type = op.outcome
			switch {
			case op.f == "read" && op.outcome == history.OK:
				if op.read == nil {
					h.Value = []byte("null")
				} else {
					h.Value = history.MustValue(*op.read)
				}
			case op.outcome == history.Info:
				h.Error = "timeout"
			case op.outcome == history.Fail && op.f == "cas" && op.applies:
				h.Error = "compare failed"
			case op.outcome == history.Fail:
				h.Error = "not leader"
			}
		}
		out[i] = h
	}
	return out
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
