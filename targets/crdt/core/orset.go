package core

import (
	"slices"
	"strconv"
	"strings"
)

// ORSet is an add-wins observed-remove set of int64 elements with unique
// tags and tombstones. Every add puts a fresh tag "<node>:<seq>" in Adds,
// mapped to the element; a remove tombstones, in Removed, the tags of the
// element it has observed. An element is present iff one of its tags is in
// Adds and not in Removed, so an add concurrent with a remove (whose tag
// the remove could not observe) survives it.
type ORSet struct {
	Adds    map[string]int64 `json:"adds,omitempty"`
	Removed map[string]bool  `json:"removed,omitempty"`
	// RemovedValues is node-local bookkeeping of the remove-by-value bug
	// only: the elements this node removed and has not re-added since. It
	// is neither encoded nor merged from remote states.
	RemovedValues map[int64]bool `json:"-"`
}

// Add adds e under tag, which must be unique across every node and time.
// Under bugs.RemoveByValue it also forgets that this node removed e.
func (s *ORSet) Add(e int64, tag string, bugs Bugs) {
	if s.Adds == nil {
		s.Adds = map[string]int64{}
	}
	s.Adds[tag] = e
	if bugs.RemoveByValue {
		delete(s.RemovedValues, e)
	}
}

// Remove tombstones every live tag of e that s holds (the observed tags)
// and returns them sorted. Under bugs.RemoveByValue it also records e in
// RemovedValues, which makes later merges delete tags of e this node never
// observed (MergeORSet).
func (s *ORSet) Remove(e int64, bugs Bugs) (tags []string) {
	for tag, v := range s.Adds {
		if v == e && !s.Removed[tag] {
			tags = append(tags, tag)
		}
	}
	slices.Sort(tags)
	if len(tags) > 0 && s.Removed == nil {
		s.Removed = map[string]bool{}
	}
	for _, tag := range tags {
		s.Removed[tag] = true
	}
	if bugs.RemoveByValue {
		if s.RemovedValues == nil {
			s.RemovedValues = map[int64]bool{}
		}
		s.RemovedValues[e] = true
	}
	return tags
}

// Elements returns the present elements, sorted ascending, without
// duplicates; never nil.
func (s ORSet) Elements() []int64 {
	out := []int64{}
	for tag, e := range s.Adds {
		if !s.Removed[tag] {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// MergeORSet returns the union of both sets' Adds and Removed, keeping
// local's RemovedValues (copied).
//
// Under bugs.RemoveByValue every remote tag that local had not seen and
// whose element is in local.RemovedValues is tombstoned as well: the
// bug's remove deletes by value, tags it never observed included, so a
// re-add of a removed element on another node is lost when it arrives
// here. That merge is not commutative.
func MergeORSet(local, remote ORSet, bugs Bugs) ORSet {
	var out ORSet
	if n := len(local.Adds) + len(remote.Adds); n > 0 {
		out.Adds = make(map[string]int64, n)
	}
	for tag, e := range local.Adds {
		out.Adds[tag] = e
	}
	var unseen []string
	for tag, e := range remote.Adds {
		if _, ok := local.Adds[tag]; !ok {
			unseen = append(unseen, tag)
		}
		out.Adds[tag] = e
	}
	if n := len(local.Removed) + len(remote.Removed); n > 0 {
		out.Removed = make(map[string]bool, n)
	}
	for tag, r := range local.Removed {
		if r {
			out.Removed[tag] = true
		}
	}
	for tag, r := range remote.Removed {
		if r {
			out.Removed[tag] = true
		}
	}
	if bugs.RemoveByValue {
		for _, tag := range unseen {
			if local.RemovedValues[remote.Adds[tag]] && !local.Removed[tag] {
				if out.Removed == nil {
					out.Removed = map[string]bool{}
				}
				out.Removed[tag] = true
			}
		}
	}
	if len(local.RemovedValues) > 0 {
		out.RemovedValues = make(map[int64]bool, len(local.RemovedValues))
		for e, r := range local.RemovedValues {
			out.RemovedValues[e] = r
		}
	}
	return out
}

// MaxTagSeq returns the highest seq among node's tags "<node>:<seq>" in s
// (added or tombstoned), 0 when it has none. A node's next tag must use a
// higher seq.
func MaxTagSeq(s ORSet, node string) uint64 {
	var max uint64
	see := func(tag string) {
		i := strings.LastIndexByte(tag, ':')
		if i < 0 || tag[:i] != node {
			return
		}
		if n, err := strconv.ParseUint(tag[i+1:], 10, 64); err == nil && n > max {
			max = n
		}
	}
	for tag := range s.Adds {
		see(tag)
	}
	for tag := range s.Removed {
		see(tag)
	}
	return max
}

func cloneORSet(s ORSet) ORSet {
	var out ORSet
	if len(s.Adds) > 0 {
		out.Adds = make(map[string]int64, len(s.Adds))
		for k, v := range s.Adds {
			out.Adds[k] = v
		}
	}
	if len(s.Removed) > 0 {
		out.Removed = make(map[string]bool, len(s.Removed))
		for k, v := range s.Removed {
			out.Removed[k] = v
		}
	}
	if len(s.RemovedValues) > 0 {
		out.RemovedValues = make(map[int64]bool, len(s.RemovedValues))
		for k, v := range s.RemovedValues {
			out.RemovedValues[k] = v
		}
	}
	return out
}
