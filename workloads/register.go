package workloads

import (
	"fmt"
	"math/rand"
	"sync"

	"github.com/faultline-io/faultline/history"
)

// Register generates reads, writes and compare-and-sets over a rotating set
// of keys. Half the ops are reads, a quarter writes, a quarter cas.
//
// Every write and every cas writes a value never used before on its key, and
// a cas expects one of the few values most recently generated for the key, so
// it succeeds often. Unique values let the linearizability checker prove a
// bad history quickly even when many writes ended in info: a read names the
// one write it saw (with a handful of repeated values the search must rule
// out every way the uncertain writes could have applied).
type Register struct {
	opts Options

	mu      sync.Mutex
	active  []int // key numbers currently in use
	counts  map[int]int
	nextKey int
	values  map[int]*keyValues
}

// keyValues tracks the values generated for one key.
type keyValues struct {
	next   int
	recent []int // most recent last
}

// fresh returns a value never generated for this key before.
func (k *keyValues) fresh() int {
	v := k.next
	k.next++
	k.recent = append(k.recent, v)
	if len(k.recent) > 3 {
		k.recent = k.recent[1:]
	}
	return v
}

// NewRegister returns a register generator; zero fields of o take defaults.
func NewRegister(o Options) *Register {
	d := DefaultOptions()
	if o.Keys <= 0 {
		o.Keys = d.Keys
	}
	g := &Register{opts: o, counts: map[int]int{}, values: map[int]*keyValues{}}
	for i := 0; i < o.Keys; i++ {
		g.active = append(g.active, i)
	}
	g.nextKey = o.Keys
	return g
}

// KeyName is the name of key number i.
func KeyName(i int) string { return fmt.Sprintf("k%d", i) }

// Next implements Generator.
func (g *Register) Next(r *rand.Rand) history.Op {
	g.mu.Lock()
	slot := r.Intn(len(g.active))
	k := g.active[slot]
	g.counts[k]++
	if g.opts.OpsPerKey > 0 && g.counts[k] >= g.opts.OpsPerKey {
		g.active[slot] = g.nextKey
		g.nextKey++
	}
	kv := g.values[k]
	if kv == nil {
		kv = &keyValues{}
		g.values[k] = kv
	}
	defer g.mu.Unlock()

	op := history.Op{Type: history.Invoke, Key: KeyName(k)}
	switch x := r.Intn(4); {
	case x < 2:
		op.F = "read"
	case x == 2 || len(kv.recent) == 0:
		op.F = "write"
		op.Value = history.MustValue(kv.fresh())
	default:
		op.F = "cas"
		from := kv.recent[r.Intn(len(kv.recent))]
		op.Value = history.MustValue([2]int{from, kv.fresh()})
	}
	return op
}

// FinalReads implements Generator: one read of every key ever used.
func (g *Register) FinalReads() []history.Op {
	g.mu.Lock()
	defer g.mu.Unlock()
	var ops []history.Op
	for k := 0; k < g.nextKey; k++ {
		if g.counts[k] > 0 {
			ops = append(ops, history.Op{Type: history.Invoke, F: "read", Key: KeyName(k)})
		}
	}
	return ops
}

// Checkers implements Generator.
func (g *Register) Checkers() []string { return []string{"linearizable", "stats"} }
