package nemesis

import (
	"context"
	"slices"
	"testing"
)

// TestProcessNemesisDefaultSelect: a fault without a selection (a
// scenario may leave select out) takes the nemesis's own default, so
// kill-coordinator kills the coordinator, never a node drawn at random.
func TestProcessNemesisDefaultSelect(t *testing.T) {
	env := Env{Cluster: noNetNSCluster{}, Role: func(context.Context, string) (string, error) { return "n2", nil }}
	for seed := range int64(20) {
		got, err := mustNemesis(t, "kill-coordinator").Invoke(context.Background(), env, Fault{Nemesis: "kill-coordinator", Seed: seed})
		if err != nil || !slices.Equal(got.Nodes, []string{"n2"}) || got.Select != SelectCoordinator {
			t.Fatalf("seed %d: nodes %v, select %q, err %v; want the coordinator n2", seed, got.Nodes, got.Select, err)
		}
	}
}
