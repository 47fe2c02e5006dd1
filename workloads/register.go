package workloads

import (
	"fmt"
	"math/rand"
	"sort"
	"sync"

	"github.com/faultline-io/faultline/history"
)

// Register generates reads, writes and compare-and-sets over a rotating set
// of keys. Half the ops are reads, a quarter writes, a quarter cas; without
// cas in Options.Ops (an LWW or MV register), half are writes.
//
// Each worker has its own stream (Worker), whose sequence of ops is a
// function of the options, the worker number and the random source alone,
// so a replay with the same seed repeats every worker's sequence whatever
// the interleaving. Key slot j holds key j, then j+Keys, j+2*Keys, ...:
// a worker moves a slot to its next key after its own share of OpsPerKey
// (OpsPerKey/Workers, rounded up) invocations on it, so all workers move
// at about the same time and no key gets more than about OpsPerKey.
//
// Every write and every cas writes a value never used before on its key
// (worker w writes w, w+Workers, w+2*Workers, ...), and a cas expects one of
// the few values the worker most recently generated for the key. Unique
// values let the linearizability checker prove a bad history quickly even
// when many writes ended in info: a read names the one write it saw (with a
// handful of repeated values the search must rule out every way the
// uncertain writes could have applied).
type Register struct {
	opts Options

	mu   sync.Mutex
	used map[int]bool // key numbers some worker has touched
}

// NewRegister returns a register generator; zero fields of o take defaults.
func NewRegister(o Options) *Register {
	d := DefaultOptions()
	if o.Keys <= 0 {
		o.Keys = d.Keys
	}
	if o.Workers <= 0 {
		o.Workers = 1
	}
	return &Register{opts: o, used: map[int]bool{}}
}

// KeyName is the name of key number i.
func KeyName(i int) string { return fmt.Sprintf("k%d", i) }

// Worker implements Generator.
func (g *Register) Worker(w int) Stream {
	share := 0
	if g.opts.OpsPerKey > 0 {
		share = (g.opts.OpsPerKey + g.opts.Workers - 1) / g.opts.Workers
	}
	return &registerStream{g: g, w: w, share: share, gen: make([]int, g.opts.Keys), counts: make([]int, g.opts.Keys),
		values: map[int]*keyValues{}}
}

// registerStream is one worker's stream of register ops.
type registerStream struct {
	g      *Register
	w      int
	share  int   // invocations per key before the slot moves on (0: never)
	gen    []int // per slot: how many times it moved on
	counts []int // per slot: invocations on its current key
	values map[int]*keyValues
}

// keyValues tracks the values one worker generated for one key.
type keyValues struct {
	next   int
	recent []int // most recent last
}

// Next implements Stream.
func (s *registerStream) Next(r *rand.Rand) history.Op {
	keys := s.g.opts.Keys
	slot := r.Intn(keys)
	k := s.gen[slot]*keys + slot
	if s.counts[slot]++; s.share > 0 && s.counts[slot] >= s.share {
		s.gen[slot]++
		s.counts[slot] = 0
	}
	s.g.mu.Lock()
	s.g.used[k] = true
	s.g.mu.Unlock()
	kv := s.values[k]
	if kv == nil {
		kv = &keyValues{}
		s.values[k] = kv
	}
	fresh := func() int {
		v := kv.next*s.g.opts.Workers + s.w
		kv.next++
		kv.recent = append(kv.recent, v)
		if len(kv.recent) > 3 {
			kv.recent = kv.recent[1:]
		}
		return v
	}
	op := history.Op{Type: history.Invoke, Key: KeyName(k)}
	switch x := r.Intn(4); {
	case x < 2:
		op.F = "read"
	case x == 2 || len(kv.recent) == 0 || !s.g.opts.allows("cas"):
		op.F = "write"
		op.Value = history.MustValue(fresh())
	default:
		op.F = "cas"
		from := kv.recent[r.Intn(len(kv.recent))]
		op.Value = history.MustValue([2]int{from, fresh()})
	}
	if len(s.values) > 4*keys {
		// Keys this worker has moved past are never asked again.
		for old := range s.values {
			if old/keys < s.gen[old%keys] {
				delete(s.values, old)
			}
		}
	}
	return op
}

// FinalReads implements Generator: one read of every key ever used.
func (g *Register) FinalReads() []history.Op {
	g.mu.Lock()
	defer g.mu.Unlock()
	ks := make([]int, 0, len(g.used))
	for k := range g.used {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	var ops []history.Op
	for _, k := range ks {
		ops = append(ops, history.Op{Type: history.Invoke, F: "read", Key: KeyName(k)})
	}
	return ops
}
