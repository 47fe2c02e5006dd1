package main

import (
	"fmt"
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
				fmt.Fprintf(w, "%s\n  workloads: %s\n", t.Name(), strings.Join(t.Workloads(), ", "))
				if len(t.Bugs()) > 0 {
					fmt.Fprintln(w, "  seeded bugs (--bug NAME):")
				}
				for _, b := range t.Bugs() {
					fmt.Fprintf(w, "    %-20s %s\n    %-20s exposed by --nemesis %s, checker %s\n",
						b.Name, b.Description, "", strings.Join(b.Nemesis, ","), b.Checker)
				}
			}
			fmt.Fprintf(w, "nemeses: %s\n", strings.Join(nemesis.Names(), ", "))
			return nil
		},
	}
}
