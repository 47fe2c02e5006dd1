package main

import (
	"context"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/faultline-io/faultline/targets/raft"
)

// nodeMains maps a bundled target to the function that runs one of its nodes.
var nodeMains = map[string]func(ctx context.Context, args []string, stderr io.Writer) error{
	"raft": raft.NodeMain,
}

func newNodeCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:                "node <target> [flags]",
		Short:              "Run one node of a bundled target (used by the runtimes)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return badInputf("node: name a target")
			}
			main, ok := nodeMains[args[0]]
			if !ok {
				return badInputf("node: no bundled target %q", args[0])
			}
			if err := main(cmd.Context(), args[1:], os.Stderr); err != nil {
				return err
			}
			return nil
		},
	}
}
