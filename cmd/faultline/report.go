package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/faultline-io/faultline/harness"
	"github.com/faultline-io/faultline/report"
	"github.com/faultline-io/faultline/store"
)

func newReportCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "report <run-dir>",
		Short: "Write a run's self-contained HTML report",
		Long: `Write report.html into a run directory and print its path: the verdict, the command line
that reproduces the run, the checkers' results, latency and throughput over time with the
fault windows shaded, and the fault timeline. The page loads nothing from the network.

'faultline run' and 'faultline check <run-dir>' write the report too; this verb rewrites it,
e.g. for a run directory copied from another machine. Exits 0 when the report is written,
254 when the directory or its history cannot be read.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			st, err := os.Stat(dir)
			if err != nil {
				return badInput(err)
			}
			if _, err := os.Stat(filepath.Join(dir, store.HistoryFile)); !st.IsDir() || err != nil {
				return badInputf("%s: not a run directory (want the directory that holds %s)", dir, store.HistoryFile)
			}
			r, err := report.Load(dir)
			if err != nil {
				return badInput(err)
			}
			r.AnsweredErrors = harness.AnsweredErrors(r.Test.Config)
			path, err := report.Write(r) // a failure here is not the input's fault
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), path)
			return nil
		},
	}
}
