package nemesis

import (
	"bytes"
	"errors"
	"fmt"
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
//	  - at: 20s
//	    nemesis: kill
//	    select: majority       # one of the nemesis's selections (default: its own)
//	    hold: 3s
//	  - at: 30s
//	    nemesis: loss
//	    select: all
//	    params: {p: 0.3}       # nemesis parameters (else drawn from the seed)
//	    seed: 42               # optional: the fault's own seed
//	    hold: 5s
//
// Faults run one at a time: each must start after the previous one is
// healed. A fault without a seed gets one drawn from seed, so the same file
// and seed give the same schedule. Errors name the fault and field.
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
	var free time.Duration // when the previous fault is healed
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
		case sf.At < free:
			return nil, fmt.Errorf("%s: at: %v is before the previous fault is healed (%v); faults run one at a time", where, sf.At, free)
		case sf.Hold <= 0:
			return nil, fmt.Errorf("%s: hold: must be positive, e.g. 5s", where)
		}
		if err := checkSelect(sf.Nemesis, sf.Select); err != nil {
			return nil, fmt.Errorf("%s: select: %w", where, err)
		}
		steps = append(steps, Step{At: sf.At, Quiet: sf.At - free, Hold: sf.Hold,
			Fault: Fault{Nemesis: sf.Nemesis, Select: sf.Select, Seed: fseed, Params: sf.Params}})
		free = sf.At + sf.Hold
	}
	return steps, nil
}

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

// ScenarioEnd is when the last step of steps is healed (test time).
func ScenarioEnd(steps []Step) time.Duration {
	var end time.Duration
	for _, s := range steps {
		end += s.Quiet + s.Hold
	}
	return end
}

// checkSelect accepts the empty selection (the nemesis's default) and the
// ones the nemesis offers; a nemesis that selects nodes (one, leader,
// minority, majority) also takes any of those and all.
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
	generic := []string{SelectOne, SelectLeader, SelectMinority, SelectMajority, SelectAll}
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
