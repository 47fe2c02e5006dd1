package nemesis

import "slices"

// RoleSelections are the selections that name a node by the role it plays
// in the target rather than by count: a fault may use one only when the
// target declares that role (targets.Target.Roles), so a leaderless
// target is never asked for its leader.
var RoleSelections = []string{SelectLeader, SelectCoordinator}

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
	return ""
}

// SelectsFor returns selects without the role selections of roles a target
// with roles does not have; generated schedules draw from it.
func SelectsFor(selects, roles []string) []string {
	var out []string
	for _, s := range selects {
		if slices.Contains(RoleSelections, s) && !slices.Contains(roles, s) {
			continue
		}
		out = append(out, s)
	}
	return out
}
