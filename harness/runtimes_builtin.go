package harness

import (
	"context"
	"errors"
	"os"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/docker"
)

// The built-in runtimes, in the order --runtime auto prefers them.
func init() {
	RegisterRuntime("docker", RuntimeFactory{
		New: func() (cluster.Runtime, error) { return docker.Runtime{}, nil },
		Probe: func(ctx context.Context) error {
			_, err := docker.Available(ctx)
			return err
		},
		Rank: 0,
	})
	RegisterRuntime("netns", RuntimeFactory{
		New: func() (cluster.Runtime, error) { return cluster.Netns{}, nil },
		Probe: func(context.Context) error {
			if os.Geteuid() != 0 {
				return errors.New("the netns runtime needs root (network namespaces, veth, bridge)")
			}
			return nil
		},
		Rank: 10,
	})
}
