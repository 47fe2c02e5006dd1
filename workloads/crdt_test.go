package workloads

import (
	"encoding/json"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/faultline-io/faultline/history"
)

func intValue(t *testing.T, op history.Op) int {
	t.Helper()
	var v int
	if err := json.Unmarshal(op.Value, &v); err != nil {
		t.Fatalf("%s on %s: value %s is not an integer", op.F, op.Key, op.Value)
	}
	return v
}

func TestCounterAmountsAndMix(t *testing.T) {
	s := NewCounter(Options{Keys: 3}).Worker(0)
	r := rand.New(rand.NewSource(1))
	counts := map[string]int{}
	amounts := map[int]int{}
	const n = 4000
	for range n {
		op := s.Next(r)
		if op.Type != history.Invoke {
			t.Fatalf("type %q", op.Type)
		}
		counts[op.F]++
		switch op.F {
		case "read":
			if op.Value != nil {
				t.Fatalf("read carries a value: %s", op.Value)
			}
		case "add":
			a := intValue(t, op)
			if a == 0 || a < -5 || a > 5 {
				t.Fatalf("add of %d, want a nonzero amount in [-5, 5]", a)
			}
			amounts[a]++
		default:
			t.Fatalf("unexpected f %q", op.F)
		}
	}
	if counts["read"] < n*45/100 || counts["read"] > n*55/100 {
		t.Errorf("reads %d of %d, want about half", counts["read"], n)
	}
	for a := -5; a <= 5; a++ {
		if a != 0 && amounts[a] == 0 {
			t.Errorf("amount %d never drawn: %v", a, amounts)
		}
	}
}

// Keys rotate: worker w moves a slot on after its share of OpsPerKey
// (OpsPerKey/Workers rounded up), so every key it left got exactly that
// share, and the final reads name every key used.
func TestCounterRotatesKeys(t *testing.T) {
	g := NewCounter(Options{Keys: 2, OpsPerKey: 9, Workers: 2}) // share 5
	s := g.Worker(1)
	r := rand.New(rand.NewSource(3))
	perKey := map[string]int{}
	for range 200 {
		perKey[s.Next(r).Key]++
	}
	if len(perKey) < 30 {
		t.Fatalf("200 ops over keys of 5: only %d keys", len(perKey))
	}
	var short int
	for k, c := range perKey {
		switch {
		case c > 5:
			t.Errorf("key %s got %d ops, share 5", k, c)
		case c < 5:
			short++ // a slot's current key
		}
	}
	if short > 2 {
		t.Errorf("%d keys got less than their share; only the 2 current ones may", short)
	}
	var reads []string
	for _, op := range g.FinalReads() {
		if op.F != "read" || op.Type != history.Invoke {
			t.Errorf("final read %+v", op)
		}
		reads = append(reads, op.Key)
	}
	if len(reads) != len(perKey) {
		t.Errorf("final reads of %d keys, %d used", len(reads), len(perKey))
	}
	for _, k := range reads {
		if perKey[k] == 0 {
			t.Errorf("final read of %s, never used", k)
		}
	}
}

// setModel is one worker's view of one key: what it added and has not
// removed, and what it removed.
type setModel struct{ present, removed map[int]bool }

func TestSetOps(t *testing.T) {
	const workers = 3
	g := NewSet(Options{Keys: 4, OpsPerKey: 300, Workers: workers})
	owner := map[string]int{} // key/element -> worker that first added it
	counts := map[string]int{}
	for w := range workers {
		s := g.Worker(w)
		r := rand.New(rand.NewSource(int64(10 + w)))
		model := map[string]*setModel{}
		for range 3000 {
			op := s.Next(r)
			if op.Type != history.Invoke || op.Key == "" {
				t.Fatalf("worker %d: %+v", w, op)
			}
			m := model[op.Key]
			if m == nil {
				m = &setModel{map[int]bool{}, map[int]bool{}}
				model[op.Key] = m
			}
			switch op.F {
			case "read":
				counts["read"]++
				if op.Value != nil {
					t.Fatalf("read carries a value: %s", op.Value)
				}
				continue
			case "add", "remove":
			default:
				t.Fatalf("worker %d: unexpected f %q", w, op.F)
			}
			e := intValue(t, op)
			id := op.Key + "/" + string(op.Value)
			switch {
			case op.F == "remove":
				counts["remove"]++
				if !m.present[e] {
					t.Fatalf("worker %d removes %d from %s, which it does not have present", w, e, op.Key)
				}
				delete(m.present, e)
				m.removed[e] = true
			case m.removed[e]:
				counts["re-add"]++
				delete(m.removed, e)
				m.present[e] = true
			default:
				counts["add"]++
				if m.present[e] {
					t.Fatalf("worker %d adds %d to %s again while present", w, e, op.Key)
				}
				if o, ok := owner[id]; ok {
					t.Fatalf("workers %d and %d both add %d to %s", o, w, e, op.Key)
				}
				owner[id] = w
				m.present[e] = true
			}
		}
	}
	t.Logf("ops: %v", counts)
	// 40% reads, 30% fresh adds, 20% removes, 10% re-adds (less fallbacks).
	const n = 3 * 3000
	if counts["read"] < n*35/100 || counts["read"] > n*45/100 ||
		counts["remove"] < n*10/100 || counts["re-add"] < n*3/100 || counts["add"] < n*20/100 {
		t.Errorf("mix off: %v", counts)
	}
}

