// Package cluster defines how faultline starts and controls the nodes of a
// target: the Runtime, Cluster and Node interfaces, the local runtime (child
// processes on loopback) and the netns runtime (child processes in network
// namespaces made by the harness, no Docker). The Docker runtime lives in
// package docker and implements the same interfaces.
package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/vishvananda/netns"
)

// ErrUnsupported is returned by operations a runtime cannot perform, such as
// NetNS on the local runtime. Callers turn it into a reason shown to the user.
var ErrUnsupported = errors.New("not supported by this runtime")

// Label is the key of the label (Docker) or the name prefix (namespaces,
// nftables tables, bridges) carried by everything faultline creates, so that
// teardown and `faultline clean` can find it.
const Label = "faultline"

// Peer names one node and the address (host:port) its peers and clients use.
type Peer struct {
	ID   string
	Addr string
	// PeerAddr is a second address of the node, for traffic between
	// nodes, set when Spec.PeerPort is true (systems such as etcd listen
	// for clients and peers on different ports): on runtimes where each
	// node has its own address it is the node's host and Spec.Port+1; the
	// local runtime picks another free loopback port.
	PeerAddr string
}

// Spec describes the cluster to start.
type Spec struct {
	// Name is the test name; runtimes use it in labels and names.
	Name string
	// RunDir is the run directory; node data lives in RunDir/nodes/<id>/data
	// and node logs in RunDir/nodes/<id>/node.log.
	RunDir string
	// Nodes is the number of nodes, named n1..nN.
	Nodes int
	// Port is the port nodes listen on where each node has its own IP
	// (docker, netns). The local runtime picks free loopback ports instead.
	Port int
	// PeerPort asks for a second port per node (Peer.PeerAddr).
	PeerPort bool
	// Files are more static executables the nodes run (a third-party
	// server), by name → host path: the docker runtime puts each at /<name>
	// in the node image beside the binary; on the other runtimes nodes run
	// on this machine and use the host paths.
	Files map[string]string
	// Binary is the faultline executable used as the node binary; empty
	// means the running executable. A target whose nodes run a program of
	// their own (a target file) puts that program here instead.
	Binary string
	// Image, when set, is a Docker image present locally that runs a node
	// in place of Binary; Command then returns the container's arguments.
	// Only the docker runtime runs images, and it never pulls one; the
	// others refuse a spec with an Image.
	Image string
	// Command returns the arguments (after the binary) that run node self.
	// dataDir is the path as the node sees it.
	Command func(self Peer, peers []Peer, dataDir string) []string
	// OnRun, when set, is called with the per-run id (see RunIdentifier)
	// before the runtime creates anything named with it, so that a caller
	// interrupted during Start still knows what to look for.
	OnRun func(run string)
}

// CheckAddressed checks a spec for a runtime that gives each node its own
// address (docker, netns): 1..250 nodes on one port, and a command.
func (s Spec) CheckAddressed(runtime string) error {
	switch {
	case s.Nodes < 1 || s.Nodes > 250:
		return fmt.Errorf("nodes must be between 1 and 250, got %d", s.Nodes)
	case s.Port <= 0 || s.Port > 65535:
		return fmt.Errorf("the %s runtime needs spec.Port (the port every node listens on), got %d", runtime, s.Port)
	case s.PeerPort && s.Port == 65535:
		return fmt.Errorf("port %d leaves no room for the peer port (port+1)", s.Port)
	case s.Command == nil:
		return errors.New("spec.Command is nil")
	}
	return nil
}

// Runtime starts clusters.
type Runtime interface {
	Name() string
	Start(ctx context.Context, spec Spec) (Cluster, error)
}

// Cluster is a running set of nodes.
type Cluster interface {
	Nodes() []Node
	// Teardown stops every node and removes everything the runtime created
	// for this cluster. It is idempotent and safe to call after a failed
	// Start.
	Teardown(ctx context.Context) error
}

// Node is one running node of a cluster.
type Node interface {
	ID() string
	// Addr is host:port, the address clients and peers use.
	Addr() string
	// Kill sends SIGKILL; the node stays down until Start.
	Kill(ctx context.Context) error
	// Start restarts a killed node on the same data directory. Starting a
	// running node is a no-op.
	Start(ctx context.Context) error
	// Pause freezes the node (cgroup freezer or SIGSTOP); Resume thaws it.
	Pause(ctx context.Context) error
	Resume(ctx context.Context) error
	// NetNS returns a handle to the node's network namespace, which the
	// caller closes, or ErrUnsupported.
	NetNS() (netns.NsHandle, error)
}

// RunIdentifier is implemented by clusters whose resources (containers,
// namespaces, links) are named with a per-run id, so that a run's leftovers
// can be told apart from another run's.
type RunIdentifier interface {
	Run() string
}

// NodeByID returns the node with the given id, or nil.
func NodeByID(c Cluster, id string) Node {
	for _, n := range c.Nodes() {
		if n.ID() == id {
			return n
		}
	}
	return nil
}
