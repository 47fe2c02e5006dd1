package docker

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSpecImage: a spec's own image runs as it is (Binary unused), and
// one the daemon does not have is refused, never pulled.
func TestSpecImage(t *testing.T) {
	needDocker(t)
	ctx := context.Background()
	cli, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	tag, _, err := EnsureImage(ctx, cli, echoBinary)
	if err != nil {
		t.Fatal(err)
	}
	spec := echoSpec(t, 1)
	spec.Image, spec.Binary = tag, "/no/such/binary"
	c := startCluster(t, spec)
	if err := echo(c.Nodes()[0].Addr(), 5*time.Second); err != nil {
		t.Fatalf("node of image %s: %v", tag, err)
	}

	spec = echoSpec(t, 1)
	spec.Image = "faultline-test-absent:never"
	if _, err := (Runtime{}).Start(ctx, spec); err == nil || !strings.Contains(err.Error(), "never pulls") {
		t.Fatalf("absent image: %v", err)
	}
	if err := CheckLocalImage(ctx, tag); err != nil {
		t.Errorf("CheckLocalImage(%s): %v", tag, err)
	}
}