// A worker's set ops depend on the seed and the worker alone.
func TestSetIsDeterministic(t *testing.T) {
	run := func(order []int) map[int][]string {
		g := NewSet(Options{Keys: 2, OpsPerKey: 40, Workers: 2})
		streams := []Stream{g.Worker(0), g.Worker(1)}
		rngs := []*rand.Rand{rand.New(rand.NewSource(5)), rand.New(rand.NewSource(6))}
		out := map[int][]string{}
		for _, w := range order {
			op := streams[w].Next(rngs[w])
			out[w] = append(out[w], op.F+" "+op.Key+" "+string(op.Value))
		}
		return out
	}
	var alternate, bursts []int
	for i := range 800 {
		alternate = append(alternate, i%2)
		bursts = append(bursts, (i/400)%2)
	}
	a, b := run(alternate), run(bursts)
	for w := range 2 {
		if !slices.Equal(a[w], b[w]) || len(a[w]) != 400 {
			t.Fatalf("worker %d's ops depend on the interleaving", w)
		}
	}
}

// Options.Ops restricts Register to what the target serves: read and write
// on an LWW register, never a cas, half writes; a worker's sequence is
// still a function of its seed.
func TestRegisterWithoutCas(t *testing.T) {
	seq := func(seed int64) []string {
		g, err := New("register", Options{Keys: 3, OpsPerKey: 100, Workers: 2, Ops: []string{"read", "write"}})
		if err != nil {
			t.Fatal(err)
		}
		s := g.Worker(1)
		r := rand.New(rand.NewSource(seed))
		var out []string
		for range 4000 {
			op := s.Next(r)
			out = append(out, op.F+" "+op.Key+" "+string(op.Value))
		}
		return out
	}
	a := seq(7)
	counts := map[string]int{}
	for _, o := range a {
		f, _, _ := strings.Cut(o, " ")
		counts[f]++
	}
	if counts["cas"] != 0 || counts["read"]+counts["write"] != len(a) {
		t.Fatalf("ops %v, want read and write alone", counts)
	}
	if counts["write"] < 1800 || counts["write"] > 2200 {
		t.Errorf("writes %d of %d, want about half", counts["write"], len(a))
	}
	if !slices.Equal(a, seq(7)) {
		t.Error("the same seed gave another sequence")
	}
	if slices.Equal(a, seq(8)) {
		t.Error("another seed gave the same sequence")
	}
	g, _ := New("register", Options{Keys: 3})
	s, r := g.Worker(0), rand.New(rand.NewSource(7))
	var cas int
	for range 400 {
		if s.Next(r).F == "cas" {
			cas++
		}
	}
	if cas == 0 {
		t.Error("register without Ops never issues cas: the test above proves nothing")
	}
}

func TestNewRefusesOps(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []string
		want string
	}{
		{"counter", []string{"read", "write"}, `no op "write"`},
		{"set", []string{"read", "add", "cas"}, `no op "cas"`},
		{"mv-register", []string{"read", "write", "cas"}, `no op "cas"`},
		{"register", []string{"read"}, "needs read and an op that changes state"},
		{"set", []string{"add", "remove"}, "needs read"},
		{"queue", nil, "unknown workload"},
	} {
		_, err := New(tc.name, Options{Ops: tc.ops})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%s, %v) = %v, want an error saying %q", tc.name, tc.ops, err, tc.want)
		}
	}
	for name, ops := range map[string][]string{
		"register": {"read", "write"}, "counter": {"read", "add"}, "set": {"read", "add", "remove"},
		"lww-register": nil, "mv-register": {"write", "read"},
	} {
		if _, err := New(name, Options{Ops: ops}); err != nil {
			t.Errorf("New(%s, %v): %v", name, ops, err)
		}
	}
}
