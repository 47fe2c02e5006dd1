package core

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
)

// Kinds of state, one per workload data type.
const (
	KindCounter = "counter" // PNCounter
	KindSet     = "set"     // ORSet
	KindLWW     = "lww"     // LWWRegister
	KindMV      = "mv"      // MVRegister
)

// Kinds lists every kind.
func Kinds() []string { return []string{KindCounter, KindSet, KindLWW, KindMV} }

// State is one key's replicated state: exactly one field is set, by kind.
// It is JSON-encodable, and equal states encode equally (Digest).
type State struct {
	Counter *PNCounter   `json:"counter,omitempty"`
	Set     *ORSet       `json:"set,omitempty"`
	LWW     *LWWRegister `json:"lww,omitempty"`
	MV      *MVRegister  `json:"mv,omitempty"`
}

// NewState returns the empty state of kind, or an error naming an unknown
// kind.
func NewState(kind string) (State, error) {
	switch kind {
	case KindCounter:
		return State{Counter: &PNCounter{}}, nil
	case KindSet:
		return State{Set: &ORSet{}}, nil
	case KindLWW:
		return State{LWW: &LWWRegister{}}, nil
	case KindMV:
		return State{MV: &MVRegister{}}, nil
	}
	return State{}, fmt.Errorf("unknown kind %q", kind)
}

// Kind returns the kind of the field that is set; "" when none or more
// than one is.
func (s State) Kind() string {
	kind, n := "", 0
	if s.Counter != nil {
		kind, n = KindCounter, n+1
	}
	if s.Set != nil {
		kind, n = KindSet, n+1
	}
	if s.LWW != nil {
		kind, n = KindLWW, n+1
	}
	if s.MV != nil {
		kind, n = KindMV, n+1
	}
	if n != 1 {
		return ""
	}
	return kind
}

// Merge returns the merge of remote into local (a new state sharing
// nothing with either), or an error when their kinds differ or are not
// valid. Only the OR-Set merge under bugs.RemoveByValue depends on which
// side is local.
func Merge(local, remote State, bugs Bugs) (State, error) {
	kind := local.Kind()
	if kind == "" || remote.Kind() != kind {
		return State{}, fmt.Errorf("merge of kind %q into kind %q", remote.Kind(), kind)
	}
	switch kind {
	case KindCounter:
		c := MergePNCounter(*local.Counter, *remote.Counter, bugs)
		return State{Counter: &c}, nil
	case KindSet:
		s := MergeORSet(*local.Set, *remote.Set, bugs)
		return State{Set: &s}, nil
	case KindLWW:
		r := MergeLWW(*local.LWW, *remote.LWW)
		return State{LWW: &r}, nil
	default:
		r := MergeMV(*local.MV, *remote.MV)
		return State{MV: &r}, nil
	}
}

// Clone returns a deep copy of s, node-local bookkeeping included.
func (s State) Clone() State {
	var out State
	if s.Counter != nil {
		out.Counter = &PNCounter{P: cloneGCounter(s.Counter.P), N: cloneGCounter(s.Counter.N)}
	}
	if s.Set != nil {
		c := cloneORSet(*s.Set)
		out.Set = &c
	}
	if s.LWW != nil {
		c := cloneLWW(*s.LWW)
		out.LWW = &c
	}
	if s.MV != nil {
		es := make([]MVEntry, len(s.MV.Entries))
		for i, e := range s.MV.Entries {
			es[i] = MVEntry{Value: e.Value, VC: MergeVClock(e.VC, nil)}
		}
		if len(es) == 0 {
			es = nil
		}
		out.MV = &MVRegister{Entries: es}
	}
	return out
}

// Digest is the FNV-64a hash of s's JSON encoding: equal states have equal
// digests on every node.
func (s State) Digest() uint64 {
	h := fnv.New64a()
	h.Write(s.encode())
	return h.Sum64()
}

func (s State) encode() []byte {
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("crdt core: encode state: %v", err)) // maps of strings and integers cannot fail
	}
	return b
}

// ReadValue is what a read of s answers: the counter's value (a JSON
// integer), the set's elements or the MV register's values (a JSON array
// of integers sorted ascending, [] when empty), the LWW register's value
// (an integer, or null when never written). A state of no valid kind
// reads null.
func (s State) ReadValue() json.RawMessage {
	var v any
	switch s.Kind() {
	case KindCounter:
		v = s.Counter.Value()
	case KindSet:
		v = s.Set.Elements()
	case KindLWW:
		v = s.LWW.Value
	case KindMV:
		v = s.MV.Values()
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("crdt core: encode read value: %v", err))
	}
	return b
}
