// Package shrink reduces a failing fault timeline to a small one that still
// fails: delta debugging (ddmin) over the faults, then shorter holds, then
// narrower selections, then a shorter run, alternating until a whole pass
// changes nothing (DEMi and chaosbringer do the same for their traces).
// It knows nothing of how a candidate is tried: Test runs it (the CLI runs
// it in the simulator, where one seed gives one execution, so a candidate
// fails or passes for good).
package shrink

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/faultline-io/faultline/nemesis"
)

// ErrNotFailing is Shrink's error when the first candidate does not fail.
var ErrNotFailing = errors.New("the run does not fail when re-run as a scenario in the simulator: nothing to shrink")

// Candidate is a fault timeline and the run's length.
type Candidate struct {
	Faults    []nemesis.ScenarioFault
	TimeLimit time.Duration
}

// Size is what shrinking reduces, for reports.
type Size struct {
	Faults    int
	Hold      time.Duration // the faults' holds, summed
	TimeLimit time.Duration
}

func (s Size) String() string {
	return fmt.Sprintf("%d faults, %v of faults, %v run", s.Faults, s.Hold, s.TimeLimit)
}

// SizeOf measures c.
func SizeOf(c Candidate) Size {
	s := Size{Faults: len(c.Faults), TimeLimit: c.TimeLimit}
	for _, f := range c.Faults {
		s.Hold += f.Hold
	}
	return s
}

// Test tries a candidate and reports whether it still fails. An error
// stops shrinking.
type Test func(Candidate) (fails bool, err error)

// Options bound the search.
type Options struct {
	// MinHold is the shortest hold tried (default 100 ms).
	MinHold time.Duration
	// MaxTests bounds the candidates tried (default 500).
	MaxTests int
	// Log, when set, hears of every smaller candidate that still fails.
	Log func(step string, c Candidate)
}

// Shrink returns the smallest candidate it found that still fails, and how
// many candidates it tried. start must fail (it is tested first).
func Shrink(start Candidate, test Test, o Options) (Candidate, int, error) {
	if o.MinHold <= 0 {
		o.MinHold = 100 * time.Millisecond
	}
	if o.MaxTests <= 0 {
		o.MaxTests = 500
	}
	s := &shrinker{test: test, o: o, seen: map[string]bool{}}
	fails, err := s.try(start)
	if err != nil {
		return start, s.tests, err
	}
	if !fails {
		return start, s.tests, ErrNotFailing
	}
	best := start
	for changed := true; changed && s.tests < o.MaxTests; {
		changed = false
		for _, pass := range []func(Candidate) (Candidate, bool, error){s.dropFaults, s.shortenHolds, s.narrowSelects, s.shiftEarlier, s.shortenRun} {
			next, ok, err := pass(best)
			if err != nil {
				return best, s.tests, err
			}
			if ok {
				best, changed = next, true
			}
		}
	}
	return best, s.tests, nil
}

type shrinker struct {
	test  Test
	o     Options
	tests int
	seen  map[string]bool // candidates tried, by their text, with their outcome
}

// try tests c once; a candidate tried before gets its earlier answer, and
// one that is not a valid scenario does not fail.
func (s *shrinker) try(c Candidate) (bool, error) {
	key := fmt.Sprintf("%v|%+v", c.TimeLimit, c.Faults)
	if fails, ok := s.seen[key]; ok {
		return fails, nil
	}
	if len(c.Faults) == 0 || nemesis.CheckScenario(c.Faults) != nil || s.tests >= s.o.MaxTests {
		return false, nil
	}
	s.tests++
	fails, err := s.test(c)
	if err == nil {
		s.seen[key] = fails
	}
	return fails, err
}

func (s *shrinker) improved(step string, c Candidate) {
	if s.o.Log != nil {
		s.o.Log(step, c)
	}
}

// dropFaults is ddmin over the faults: remove chunks of halving size, and
// keep every removal after which the run still fails.
func (s *shrinker) dropFaults(c Candidate) (Candidate, bool, error) {
	changed := false
	for n := 2; len(c.Faults) >= 2; {
		chunk := (len(c.Faults) + n - 1) / n
		removed := false
		for start := 0; start < len(c.Faults); start += chunk {
			next := c
			next.Faults = slices.Concat(c.Faults[:start], c.Faults[min(start+chunk, len(c.Faults)):])
			fails, err := s.try(next)
			if err != nil {
				return c, changed, err
			}
			if fails {
				c, changed, removed = next, true, true
				s.improved(fmt.Sprintf("dropped %d of the faults", chunk), c)
				n = max(n-1, 2)
				break
			}
		}
		if removed {
			continue
		}
		if chunk == 1 {
			break
		}
		n = min(n*2, len(c.Faults))
	}
	return c, changed, nil
}

