package nemesis

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/faultline-io/faultline/cluster"
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

// TestSelectComplement: participants is every node but the coordinator
// and followers every node but the leader, for every seed; a target
// without the role cannot take them.
func TestSelectComplement(t *testing.T) {
	c := fourNodes{}
	env := Env{Cluster: c, Role: func(_ context.Context, role string) (string, error) {
		if role != SelectCoordinator {
			return "", errNoRole
		}
		return "n3", nil
	}, Leader: func(context.Context) (string, error) { return "n1", nil }}
	for seed := range int64(20) {
		got, err := SelectNodes(context.Background(), env, Fault{Select: SelectParticipants, Seed: seed})
		if err != nil || !slices.Equal(got, []string{"n1", "n2", "n4"}) {
			t.Fatalf("participants, seed %d: %v, %v; want n1 n2 n4", seed, got, err)
		}
		got, err = SelectNodes(context.Background(), env, Fault{Select: SelectFollowers, Seed: seed})
		if err != nil || !slices.Equal(got, []string{"n2", "n3", "n4"}) {
			t.Fatalf("followers, seed %d: %v, %v; want n2 n3 n4", seed, got, err)
		}
	}
	if got, err := SelectNodes(context.Background(), Env{Cluster: c}, Fault{Select: SelectParticipants}); err == nil {
		t.Errorf("participants without a coordinator: %v, want an error", got)
	}
	if RoleNeeded("kill", SelectParticipants) != SelectCoordinator || RoleNeeded("pause", SelectFollowers) != SelectLeader {
		t.Error("participants and followers must need the coordinator and the leader")
	}
	if err := checkSelect("kill", SelectParticipants); err != nil {
		t.Errorf("a scenario's kill with select participants: %v", err)
	}
}

var errNoRole = errors.New("no such role")

type fourNodes struct{ noNetNSCluster }

func (fourNodes) Nodes() []cluster.Node {
	return []cluster.Node{noNetNSNode{"n1"}, noNetNSNode{"n2"}, noNetNSNode{"n3"}, noNetNSNode{"n4"}}
}
