package nemesis

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ScenarioFault is one fault of a scenario file: apply Nemesis at test time
// At, hold it for Hold, then heal it.
type ScenarioFault struct {
	At      time.Duration  `yaml:"at"`
	Nemesis string         `yaml:"nemesis"`
	Select  string         `yaml:"select"`
	Hold    time.Duration  `yaml:"hold"`
	Seed    *int64         `yaml:"seed"`
	Params  map[string]any `yaml:"params"`
}

type scenarioFile struct {
	Faults []ScenarioFault `yaml:"faults"`
}

// ParseScenario reads a scenario file: a fault timeline written by hand,
// e.g. to reproduce an incident, used instead of a generated schedule.
//
//	faults:
//	  - at: 5s                 # test time the fault starts
//	    nemesis: partition-leader
//	    hold: 10s              # healed at 15s
//	  - at: 8s                 # faults of different nemeses may overlap
//	    nemesis: clock-strobe
//	    select: leader         # one of the nemesis's selections (default: its own)
//	    hold: 4s
//	  - at: 30s
//	    nemesis: loss
//	    select: all
//	    params: {p: 0.3}       # nemesis parameters (else drawn from the seed)
//	    seed: 42               # optional: the fault's own seed
//	    hold: 5s
//
// Faults are listed in time order. Faults of one nemesis run one at a
// time; faults of different nemeses may overlap, except that a fault that
// restarts nodes (kill, disk-lose-unsynced, disk-eio) may not overlap
// disk-eio, whose state lives in the node process and is not re-applied
// after a restart (clock and message faults are: see the seam nemeses). A fault without a seed gets one drawn
// from seed, so the same file and seed give the same schedule. Errors name
// the fault and field; params are checked by key (p is a probability,
// delay a duration, rate a bit rate...; see checkParams), so a bad value
// fails here rather than when the fault is applied.
func ParseScenario(b []byte, seed int64) ([]Step, error) {
	var f scenarioFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a scenario file: %w", err)
	}
	if len(f.Faults) == 0 {
		return nil, errors.New("faults: none (want a list of faults)")
	}
	r := rand.New(rand.NewSource(seed))
	known := Names()
	var steps []Step
	free := map[string]time.Duration{} // nemesis → when its last fault is healed
	for i, sf := range f.Faults {
		where := fmt.Sprintf("faults[%d]", i)
		fseed := r.Int63()
		if sf.Seed != nil {
			fseed = *sf.Seed
		}
		switch {
		case sf.Nemesis == "":
			return nil, fmt.Errorf("%s: nemesis: missing", where)
		case !slices.Contains(known, sf.Nemesis):
			return nil, fmt.Errorf("%s: nemesis: unknown nemesis %q (known: %s)", where, sf.Nemesis, strings.Join(known, ", "))
		case sf.At < 0:
			return nil, fmt.Errorf("%s: at: must not be negative", where)
		case i > 0 && sf.At < f.Faults[i-1].At:
			return nil, fmt.Errorf("%s: at: %v is before the previous fault's %v; list faults in time order", where, sf.At, f.Faults[i-1].At)
		case sf.At < free[sf.Nemesis]:
			return nil, fmt.Errorf("%s: at: %v is before the previous %s fault is healed (%v); a nemesis runs one fault at a time",
				where, sf.At, sf.Nemesis, free[sf.Nemesis])
		case sf.Hold <= 0:
			return nil, fmt.Errorf("%s: hold: must be positive, e.g. 5s", where)
		}
		if sf.At+sf.Hold < sf.At {
			return nil, fmt.Errorf("%s: hold: %v after %v is beyond any test", where, sf.Hold, sf.At)
		}
		if err := checkSelect(sf.Nemesis, sf.Select); err != nil {
			return nil, fmt.Errorf("%s: select: %w", where, err)
		}
		if err := checkParams(sf.Params); err != nil {
			return nil, fmt.Errorf("%s: params: %w", where, err)
		}
		for j, other := range f.Faults[:i] {
			if other.At+other.Hold <= sf.At || other.Nemesis == sf.Nemesis {
				continue
			}
			if cannotOverlap(sf.Nemesis, other.Nemesis) {
				return nil, fmt.Errorf("%s: at: %s at %v overlaps faults[%d] (%s until %v): a node restart drops faults that live in the node process, so these may not overlap",
					where, sf.Nemesis, sf.At, j, other.Nemesis, other.At+other.Hold)
			}
		}
		steps = append(steps, Step{At: sf.At, Quiet: sf.At - free[sf.Nemesis], Hold: sf.Hold,
			Fault: Fault{Nemesis: sf.Nemesis, Select: sf.Select, Seed: fseed, Params: sf.Params}})
		free[sf.Nemesis] = sf.At + sf.Hold
	}
	return steps, nil
}

// CheckOverlap returns an error when faults of the named nemeses may not
// run at the same time: one that restarts nodes with one whose state a
// restart drops.
func CheckOverlap(names []string) error {
	for i, a := range names {
		for _, b := range names[i+1:] {
			if cannotOverlap(a, b) {
				return fmt.Errorf("%s and %s cannot overlap: a node restart drops a disk-eio fault", a, b)
			}
		}
	}
	return nil
}

