package nemesis

import (
	"testing"
	"time"
)

// goldenStep is one step of a golden schedule, as its fields print.
type goldenStep struct {
	quiet, hold  time.Duration
	nemesis, sel string
	seed         int64
}

// TestScheduleGolden pins the schedules that single runs of existing seeds
// get (selections filtered for the target's roles, as the harness does,
// over a 60 s test at the default 3 s interval): a change that reorders the
// draws would make old seeds stop reproducing their runs. The role-free
// case is also what a comparison of targets draws from (NeutralSelects).
func TestScheduleGolden(t *testing.T) {
	for _, tc := range []struct {
		names []string
		roles []string
		seed  int64
		want  []goldenStep
	}{
		{[]string{"partition"}, []string{SelectLeader}, 7, []goldenStep{
			{4037043955, 3952531224, "partition", "leader", 8407677068955557379},
			{3072117713, 2792884469, "partition", "halves", 205337887210011827},
			{1897749873, 2085318182, "partition", "one", 7828466657936733952},
			{4047648097, 2032116411, "partition", "leader", 7860306706849867314},
			{2559157599, 1904329618, "partition", "oneway", 17014563977998550},
			{3678229033, 3397885701, "partition", "one", 6272943931788759867},
			{3962231540, 2500232046, "partition", "oneway", 8007137334790324624},
			{3805597840, 2544737899, "partition", "bridge", 4065722525316994436},
			{4219384267, 1789458593, "partition", "oneway", 6697913070060428966},
		}},
		{[]string{"partition"}, nil, 7, []goldenStep{
			{4037043955, 3952531224, "partition", "ring", 8407677068955557379},
			{3072117713, 2792884469, "partition", "one", 205337887210011827},
			{1897749873, 2085318182, "partition", "one", 7828466657936733952},
			{4047648097, 2032116411, "partition", "halves", 7860306706849867314},
			{2559157599, 1904329618, "partition", "halves", 17014563977998550},
			{3678229033, 3397885701, "partition", "one", 6272943931788759867},
			{3962231540, 2500232046, "partition", "one", 8007137334790324624},
			{3805597840, 2544737899, "partition", "halves", 4065722525316994436},
			{4219384267, 1789458593, "partition", "bridge", 6697913070060428966},
		}},
		{[]string{"partition"}, []string{SelectCoordinator}, 7, []goldenStep{
			{4037043955, 3952531224, "partition", "coordinator", 8407677068955557379},
			{3072117713, 2792884469, "partition", "halves", 205337887210011827},
			{1897749873, 2085318182, "partition", "one", 7828466657936733952},
			{4047648097, 2032116411, "partition", "coordinator", 7860306706849867314},
			{2559157599, 1904329618, "partition", "oneway", 17014563977998550},
			{3678229033, 3397885701, "partition", "one", 6272943931788759867},
			{3962231540, 2500232046, "partition", "oneway", 8007137334790324624},
			{3805597840, 2544737899, "partition", "bridge", 4065722525316994436},
			{4219384267, 1789458593, "partition", "oneway", 6697913070060428966},
		}},
		{[]string{"kill", "pause"}, []string{SelectLeader}, 1, []goldenStep{
			{4447779410, 2582153551, "pause", "leader", 4037200794235010051},
			{3049167320, 4132969758, "kill", "one", 894385949183117216},
			{2260398084, 3763669287, "kill", "majority", 3510942875414458836},
			{4338182873, 1972644968, "pause", "minority", 6263450610539110790},
			{2824778273, 2638149956, "kill", "minority", 7955079406183515637},
			{3842231109, 2297652072, "kill", "one", 7981306761429961588},
			{3658288344, 2804784443, "pause", "leader", 5600924393587988459},
			{1553361739, 2650761883, "pause", "minority", 6382800227808658932},
			{3685383115, 4333742716, "kill", "majority", 2568779411109623071},
		}},
	} {
		selects := map[string][]string{}
		for _, name := range tc.names {
			n, err := New(name)
			if err != nil {
				t.Fatal(err)
			}
			selects[name] = SelectsFor(n.(Selector).Selects(), tc.roles)
		}
		steps, err := Schedule(ScheduleOptions{Nemeses: tc.names, Selects: selects, Interval: 3 * time.Second,
			Until: 60*time.Second - 1500*time.Millisecond, Seed: tc.seed})
		if err != nil {
			t.Fatal(err)
		}
		if len(steps) != len(tc.want) {
			t.Fatalf("%v roles %v seed %d: %d steps, want %d", tc.names, tc.roles, tc.seed, len(steps), len(tc.want))
		}
		for i, s := range steps {
			got := goldenStep{s.Quiet, s.Hold, s.Fault.Nemesis, s.Fault.Select, s.Fault.Seed}
			if got != tc.want[i] {
				t.Errorf("%v roles %v seed %d: step %d is %+v, want %+v", tc.names, tc.roles, tc.seed, i, got, tc.want[i])
			}
		}
	}
}
