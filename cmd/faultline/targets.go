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
				}
			}
			fmt.Fprintf(w, "nemeses: %s\n", strings.Join(nemesis.Names(), ", "))
			return nil
		},
	}
}

// supportedNemeses says which nemeses t takes: all, or all but those it
// refuses (targets.NemesisRefuser), with the first refusal's reason.
func supportedNemeses(t targets.Target) string {
	r, ok := t.(targets.NemesisRefuser)
	if !ok {
		return "all"
	}
	var refused []string
	var why error
	for _, n := range nemesis.Names() {
		if err := r.RefuseNemesis(n); err != nil {
			refused = append(refused, n)
			why = cmpOrErr(why, err)
		}
	}
	if len(refused) == 0 {
		return "all"
	}
	return fmt.Sprintf("all but %s (%v)", strings.Join(refused, ", "), why)
}

func cmpOrErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
