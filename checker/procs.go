package checker

import (
	"slices"

	"github.com/faultline-io/faultline/history"
)

// openInvokes holds the outstanding invoke of each client process, by its
// position in the history, as a map from process to position would, but
// in a slice for the small non-negative numbers that processes are (a
// process that got info never issues again, so a history of n ops names
// at most n of them); larger ones go to a map. Pairing a history is one
// lookup per op, so this is most of its cost.
type openInvokes struct {
	dense  []int // position + 1, or 0: none outstanding
	limit  int   // processes from limit on go to sparse
	sparse map[history.Process]int
	n      int
}

// newOpenInvokes returns an empty table for the client processes of ops.
func newOpenInvokes(ops []history.Op) *openInvokes {
	// Dense up to a bound, so that one stray huge process number costs a
	// map entry, not memory.
	return &openInvokes{limit: len(ops) + 1024}
}

// get returns the position of p's outstanding invoke.
func (t *openInvokes) get(p history.Process) (int, bool) {
	if p >= 0 && int(p) < len(t.dense) {
		i := t.dense[p]
		return i - 1, i > 0
	}
	i, ok := t.sparse[p]
	return i, ok
}

// set makes position i p's outstanding invoke, in place of any other.
func (t *openInvokes) set(p history.Process, i int) {
	if _, ok := t.get(p); !ok {
		t.n++
	}
	if p >= 0 && int(p) < t.limit {
		if int(p) >= len(t.dense) {
			t.dense = slices.Grow(t.dense, int(p)+1-len(t.dense))
			t.dense = t.dense[:min(cap(t.dense), t.limit)]
		}
		t.dense[p] = i + 1
		return
	}
	if t.sparse == nil {
		t.sparse = make(map[history.Process]int)
	}
	t.sparse[p] = i
}

// remove forgets p's outstanding invoke, if any.
func (t *openInvokes) remove(p history.Process) {
	if _, ok := t.get(p); !ok {
		return
	}
	t.n--
	if p >= 0 && int(p) < len(t.dense) {
		t.dense[p] = 0
		return
	}
	delete(t.sparse, p)
}

// positions returns the positions of the outstanding invokes, in
// increasing order.
func (t *openInvokes) positions() []int {
	out := make([]int, 0, t.n)
	if t.n == 0 {
		return out
	}
	for _, i := range t.dense {
		if i > 0 {
			out = append(out, i-1)
		}
	}
	for _, i := range t.sparse {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}