// cannotOverlap reports whether faults of nemeses a and b (different) may
// not be on at once: one restarts nodes and the other's state a restart
// drops.
func cannotOverlap(a, b string) bool {
	return a != b && ((restartsNodes(a) && lostOnRestart(b)) || (restartsNodes(b) && lostOnRestart(a)))
}

// OverlappingSchedule gives every nemesis of o its own schedule (Schedule
// with that nemesis alone and a seed derived from o.Seed and its name), with
// At set on every step, so that a runner that runs each nemesis's steps on
// its own lets faults of different nemeses overlap.
func OverlappingSchedule(o ScheduleOptions) ([]Step, error) {
	var all []Step
	for _, name := range o.Nemeses {
		one := o
		one.Nemeses = []string{name}
		h := fnv.New64a()
		h.Write([]byte(name))
		one.Seed = o.Seed ^ int64(h.Sum64())
		steps, err := Schedule(one)
		if err != nil {
			return nil, err
		}
		var at time.Duration
		for _, s := range steps {
			at += s.Quiet
			s.At = at
			at += s.Hold
			all = append(all, s)
		}
	}
	slices.SortStableFunc(all, func(a, b Step) int { return cmp.Compare(a.At, b.At) })
	return all, nil
}

// restartsNodes reports whether the nemesis's faults restart node processes.
func restartsNodes(name string) bool {
	return name == "kill" || name == "disk-lose-unsynced" || name == "disk-eio"
}

// lostOnRestart reports whether a restart of the node drops the nemesis's
// fault: disk-eio's state lives in the node process and is not re-applied
// (a node whose fsync fails crash-stops; its heal restarts it). Clock and
// message faults are re-applied by a start hook.
func lostOnRestart(name string) bool { return name == "disk-eio" }

// ScenarioNemeses lists the nemeses steps use, in order of first use.
func ScenarioNemeses(steps []Step) []string {
	var out []string
	for _, s := range steps {
		if !slices.Contains(out, s.Fault.Nemesis) {
			out = append(out, s.Fault.Nemesis)
		}
	}
	return out
}

// ScenarioEnd is when the last fault of a scenario's steps is healed (test
// time).
func ScenarioEnd(steps []Step) time.Duration {
	var end time.Duration
	for _, s := range steps {
		end = max(end, s.At+s.Hold)
	}
	return end
}

// checkSelect accepts the empty selection (the nemesis's default) and the
// ones the nemesis offers; a nemesis that selects nodes (one, leader,
// minority, majority) also takes any of those, all, followers and
// participants.
func checkSelect(name, sel string) error {
	if sel == "" {
		return nil
	}
	n, err := New(name)
	if err != nil {
		return err
	}
	var offered []string
	if s, ok := n.(Selector); ok {
		offered = s.Selects()
	}
	generic := []string{SelectOne, SelectLeader, SelectCoordinator, SelectMinority, SelectMajority, SelectAll, SelectFollowers, SelectParticipants}
	nodeSelecting := len(offered) > 0
	for _, o := range offered {
		nodeSelecting = nodeSelecting && slices.Contains(generic, o)
	}
	if nodeSelecting {
		offered = generic
	}
	if slices.Contains(offered, sel) {
		return nil
	}
	if len(offered) == 0 {
		return fmt.Errorf("%q: %s takes no selection", sel, name)
	}
	return fmt.Errorf("%q: %s takes %s", sel, name, strings.Join(offered, ", "))
}

// scenarioParams reads each parameter a nemesis takes, by key: every
// nemesis that takes a key reads it the same way.
var scenarioParams = map[string]func(params map[string]any, key string) error{
	"p":    func(m map[string]any, k string) error { _, err := paramProbability(m, k, 0); return err },
	"rate": func(m map[string]any, k string) error { _, err := paramRate(m, k, 0); return err },
	"ppm":  func(m map[string]any, k string) error { _, _, err := paramFloat(m, k); return err },
}

func init() {
	for _, k := range []string{"delay", "jitter", "spread", "window", "latency", "down"} {
		scenarioParams[k] = func(m map[string]any, k string) error { _, err := paramDuration(m, k, 0); return err }
	}
	for _, k := range []string{"delta", "period"} {
		scenarioParams[k] = func(m map[string]any, k string) error { _, _, err := paramSignedDuration(m, k); return err }
	}
}

// checkParams checks a scenario fault's params: a key that nemeses read
// (scenarioParams) must hold a value they can read, and every value must
// encode as JSON, as the fault is recorded in the history and
// schedule.json. Other keys are left to the nemesis. The first bad key, in
// sorted order, is the error.
func checkParams(params map[string]any) error {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if check, ok := scenarioParams[k]; ok {
			if err := check(params, k); err != nil {
				return err // "param k=v ..."
			}
		}
		if _, err := json.Marshal(params[k]); err != nil {
			return fmt.Errorf("param %s=%v cannot be recorded: %v (use a number, a string, or a list or map of them with string keys)", k, params[k], err)
		}
	}
	return nil
}
