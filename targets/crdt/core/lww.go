package core

import "math"

// Timestamp orders LWW writes: by Wall (ns), then Logical, then Node. Two
// writes by different nodes never have equal timestamps.
type Timestamp struct {
	Wall    int64  `json:"wall"`
	Logical uint32 `json:"logical,omitempty"`
	Node    string `json:"node"`
}

// Less reports whether t orders before u.
func (t Timestamp) Less(u Timestamp) bool {
	if t.Wall != u.Wall {
		return t.Wall < u.Wall
	}
	if t.Logical != u.Logical {
		return t.Logical < u.Logical
	}
	return t.Node < u.Node
}

// HLC is a hybrid logical clock (Kulkarni et al., "Logical Physical Clocks",
// 2014): Wall follows the largest physical reading seen, here or in any
// timestamp observed, and Logical counts events within one Wall. A
// timestamp taken after observing another is larger than it, whatever the
// node clocks read, which is what makes a causally later LWW write win.
// Physical readings (ns) are passed in; the clock never reads one itself.
type HLC struct {
	Wall    int64  `json:"wall"`
	Logical uint32 `json:"logical"`
}

// Now returns the timestamp of a local event at the node clock's reading
// physical. Successive results are strictly increasing in (wall, logical),
// whatever physical does, and larger than every timestamp observed.
func (h *HLC) Now(physical int64) (wall int64, logical uint32) {
	if physical > h.Wall {
		h.Wall, h.Logical = physical, 0
	} else {
		h.tick()
	}
	return h.Wall, h.Logical
}

// Observe advances the clock past a received timestamp (wall, logical) at
// the node clock's reading physical: the clock afterwards is larger than
// both its former value and the received timestamp.
func (h *HLC) Observe(physical int64, wall int64, logical uint32) {
	switch w := max(h.Wall, wall, physical); {
	case w == h.Wall && w == wall:
		h.Logical = max(h.Logical, logical)
		h.tick()
	case w == h.Wall:
		h.tick()
	case w == wall:
		h.Wall, h.Logical = wall, logical
		h.tick()
	default:
		h.Wall, h.Logical = physical, 0
	}
}

// tick counts one event within Wall, moving Wall on when Logical is full.
func (h *HLC) tick() {
	if h.Logical == math.MaxUint32 {
		h.Wall, h.Logical = h.Wall+1, 0
		return
	}
	h.Logical++
}

// LWWRegister is a last-writer-wins register of an int64: the write with
// the largest Timestamp wins. Value nil means never written.
type LWWRegister struct {
	Value *int64    `json:"value,omitempty"`
	TS    Timestamp `json:"ts"`
}

// Set writes v at ts, unless the register holds a write with a larger
// timestamp (then the write is lost, as LWW says).
func (r *LWWRegister) Set(v int64, ts Timestamp) {
	*r = MergeLWW(*r, LWWRegister{Value: &v, TS: ts})
}

// MergeLWW returns the write with the larger timestamp; a register never
// written loses to any write. Equal timestamps (which correct use never
// produces for different values) keep the larger value, so the merge stays
// commutative.
func MergeLWW(a, b LWWRegister) LWWRegister {
	switch {
	case b.Value == nil:
		return cloneLWW(a)
	case a.Value == nil:
		return cloneLWW(b)
	case a.TS.Less(b.TS):
		return cloneLWW(b)
	case b.TS.Less(a.TS):
		return cloneLWW(a)
	case *b.Value > *a.Value:
		return cloneLWW(b)
	}
	return cloneLWW(a)
}

// cloneLWW copies r; a register never written becomes the zero value.
func cloneLWW(r LWWRegister) LWWRegister {
	if r.Value == nil {
		return LWWRegister{}
	}
	v := *r.Value
	r.Value = &v
	return r
}
