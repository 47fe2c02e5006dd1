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

// TestNeutralSelects: the selections of a schedule shared by targets keep
// no role selection of a plain nemesis, keep a role-aimed nemesis's own,
// and for plain nemeses give the schedule a role-less target's run gets.
func TestNeutralSelects(t *testing.T) {
	sel, err := NeutralSelects([]string{"partition", "kill", "kill-coordinator", "partition-leader"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"partition", "kill"} {
		if slices.ContainsFunc(sel[name], func(s string) bool { return slices.Contains(RoleSelections, s) }) || len(sel[name]) == 0 {
			t.Errorf("%s: %v, want its selections without leader and coordinator", name, sel[name])
		}
	}
	if got := sel["kill-coordinator"]; !reflect.DeepEqual(got, []string{SelectCoordinator}) {
		t.Errorf("kill-coordinator: %v, want its own [coordinator]", got)
	}
	if got, ok := sel["partition-leader"]; !ok || len(got) != 0 {
		t.Errorf("partition-leader: %v (present %v), want no selections", got, ok)
	}
	if _, err := NeutralSelects([]string{"explode"}); err == nil {
		t.Error("an unknown nemesis: want an error")
	}
	o := ScheduleOptions{Nemeses: []string{"partition"}, Interval: 3 * time.Second, Until: time.Minute, Seed: 7}
	o.Selects = sel
	neutral, _ := Schedule(o)
	p, _ := New("partition")
	o.Selects = map[string][]string{"partition": SelectsFor(p.(Selector).Selects(), nil)}
	roleless, _ := Schedule(o)
	if !reflect.DeepEqual(neutral, roleless) {
		t.Error("the neutral schedule of partition differs from a role-less target's")
	}
}

// TestAimAt: the role mapping a comparison of targets applies.
func TestAimAt(t *testing.T) {
	raft, twopc := []string{SelectLeader}, []string{SelectCoordinator}
	for _, tc := range []struct {
		name, sel string
		roles     []string
		want      Aim
		err       string // part of the error, "" for none
	}{
		{"partition", "halves", nil, Aim{"partition", "halves"}, ""},
		{"kill", "one", raft, Aim{"kill", "one"}, ""},
		{"partition-leader", "", raft, Aim{"partition-leader", ""}, ""},
		{"partition-leader", "", twopc, Aim{"partition-coordinator", ""}, ""},
		{"partition-leader", "", nil, Aim{}, "nemesis partition-leader aims at the leader"},
		{"partition-coordinator", "", twopc, Aim{"partition-coordinator", ""}, ""},
		{"partition-coordinator", "", raft, Aim{"partition-leader", ""}, ""},
		{"kill-coordinator", SelectCoordinator, twopc, Aim{"kill-coordinator", SelectCoordinator}, ""},
		{"kill-coordinator", SelectCoordinator, raft, Aim{"kill", SelectLeader}, ""},
		{"kill-coordinator", SelectCoordinator, nil, Aim{}, "aims at the coordinator"},
		{"clock-strobe", SelectLeader, twopc, Aim{"clock-strobe", SelectCoordinator}, ""},
		{"pause", SelectCoordinator, nil, Aim{}, "nemesis pause with select coordinator"},
		{"kill", SelectParticipants, twopc, Aim{"kill", SelectParticipants}, ""},
		{"kill", SelectParticipants, raft, Aim{"kill", SelectFollowers}, ""},
		{"pause", SelectFollowers, twopc, Aim{"pause", SelectParticipants}, ""},
		{"kill", SelectParticipants, nil, Aim{}, "nemesis kill with select participants aims at the coordinator"},
	} {
		got, err := AimAt(tc.name, tc.sel, tc.roles)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("AimAt(%s, %q, %v): %v, want an error with %q", tc.name, tc.sel, tc.roles, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("AimAt(%s, %q, %v) = %+v, %v; want %+v", tc.name, tc.sel, tc.roles, got, err, tc.want)
		}
	}
	// Every counterpart is a registered nemesis whose own role is the one
	// it is listed under.
	for name, byRole := range roleCounterparts {
		for role, aim := range byRole {
			if _, err := New(aim.Nemesis); err != nil {
				t.Errorf("%s → %s: %v", name, role, err)
			}
			if got := RoleNeeded(aim.Nemesis, aim.Select); got != role {
				t.Errorf("%s's counterpart for %s is %+v, which needs %q", name, role, aim, got)
			}
		}
	}
}
