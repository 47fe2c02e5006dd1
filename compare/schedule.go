package compare

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/faultline-io/faultline/store"
)

// Entry is one fault of a run's schedule.json as the harness writes it
// (harness.ScheduleEntry, which this package does not import): the fault
// as applied, when it took effect and when it was healed (ns of test
// time), and whether it was applied.
type Entry struct {
	Fault struct {
		Nemesis string   `json:"nemesis"`
		Select  string   `json:"select,omitempty"`
		Seed    int64    `json:"seed"`
		Nodes   []string `json:"nodes,omitempty"`
		// Grudge is a partition's: node → nodes it no longer hears.
		Grudge map[string][]string `json:"grudge,omitempty"`
	} `json:"fault"`
	Start   int64  `json:"start"`
	Healed  int64  `json:"healed"`
	Applied bool   `json:"applied"`
	Error   string `json:"error,omitempty"`
}

// ReadSchedule reads schedule.json from a run directory.
func ReadSchedule(runDir string) ([]Entry, error) {
	b, err := os.ReadFile(filepath.Join(runDir, store.ScheduleFile))
	if err != nil {
		return nil, err
	}
	var es []Entry
	if err := json.Unmarshal(b, &es); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(runDir, store.ScheduleFile), err)
	}
	return es, nil
}

// ScheduleCheck is the verdict on whether the runs of a comparison
// recorded the schedule of the plan: every planned fault, with the same
// nemesis (as the comparison names it), selection, seed and, for faults
// not aimed at a role, the same nodes, in every run.
type ScheduleCheck struct {
	// Identical is true when every run checked recorded every planned
	// fault alike; Runs are the targets checked (runs that made a
	// schedule.json).
	Identical bool     `json:"identical"`
	Runs      []string `json:"runs"`
	Faults    int      `json:"faults"`
	// Differences say what differs, one line each (at most 20).
	Differences []string `json:"differences,omitempty"`
	// NotApplied counts, per target, the faults its run recorded as not
	// applied (e.g. no leader at the time): the same fault, which the
	// target could not take then.
	NotApplied map[string]int `json:"not_applied,omitempty"`
	// MaxLate is the largest delay, over every run, from a fault's planned
	// time to when it took effect; one past the constant MaxLate is a
	// difference.
	MaxLate time.Duration `json:"max_late"`
}

// maxDifferences caps ScheduleCheck.Differences.
const maxDifferences = 20

// MaxLate is how long after its planned time a fault may take effect and
// still count as applied at that time: applying a fault takes a moment
// (a kill, a restart, an nftables update), but a fault much later than
// planned (a previous heal that took long) is not the same schedule.
const MaxLate = time.Second

