package cluster

import (
	"context"
	"strings"
	"testing"
)

func TestLocalRefusesImage(t *testing.T) {
	spec := Spec{Name: t.Name(), RunDir: t.TempDir(), Nodes: 1, Image: "kv:1",
		Command: func(Peer, []Peer, string) []string { return nil }}
	if _, err := (Local{}).Start(context.Background(), spec); err == nil || !strings.Contains(err.Error(), "not Docker images") {
		t.Fatalf("got %v, want a refusal naming images", err)
	}
}
