package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/faultline-io/faultline/targets"
	// The bundled targets register themselves.
	_ "github.com/faultline-io/faultline/targets/crdt"
	_ "github.com/faultline-io/faultline/targets/etcd"
	_ "github.com/faultline-io/faultline/targets/raft"
	_ "github.com/faultline-io/faultline/targets/twopc"
)

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
			t, err := targets.Get(args[0])
			if err != nil {
				return badInputf("node: %v", err)
			}
			return t.NodeMain(cmd.Context(), args[1:], os.Stderr)
		},
	}
}
