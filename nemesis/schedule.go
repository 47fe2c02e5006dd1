package nemesis

import (
	"fmt"
	"math/rand"
	"time"
)

// Step is one entry of a schedule: after Quiet with no fault, apply Fault and
// hold it for Hold, then heal it. Steps run one after another, so every fault
// is healed before the next begins.
//
// At, when positive, is the test time the fault is due (scenario files):
// the runner then waits until At rather than for Quiet, so the time spent
// applying and healing earlier faults does not push it later.
type Step struct {
	At    time.Duration `json:"at,omitempty"`
	Quiet time.Duration `json:"quiet"`
	Fault Fault         `json:"fault"`
	Hold  time.Duration `json:"hold"`
}

// ScheduleOptions shapes a generated schedule.
type ScheduleOptions struct {
	// Nemeses to draw from, each step picks one uniformly.
	Nemeses []string
	// Selects gives the selections each nemesis supports; a nemesis missing
	// here gets the empty selection (its own default).
	Selects map[string][]string
	// Interval is the mean length of a quiet period and of a fault.
	Interval time.Duration
	// Until is when the last fault must be healed (test time).
	Until time.Duration
	Seed  int64
}

// Schedule is a pure function of its options: the same options give the same
// steps. Quiet periods and holds are uniform in [Interval/2, Interval*3/2).
func Schedule(o ScheduleOptions) ([]Step, error) {
	if len(o.Nemeses) == 0 {
		return nil, nil
	}
	if o.Interval <= 0 {
		return nil, fmt.Errorf("nemesis interval must be positive, got %v", o.Interval)
	}
	r := rand.New(rand.NewSource(o.Seed))
	span := func() time.Duration {
		return o.Interval/2 + time.Duration(r.Int63n(int64(o.Interval)))
	}
	var steps []Step
	var at time.Duration
	for {
		quiet, hold := span(), span()
		name := o.Nemeses[r.Intn(len(o.Nemeses))]
		f := Fault{Nemesis: name, Seed: r.Int63()}
		if sel := o.Selects[name]; len(sel) > 0 {
			f.Select = sel[r.Intn(len(sel))]
		}
		if at+quiet+hold > o.Until {
			return steps, nil
		}
		at += quiet + hold
		steps = append(steps, Step{Quiet: quiet, Fault: f, Hold: hold})
	}
}
