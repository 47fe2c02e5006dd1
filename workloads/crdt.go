package workloads

import (
	"math/rand"
	"sort"
	"sync"

	"github.com/faultline-io/faultline/history"
)

// keySpace is the rotating key set the counter and set generators share
// with Register's scheme: slot j holds key j, then j+Keys, j+2*Keys, ...,
// and a worker moves a slot on after its share of OpsPerKey invocations on
// it. It remembers every key some worker touched, for the final reads.
type keySpace struct {
	opts Options

	mu   sync.Mutex
	used map[int]bool
}

func newKeySpace(o Options) *keySpace {
	if o.Keys <= 0 {
		o.Keys = DefaultOptions().Keys
	}
	if o.Workers <= 0 {
		o.Workers = 1
	}
	return &keySpace{opts: o, used: map[int]bool{}}
}

// slots is one worker's position in a keySpace.
type slots struct {
	ks     *keySpace
	share  int
	gen    []int
	counts []int
}

func (ks *keySpace) worker() *slots {
	share := 0
	if ks.opts.OpsPerKey > 0 {
		share = (ks.opts.OpsPerKey + ks.opts.Workers - 1) / ks.opts.Workers
	}
	return &slots{ks: ks, share: share, gen: make([]int, ks.opts.Keys), counts: make([]int, ks.opts.Keys)}
}

// next draws the key number of the worker's next op.
func (s *slots) next(r *rand.Rand) int {
	keys := s.ks.opts.Keys
	slot := r.Intn(keys)
	k := s.gen[slot]*keys + slot
	if s.counts[slot]++; s.share > 0 && s.counts[slot] >= s.share {
		s.gen[slot]++
		s.counts[slot] = 0
	}
	s.ks.mu.Lock()
	s.ks.used[k] = true
	s.ks.mu.Unlock()
	return k
}

// retired reports whether the worker has moved past key k for good.
func (s *slots) retired(k int) bool {
	keys := s.ks.opts.Keys
	return k/keys < s.gen[k%keys]
}

// FinalReads returns one read of every key ever used, in key order.
func (ks *keySpace) FinalReads() []history.Op {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	nums := make([]int, 0, len(ks.used))
	for k := range ks.used {
		nums = append(nums, k)
	}
	sort.Ints(nums)
	ops := make([]history.Op, 0, len(nums))
	for _, k := range nums {
		ops = append(ops, history.Op{Type: history.Invoke, F: "read", Key: KeyName(k)})
	}
	return ops
}

// Counter generates adds of positive and negative amounts (a nonzero
// integer in [-5, 5]) and reads, half each, over rotating keys: the
// workload of a PN-Counter. Whatever the interleaving, a worker's sequence
// is a function of the options, the worker number and its random source.
type Counter struct{ *keySpace }

// NewCounter returns a counter generator; zero fields of o take defaults.
func NewCounter(o Options) *Counter { return &Counter{newKeySpace(o)} }

// Worker implements Generator.
func (g *Counter) Worker(w int) Stream { return &counterStream{s: g.worker()} }

type counterStream struct{ s *slots }

// Next implements Stream.
func (c *counterStream) Next(r *rand.Rand) history.Op {
	op := history.Op{Type: history.Invoke, Key: KeyName(c.s.next(r))}
	if r.Intn(2) == 0 {
		op.F = "read"
		return op
	}
	op.F = "add"
	amount := r.Intn(5) + 1
	if r.Intn(2) == 0 {
		amount = -amount
	}
	op.Value = history.MustValue(amount)
	return op
}

// Set generates the ops of an observed-remove set of integers over rotating
// keys: adds of elements never added before, removes of elements the
// worker added, re-adds of elements it removed, and reads (40% reads, 30%
// fresh adds, 20% removes, 10% re-adds, falling back to a fresh add when
// there is nothing to remove or re-add). Worker w's elements are w,
// w+Workers, w+2*Workers, ..., so no two workers add the same element and
// only re-adds repeat one.
type Set struct{ *keySpace }

// NewSet returns a set generator; zero fields of o take defaults.
func NewSet(o Options) *Set { return &Set{newKeySpace(o)} }

// Worker implements Generator.
func (g *Set) Worker(w int) Stream {
	return &setStream{s: g.worker(), w: w, workers: g.opts.Workers, keys: map[int]*setKey{}}
}

type setStream struct {
	s          *slots
	w, workers int
	keys       map[int]*setKey
}

// setKey is what one worker added and removed on one key, oldest first.
type setKey struct {
	next             int
	present, removed []int
}

// Next implements Stream.
func (st *setStream) Next(r *rand.Rand) history.Op {
	k := st.s.next(r)
	sk := st.keys[k]
	if sk == nil {
		sk = &setKey{}
		st.keys[k] = sk
	}
	op := history.Op{Type: history.Invoke, Key: KeyName(k)}
	x := r.Intn(10)
	switch {
	case x < 4:
		op.F = "read"
	case x < 6 && len(sk.present) > 0:
		i := r.Intn(len(sk.present))
		e := sk.present[i]
		sk.present = append(sk.present[:i], sk.present[i+1:]...)
		sk.removed = append(sk.removed, e)
		op.F, op.Value = "remove", history.MustValue(e)
	case x < 7 && len(sk.removed) > 0:
		i := r.Intn(len(sk.removed))
		e := sk.removed[i]
		sk.removed = append(sk.removed[:i], sk.removed[i+1:]...)
		sk.present = append(sk.present, e)
		op.F, op.Value = "add", history.MustValue(e)
	default:
		e := sk.next*st.workers + st.w
		sk.next++
		sk.present = append(sk.present, e)
		op.F, op.Value = "add", history.MustValue(e)
	}
	if len(st.keys) > 4*st.s.ks.opts.Keys {
		for old := range st.keys {
			if st.s.retired(old) {
				delete(st.keys, old)
			}
		}
	}
	return op
}
