package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/faultline-io/faultline/nemesis"
	"github.com/faultline-io/faultline/targets"
)

func newTargetsCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "targets",
		Short: "List targets, their workloads and seeded bugs, and the nemeses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			for _, t := range targets.All() {
				roles := "none"
				if len(t.Roles()) > 0 {
					roles = strings.Join(t.Roles(), ", ")
				}
				fmt.Fprintf(w, "%s\n  roles: %s\n  workloads (--workload NAME: ops; checkers):\n", t.Name(), roles)
				for _, wl := range t.Workloads() {
					fmt.Fprintf(w, "    %-20s %s; %s\n", wl.Name, strings.Join(wl.Ops, ", "), strings.Join(wl.Checkers, ", "))
				}
				if c, ok := t.(targets.Configurable); ok {
					fmt.Fprintln(w, "  options (--target-opt KEY=VALUE):")
					keys := slices.Sorted(maps.Keys(c.OptionKeys()))
					for _, k := range keys {
						fmt.Fprintf(w, "    %-20s %s\n", k, c.OptionKeys()[k])
					}
				}
				fmt.Fprintf(w, "  nemeses: %s\n", supportedNemeses(t))
				if len(t.Bugs()) > 0 {
					fmt.Fprintln(w, "  seeded bugs (--bug NAME):")
				}
				for _, b := range t.Bugs() {
					how := "--nemesis " + strings.Join(b.Nemesis, ",")
					if b.Scenario != "" {
						how = fmt.Sprintf("--scenario %s (%s)", b.Scenario, strings.Join(b.Nemesis, ", "))
					}
					fmt.Fprintf(w, "    %-20s %s\n    %-20s exposed by --workload %s %s, checker %s\n",
						b.Name, b.Description, "", b.Workload, how, b.Checker)
					if b.SimScenario != "" {
						fmt.Fprintf(w, "    %-20s in the simulator: faultline sim --scenario %s\n", "", b.SimScenario)
					}
				}
			}
			fmt.Fprintf(w, "nemeses: %s\n", strings.Join(nemesis.Names(), ", "))
			return nil
		},
	}
}

// supportedNemeses says which nemeses t takes: all, or all but those it
// refuses (targets.NemesisRefuser, with the first refusal's reason) and
// those aimed at a role it does not have.
func supportedNemeses(t targets.Target) string {
	var refused, roleless []string
	var why error
	r, _ := t.(targets.NemesisRefuser)
	for _, n := range nemesis.Names() {
		if role := nemesis.RoleNeeded(n, ""); role != "" && !targets.HasRole(t, role) {
			roleless = append(roleless, n)
			continue
		}
		if r == nil {
			continue
		}
		if err := r.RefuseNemesis(n); err != nil {
			refused = append(refused, n)
			if why == nil {
				why = err
			}
		}
	}
	if len(refused)+len(roleless) == 0 {
		return "all"
	}
	var parts []string
	if len(refused) > 0 {
		parts = append(parts, fmt.Sprintf("%s (%v)", strings.Join(refused, ", "), why))
	}
	if len(roleless) > 0 {
		parts = append(parts, fmt.Sprintf("%s (aimed at a role it does not have)", strings.Join(roleless, ", ")))
	}
	return "all but " + strings.Join(parts, "; ")
}
