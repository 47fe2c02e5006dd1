package workloads

import (
	"encoding/json"
	"math/rand"
	"testing"

	"github.com/faultline-io/faultline/history"
)

func TestRegisterMixAndUniqueValues(t *testing.T) {
	g := NewRegister(Options{Keys: 3})
	r := rand.New(rand.NewSource(1))
	counts := map[string]int{}
	written := map[string]map[int]bool{}
	for i := 0; i < 4000; i++ {
		op := g.Next(r)
		if op.Type != history.Invoke {
			t.Fatalf("type %q", op.Type)
		}
		counts[op.F]++
		if written[op.Key] == nil {
			written[op.Key] = map[int]bool{}
		}
		var v int
		switch op.F {
		case "read":
			if op.Value != nil {
				t.Fatalf("read carries a value: %s", op.Value)
			}
			continue
		case "write":
			if err := json.Unmarshal(op.Value, &v); err != nil {
				t.Fatalf("write value %s", op.Value)
			}
		case "cas":
			var c [2]int
			if err := json.Unmarshal(op.Value, &c); err != nil {
				t.Fatalf("cas value %s", op.Value)
			}
			if !written[op.Key][c[0]] {
				t.Fatalf("cas expects %d, which was never generated for %s", c[0], op.Key)
			}
			v = c[1]
		default:
			t.Fatalf("unexpected f %q", op.F)
		}
		if written[op.Key][v] {
			t.Fatalf("value %d generated twice for %s", v, op.Key)
		}
		written[op.Key][v] = true
	}
	if len(written) != 3 {
		t.Errorf("want 3 keys without rotation, got %d", len(written))
	}
	if counts["read"] < 1800 || counts["write"] < 800 || counts["cas"] < 800 {
		t.Errorf("mix off: %v", counts)
	}
}

func TestRegisterRotatesKeys(t *testing.T) {
	g := NewRegister(Options{Keys: 2, OpsPerKey: 10})
	r := rand.New(rand.NewSource(2))
	perKey := map[string]int{}
	for i := 0; i < 100; i++ {
		perKey[g.Next(r).Key]++
	}
	for k, n := range perKey {
		if n > 10 {
			t.Errorf("key %s got %d ops, limit 10", k, n)
		}
	}
	if len(perKey) < 10 {
		t.Errorf("want rotation through >=10 keys, got %d", len(perKey))
	}
	if got := len(g.FinalReads()); got != len(perKey) {
		t.Errorf("final reads %d, keys used %d", got, len(perKey))
	}
}

func TestRegisterIsDeterministic(t *testing.T) {
	a, b := NewRegister(Options{}), NewRegister(Options{})
	ra, rb := rand.New(rand.NewSource(3)), rand.New(rand.NewSource(3))
	for i := 0; i < 500; i++ {
		x, y := a.Next(ra), b.Next(rb)
		if x.F != y.F || x.Key != y.Key || string(x.Value) != string(y.Value) {
			t.Fatalf("op %d differs: %+v vs %+v", i, x, y)
		}
	}
}