// CheckSchedules compares the schedules the runs recorded (by target;
// runs without one are left out) with the plan and with each other. A
// recorded fault is matched to the planned one by its seed, which each
// planned fault has of its own; it must have taken effect within MaxLate
// of its planned time.
func CheckSchedules(p Plan, recorded map[string][]Entry) ScheduleCheck {
	c := ScheduleCheck{Faults: len(p.Faults), Identical: true}
	diff := func(format string, args ...any) {
		c.Identical = false
		if len(c.Differences) < maxDifferences {
			c.Differences = append(c.Differences, fmt.Sprintf(format, args...))
		}
	}
	type seen struct {
		target string
		sel    string
	}
	first := make([]*seen, len(p.Faults))    // the first run's record of each fault
	applied := make([]*Entry, len(p.Faults)) // and the first applied one, when not aimed at a role
	targetOf := make([]string, len(p.Faults))
	for _, r := range p.Runs {
		es, ok := recorded[r.Target]
		if !ok {
			continue
		}
		c.Runs = append(c.Runs, r.Target)
		bySeed := map[int64]Entry{}
		for _, e := range es {
			bySeed[e.Fault.Seed] = e
		}
		if len(es) != len(p.Faults) {
			diff("%s recorded %d faults, the plan has %d", r.Target, len(es), len(p.Faults))
		}
		for i, f := range p.Faults {
			e, ok := bySeed[f.Seed]
			if !ok {
				diff("%s: fault %d (%s at %s) was not recorded", r.Target, i+1, f.Nemesis, f.At)
				continue
			}
			if !e.Applied {
				if c.NotApplied == nil {
					c.NotApplied = map[string]int{}
				}
				c.NotApplied[r.Target]++
			}
			late := time.Duration(e.Start) - f.At
			c.MaxLate = max(c.MaxLate, late)
			if late > MaxLate {
				diff("%s: fault %d took effect %s after its planned time %s", r.Target, i+1, late.Round(time.Millisecond), f.At)
			}
			if n := r.neutral(e.Fault.Nemesis, e.Fault.Select); n != f.Nemesis {
				diff("%s: fault %d is %s, planned %s", r.Target, i+1, n, f.Nemesis)
				continue
			}
			s := seen{target: r.Target, sel: neutralSelect(e.Fault.Select)}
			if first[i] == nil {
				first[i] = &s
			} else if s.sel != first[i].sel {
				diff("fault %d: selection %s on %s, %s on %s", i+1, orDefault(first[i].sel), first[i].target, orDefault(s.sel), r.Target)
			}
			// A role's node is whichever plays it at the time: only the
			// other faults must hit the same nodes everywhere.
			if !e.Applied || roleAimed(r, f, e) {
				continue
			}
			if applied[i] == nil {
				applied[i], targetOf[i] = &e, r.Target
				continue
			}
			if a := applied[i]; !slices.Equal(a.Fault.Nodes, e.Fault.Nodes) || !reflect.DeepEqual(a.Fault.Grudge, e.Fault.Grudge) {
				diff("fault %d: nodes %s on %s, %s on %s", i+1, nodesText(*a), targetOf[i], nodesText(e), r.Target)
			}
		}
	}
	if len(c.Runs) < len(p.Runs) {
		c.Identical = false
	}
	return c
}

// roleAimed reports whether a fault went to a node by its role: the plan
// aimed its nemesis at this target's role, or a selection names a role (a
// role-aimed nemesis records its role as its selection: partition-leader
// its shape "leader", kill-coordinator "coordinator").
func roleAimed(r Run, f Fault, e Entry) bool {
	if _, ok := r.Aims[f.Nemesis]; ok {
		return true
	}
	return isRole(f.Select) || isRole(e.Fault.Select)
}

// isRole reports whether a selection names a node by its role.
func isRole(sel string) bool { return sel == "leader" || sel == "coordinator" }

// neutralSelect is a recorded selection as the comparison sees it: a
// role-aimed fault went to the target's own role, so every role reads
// "role".
func neutralSelect(sel string) string {
	if isRole(sel) {
		return "role"
	}
	return sel
}

// nodesText names the nodes a recorded fault hit: its nodes, or its
// partition's grudge.
func nodesText(e Entry) string {
	if len(e.Fault.Grudge) == 0 {
		return "[" + strings.Join(e.Fault.Nodes, " ") + "]"
	}
	keys := make([]string, 0, len(e.Fault.Grudge))
	for k := range e.Fault.Grudge {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+" hears not "+strings.Join(e.Fault.Grudge[k], ","))
	}
	return "grudge " + strings.Join(parts, "; ")
}

func orDefault(sel string) string {
	if sel == "" {
		return "(default)"
	}
	return sel
}

// Line is the check in one line, for the terminal and the page.
func (c ScheduleCheck) Line() string {
	late := ""
	if c.Faults > 0 {
		late = fmt.Sprintf("; each took effect within %s of its planned time", c.MaxLate.Round(time.Millisecond))
	}
	switch {
	case len(c.Runs) == 0:
		return fmt.Sprintf("schedule: %s planned; no run recorded a schedule to compare", faults(c.Faults))
	case c.Identical:
		return fmt.Sprintf("schedule: identical on %s: %s at the same planned times, with the same nemeses, selections, seeds and nodes%s",
			strings.Join(c.Runs, ", "), faults(c.Faults), late)
	}
	return fmt.Sprintf("schedule: NOT identical on %s (%s planned): %s", strings.Join(c.Runs, ", "), faults(c.Faults),
		strings.Join(c.Differences, "; "))
}

// faults counts faults in words.
func faults(n int) string {
	if n == 1 {
		return "1 fault"
	}
	return fmt.Sprintf("%d faults", n)
}
