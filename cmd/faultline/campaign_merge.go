package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/faultline-io/faultline/internal/campaignrun"
)

func newCampaignMergeCommand(g *globals) *cobra.Command {
	var junit, summary string
	cmd := &cobra.Command{
		Use:   "merge <store-dir | result-file>...",
		Short: "Join the results of a campaign's shards into one JUnit report and summary",
		Long: `Read the campaign result files that 'faultline campaign --shard i/n' wrote (each a
campaign-<name>.shard-<i>-of-<n>.json in its store; a directory argument means every
campaign-*.json in it) and report the whole campaign: --junit writes one JUnit XML report with a
test case per run, --summary one Markdown summary. A run of a shard whose result is missing is
reported not started, naming the shard. Run directories are looked up next to each result file,
so the stores may have moved (CI artifacts).

Exit codes: those of 'faultline campaign' over all the runs (the worst verdict); 254 when an
argument is not a result, or the results are not the shards of one campaign file (another
campaign, an edited file, another split, a shard twice).`,
		Example: `  faultline campaign campaigns/nightly.yaml --shard 1/3 --store out/1   # ... 2/3, 3/3
  faultline campaign merge out/1 out/2 out/3 --junit junit.xml --summary summary.md`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return badInputf("name at least one store directory or campaign result file (see '%s --help')", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var ls []campaignrun.Loaded
			for _, a := range args {
				l, err := campaignrun.ReadResults(a)
				if err != nil {
					return badInput(err)
				}
				ls = append(ls, l...)
			}
			m, err := campaignrun.Merge(ls)
			if err != nil {
				return badInput(err)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "campaign %s: merged %d result file(s)\n", m.Campaign, len(ls))
			if m.Stopped != "" {
				fmt.Fprintf(w, "not every run ran: %s\n", m.Stopped)
			}
			fmt.Fprintf(w, "campaign %s: %s\n", m.Campaign, campaignrun.Count(m.Runs).Line())
			if err := writeCampaignReports(w, m, junit, summary); err != nil {
				return err
			}
			return verdict(campaignrun.ExitCode(m.Runs))
		},
	}
	cmd.Flags().StringVar(&junit, "junit", "", "write a JUnit XML report of every run to this file")
	cmd.Flags().StringVar(&summary, "summary", "", "write a Markdown summary of the whole campaign to this file")
	return cmd
}
