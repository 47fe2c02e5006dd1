package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/vishvananda/netns"
)

// Local is the runtime that runs nodes as child processes on loopback ports.
// It needs no privileges; network faults are unavailable on it.
type Local struct{}

// Name returns "local".
func (Local) Name() string { return "local" }

// Start picks a free loopback port per node, then starts every node.
func (Local) Start(ctx context.Context, spec Spec) (Cluster, error) {
	if spec.Nodes < 1 {
		return nil, fmt.Errorf("nodes must be at least 1, got %d", spec.Nodes)
	}
	if spec.Image != "" {
		return nil, fmt.Errorf("the local runtime runs programs, not Docker images (image %s): use the docker runtime", spec.Image)
	}
	bin, err := nodeBinary(spec.Binary)
	if err != nil {
		return nil, err
	}
	peers := make([]Peer, spec.Nodes)
	for i := range peers {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		peers[i] = Peer{ID: fmt.Sprintf("n%d", i+1), Addr: fmt.Sprintf("127.0.0.1:%d", port)}
		if spec.PeerPort {
			pp, err := freePort()
			if err != nil {
				return nil, err
			}
			peers[i].PeerAddr = fmt.Sprintf("127.0.0.1:%d", pp)
		}
	}
	c := &localCluster{}
	for _, p := range peers {
		dir := filepath.Join(spec.RunDir, "nodes", p.ID)
		data := filepath.Join(dir, "data")
		if err := os.MkdirAll(data, 0o755); err != nil {
			return nil, err
		}
		args := spec.Command(p, peers, data)
		c.nodes = append(c.nodes, &localNode{id: p.ID, addr: p.Addr,
			proc: NewProcess(bin, args, filepath.Join(dir, "node.log"))})
	}
	for _, n := range c.nodes {
		if err := n.proc.Start(ctx); err != nil {
			_ = c.Teardown(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("node %s: %w", n.id, err)
		}
	}
	return c, nil
}

// nodeBinary resolves the node executable: the given path or this process.
func nodeBinary(path string) (string, error) {
	if path != "" {
		return filepath.Abs(path)
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("cannot find the faultline binary to run nodes: %w", err)
	}
	return exe, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type localCluster struct{ nodes []*localNode }

func (c *localCluster) Nodes() []Node {
	ns := make([]Node, len(c.nodes))
	for i, n := range c.nodes {
		ns[i] = n
	}
	return ns
}

// Teardown resumes paused nodes and kills every node.
func (c *localCluster) Teardown(ctx context.Context) error {
	var errs []error
	for _, n := range c.nodes {
		_ = n.proc.Resume(ctx)
		if err := n.proc.Kill(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.id, err))
		}
	}
	return errors.Join(errs...)
}

type localNode struct {
	StartHooks
	id, addr string
	proc     *Process
}

func (n *localNode) ID() string                     { return n.id }
func (n *localNode) Addr() string                   { return n.addr }
func (n *localNode) Kill(ctx context.Context) error { return n.proc.Kill(ctx) }

// Running implements RunningReporter.
func (n *localNode) Running(ctx context.Context) (bool, error) { return n.proc.Running(), nil }

func (n *localNode) Start(ctx context.Context) error {
	return startProcess(ctx, n.proc, &n.StartHooks, n)
}
func (n *localNode) Pause(ctx context.Context) error  { return n.proc.Pause(ctx) }
func (n *localNode) Resume(ctx context.Context) error { return n.proc.Resume(ctx) }
func (n *localNode) NetNS() (netns.NsHandle, error)   { return netns.None(), ErrUnsupported }
