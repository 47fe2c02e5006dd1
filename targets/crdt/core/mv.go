package core

import (
	"cmp"
	"encoding/json"
	"slices"
)

// VClock is a vector clock: per node, the number of that node's events
// seen. A missing entry counts as zero.
type VClock map[string]uint64

// Results of VClock.Compare.
const (
	Before     = -1 // v happened before o (o dominates v)
	Equal      = 0
	After      = 1 // v dominates o
	Concurrent = 2
)

// Compare returns Before when v < o (every entry <=, one <), Equal, After
// when v > o, or Concurrent.
func (v VClock) Compare(o VClock) int {
	less, more := false, false
	for k, a := range v {
		if b := o[k]; a < b {
			less = true
		} else if a > b {
			more = true
		}
	}
	for k, b := range o {
		if _, ok := v[k]; !ok && b > 0 {
			less = true
		}
	}
	switch {
	case less && more:
		return Concurrent
	case less:
		return Before
	case more:
		return After
	}
	return Equal
}

// MergeVClock returns a new clock holding the larger entry of a and b per
// node; zero entries are dropped. It returns nil when both are empty.
func MergeVClock(a, b VClock) VClock {
	var out VClock
	for _, c := range []VClock{a, b} {
		for k, n := range c {
			if n == 0 || n <= out[k] {
				continue
			}
			if out == nil {
				out = VClock{}
			}
			out[k] = n
		}
	}
	return out
}

// MVEntry is one value of an MV register with the vector clock of its
// write.
type MVEntry struct {
	Value int64  `json:"value"`
	VC    VClock `json:"vc"`
}

// MVRegister is a multi-value register: it keeps every write not
// dominated by another (the concurrent writes), so a read returns all of
// them. Entries is canonical: no entry dominated by another or equal to
// another, sorted by (Value, VC's JSON encoding).
type MVRegister struct {
	Entries []MVEntry `json:"entries,omitempty"`
}

// Write replaces every value the register holds by v, on behalf of node:
// the new entry's clock is the merge of every entry's clock with node's
// entry incremented, so it dominates them all.
func (r *MVRegister) Write(node string, v int64) {
	var vc VClock
	for _, e := range r.Entries {
		vc = MergeVClock(vc, e.VC)
	}
	if vc == nil {
		vc = VClock{}
	}
	vc[node]++
	r.Entries = []MVEntry{{Value: v, VC: vc}}
}

// Values returns the values of the entries, sorted ascending without
// duplicates; never nil.
func (r MVRegister) Values() []int64 {
	out := make([]int64, 0, len(r.Entries))
	for _, e := range r.Entries {
		out = append(out, e.Value)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// MergeMV returns the entries of a and b that no entry of either
// dominates, without duplicates, in canonical order.
func MergeMV(a, b MVRegister) MVRegister {
	all := make([]MVEntry, 0, len(a.Entries)+len(b.Entries))
	all = append(all, a.Entries...)
	all = append(all, b.Entries...)
	var keep []MVEntry
	for i, e := range all {
		drop := false
		for j, o := range all {
			if i == j {
				continue
			}
			c := e.VC.Compare(o.VC)
			// Dominated, or a duplicate of an entry kept at a lower index.
			if c == Before || (c == Equal && e.Value == o.Value && j < i) {
				drop = true
				break
			}
		}
		if !drop {
			keep = append(keep, MVEntry{Value: e.Value, VC: MergeVClock(e.VC, nil)})
		}
	}
	sortMV(keep)
	return MVRegister{Entries: keep}
}

// sortMV sorts entries by (Value, VC's JSON encoding).
func sortMV(es []MVEntry) {
	key := func(vc VClock) string {
		b, _ := json.Marshal(vc) // sorted keys; a map of uint64 cannot fail
		return string(b)
	}
	slices.SortFunc(es, func(x, y MVEntry) int {
		if c := cmp.Compare(x.Value, y.Value); c != 0 {
			return c
		}
		return cmp.Compare(key(x.VC), key(y.VC))
	})
}
