// Package compare runs one test against several targets under one fault
// schedule and puts their results side by side ('faultline compare'): the
// plan (a role-neutral schedule, and how each target takes it), the
// execution of the runs through an injected run function, the summary of
// each run directory, the check that the runs recorded the same schedule,
// compare.json and compare.html.
//
// A comparison directory, <store>/compare-<workload>[-<nemeses>]/<time>/,
// is itself a store of its runs: each target's run is a normal run
// directory <target>/<time>/ inside it (with a link latest to the newest),
// next to the schedule each target took (scenario-<target>.yaml),
// compare.json and compare.html.
//
// The package reads run directories through packages store, checker and
// history and draws with package report; it never starts a cluster and
// imports no runtime, nemesis or target package: what planning needs of
// those comes in a Catalog, and the runs are made by a RunFunc.
package compare

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/faultline-io/faultline/store"
)

// Config is a comparison: one test, the same but for its target, run
// against each of Targets.
type Config struct {
	// Targets are the targets compared, in the order of the table.
	Targets []string `json:"targets"`
	// Parallel is how many runs go at once (1: one after another).
	Parallel int `json:"parallel"`
	// Test is the config every run shares. Its Store is where the
	// comparison directory is made; Target, Name, Scenario and Bugs are
	// set per run (Plan.RunConfig), and its Nemeses are the comparison's
	// as the user named them.
	Test store.Config `json:"test"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Validate checks what is the comparison's own: the targets listed (at
// least one, each once, each a valid name) and Parallel. The rest of the
// test is checked per run, against each target (harness.ValidateConfig).
// Errors name the flag and the value.
func (c Config) Validate() error {
	if len(c.Targets) == 0 {
		return errors.New("targets: none given (want e.g. --targets raft,crdt,twopc)")
	}
	for i, t := range c.Targets {
		if !nameRE.MatchString(t) {
			return fmt.Errorf("targets: %q is not a target name", t)
		}
		if slices.Contains(c.Targets[:i], t) {
			return fmt.Errorf("targets: %s is listed twice", t)
		}
	}
	if c.Parallel < 1 {
		return fmt.Errorf("parallel: %d: must be at least 1", c.Parallel)
	}
	if len(c.Test.Bugs) > 0 {
		return fmt.Errorf("bug: %s: seeded bugs are per target; a comparison runs the correct builds", strings.Join(c.Test.Bugs, ","))
	}
	if c.Test.Scenario != "" {
		return fmt.Errorf("scenario: %s: a comparison generates its schedule from the seed", c.Test.Scenario)
	}
	if c.Test.NemesisOverlap {
		return errors.New("nemesis-overlap: a comparison runs one fault at a time")
	}
	return nil
}

// Name is the comparison's name in the store:
// compare-<workload>[-<nemesis>...].
func (c Config) Name() string {
	return strings.Join(append([]string{"compare", c.Test.Workload}, c.Test.Nemeses...), "-")
}

// Fault is one fault of a schedule: Nemesis with selection Select, applied
// at test time At and held for Hold, its random choices drawn from Seed.
type Fault struct {
	At      time.Duration `json:"at"`
	Hold    time.Duration `json:"hold"`
	Nemesis string        `json:"nemesis"`
	Select  string        `json:"select,omitempty"`
	Seed    int64         `json:"seed"`
}

// Aim is a fault's nemesis and selection as one target takes it.
type Aim struct {
	Nemesis string `json:"nemesis"`
	Select  string `json:"select,omitempty"`
}

// Catalog is what planning needs to know of nemeses and targets; the CLI
// fills it from packages nemesis and targets, tests with fakes.
type Catalog struct {
	// Schedule returns the test's role-neutral fault schedule, a pure
	// function of its nemeses, nemesis interval, time limit and seed (never
	// of a target), in time order, one fault at a time.
	Schedule func(test store.Config) ([]Fault, error)
	// DefaultSelect is the selection a nemesis's faults get in Schedule
	// when it is fixed (a role-aimed nemesis's own, e.g. coordinator for
	// kill-coordinator), else "".
	DefaultSelect func(nemesis string) string
	// Aim returns how target takes a fault of nemesis with selection sel:
	// the same fault, or one aimed at the target's own role. Its error
	// names the target and the nemesis (a role-aimed nemesis and a target
	// without roles).
	Aim func(target, nemesis, sel string) (Aim, error)
}

// Plan is a comparison made concrete: the shared schedule and each
// target's run.
type Plan struct {
	Config Config `json:"config"`
	// Faults is the schedule, role-neutral: as the nemeses were named.
	Faults []Fault `json:"schedule"`
	Runs   []Run   `json:"runs"`
}

// Run is one target's part of a plan.
type Run struct {
	Target string `json:"target"`
	// Aims gives, for each of the comparison's nemeses that this target
	// takes as another fault (a role-aimed nemesis aimed at the target's
	// own role), that fault; nemeses taken as they are are absent.
	Aims map[string]Aim `json:"aims,omitempty"`
	// Faults is the plan's schedule as this target takes it: the same
	// times, holds, seeds and order.
	Faults []Fault `json:"faults"`
	// Nemeses are the nemeses the run uses, in the order of the
	// comparison's.
	Nemeses []string `json:"nemeses"`
}

// NewPlan draws the schedule of c.Test once and aims it at each target.
// Every nemesis is aimed at every target whether or not the schedule
// draws it, so a nemesis a target cannot take is refused before anything
// runs. Errors are the caller's bad input.
func NewPlan(c Config, cat Catalog) (Plan, error) {
	if err := c.Validate(); err != nil {
		return Plan{}, err
	}
	faults, err := cat.Schedule(c.Test)
	if err != nil {
		return Plan{}, err
	}
	p := Plan{Config: c, Faults: faults}
	for _, target := range c.Targets {
		run := Run{Target: target}
		for _, n := range c.Test.Nemeses {
			aim, err := cat.Aim(target, n, cat.DefaultSelect(n))
			if err != nil {
				return Plan{}, err
			}
			if aim.Nemesis != n || aim.Select != cat.DefaultSelect(n) {
				if run.Aims == nil {
					run.Aims = map[string]Aim{}
				}
				run.Aims[n] = aim
			}
			if !slices.Contains(run.Nemeses, aim.Nemesis) {
				run.Nemeses = append(run.Nemeses, aim.Nemesis)
			}
		}
		for _, f := range faults {
			aim, err := cat.Aim(target, f.Nemesis, f.Select)
			if err != nil {
				return Plan{}, err
			}
			f.Nemesis, f.Select = aim.Nemesis, aim.Select
			run.Faults = append(run.Faults, f)
		}
		p.Runs = append(p.Runs, run)
	}
	return p, nil
}

// RunConfig is the config of the plan's run i, a run directory under the
// comparison directory dir: the shared test with its target, named after
// it, stored in dir, its faults from scenario (the file ScenarioYAML
// wrote; "" when the schedule has no fault, and the run's generated
// schedule is then as empty).
func (p Plan) RunConfig(i int, dir, scenario string) store.Config {
	cfg := p.Config.Test
	r := p.Runs[i]
	cfg.Target, cfg.Name, cfg.Store, cfg.Bugs = r.Target, r.Target, dir, nil
	cfg.Nemeses = slices.Clone(r.Nemeses)
	cfg.Scenario = scenario
	if scenario != "" {
		cfg.Nemeses = nil // the scenario names them
	}
	return cfg
}

// ScenarioFile is the name, in a comparison directory, of the scenario
// file that holds the schedule as target takes it.
func ScenarioFile(target string) string { return "scenario-" + target + ".yaml" }

// ScenarioYAML is r's faults as a scenario file (nemesis.ParseScenario),
// every fault with its time, hold and seed, so that the run applies
// exactly the planned faults at the planned test times.
func (r Run) ScenarioYAML(name string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# The fault schedule of comparison %s as target %s takes it.\n", name, r.Target)
	b.WriteString("# Written by 'faultline compare'; every run of the comparison has the same times and seeds.\n")
	b.WriteString("faults:\n")
	for _, f := range r.Faults {
		fmt.Fprintf(&b, "  - at: %s\n    nemesis: %s\n", f.At, f.Nemesis)
		if f.Select != "" {
			fmt.Fprintf(&b, "    select: %s\n", f.Select)
		}
		fmt.Fprintf(&b, "    hold: %s\n    seed: %d\n", f.Hold, f.Seed)
	}
	return []byte(b.String())
}

// neutral returns the comparison's name for a fault the run recorded as
// nemesis with selection sel: the nemesis whose Aim it is, else nemesis.
// A partition records its shape as its selection, so an Aim without a
// selection matches any.
func (r Run) neutral(nemesis, sel string) string {
	names := make([]string, 0, len(r.Aims))
	for n := range r.Aims {
		names = append(names, n)
	}
	slices.Sort(names) // one answer, whatever the map order
	for _, n := range names {
		a := r.Aims[n]
		if a.Nemesis == nemesis && (a.Select == "" || a.Select == sel) {
			return n
		}
	}
	return nemesis
}
