package cluster

import (
	"context"
	"errors"
)

// ErrNotRunning is wrapped by Node.NetNS when the node is down and has no
// network namespace at all (a stopped Docker container). Its faults went
// with the namespace; a StartHook re-applies them when the node comes back.
var ErrNotRunning = errors.New("node is not running")

// StartHook runs after a node came back up in Start, with the node.
type StartHook func(ctx context.Context, n Node) error

// StartHooker is implemented by nodes whose network namespace is created
// anew each time they start, so that whatever was installed in the old one
// (nftables tables, qdiscs) is gone: the Docker runtime (verified: after
// ContainerKill + ContainerStart the container has a new veth and none of
// the tables of its old namespace). Network nemeses register a hook that
// re-applies their desired state.
//
// Nodes of the netns runtime keep their namespace across restarts and do
// not implement it.
type StartHooker interface {
	// SetStartHook registers hook under key, replacing any hook with the
	// same key; a nil hook removes it. Start runs every hook after the node
	// is running and returns their errors.
	SetStartHook(key string, hook StartHook)
}
