package shrink

import (
	"testing"
	"time"

	"github.com/faultline-io/faultline/nemesis"
)

func fault(at time.Duration, name, sel string, hold time.Duration) nemesis.ScenarioFault {
	seed := int64(at)
	return nemesis.ScenarioFault{At: at, Nemesis: name, Select: sel, Hold: hold, Seed: &seed}
}

// A failure that needs one kill held at least 1 s and a partition-leader
// that starts after it, in a run of at least 20 s, shrinks to exactly those
// two faults, with holds cut to what still fails and the run shortened.
func TestShrinkFindsTheCause(t *testing.T) {
	var faults []nemesis.ScenarioFault
	for i := range 10 {
		at := time.Duration(5+i*5) * time.Second
		switch i {
		case 3:
			faults = append(faults, fault(at, "kill", "all", 4*time.Second))
		case 6:
			faults = append(faults, fault(at, "partition-leader", "", 4*time.Second))
		default:
			faults = append(faults, fault(at, "pause", "one", 2*time.Second))
		}
	}
	start := Candidate{Faults: faults, TimeLimit: 60 * time.Second}
	fails := func(c Candidate) (bool, error) {
		var kill *nemesis.ScenarioFault
		for i, f := range c.Faults {
			switch {
			case f.Nemesis == "kill" && f.Hold >= time.Second && f.Select != "one":
				kill = &c.Faults[i]
			case f.Nemesis == "partition-leader" && kill != nil && f.At > kill.At && c.TimeLimit >= f.At+f.Hold+3*time.Second:
				return true, nil
			}
		}
		return false, nil
	}
	got, tests, err := Shrink(start, fails, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Faults) != 2 || got.Faults[0].Nemesis != "kill" || got.Faults[1].Nemesis != "partition-leader" {
		t.Fatalf("shrunk to %+v", got.Faults)
	}
	if h := got.Faults[0].Hold; h < time.Second || h >= 2*time.Second {
		t.Errorf("kill held %v, want the shortest halving of 4s that is at least 1s (1s)", h)
	}
	if got.Faults[0].Select != "minority" && got.Faults[0].Select != "leader" && got.Faults[0].Select != "majority" {
		t.Errorf("kill selects %q: want it narrowed from all, but not to one", got.Faults[0].Select)
	}
	if got.Faults[0].At != Lead {
		t.Errorf("first fault at %v, want it moved to %v", got.Faults[0].At, Lead)
	}
	if end := got.Faults[1].At + got.Faults[1].Hold; got.TimeLimit > end+3*time.Second+500*time.Millisecond || got.TimeLimit < end+3*time.Second {
		t.Errorf("run of %v, want within 500ms above %v", got.TimeLimit, end+3*time.Second)
	}
	if ok, _ := fails(got); !ok {
		t.Fatal("the result does not fail")
	}
	t.Logf("%s → %s in %d tests", SizeOf(start), SizeOf(got), tests)
}

func TestShrinkRefusesAPassingRun(t *testing.T) {
	start := Candidate{Faults: []nemesis.ScenarioFault{fault(time.Second, "kill", "", time.Second)}, TimeLimit: 10 * time.Second}
	if _, _, err := Shrink(start, func(Candidate) (bool, error) { return false, nil }, Options{}); err != ErrNotFailing {
		t.Fatalf("err %v, want ErrNotFailing", err)
	}
}
