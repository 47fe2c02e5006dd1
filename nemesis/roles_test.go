package nemesis

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRoleNeeded(t *testing.T) {
	for _, tc := range []struct{ name, sel, want string }{
		{"partition-leader", "", SelectLeader},
		{"partition-leader", SelectOne, SelectLeader}, // the nemesis needs it whatever the selection
		{"kill", SelectLeader, SelectLeader},
		{"clock-strobe", SelectLeader, SelectLeader},
		{"partition", "leader", SelectLeader}, // the partition shape isolating the leader
		{"kill", "", ""},
		{"kill", SelectOne, ""},
		{"pause", SelectMajority, ""},
		{"partition", "halves", ""},
		{"msg-drop", SelectAll, ""},
	} {
		if got := RoleNeeded(tc.name, tc.sel); got != tc.want {
			t.Errorf("RoleNeeded(%q, %q) = %q, want %q", tc.name, tc.sel, got, tc.want)
		}
	}
}

func TestSelectsFor(t *testing.T) {
	all := []string{SelectOne, SelectLeader, SelectMinority, SelectMajority, SelectAll}
	if got, want := SelectsFor(all, nil), []string{SelectOne, SelectMinority, SelectMajority, SelectAll}; !reflect.DeepEqual(got, want) {
		t.Errorf("without roles: %v, want %v", got, want)
	}
	if got := SelectsFor(all, []string{"coordinator"}); slices.Contains(got, SelectLeader) || len(got) != 4 {
		t.Errorf("with another role: %v, want every selection but leader", got)
	}
	if got := SelectsFor(all, []string{SelectLeader}); !reflect.DeepEqual(got, all) {
		t.Errorf("with the leader role: %v, want %v unchanged", got, all)
	}
	if got := SelectsFor([]string{SelectLeader}, nil); len(got) != 0 {
		t.Errorf("only leader, no roles: %v, want none", got)
	}
}

// A schedule drawn from selections filtered for a leaderless target never
// asks for the leader, over many seeds; unfiltered, the same nemeses do
// (so the filter, not luck, keeps it out).
func TestScheduleForLeaderlessTargetNeverDrawsLeader(t *testing.T) {
	names := []string{"kill", "pause", "clock-strobe", "partition"}
	filtered, raw := map[string][]string{}, map[string][]string{}
	for _, name := range names {
		n, err := New(name)
		if err != nil {
			t.Fatal(err)
		}
		s, ok := n.(Selector)
		if !ok {
			t.Fatalf("%s has no selections", name)
		}
		if !slices.Contains(s.Selects(), SelectLeader) {
			t.Fatalf("%s does not offer leader (%v): the test would prove nothing", name, s.Selects())
		}
		raw[name] = s.Selects()
		filtered[name] = SelectsFor(s.Selects(), nil)
		if len(filtered[name]) == 0 {
			t.Fatalf("%s: nothing left to select from %v", name, s.Selects())
		}
	}
	draws, rawLeaders := 0, 0
	seen := map[string]bool{}
	for seed := int64(0); seed < 300; seed++ {
		o := ScheduleOptions{Nemeses: names, Selects: filtered, Interval: time.Second, Until: time.Minute, Seed: seed}
		steps, err := Schedule(o)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range steps {
			draws++
			seen[st.Fault.Nemesis+" "+st.Fault.Select] = true
			if RoleNeeded(st.Fault.Nemesis, st.Fault.Select) != "" {
				t.Fatalf("seed %d: %s with select %q needs a role", seed, st.Fault.Nemesis, st.Fault.Select)
			}
			if !slices.Contains(filtered[st.Fault.Nemesis], st.Fault.Select) {
				t.Fatalf("seed %d: %s with select %q, not one of %v", seed, st.Fault.Nemesis, st.Fault.Select, filtered[st.Fault.Nemesis])
			}
		}
		o.Selects = raw
		steps, _ = Schedule(o)
		for _, st := range steps {
			if st.Fault.Select == SelectLeader {
				rawLeaders++
			}
		}
	}
	if draws < 1000 || rawLeaders == 0 {
		t.Errorf("%d faults drawn, %d leaders without the filter: the test proves nothing", draws, rawLeaders)
	}
	for _, name := range names {
		for _, sel := range filtered[name] {
			if !seen[name+" "+sel] {
				t.Errorf("%s with select %q never drawn", name, sel)
			}
		}
	}
}

// TestCoordinatorSelections: kill-coordinator and a kill or pause with
// select coordinator act on the node Env.Role names, and fail rather than
// pick another node when the target has no coordinator.
func TestCoordinatorSelections(t *testing.T) {
	ctx := context.Background()
	env := Env{Cluster: noNetNSCluster{}, Role: func(_ context.Context, role string) (string, error) {
		if role != SelectCoordinator {
			return "", fmt.Errorf("no %s", role)
		}
		return "n2", nil
	}}
	for _, f := range []Fault{
		{Nemesis: "kill-coordinator", Seed: 1},
		{Nemesis: "kill", Select: SelectCoordinator, Seed: 2},
		{Nemesis: "pause", Select: SelectCoordinator, Seed: 3},
	} {
		n := mustNemesis(t, f.Nemesis)
		if f.Select == "" {
			f.Select = n.(Selector).Selects()[0]
		}
		got, err := n.Invoke(ctx, env, f)
		if err != nil || !slices.Equal(got.Nodes, []string{"n2"}) {
			t.Errorf("%s select %q: nodes %v, err %v; want [n2]", f.Nemesis, f.Select, got.Nodes, err)
		}
		if _, err := n.Invoke(ctx, Env{Cluster: noNetNSCluster{}}, f); err == nil || !strings.Contains(err.Error(), "no coordinator") {
			t.Errorf("%s without a coordinator role: err %v, want one saying there is no coordinator", f.Nemesis, err)
		}
	}
	if _, err := (Env{Cluster: noNetNSCluster{}, Role: env.Role}).resolveRole(ctx, SelectLeader); err == nil {
		t.Error("a target with only a coordinator resolved a leader")
	}
	for _, name := range []string{"kill-coordinator", "partition-coordinator"} {
		if RoleNeeded(name, "") != SelectCoordinator {
			t.Errorf("%s does not need the coordinator role", name)
		}
	}
	if got := SelectsFor([]string{SelectOne, SelectLeader, SelectCoordinator}, []string{SelectCoordinator}); !slices.Equal(got, []string{SelectOne, SelectCoordinator}) {
		t.Errorf("SelectsFor with roles [coordinator] = %v", got)
	}
}
