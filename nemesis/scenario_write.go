package nemesis

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ScenarioOf turns faults as applied (schedule.json's entries: the fault,
// and when it took effect and was healed, in ns of test time) into
// scenario faults that apply the same faults at the same times: each
// keeps its nemesis, its selection where the nemesis takes one, its seed
// (so every draw is the same) and the parameters a scenario may give;
// what a nemesis added when it applied the fault (the clocks it set, the
// nodes it found down) is left out, as the seed draws it again.
func ScenarioOf(faults []Fault, start, healed []int64) []ScenarioFault {
	out := make([]ScenarioFault, 0, len(faults))
	for i, f := range faults {
		at := time.Duration(start[i]).Round(time.Millisecond)
		hold := max(time.Duration(healed[i]).Round(time.Millisecond)-at, time.Millisecond)
		sf := ScenarioFault{At: at, Nemesis: f.Nemesis, Hold: hold}
		if f.Select != "" && checkSelect(f.Nemesis, f.Select) == nil {
			sf.Select = f.Select
		}
		seed := f.Seed
		sf.Seed = &seed
		for k, v := range f.Params {
			if _, ok := scenarioParams[k]; ok {
				if sf.Params == nil {
					sf.Params = map[string]any{}
				}
				sf.Params[k] = v
			}
		}
		out = append(out, sf)
	}
	slices.SortStableFunc(out, func(a, b ScenarioFault) int { return int(a.At - b.At) })
	return out
}

// CheckScenario checks faults as ParseScenario checks a file of them.
func CheckScenario(faults []ScenarioFault) error {
	b, err := MarshalScenario(faults, "")
	if err != nil {
		return err
	}
	_, err = ParseScenario(b, 1)
	return err
}

// MarshalScenario writes faults as a scenario file, durations in Go
// syntax ("1.5s"), after comment lines (each prefixed with "# ").
func MarshalScenario(faults []ScenarioFault, comment string) ([]byte, error) {
	type fault struct {
		At      string         `yaml:"at"`
		Nemesis string         `yaml:"nemesis"`
		Select  string         `yaml:"select,omitempty"`
		Params  map[string]any `yaml:"params,omitempty,flow"`
		Seed    *int64         `yaml:"seed,omitempty"`
		Hold    string         `yaml:"hold"`
	}
	var file struct {
		Faults []fault `yaml:"faults"`
	}
	for _, f := range faults {
		var params map[string]any
		if len(f.Params) > 0 {
			params = maps.Clone(f.Params)
		}
		file.Faults = append(file.Faults, fault{At: f.At.String(), Nemesis: f.Nemesis, Select: f.Select,
			Params: params, Seed: f.Seed, Hold: f.Hold.String()})
	}
	b, err := yaml.Marshal(file)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	var head strings.Builder
	for _, line := range strings.Split(strings.TrimRight(comment, "\n"), "\n") {
		if comment != "" {
			head.WriteString(strings.TrimRight("# "+line, " ") + "\n")
		}
	}
	return append([]byte(head.String()), b...), nil
}
