package nemesis

import (
	"fmt"
	"slices"
)

// RoleSelections are the selections that name a node by the role it plays
// in the target rather than by count: a fault may use one only when the
// target declares that role (targets.Target.Roles), so a leaderless
// target is never asked for its leader.
var RoleSelections = []string{SelectLeader, SelectCoordinator}

// complementedRole gives, for each selection of every node but the one in
// a role, that role: the target must declare it, and AimAt maps the
// selection to the complement of the target's own role.
var complementedRole = map[string]string{
	SelectParticipants: SelectCoordinator,
	SelectFollowers:    SelectLeader,
}

// complementOf is complementedRole inverted.
var complementOf = map[string]string{
	SelectCoordinator: SelectParticipants,
	SelectLeader:      SelectFollowers,
}

// nemesisRoles are the roles some nemeses need whatever their selection.
var nemesisRoles = map[string]string{
	"partition-leader":      SelectLeader,
	"partition-coordinator": SelectCoordinator,
	"kill-coordinator":      SelectCoordinator,
}

// RoleNeeded returns the role a fault of nemesis name with selection sel
// needs the target to declare, or "" when it needs none.
func RoleNeeded(name, sel string) string {
	if r := nemesisRoles[name]; r != "" {
		return r
	}
	if slices.Contains(RoleSelections, sel) {
		return sel
	}
	return complementedRole[sel]
}

// SelectsFor returns selects without the role selections of roles a target
// with roles does not have; generated schedules draw from it.
func SelectsFor(selects, roles []string) []string {
	var out []string
	for _, s := range selects {
		if slices.Contains(RoleSelections, s) && !slices.Contains(roles, s) {
			continue
		}
		if r := complementedRole[s]; r != "" && !slices.Contains(roles, r) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// NeutralSelects returns, for each of the nemeses names that choose their
// nodes (Selector), the selections a schedule meant for several targets at
// once draws from: every selection but the role ones (one, minority,
// halves... mean the same on every target with the same nodes), except
// that a role-aimed nemesis (kill-coordinator) keeps its own, which AimAt
// maps to each target's role. A schedule drawn from it depends only on the
// nemeses, the interval, the test time and the seed, never on a target;
// for plain nemeses it is the schedule a target without roles gets from
// the same seed.
func NeutralSelects(names []string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, name := range names {
		n, err := New(name)
		if err != nil {
			return nil, err
		}
		s, ok := n.(Selector)
		if !ok {
			continue
		}
		if nemesisRoles[name] != "" {
			out[name] = s.Selects()
			continue
		}
		out[name] = SelectsFor(s.Selects(), nil)
	}
	return out, nil
}

// Aim is the nemesis and selection of a fault as a given target takes it.
type Aim struct {
	Nemesis string `json:"nemesis"`
	Select  string `json:"select,omitempty"`
}

// roleCounterparts gives, for each role-aimed nemesis, the fault that
// aims the same kind of fault at each role: a partition of the leader is,
// on a target whose distinguished node is its coordinator, a partition of
// the coordinator (partition-coordinator: the coordinator unheard by the
// participants, the cut that leaves them in doubt), and a kill of the
// coordinator is, on a target with a leader, a kill of the leader.
var roleCounterparts = map[string]map[string]Aim{
	"partition-leader": {
		SelectLeader:      {Nemesis: "partition-leader"},
		SelectCoordinator: {Nemesis: "partition-coordinator"},
	},
	"partition-coordinator": {
		SelectCoordinator: {Nemesis: "partition-coordinator"},
		SelectLeader:      {Nemesis: "partition-leader"},
	},
	"kill-coordinator": {
		SelectCoordinator: {Nemesis: "kill-coordinator", Select: SelectCoordinator},
		SelectLeader:      {Nemesis: "kill", Select: SelectLeader},
	},
}

// AimAt returns how a target with roles takes a fault of nemesis name with
// selection sel. A fault that needs no role (RoleNeeded), or the role the
// target declares, is taken as it is. One aimed at a role the target lacks
// is aimed at the target's own role (its first role selection) instead: a
// role-aimed nemesis becomes its counterpart for that role
// (partition-leader on a target with a coordinator is
// partition-coordinator; kill-coordinator on a target with a leader is
// kill with select leader), and a role selection of another nemesis
// becomes that role (clock-strobe at the leader is clock-strobe at the
// coordinator), as a selection of every node but one role's becomes every
// node but the target's role (kill followers is kill participants). A
// target with no role selection at all cannot take the fault: the error
// says what the fault aims at.
func AimAt(name, sel string, roles []string) (Aim, error) {
	same := Aim{Nemesis: name, Select: sel}
	need := RoleNeeded(name, sel)
	if need == "" || slices.Contains(roles, need) {
		return same, nil
	}
	var own string
	for _, r := range roles {
		if slices.Contains(RoleSelections, r) {
			own = r
			break
		}
	}
	if own == "" {
		return Aim{}, fmt.Errorf("%s aims at the %s, and the target has no node in a distinguished role (no leader or coordinator)",
			describeFault(name, sel), need)
	}
	if nemesisRoles[name] == "" { // a role selection of a plain nemesis
		if complementedRole[sel] != "" { // participants ↔ followers
			return Aim{Nemesis: name, Select: complementOf[own]}, nil
		}
		return Aim{Nemesis: name, Select: own}, nil
	}
	aim, ok := roleCounterparts[name][own]
	if !ok {
		return Aim{}, fmt.Errorf("%s aims at the %s, and has no counterpart aimed at the target's %s", describeFault(name, sel), need, own)
	}
	return aim, nil
}

// describeFault names a fault for an error: its nemesis, and its
// selection when it has one.
func describeFault(name, sel string) string {
	if sel == "" {
		return "nemesis " + name
	}
	return fmt.Sprintf("nemesis %s with select %s", name, sel)
}
