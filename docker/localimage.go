package docker

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"
)

// CheckLocalImage returns nil when the daemon has image ref, else why it
// cannot be used. faultline never pulls an image: one a spec names
// (cluster.Spec.Image) must have been pulled or built beforehand.
func CheckLocalImage(ctx context.Context, ref string) error {
	cli, err := NewClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	return localImage(ctx, cli, ref)
}

func localImage(ctx context.Context, cli *client.Client, ref string) error {
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("image %s is not present locally, and faultline never pulls images: `docker pull %s` or build it first", ref, ref)
		}
		return fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return nil
}
