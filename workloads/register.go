package workloads

import (
	"fmt"
	"math/rand"
	"sync"

	"github.com/faultline-io/faultline/history"
)

// Register generates reads, writes and compare-and-sets over a rotating set
// of keys. Half the ops are reads, a quarter writes, a quarter cas. Write
// values and cas arguments are drawn from [0, Values), so cas often succeeds
// and stale values are visible.
type Register struct {
	opts Options

	mu      sync.Mutex
	active  []int // key numbers currently in use
	counts  map[int]int
	nextKey int
}

// NewRegister returns a register generator; zero fields of o take defaults.
func NewRegister(o Options) *Register {
	d := DefaultOptions()
	if o.Keys <= 0 {
		o.Keys = d.Keys
	}
	if o.Values <= 0 {
		o.Values = d.Values
	}
	g := &Register{opts: o, counts: map[int]int{}}
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
	g.mu.Unlock()

	op := history.Op{Type: history.Invoke, Key: KeyName(k)}
	switch x := r.Intn(4); {
	case x < 2:
		op.F = "read"
	case x == 2:
		op.F = "write"
		op.Value = history.MustValue(r.Intn(g.opts.Values))
	default:
		op.F = "cas"
		op.Value = history.MustValue([2]int{r.Intn(g.opts.Values), r.Intn(g.opts.Values)})
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
