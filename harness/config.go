// Package harness runs one test: it validates a store.Config, starts a
// cluster on a runtime, drives client workers and the nemesis schedule while
// recording the history, heals everything, performs final reads, checks the
// history and writes the run directory (laid out by package store). It knows
// no target's protocol.
package harness

import (
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/faultline-io/faultline/nemesis"
	"github.com/faultline-io/faultline/store"
	"github.com/faultline-io/faultline/targets"
	"github.com/faultline-io/faultline/workloads"
)

// scenarioSteps reads and parses c.Scenario with c.Seed.
func scenarioSteps(c *store.Config) ([]nemesis.Step, []byte, error) {
	b, err := os.ReadFile(c.Scenario)
	if err != nil {
		return nil, nil, err
	}
	steps, err := nemesis.ParseScenario(b, c.Seed)
	return steps, b, err
}

// FieldError is a validation error that names the offending field (as the
// CLI flag or campaign key) and value.
type FieldError struct {
	Field string
	Value any
	Msg   string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: %v: %s", e.Field, e.Value, e.Msg)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// ValidateConfig checks c against the registered targets, the nemeses and
// the runtimes, and fills its derived fields: Name when empty, Nemeses from
// a scenario, Target, Port and the rest from a target file (targetOf).
// Errors are *FieldError.
func ValidateConfig(c *store.Config) error {
	t, err := targetOf(c)
	if err != nil {
		return err
	}
	if t, err = targets.Configured(t, c.TargetOpts); err != nil {
		return &FieldError{"target-opt", strings.Join(c.TargetOpts, " "), err.Error()}
	}
	wl, err := targets.WorkloadOf(t, c.Workload)
	if err != nil {
		return &FieldError{"workload", c.Workload, err.Error()}
	}
	if _, err := workloads.New(c.Workload, workloads.Options{Ops: wl.Ops}); err != nil {
		return &FieldError{"workload", c.Workload, err.Error()}
	}
	if c.NemesisOverlap && c.Scenario != "" {
		return &FieldError{"nemesis-overlap", true, "a scenario sets its own fault times; drop --nemesis-overlap"}
	}
	if c.Scenario != "" {
		steps, _, err := scenarioSteps(c)
		if err != nil {
			return &FieldError{"scenario", c.Scenario, err.Error()}
		}
		used := nemesis.ScenarioNemeses(steps)
		if len(c.Nemeses) > 0 && !slices.Equal(c.Nemeses, used) {
			return &FieldError{"nemesis", strings.Join(c.Nemeses, ","), "give --nemesis or --scenario, not both (the scenario names its nemeses)"}
		}
		c.Nemeses = used
		for i, st := range steps {
			if err := checkRole(t, st.Fault.Nemesis, st.Fault.Select); err != nil {
				return &FieldError{"scenario", c.Scenario, fmt.Sprintf("faults[%d]: %v", i, err)}
			}
		}
		if end := nemesis.ScenarioEnd(steps); end > c.TimeLimit {
			return &FieldError{"scenario", c.Scenario, fmt.Sprintf("its last fault is healed at %v, after --time-limit %v", end, c.TimeLimit)}
		}
	}
	if c.NemesisOverlap {
		if err := nemesis.CheckOverlap(c.Nemeses); err != nil {
			return &FieldError{"nemesis-overlap", true, err.Error()}
		}
	}
	known := nemesis.Names()
	for _, n := range c.Nemeses {
		if !contains(known, n) {
			return &FieldError{"nemesis", n, fmt.Sprintf("unknown nemesis (known: %s)", strings.Join(known, ", "))}
		}
		if n == nemesis.KillAfterVote && c.Runtime != RuntimeSim {
			return &FieldError{"nemesis", n, nemesis.ErrSimulatorOnly.Error()}
		}
		if n == nemesis.KillAfterVote && !targets.HasRole(t, nemesis.SelectLeader) {
			return &FieldError{"nemesis", n, fmt.Sprintf("it stops nodes right after they vote, and target %s holds no elections", c.Target)}
		}
	}
	for _, n := range c.Nemeses {
		if err := checkRole(t, n, ""); err != nil {
			return &FieldError{"nemesis", n, err.Error()}
		}
		if err := refuseNemesis(t, n); err != nil {
			return &FieldError{"nemesis", n, err.Error()}
		}
	}
	var bugNames []string
	for _, b := range t.Bugs() {
		bugNames = append(bugNames, b.Name)
	}
	for _, b := range c.Bugs {
		if !contains(bugNames, b) {
			return &FieldError{"bug", b, fmt.Sprintf("target %s has seeded bugs %v", c.Target, bugNames)}
		}
	}
	switch {
	case c.Nodes < 1 || c.Nodes > 9:
		return &FieldError{"nodes", c.Nodes, "must be between 1 and 9"}
	case c.Concurrency < 1 || c.Concurrency > 1000:
		return &FieldError{"concurrency", c.Concurrency, "must be between 1 and 1000"}
	case !(c.Rate > 0) || math.IsInf(c.Rate, 1):
		return &FieldError{"rate", c.Rate, "must be positive (operations per second, all workers together)"}
	case c.TimeLimit <= 0:
		return &FieldError{"time-limit", c.TimeLimit, "must be positive, e.g. 60s"}
	case c.NemesisInterval <= 0:
		return &FieldError{"nemesis-interval", c.NemesisInterval, "must be positive"}
	case c.OpTimeout <= 0:
		return &FieldError{"op-timeout", c.OpTimeout, "must be positive"}
	case c.CheckerTimeout <= 0:
		return &FieldError{"checker-timeout", c.CheckerTimeout, "must be positive"}
	case c.QuietPeriod < 0:
		return &FieldError{"quiet-period", c.QuietPeriod, "must not be negative"}
	case c.HealthTimeout <= 0:
		return &FieldError{"health-timeout", c.HealthTimeout, "must be positive"}
	case c.Port < 1 || c.Port > 65535:
		return &FieldError{"port", c.Port, "must be a TCP port"}
	case c.Keys < 1:
		return &FieldError{"keys", c.Keys, "must be at least 1"}
	case c.OpsPerKey < 0:
		return &FieldError{"ops-per-key", c.OpsPerKey, "must not be negative"}
	case c.Store == "":
		return &FieldError{"store", c.Store, "must name a directory"}
	}
	if !contains(RuntimeNames(), c.Runtime) && c.Runtime != "auto" && c.Runtime != RuntimeSim {
		return &FieldError{"runtime", c.Runtime, fmt.Sprintf("want auto, %s or one of %v", RuntimeSim, RuntimeNames())}
	}
	if c.Name == "" {
		parts := []string{c.Target, c.Workload}
		parts = append(parts, c.Nemeses...)
		parts = append(parts, c.Bugs...)
		c.Name = strings.Join(parts, "-")
		if len(c.Name) > 100 { // a file name must stay well under 255 bytes
			c.Name = fmt.Sprintf("%s-%s-%d-nemeses-%08x", c.Target, c.Workload, len(c.Nemeses), crc32.ChecksumIEEE([]byte(c.Name)))
		}
	}
	if !nameRE.MatchString(c.Name) {
		return &FieldError{"name", c.Name, "use letters, digits, '.', '_' and '-'"}
	}
	return nil
}

// checkRole refuses a fault of nemesis name with selection sel that needs
// a role target t does not declare.
func checkRole(t targets.Target, name, sel string) error {
	role := nemesis.RoleNeeded(name, sel)
	if role == "" || targets.HasRole(t, role) {
		return nil
	}
	roles := "none"
	if len(t.Roles()) > 0 {
		roles = strings.Join(t.Roles(), ", ")
	}
	what := "nemesis " + name
	if sel != "" && sel == role {
		what += " with select " + sel
	}
	return fmt.Errorf("%s needs a node in the %s role, and target %s has none (its roles: %s)", what, role, t.Name(), roles)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}
