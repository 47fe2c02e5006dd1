package workloads

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"testing"

	"github.com/faultline-io/faultline/history"
)

func TestRegisterMixAndUniqueValues(t *testing.T) {
	g := NewRegister(Options{Keys: 3}).Worker(0)
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
	s := g.Worker(0)
	r := rand.New(rand.NewSource(2))
	perKey := map[string]int{}
	for i := 0; i < 100; i++ {
		perKey[s.Next(r).Key]++
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

// A worker's sequence depends on the seed and the worker alone: two
// generators whose workers are drawn in different interleavings give each
// worker the same ops; values never repeat on a key across workers.
func TestRegisterIsDeterministic(t *testing.T) {
	const workers = 3
	run := func(order []int) map[int][]string {
		g := NewRegister(Options{Keys: 2, OpsPerKey: 30, Workers: workers})
		streams := make([]Stream, workers)
		rngs := make([]*rand.Rand, workers)
		for w := range workers {
			streams[w] = g.Worker(w)
			rngs[w] = rand.New(rand.NewSource(int64(100 + w)))
		}
		out := map[int][]string{}
		for _, w := range order {
			op := streams[w].Next(rngs[w])
			out[w] = append(out[w], op.F+" "+op.Key+" "+string(op.Value))
		}
		return out
	}
	var roundRobin, bursts []int
	for i := range 600 {
		roundRobin = append(roundRobin, i%workers)
		bursts = append(bursts, (i/200)%workers)
	}
	a, b := run(roundRobin), run(bursts)
	seen := map[string]bool{}
	for w := range workers {
		if len(a[w]) != 200 || len(b[w]) != 200 {
			t.Fatalf("worker %d: %d and %d ops", w, len(a[w]), len(b[w]))
		}
		for i := range a[w] {
			if a[w][i] != b[w][i] {
				t.Fatalf("worker %d op %d differs with the interleaving: %q vs %q", w, i, a[w][i], b[w][i])
			}
			var f, key, v string
			fmt.Sscan(a[w][i], &f, &key, &v)
			if f == "write" {
				if seen[key+"="+v] {
					t.Fatalf("value %s written twice on %s", v, key)
				}
				seen[key+"="+v] = true
			}
		}
	}
}
