package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/docker"
	"github.com/faultline-io/faultline/nemesis/netfault"
)

func newCleanCommand(g *globals) *cobra.Command {
	var images bool
	var run string
	cmd := &cobra.Command{
		Use:   "clean",
		Short: "Remove what a killed run left: labelled containers and networks, namespaces, bridges, nft tables",
		Long: `clean removes everything faultline creates and a killed harness may have
left behind: Docker containers and networks labelled "faultline", network
namespaces named faultline-*, host links named fl<6 hex digits> that are veths
or bridges, and nftables tables named faultline* in the host namespace.
Faults inside node namespaces go away with the namespaces and containers.
It does not stop runs in progress: do not run it while a test runs, or
give --run with the id in a run directory's runtime.json to remove only
what that run made (host nftables tables are then left alone).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			log := g.logger()
			var removed []string
			var errs []error
			ctx := cmd.Context()

			if _, err := docker.Available(ctx); err != nil {
				fmt.Fprintf(out, "docker: not reachable, skipped (%s)\n", oneLine(err.Error()))
			} else {
				var r []string
				var err error
				if run != "" {
					r, err = docker.CleanRun(ctx, run)
				} else {
					r, err = docker.Clean(ctx)
				}
				removed = append(removed, r...)
				errs = append(errs, err)
				if images {
					r, err := docker.RemoveImages(ctx)
					removed = append(removed, r...)
					errs = append(errs, err)
				}
			}
			if os.Geteuid() != 0 {
				fmt.Fprintln(out, "namespaces, links, nft tables: skipped (needs root)")
			} else {
				if run != "" {
					r, err := cluster.CleanNetnsRun(run)
					removed = append(removed, r...)
					errs = append(errs, err)
				} else {
					r, err := cluster.CleanNetns()
					removed = append(removed, r...)
					errs = append(errs, err)
					r, err = netfault.CleanHost()
					removed = append(removed, r...)
					errs = append(errs, err)
				}
			}
			for _, r := range removed {
				fmt.Fprintln(out, "removed", r)
			}
			if len(removed) == 0 {
				fmt.Fprintln(out, "nothing to remove")
			}
			if err := errors.Join(errs...); err != nil {
				log.Error("clean could not remove everything", zap.Error(err))
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&run, "run", "", "remove only what the run with this id made (the \"run\" of its runtime.json)")
	cmd.Flags().BoolVar(&images, "images", false, "also remove the "+docker.ImageRepo+" images (a cache, rebuilt on demand)")
	return cmd
}