// shortenHolds halves each fault's hold while the run still fails.
func (s *shrinker) shortenHolds(c Candidate) (Candidate, bool, error) {
	changed := false
	for i := range c.Faults {
		for c.Faults[i].Hold/2 >= s.o.MinHold {
			next := c
			next.Faults = slices.Clone(c.Faults)
			next.Faults[i].Hold = (c.Faults[i].Hold / 2).Round(time.Millisecond)
			fails, err := s.try(next)
			if err != nil {
				return c, changed, err
			}
			if !fails {
				break
			}
			c, changed = next, true
			s.improved(fmt.Sprintf("fault %d held %v", i, next.Faults[i].Hold), c)
		}
	}
	return c, changed, nil
}

// narrower lists, for a selection, the smaller ones to try in order.
var narrower = map[string][]string{
	nemesis.SelectAll:          {nemesis.SelectMajority, nemesis.SelectMinority, nemesis.SelectLeader, nemesis.SelectOne},
	nemesis.SelectMajority:     {nemesis.SelectMinority, nemesis.SelectLeader, nemesis.SelectOne},
	nemesis.SelectMinority:     {nemesis.SelectLeader, nemesis.SelectOne},
	nemesis.SelectParticipants: {nemesis.SelectOne},
	nemesis.SelectFollowers:    {nemesis.SelectOne},
}

// narrowSelects tries each fault with a smaller selection.
func (s *shrinker) narrowSelects(c Candidate) (Candidate, bool, error) {
	changed := false
	for i := range c.Faults {
		for _, sel := range narrower[c.Faults[i].Select] {
			next := c
			next.Faults = slices.Clone(c.Faults)
			next.Faults[i].Select = sel
			fails, err := s.try(next)
			if err != nil {
				return c, changed, err
			}
			if fails {
				c, changed = next, true
				s.improved(fmt.Sprintf("fault %d selects %s", i, sel), c)
				break
			}
		}
	}
	return c, changed, nil
}

// Lead is how early shiftEarlier tries to start the first fault: the
// clients have worked for a while, and a leader has been elected.
const Lead = 2 * time.Second

// shiftEarlier moves every fault earlier by the same amount, so that the
// first starts at Lead (else half as early, and so on), keeping the gaps
// between them, and the run as much shorter.
func (s *shrinker) shiftEarlier(c Candidate) (Candidate, bool, error) {
	if len(c.Faults) == 0 {
		return c, false, nil
	}
	for d := c.Faults[0].At - Lead; d >= 500*time.Millisecond; d = (d / 2).Round(time.Millisecond) {
		next := c
		next.Faults = slices.Clone(c.Faults)
		for i := range next.Faults {
			next.Faults[i].At -= d
		}
		next.TimeLimit -= d
		fails, err := s.try(next)
		if err != nil {
			return c, false, err
		}
		if fails {
			s.improved(fmt.Sprintf("faults %v earlier", d), next)
			return next, true, nil
		}
	}
	return c, false, nil
}

// shortenRun finds, by bisection, the shortest run (at least until the
// last fault is healed) that still fails.
func (s *shrinker) shortenRun(c Candidate) (Candidate, bool, error) {
	var end time.Duration
	for _, f := range c.Faults {
		end = max(end, f.At+f.Hold)
	}
	lo, hi := end, c.TimeLimit // the answer is in (lo, hi]; hi fails
	changed := false
	for hi-lo > 500*time.Millisecond {
		mid := (lo + (hi-lo)/2).Round(100 * time.Millisecond)
		if mid <= lo || mid >= hi {
			break
		}
		next := c
		next.TimeLimit = mid
		fails, err := s.try(next)
		if err != nil {
			return c, changed, err
		}
		if fails {
			hi, c, changed = mid, next, true
			s.improved(fmt.Sprintf("run of %v", mid), c)
		} else {
			lo = mid
		}
	}
	return c, changed, nil
}
