package nemesis

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var simIDs = []string{"n1", "n2", "n3"}

func leaderIs(id string) func(string) (string, error) {
	return func(role string) (string, error) {
		if role == SelectLeader {
			return id, nil
		}
		return "", errors.New("no " + role)
	}
}

// A fault resolves in the simulator as the nemesis resolves it: the same
// nodes, shapes and draws from the same seed.
func TestResolveForSim(t *testing.T) {
	eff, err := ResolveForSim(Fault{Nemesis: "partition-leader", Seed: 1}, simIDs, leaderIs("n2"))
	if err != nil || eff.Kind != SimPartition {
		t.Fatal(eff, err)
	}
	if want := IsolateNode(simIDs, "n2"); !reflect.DeepEqual(eff.Grudge, want) {
		t.Errorf("partition-leader grudge %v, want %v", eff.Grudge, want)
	}
	eff, err = ResolveForSim(Fault{Nemesis: "kill-coordinator", Seed: 1}, simIDs, leaderIs("n2"))
	if err == nil {
		t.Errorf("kill-coordinator without a coordinator: %+v", eff)
	}
	eff, err = ResolveForSim(Fault{Nemesis: "kill", Select: "leader", Seed: 1}, simIDs, leaderIs("n3"))
	if err != nil || eff.Kind != SimCrash || !reflect.DeepEqual(eff.Nodes, []string{"n3"}) {
		t.Errorf("kill leader: %+v %v", eff, err)
	}
	// Clock draws are the clock nemesis's own.
	f := Fault{Nemesis: "clock-strobe", Select: "all", Seed: 42}
	eff, err = ResolveForSim(f, simIDs, leaderIs("n1"))
	if err != nil || eff.Kind != SimClock || len(eff.Clocks) != 3 {
		t.Fatal(eff, err)
	}
	cn := &clockNemesis{name: "clock-strobe", kind: "strobe"}
	r := paramRand(f)
	for _, id := range simIDs {
		want, _ := cn.request(nil, r)
		if eff.Clocks[id] != want {
			t.Errorf("%s: clock request %+v, want %+v", id, eff.Clocks[id], want)
		}
	}
	if _, err := ResolveForSim(Fault{Nemesis: "bandwidth"}, simIDs, leaderIs("n1")); err == nil || !strings.Contains(err.Error(), "no simulated model") {
		t.Errorf("bandwidth: %v", err)
	}
	eff, err = ResolveForSim(Fault{Nemesis: KillAfterVote, Params: map[string]any{"down": "30ms"}}, simIDs, leaderIs("n1"))
	if err != nil || eff.Kind != SimCrashPoint || eff.Window != 30*time.Millisecond || len(eff.Nodes) != 3 {
		t.Errorf("kill-after-vote: %+v %v", eff, err)
	}
}

// Faults as applied become a scenario that parses back to the same
// faults: times, selections where the nemesis takes them, seeds and the
// scenario's own parameters.
func TestScenarioOfRoundTrip(t *testing.T) {
	faults := []Fault{
		{Nemesis: "partition-leader", Select: "leader", Seed: 7},
		{Nemesis: "clock-strobe", Select: "all", Seed: 8, Params: map[string]any{"delta": "2s", "clocks": map[string]any{"n1": 1}}},
		{Nemesis: "loss", Select: "majority", Seed: 9, Params: map[string]any{"p": 0.3}},
	}
	sfs := ScenarioOf(faults, []int64{int64(5 * time.Second), int64(6 * time.Second), int64(20 * time.Second)},
		[]int64{int64(9 * time.Second), int64(30 * time.Second), int64(21500 * time.Millisecond)})
	b, err := MarshalScenario(sfs, "a comment\nover two lines")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "# a comment\n# over two lines\n") {
		t.Errorf("no comment header:\n%s", b)
	}
	steps, err := ParseScenario(b, 1)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	want := []Step{
		{At: 5 * time.Second, Hold: 4 * time.Second, Fault: Fault{Nemesis: "partition-leader", Seed: 7}},
		{At: 6 * time.Second, Hold: 24 * time.Second, Fault: Fault{Nemesis: "clock-strobe", Select: "all", Seed: 8, Params: map[string]any{"delta": "2s"}}},
		{At: 20 * time.Second, Hold: 1500 * time.Millisecond, Fault: Fault{Nemesis: "loss", Select: "majority", Seed: 9, Params: map[string]any{"p": 0.3}}},
	}
	for i, w := range want {
		got := steps[i]
		if got.At != w.At || got.Hold != w.Hold || got.Fault.Nemesis != w.Fault.Nemesis || got.Fault.Select != w.Fault.Select ||
			got.Fault.Seed != w.Fault.Seed || !reflect.DeepEqual(got.Fault.Params, w.Fault.Params) && len(w.Fault.Params) > 0 {
			t.Errorf("step %d: %+v, want %+v", i, got, w)
		}
	}
}
