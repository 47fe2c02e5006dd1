package checker

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/faultline-io/faultline/history"
)

// TestOpenInvokes holds openInvokes to a map, over processes small and
// dense, past its dense limit, and negative.
func TestOpenInvokes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	table := newOpenInvokes(make([]history.Op, 100)) // dense below 1124
	model := map[history.Process]int{}
	for i := range 20000 {
		var p history.Process
		switch rng.IntN(4) {
		case 0:
			p = history.Process(rng.IntN(2000)) // either side of the limit
		case 1:
			p = history.Process(rng.Int64N(1 << 40))
		case 2:
			p = history.Process(-1 - rng.IntN(3))
		default:
			p = history.Process(rng.IntN(50))
		}
		if rng.IntN(3) == 0 {
			table.remove(p)
			delete(model, p)
		} else {
			table.set(p, i)
			model[p] = i
		}
		got, ok := table.get(p)
		want, wantOK := model[p]
		if ok != wantOK || ok && got != want || table.n != len(model) {
			t.Fatalf("step %d, process %d: get = %d, %v (n %d); want %d, %v (n %d)", i, p, got, ok, table.n, want, wantOK, len(model))
		}
	}
	if got, want := table.positions(), slices.Sorted(maps.Values(model)); !slices.Equal(got, want) {
		t.Errorf("positions = %v, want %v", got, want)
	}
}
