package core

// Bugs switches on seeded bugs of the crdt target that live in merges. The
// zero value is the correct build.
type Bugs struct {
	// SumMerge: the G-Counter merge adds entries instead of taking the
	// maximum ("sum-merge").
	SumMerge bool
	// RemoveByValue: see ORSet and MergeORSet ("remove-by-value").
	RemoveByValue bool
	// LWWWallClock: LWW writes are stamped with the raw node clock, no
	// HLC ("lww-wall-clock"). Read by the node layer only.
	LWWWallClock bool
}

// GCounter is a grow-only counter: each node's count of increments, keyed
// by node id. It encodes as a JSON object.
type GCounter map[string]uint64

// Inc adds n to node's entry and returns the counter, allocated when g is
// nil: g = g.Inc(node, n).
func (g GCounter) Inc(node string, n uint64) GCounter {
	if g == nil {
		g = GCounter{}
	}
	g[node] += n
	return g
}

// Value is the sum of every node's entry (wrapping on overflow).
func (g GCounter) Value() uint64 {
	var v uint64
	for _, n := range g {
		v += n
	}
	return v
}

// MergeGCounter returns a new counter holding, for each node, the larger of
// its entries in a and b; under bugs.SumMerge the sum of them instead. It
// returns nil when both are empty.
func MergeGCounter(a, b GCounter, bugs Bugs) GCounter {
	if len(a) == 0 && len(b) == 0 {
		return nil
	}
	out := make(GCounter, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		switch {
		case bugs.SumMerge:
			out[k] += v
		case v > out[k]:
			out[k] = v
		}
	}
	return out
}

func cloneGCounter(g GCounter) GCounter {
	if len(g) == 0 {
		return nil
	}
	out := make(GCounter, len(g))
	for k, v := range g {
		out[k] = v
	}
	return out
}

// PNCounter is a counter that goes up and down: increments in P,
// decrements in N, each a GCounter.
type PNCounter struct {
	P GCounter `json:"p,omitempty"`
	N GCounter `json:"n,omitempty"`
}

// Add adds delta (positive or negative) to the counter on behalf of node.
// A zero delta changes nothing.
func (c *PNCounter) Add(node string, delta int64) {
	switch {
	case delta > 0:
		c.P = c.P.Inc(node, uint64(delta))
	case delta < 0:
		c.N = c.N.Inc(node, uint64(-delta)) // -MinInt64 wraps to 1<<63, as wanted
	}
}

// Value is the sum of increments minus the sum of decrements.
func (c PNCounter) Value() int64 {
	return int64(c.P.Value() - c.N.Value())
}

// MergePNCounter merges P with P and N with N (MergeGCounter).
func MergePNCounter(a, b PNCounter, bugs Bugs) PNCounter {
	return PNCounter{P: MergeGCounter(a.P, b.P, bugs), N: MergeGCounter(a.N, b.N, bugs)}
}
