package workloads

import (
	"encoding/json"
	"math/rand"
	"testing"

	"github.com/faultline-io/faultline/history"
)

func TestRegisterMixAndValues(t *testing.T) {
	g := NewRegister(Options{Keys: 3, Values: 5})
	r := rand.New(rand.NewSource(1))
	counts := map[string]int{}
	keys := map[string]bool{}
	for i := 0; i < 4000; i++ {
		op := g.Next(r)
		if op.Type != history.Invoke {
			t.Fatalf("type %q", op.Type)
		}
		counts[op.F]++
		keys[op.Key] = true
		switch op.F {
		case "read":
			if op.Value != nil {
				t.Fatalf("read carries a value: %s", op.Value)
			}
		case "write":
			var v int
			if err := json.Unmarshal(op.Value, &v); err != nil || v < 0 || v >= 5 {
				t.Fatalf("write value %s", op.Value)
			}
		case "cas":
			var v [2]int
			if err := json.Unmarshal(op.Value, &v); err != nil || v[0] >= 5 || v[1] >= 5 {
				t.Fatalf("cas value %s", op.Value)
			}
		default:
			t.Fatalf("unexpected f %q", op.F)
		}
	}
	if len(keys) != 3 {
		t.Errorf("want 3 keys without rotation, got %d", len(keys))
	}
	if counts["read"] < 1800 || counts["write"] < 800 || counts["cas"] < 800 {
		t.Errorf("mix off: %v", counts)
	}
}

func TestRegisterRotatesKeys(t *testing.T) {
	g := NewRegister(Options{Keys: 2, OpsPerKey: 10, Values: 5})
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
