package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func enc(t *testing.T, s State) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustMerge(t *testing.T, a, b State, bugs Bugs) State {
	t.Helper()
	m, err := Merge(a, b, bugs)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// genStates returns states of kind reached by three replicas doing seeded
// random updates and merging each other's states in a random order: the
// states a real cluster can hold, concurrent ones included.
func genStates(t *testing.T, rng *rand.Rand, kind string, steps int) []State {
	t.Helper()
	nodes := []string{"n1", "n2", "n3"}
	reps := make([]State, len(nodes))
	seqs := make([]uint64, len(nodes))
	for i := range reps {
		reps[i], _ = NewState(kind)
	}
	var pool []State
	for range steps {
		i := rng.IntN(len(nodes))
		if rng.IntN(3) == 0 {
			j := rng.IntN(len(nodes))
			reps[i] = mustMerge(t, reps[i], reps[j], Bugs{})
		} else {
			v := int64(rng.IntN(7)) - 3
			switch kind {
			case KindCounter:
				reps[i].Counter.Add(nodes[i], v)
			case KindSet:
				if rng.IntN(2) == 0 {
					seqs[i]++
					reps[i].Set.Add(v, fmt.Sprintf("%s:%d", nodes[i], seqs[i]), Bugs{})
				} else {
					reps[i].Set.Remove(v, Bugs{})
				}
			case KindLWW:
				// Few distinct walls, so equal walls and logicals occur.
				reps[i].LWW.Set(v, Timestamp{Wall: int64(rng.IntN(4)), Logical: uint32(rng.IntN(2)), Node: nodes[i]})
			case KindMV:
				reps[i].MV.Write(nodes[i], v)
			}
		}
		pool = append(pool, reps[i].Clone())
	}
	return pool
}

// TestMergeLaws checks, over seeded random states of every kind, that the
// correct merge is commutative (as encodings and read values), associative
// and idempotent, and leaves its arguments unchanged.
func TestMergeLaws(t *testing.T) {
	for _, kind := range Kinds() {
		for seed := range uint64(100) {
			rng := rand.New(rand.NewPCG(seed, 9))
			pool := genStates(t, rng, kind, 40)
			for range 50 {
				a, b, c := pool[rng.IntN(len(pool))], pool[rng.IntN(len(pool))], pool[rng.IntN(len(pool))]
				ea, eb, ec := enc(t, a), enc(t, b), enc(t, c)
				ab, ba := mustMerge(t, a, b, Bugs{}), mustMerge(t, b, a, Bugs{})
				if enc(t, ab) != enc(t, ba) || !bytes.Equal(ab.ReadValue(), ba.ReadValue()) {
					t.Fatalf("%s seed %d: not commutative:\na=%s\nb=%s\nab=%s\nba=%s", kind, seed, ea, eb, enc(t, ab), enc(t, ba))
				}
				l := mustMerge(t, ab, c, Bugs{})
				r := mustMerge(t, a, mustMerge(t, b, c, Bugs{}), Bugs{})
				if enc(t, l) != enc(t, r) {
					t.Fatalf("%s seed %d: not associative:\na=%s\nb=%s\nc=%s\n(ab)c=%s\na(bc)=%s", kind, seed, ea, eb, ec, enc(t, l), enc(t, r))
				}
				if aa := mustMerge(t, a, a, Bugs{}); enc(t, aa) != ea {
					t.Fatalf("%s seed %d: not idempotent: a=%s aa=%s", kind, seed, ea, enc(t, aa))
				}
				if enc(t, a) != ea || enc(t, b) != eb || enc(t, c) != ec {
					t.Fatalf("%s seed %d: merge changed an argument", kind, seed)
				}
				if a.Digest() != mustMerge(t, a, a, Bugs{}).Digest() {
					t.Fatalf("%s seed %d: digest of equal states differs", kind, seed)
				}
			}
		}
	}
}

// TestMergeSharesNothing: updating a merge result leaves its arguments alone.
func TestMergeSharesNothing(t *testing.T) {
	a, b := State{Counter: &PNCounter{}}, State{Counter: &PNCounter{}}
	a.Counter.Add("n1", 1)
	b.Counter.Add("n2", 2)
	m := mustMerge(t, a, b, Bugs{})
	m.Counter.Add("n1", 5)
	m.Counter.Add("n2", 5)
	if a.Counter.Value() != 1 || b.Counter.Value() != 2 {
		t.Fatalf("merge aliased its arguments: a=%d b=%d", a.Counter.Value(), b.Counter.Value())
	}
	c := m.Clone()
	c.Counter.Add("n1", 1)
	if m.Counter.Value() == c.Counter.Value() {
		t.Fatal("Clone aliased")
	}
}

// TestSumMergeBreaksIdempotence: under the sum-merge bug a counter merged
// with itself doubles, so every exchange of equal states inflates it.
func TestSumMergeBreaksIdempotence(t *testing.T) {
	s := State{Counter: &PNCounter{}}
	s.Counter.Add("n1", 3)
	s.Counter.Add("n2", -1)
	bug := Bugs{SumMerge: true}
	m := mustMerge(t, s, s, bug)
	if got := m.Counter.Value(); got != 4 {
		t.Fatalf("sum-merge of a counter of value 2 with itself = %d, want 4", got)
	}
	if enc(t, m) == enc(t, s) {
		t.Fatal("sum-merge stayed idempotent")
	}
	if got := mustMerge(t, s, s, Bugs{}).Counter.Value(); got != 2 {
		t.Fatalf("correct merge = %d, want 2", got)
	}
}

func TestPNCounter(t *testing.T) {
	var c PNCounter
	c.Add("a", 5)
	c.Add("b", -7)
	c.Add("a", 0)
	if c.Value() != -2 {
		t.Fatalf("value %d, want -2", c.Value())
	}
	c.Add("a", math.MinInt64)
	if got := c.N["a"]; got != 1<<63 {
		t.Fatalf("N[a] = %d after adding MinInt64", got)
	}
	var g GCounter
	if g = g.Inc("x", 2); g.Value() != 2 {
		t.Fatalf("Inc on nil: %v", g)
	}
}

// TestHLC: Now is strictly increasing whatever the physical clock does,
// and a timestamp taken after Observe orders after the observed one.
func TestHLC(t *testing.T) {
	var h HLC
	prev := Timestamp{Wall: math.MinInt64}
	for _, phys := range []int64{100, 100, 99, 50, 200, 200, 150, 300} {
		w, l := h.Now(phys)
		ts := Timestamp{Wall: w, Logical: l}
		if !prev.Less(ts) {
			t.Fatalf("Now(%d) = %+v, not after %+v", phys, ts, prev)
		}
		if w < phys {
			t.Fatalf("Now(%d) wall %d behind the physical clock", phys, w)
		}
		prev = ts
	}
	// Observing a timestamp from a node whose clock is far ahead.
	var b HLC
	b.Now(1000)
	b.Observe(1001, 5000, 3)
	w, l := b.Now(1002)
	if !(Timestamp{Wall: 5000, Logical: 3}).Less(Timestamp{Wall: w, Logical: l}) {
		t.Fatalf("after observing 5000.3, Now = %d.%d", w, l)
	}
	// Observing an older timestamp never moves the clock back.
	b.Observe(1003, 10, 0)
	w2, l2 := b.Now(1004)
	if !(Timestamp{Wall: w, Logical: l}).Less(Timestamp{Wall: w2, Logical: l2}) {
		t.Fatalf("clock moved back: %d.%d then %d.%d", w, l, w2, l2)
	}
	// Physical ahead of everything: the clock follows it.
	b.Observe(9000, 10, 0)
	if b.Wall != 9000 || b.Logical != 0 {
		t.Fatalf("Observe with physical ahead: %+v", b)
	}
	// Logical overflow moves Wall on.
	o := HLC{Wall: 7, Logical: math.MaxUint32}
	if w, l := o.Now(0); w != 8 || l != 0 {
		t.Fatalf("overflow: %d.%d", w, l)
	}
}

func TestTimestampLess(t *testing.T) {
	ts := []Timestamp{{Wall: 1, Node: "b"}, {Wall: 1, Logical: 1, Node: "a"}, {Wall: 2, Node: "a"}, {Wall: 2, Node: "b"}}
	for i := range ts {
		for j := range ts {
			if got := ts[i].Less(ts[j]); got != (i < j) {
				t.Errorf("%+v.Less(%+v) = %v", ts[i], ts[j], got)
			}
		}
	}
}

func TestLWW(t *testing.T) {
	s, _ := NewState(KindLWW)
	if got := string(s.ReadValue()); got != "null" {
		t.Fatalf("never written reads %s", got)
	}
	s.LWW.Set(1, Timestamp{Wall: 10, Node: "a"})
	s.LWW.Set(2, Timestamp{Wall: 5, Node: "b"}) // older: lost
	if got := string(s.ReadValue()); got != "1" {
		t.Fatalf("read %s, want 1", got)
	}
	s.LWW.Set(3, Timestamp{Wall: 10, Node: "b"}) // same wall, larger node
	if got := string(s.ReadValue()); got != "3" {
		t.Fatalf("read %s, want 3", got)
	}
}

func TestVClockCompare(t *testing.T) {
	cases := []struct {
		a, b VClock
		want int
	}{
		{nil, nil, Equal},
		{VClock{"a": 1}, VClock{"a": 1}, Equal},
		{VClock{"a": 0}, nil, Equal},
		{VClock{"a": 1}, VClock{"a": 2}, Before},
		{nil, VClock{"a": 1}, Before},
		{VClock{"a": 2, "b": 1}, VClock{"a": 2}, After},
		{VClock{"a": 2}, VClock{"b": 1}, Concurrent},
		{VClock{"a": 2, "b": 1}, VClock{"a": 1, "b": 2}, Concurrent},
	}
	for _, c := range cases {
		if got := c.a.Compare(c.b); got != c.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := c.b.Compare(c.a); got != inverse(c.want) {
			t.Errorf("%v.Compare(%v) = %d, want %d", c.b, c.a, got, inverse(c.want))
		}
	}
	if m := MergeVClock(VClock{"a": 2, "b": 0}, VClock{"a": 1, "c": 3}); len(m) != 2 || m["a"] != 2 || m["c"] != 3 {
		t.Errorf("MergeVClock = %v", m)
	}
}

func inverse(c int) int {
	if c == Concurrent {
		return c
	}
	return -c
}

// TestMVRegister: concurrent writes are both kept; a write after seeing
// them replaces both.
func TestMVRegister(t *testing.T) {
	a, _ := NewState(KindMV)
	b, _ := NewState(KindMV)
	if got := string(a.ReadValue()); got != "[]" {
		t.Fatalf("never written reads %s", got)
	}
	a.MV.Write("n1", 7)
	b.MV.Write("n2", 3)
	m := mustMerge(t, a, b, Bugs{})
	if got := string(m.ReadValue()); got != "[3,7]" {
		t.Fatalf("concurrent writes read %s, want [3,7]", got)
	}
	m.MV.Write("n2", 9)
	if got := string(m.ReadValue()); got != "[9]" {
		t.Fatalf("after a write that saw both: %s", got)
	}
	if got := string(mustMerge(t, m, a, Bugs{}).ReadValue()); got != "[9]" {
		t.Fatalf("merging a dominated write back: %s", got)
	}
	if want := (VClock{"n1": 1, "n2": 2}); m.MV.Entries[0].VC.Compare(want) != Equal {
		t.Fatalf("vc %v, want %v", m.MV.Entries[0].VC, want)
	}
}

// setPair returns two replicas of a set where n1 added x and n2 has seen it.
func setPair(t *testing.T, x int64, bugs Bugs) (a, b State) {
	a, _ = NewState(KindSet)
	a.Set.Add(x, "n1:1", bugs)
	b, _ = NewState(KindSet)
	b = mustMerge(t, b, a, bugs)
	return a, b
}

// TestORSetAddWins: a remove concurrent with an add of the same element
// deletes only the tags it observed, so the add wins on both sides.
func TestORSetAddWins(t *testing.T) {
	a, b := setPair(t, 5, Bugs{})
	if tags := a.Set.Remove(5, Bugs{}); !slices.Equal(tags, []string{"n1:1"}) {
		t.Fatalf("remove tombstoned %v, want [n1:1]", tags)
	}
	b.Set.Add(5, "n2:1", Bugs{})
	ab, ba := mustMerge(t, a, b, Bugs{}), mustMerge(t, b, a, Bugs{})
	for _, s := range []State{ab, ba} {
		if got := string(s.ReadValue()); got != "[5]" {
			t.Fatalf("concurrent add and remove read %s, want [5] (add wins)", got)
		}
	}
	// A remove after seeing the re-add deletes it.
	ab.Set.Remove(5, Bugs{})
	if got := string(mustMerge(t, ba, ab, Bugs{}).ReadValue()); got != "[]" {
		t.Fatalf("observed remove read %s, want []", got)
	}
	// Removing an element never added tombstones nothing.
	if tags := ab.Set.Remove(42, Bugs{}); len(tags) != 0 {
		t.Fatalf("remove of an absent element tombstoned %v", tags)
	}
}

// TestORSetRemoveByValue: under the remove-by-value bug a node that removed
// an element deletes a tag of it it never observed: a re-add elsewhere,
// after the remove, is lost when it arrives.
func TestORSetRemoveByValue(t *testing.T) {
	for _, bugged := range []bool{false, true} {
		bugs := Bugs{RemoveByValue: bugged}
		a, b := setPair(t, 5, bugs)
		a.Set.Remove(5, bugs)
		b = mustMerge(t, b, a, bugs) // b sees the remove
		b.Set.Add(5, "n2:1", bugs)   // and re-adds
		a = mustMerge(t, a, b, bugs)
		want := "[5]"
		if bugged {
			want = "[]"
		}
		if got := string(a.ReadValue()); got != want {
			t.Fatalf("bug %v: after the re-add arrives, read %s, want %s", bugged, got, want)
		}
		// The tombstone spreads back to the re-adder.
		if got := string(mustMerge(t, b, a, bugs).ReadValue()); got != want {
			t.Fatalf("bug %v: re-adder reads %s, want %s", bugged, got, want)
		}
		// A local re-add clears the bookkeeping.
		a.Set.Add(5, "n1:2", bugs)
		if len(a.Set.RemovedValues) != 0 {
			t.Fatalf("RemovedValues %v after a local re-add", a.Set.RemovedValues)
		}
	}
}

func TestMaxTagSeq(t *testing.T) {
	s := ORSet{
		Adds:    map[string]int64{"n1:3": 1, "n1:12": 2, "n10:99": 3, "x": 4, "n1:bad": 5},
		Removed: map[string]bool{"n1:20": true},
	}
	if got := MaxTagSeq(s, "n1"); got != 20 {
		t.Fatalf("MaxTagSeq n1 = %d, want 20", got)
	}
	if got := MaxTagSeq(s, "n2"); got != 0 {
		t.Fatalf("MaxTagSeq n2 = %d, want 0", got)
	}
}

func TestState(t *testing.T) {
	want := map[string]string{KindCounter: "0", KindSet: "[]", KindLWW: "null", KindMV: "[]"}
	for _, k := range Kinds() {
		s, err := NewState(k)
		if err != nil {
			t.Fatal(err)
		}
		if s.Kind() != k {
			t.Errorf("NewState(%q).Kind() = %q", k, s.Kind())
		}
		if got := string(s.ReadValue()); got != want[k] {
			t.Errorf("empty %s reads %s, want %s", k, got, want[k])
		}
		var back State
		if err := json.Unmarshal([]byte(enc(t, s)), &back); err != nil || back.Kind() != k {
			t.Errorf("%s: JSON round trip gave kind %q (%v)", k, back.Kind(), err)
		}
	}
	if _, err := NewState("bag"); err == nil {
		t.Error("NewState(bag) succeeded")
	}
	c, _ := NewState(KindCounter)
	s, _ := NewState(KindSet)
	if _, err := Merge(c, s, Bugs{}); err == nil {
		t.Error("merge of a set into a counter succeeded")
	}
	if _, err := Merge(State{}, State{}, Bugs{}); err == nil {
		t.Error("merge of empty states succeeded")
	}
	if (State{Counter: &PNCounter{}, Set: &ORSet{}}).Kind() != "" {
		t.Error("a state with two fields has a kind")
	}
}
