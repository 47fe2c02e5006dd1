package checker

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/faultline-io/faultline/history"
)

// FaultWindow is one fault as the history shows it: from the nemesis op
// that applied it to the heal of the same nemesis.
type FaultWindow struct {
	Nemesis string   `json:"nemesis"`
	Select  string   `json:"select,omitempty"`
	Nodes   []string `json:"nodes,omitempty"`
	Note    string   `json:"note,omitempty"`
	Start   int64    `json:"start"` // ns since the test started
	End     int64    `json:"end"`   // ns; the last op's time when never healed
	Healed  bool     `json:"healed"`
	Error   string   `json:"error,omitempty"` // the fault was not (fully) applied
}

// FaultWindows pairs the nemesis ops of a history into windows, in start
// order. A fault op's value names its nemesis ("nemesis") when the harness
// wrote it, and a "heal" op ends every open window of the nemesis its value
// names. Imported (Jepsen) histories use f: "start-X" opens a window named
// X that "stop-X" ends ("start"/"stop": a window named "nemesis"); any
// other f opens a window named f. The harness's "heal-all" (the final
// heal) ends every open window, and its "target-stats" record is no fault.
func FaultWindows(ops []history.Op) []FaultWindow {
	var out []FaultWindow
	open := map[string][]int{}
	var last int64
	for i := range ops {
		op := &ops[i]
		last = max(last, op.Time)
		if !op.IsNemesis() {
			continue
		}
		var v struct {
			Nemesis string   `json:"nemesis"`
			Select  string   `json:"select"`
			Nodes   []string `json:"nodes"`
			Note    string   `json:"note"`
		}
		switch op.F {
		case "heal-all": // the final heal: every fault is over
			for name, is := range open {
				for _, i := range is {
					out[i].End, out[i].Healed = op.Time, true
				}
				delete(open, name)
			}
			continue
		case "target-stats": // a record of what the nodes measured, not a fault
			continue
		}
		_ = json.Unmarshal(op.Value, &v) // values of other shapes (imports) leave v empty
		name, heals := v.Nemesis, op.F == "heal"
		if name == "" {
			name = op.F
			if rest, ok := strings.CutPrefix(op.F, "stop"); ok {
				name, heals = strings.TrimPrefix(rest, "-"), true
			} else if rest, ok := strings.CutPrefix(op.F, "start"); ok {
				name = strings.TrimPrefix(rest, "-")
			}
			if name == "" {
				name = "nemesis"
			}
		}
		if heals {
			for _, i := range open[name] {
				out[i].End, out[i].Healed = op.Time, true
			}
			delete(open, name)
			continue
		}
		open[name] = append(open[name], len(out))
		out = append(out, FaultWindow{Nemesis: name, Select: v.Select, Nodes: v.Nodes, Note: v.Note,
			Start: op.Time, End: -1, Error: op.Error})
	}
	for i := range out {
		if out[i].End < 0 {
			out[i].End = last
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}
