// Package docker is the Docker runtime of faultline: each node is a
// container of a FROM scratch image holding only the static faultline
// binary, on a bridge network of its own with fixed addresses. It talks to
// the daemon through the official client (never the docker CLI) and
// negotiates the API version, so it works with old engines (20.10, API
// 1.41) and new ones.
//
// Containers are not privileged and get no capability: network faults are
// applied from the host, in each container's network namespace (NetNS).
// Everything the runtime creates carries the label cluster.Label
// ("faultline"), so Clean finds what a killed harness left.
package docker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/faultline-io/faultline/cluster"
)

// Labels set on every container and network, besides cluster.Label whose
// value is the run id.
const (
	LabelTest = cluster.Label + ".test" // the test name (Spec.Name)
	LabelNode = cluster.Label + ".node" // the node id, on containers
)

// DataDir is where a node's data directory is mounted in its container.
const DataDir = "/data"

// Runtime is the Docker runtime.
type Runtime struct {
	// Client is used when set; otherwise one is built from the environment
	// (DOCKER_HOST ...) with API version negotiation.
	Client *client.Client
}

// Name returns "docker".
func (Runtime) Name() string { return "docker" }

// NewClient returns a client configured from the environment that
// negotiates the API version with the daemon.
func NewClient() (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return cli, nil
}

// Available asks the daemon for its version; an error means Docker cannot
// be used (not installed, not running, no permission).
func Available(ctx context.Context) (version string, err error) {
	cli, err := NewClient()
	if err != nil {
		return "", err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := cli.ServerVersion(ctx)
	if err != nil {
		return "", fmt.Errorf("docker daemon: %w", err)
	}
	return fmt.Sprintf("Docker Engine %s (API %s, client negotiated %s)", v.Version, v.APIVersion, cli.ClientVersion()), nil
}

// Start builds (or reuses) the node image, creates a labelled bridge network
// on a free 10.213.X.0/24, creates containers faultline-<run>-n1..nN with
// fixed addresses .2 … and hostnames n1 …, and starts them. It returns once
// every container is running; the node inside may not serve yet. On error
// everything made so far is removed.
func (r Runtime) Start(ctx context.Context, spec cluster.Spec) (cluster.Cluster, error) {
	if err := spec.CheckAddressed("docker"); err != nil {
		return nil, err
	}
	cli, own := r.Client, false
	if cli == nil {
		var err error
		if cli, err = NewClient(); err != nil {
			return nil, err
		}
		own = true
	}
	bin := spec.Binary
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("cannot find the faultline binary to run nodes: %w", err)
		}
		bin = exe
	}
	closeOwn := func() {
		if own {
			cli.Close()
		}
	}
	// A spec's own image runs as it is; else the node image is built from
	// the binary.
	var tag string
	var err error
	if spec.Image != "" {
		tag, err = spec.Image, localImage(ctx, cli, spec.Image)
	} else {
		tag, _, err = EnsureImageWith(ctx, cli, bin, spec.Files)
	}
	if err != nil {
		closeOwn()
		return nil, err
	}
	run, err := cluster.RandomHex(3)
	if err != nil {
		closeOwn()
		return nil, err
	}
	if spec.OnRun != nil {
		spec.OnRun(run)
	}
	c := &dockerCluster{cli: cli, ownClient: own, run: run, netName: cluster.Label + "-" + run}
	labels := map[string]string{cluster.Label: run, LabelTest: spec.Name}
	if err := c.createNetwork(ctx, labels); err != nil {
		// A create cut short by a cancelled ctx may still have made the
		// network: it carries the run's label.
		_, _ = cleanRun(context.WithoutCancel(ctx), c.cli, run)
		closeOwn()
		return nil, err
	}
	peers := make([]cluster.Peer, spec.Nodes)
	for i := range peers {
		peers[i] = cluster.Peer{ID: fmt.Sprintf("n%d", i+1), Addr: net.JoinHostPort(c.ip(i+2).String(), fmt.Sprint(spec.Port))}
		if spec.PeerPort {
			peers[i].PeerAddr = net.JoinHostPort(c.ip(i+2).String(), fmt.Sprint(spec.Port+1))
		}
	}
	// Create, then start, every container in parallel: the daemon takes
	// 0.1-0.2 s per create and 0.4-0.8 s per start here, and overlaps them.
	c.nodes = make([]*node, len(peers))
	createErrs := make(chan error, len(peers))
	for i, p := range peers {
		go func() {
			n, err := c.createNode(ctx, spec, tag, labels, p, peers, c.ip(i+2))
			if err != nil {
				createErrs <- fmt.Errorf("node %s: %w", p.ID, err)
				return
			}
			c.nodes[i] = n
			createErrs <- nil
		}()
	}
	var cerrs []error
	for range peers {
		if err := <-createErrs; err != nil {
			cerrs = append(cerrs, err)
		}
	}
	if err := errors.Join(cerrs...); err != nil {
		c.dropMissing()
		_ = c.Teardown(ctx)
		// A container created under our name but not recorded (the create
		// call failed late) still carries the run's label.
		_, _ = cleanRun(context.WithoutCancel(ctx), c.cli, run)
		return nil, err
	}
	errs := make(chan error, len(c.nodes))
	for _, n := range c.nodes {
		go func() { errs <- n.Start(ctx) }()
	}
	var startErrs []error
	for range c.nodes {
		if err := <-errs; err != nil {
			startErrs = append(startErrs, err)
		}
	}
	if err := errors.Join(startErrs...); err != nil {
		_ = c.Teardown(ctx)
		_, _ = cleanRun(context.WithoutCancel(ctx), c.cli, run)
		return nil, err
	}
	return c, nil
}

// dropMissing removes the nodes that were never created.
func (c *dockerCluster) dropMissing() {
	var kept []*node
	for _, n := range c.nodes {
		if n != nil {
			kept = append(kept, n)
		}
	}
	c.nodes = kept
}

// dockerCluster is one running cluster of the Docker runtime.
type dockerCluster struct {
	cli       *client.Client
	ownClient bool // made by Start: its idle connections are closed at teardown
	run       string
	netName   string
	netID     string
	subnet    net.IP
	nodes     []*node
}

// ip returns host number h of the cluster's subnet (1 is the gateway).
func (c *dockerCluster) ip(h int) net.IP { return cluster.HostIP(c.subnet, h) }

// Run returns the run id that names the network and the containers.
func (c *dockerCluster) Run() string { return c.run }

func (c *dockerCluster) Nodes() []cluster.Node {
	out := make([]cluster.Node, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n
	}
	return out
}

// createNetwork creates the cluster's bridge network on a /24 of
// 10.213.0.0/16 that overlaps no Docker network and no host route. A create
// that fails because another harness took the subnet meanwhile moves on to
// the next one.
func (c *dockerCluster) createNetwork(ctx context.Context, labels map[string]string) error {
	nets, err := c.cli.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return fmt.Errorf("list docker networks: %w", err)
	}
	var used []*net.IPNet
	for _, n := range nets {
		for _, cfg := range n.IPAM.Config {
			if _, sn, err := net.ParseCIDR(cfg.Subnet); err == nil {
				used = append(used, sn)
			}
		}
	}
	if routes, err := netlink.RouteList(nil, netlink.FAMILY_V4); err == nil {
		for _, r := range routes {
			if r.Dst != nil && !r.Dst.IP.Equal(net.IPv4zero) {
				used = append(used, r.Dst)
			}
		}
	}
	start, err := rand.Int(rand.Reader, big.NewInt(256))
	if err != nil {
		return err
	}
	var lastErr error
	for i := 0; i < 256; i++ {
		x := byte((int(start.Int64()) + i) % 256)
		cand := &net.IPNet{IP: net.IPv4(10, 213, x, 0).To4(), Mask: net.CIDRMask(24, 32)}
		if cluster.OverlapsAny(cand, used) {
			continue
		}
		// Not cancelled with ctx: a create the client gives up on may still
		// complete in the daemon after any cleanup has looked, so it is
		// waited for, and its id kept for Teardown.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		resp, err := c.cli.NetworkCreate(cctx, c.netName, network.CreateOptions{
			Driver: "bridge",
			IPAM: &network.IPAM{Driver: "default", Config: []network.IPAMConfig{{
				Subnet: cand.String(), Gateway: net.IPv4(10, 213, x, 1).String(),
			}}},
			Labels: labels,
		})
		cancel()
		if err != nil {
			lastErr = err
			if strings.Contains(err.Error(), "overlap") {
				continue
			}
			return fmt.Errorf("create docker network %s on %s: %w", c.netName, cand, err)
		}
		c.netID, c.subnet = resp.ID, cand.IP
		return ctx.Err()
	}
	return fmt.Errorf("no free /24 in 10.213.0.0/16 for network %s (last error: %v)", c.netName, lastErr)
}

func (c *dockerCluster) createNode(ctx context.Context, spec cluster.Spec, tag string, labels map[string]string,
	self cluster.Peer, peers []cluster.Peer, ip net.IP) (*node, error) {
	dir := filepath.Join(spec.RunDir, "nodes", self.ID)
	data, err := filepath.Abs(filepath.Join(dir, "data"))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s-%s-%s", cluster.Label, c.run, self.ID)
	cl := map[string]string{LabelNode: self.ID}
	for k, v := range labels {
		cl[k] = v
	}
	// Not cancelled with ctx, like the network's create: the container it
	// makes is then always known to Teardown.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	resp, err := c.cli.ContainerCreate(cctx,
		&container.Config{
			Image:    tag,
			Cmd:      spec.Command(self, peers, DataDir),
			Hostname: self.ID,
			Labels:   cl,
		},
		&container.HostConfig{
			Binds:       []string{data + ":" + DataDir},
			NetworkMode: container.NetworkMode(c.netName),
		},
		&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			c.netName: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: ip.String()}, Aliases: []string{self.ID}},
		}},
		nil, name)
	if err != nil {
		return nil, fmt.Errorf("create container %s: %w", name, err)
	}
	return &node{c: c, id: self.ID, addr: self.Addr, name: name, cid: resp.ID, logPath: filepath.Join(dir, "node.log")}, nil
}

// Teardown unpauses and removes every container (force), waits for their
// logs to be written, then removes the network. It runs under
// context.WithoutCancel with a 60 s timeout, so a cancelled test still
// cleans up. It is idempotent: what is already gone is not an error.
func (c *dockerCluster) Teardown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	defer cancel()
	errs := make(chan error, len(c.nodes))
	for _, n := range c.nodes {
		go func() { errs <- n.remove(ctx) }()
	}
	var all []error
	for range c.nodes {
		if err := <-errs; err != nil {
			all = append(all, err)
		}
	}
	if c.netID != "" {
		if err := c.cli.NetworkRemove(ctx, c.netID); err != nil && !cerrdefs.IsNotFound(err) {
			all = append(all, fmt.Errorf("remove network %s: %w", c.netName, err))
		}
	}
	if c.ownClient {
		// Only idle connections close; a second Teardown still works.
		_ = c.cli.Close()
	}
	return errors.Join(all...)
}

// node is one container.
type node struct {
	c                   *dockerCluster
	id, addr, name, cid string
	logPath             string

	cluster.StartHooks // re-apply faults a new container lost

	mu      sync.Mutex
	logDone chan struct{} // closed when the current log stream ended
}

func (n *node) ID() string   { return n.id }
func (n *node) Addr() string { return n.addr }

// ContainerName returns faultline-<run>-<id>.
func (n *node) ContainerName() string { return n.name }

// Running implements cluster.RunningReporter: whether the container runs
// (a paused container runs).
func (n *node) Running(ctx context.Context) (bool, error) {
	st, err := n.inspect(ctx)
	if err != nil {
		return false, err
	}
	return st.Running, nil
}

func (n *node) inspect(ctx context.Context) (*container.State, error) {
	info, err := n.c.cli.ContainerInspect(ctx, n.cid)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", n.name, err)
	}
	if info.ContainerJSONBase == nil || info.State == nil {
		return nil, fmt.Errorf("inspect %s: no state", n.name)
	}
	return info.State, nil
}

// Kill sends SIGKILL from outside (ContainerKill) and waits until the
// container has stopped and its output is in node.log. A paused container
// is unpaused first: Docker refuses to kill a paused one. Killing a stopped
// node is a no-op.
func (n *node) Kill(ctx context.Context) error {
	st, err := n.inspect(ctx)
	if err != nil {
		return err
	}
	if !st.Running {
		return nil
	}
	if st.Paused {
		if err := n.c.cli.ContainerUnpause(ctx, n.cid); err != nil {
			return fmt.Errorf("unpause %s before kill: %w", n.name, err)
		}
	}
	waitC, errC := n.c.cli.ContainerWait(ctx, n.cid, container.WaitConditionNotRunning)
	if err := n.c.cli.ContainerKill(ctx, n.cid, "SIGKILL"); err != nil {
		if st, ierr := n.inspect(ctx); ierr == nil && !st.Running {
			return nil // it died on its own meanwhile
		}
		return fmt.Errorf("kill %s: %w", n.name, err)
	}
	select {
	case <-waitC:
	case err := <-errC:
		return fmt.Errorf("wait for %s to stop: %w", n.name, err)
	}
	n.waitLogs(ctx)
	return nil
}

// Start starts the stopped container on the same bind mount, appends its
// output to node.log, waits until it runs, then runs the start hooks (which
// re-apply network faults in its new namespace). Starting a running node is
// a no-op.
func (n *node) Start(ctx context.Context) error {
	st, err := n.inspect(ctx)
	if err != nil {
		return err
	}
	if st.Running {
		return nil
	}
	if err := n.attachLogs(ctx); err != nil {
		return err
	}
	if err := n.c.cli.ContainerStart(ctx, n.cid, container.StartOptions{}); err != nil {
		return fmt.Errorf("start %s: %w", n.name, err)
	}
	for {
		st, err := n.inspect(ctx)
		if err != nil {
			return err
		}
		if st.Running {
			break
		}
		if st.Status == "exited" || st.Status == "dead" {
			n.waitLogs(ctx)
			return fmt.Errorf("%s exited at once (code %d%s); see %s", n.name, st.ExitCode, errSuffix(st.Error), n.logPath)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s to run: %w", n.name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := n.waitForwarding(ctx); err != nil {
		return err
	}
	return n.RunStartHooks(ctx, n)
}

// waitForwarding waits until the host-side bridge port of the container's
// veth forwards frames. A bridge port enters forwarding asynchronously, in
// the kernel's linkwatch work, after its carrier comes up, and frames sent
// before are dropped: on the netns runtime that lost the first ARP request
// of about one new cluster in 40. With Docker 20.10 the port was already
// forwarding when ContainerStart returned in every start measured (25), so
// this is a guard that costs one netlink round trip. It needs root to enter
// the container's namespace; without root it does not wait.
func (n *node) waitForwarding(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ready, detail, err := n.forwarding()
		if err != nil || ready {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s after 10s", n.name, detail)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the network of %s: %w", n.name, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// forwarding reports whether the bridge port that is the peer of the
// container's eth0 is forwarding.
func (n *node) forwarding() (bool, string, error) {
	ns, err := n.NetNS()
	if err != nil {
		return false, "", err
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return false, "", fmt.Errorf("netlink in %s: %w", n.name, err)
	}
	defer h.Close()
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		return false, "", fmt.Errorf("eth0 of %s: %w", n.name, err)
	}
	peer := eth0.Attrs().ParentIndex
	ports, err := cluster.BridgePorts(netns.None())
	if err != nil {
		return false, "", fmt.Errorf("host bridge ports: %w", err)
	}
	for _, p := range ports {
		if p.Index == peer {
			return p.State == cluster.BridgeForwarding, fmt.Sprintf("bridge port %s in state %d", p.Name, p.State), nil
		}
	}
	return false, fmt.Sprintf("no bridge port with index %d (eth0's peer)", peer), nil
}

func errSuffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

// attachLogs attaches to the container's output before it starts, so that
// nothing is missed, and appends it to node.log until the container stops.
// Attaching (rather than following the log) gives only this run's output,
// so restarts never duplicate lines.
func (n *node) attachLogs(ctx context.Context) error {
	n.waitLogs(ctx)
	if err := os.MkdirAll(filepath.Dir(n.logPath), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open node log: %w", err)
	}
	fmt.Fprintf(f, "--- faultline: starting container %s at %s\n", n.name, time.Now().Format(time.RFC3339Nano))
	resp, err := n.c.cli.ContainerAttach(context.WithoutCancel(ctx), n.cid, container.AttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		f.Close()
		return fmt.Errorf("attach to %s for its log: %w", n.name, err)
	}
	done := make(chan struct{})
	n.mu.Lock()
	n.logDone = done
	n.mu.Unlock()
	go func() {
		defer close(done)
		defer f.Close()
		defer resp.Close()
		_, _ = stdcopy.StdCopy(f, f, resp.Reader)
	}()
	return nil
}

// waitLogs waits (up to 5 s, or ctx) for the current log stream to end.
func (n *node) waitLogs(ctx context.Context) {
	n.mu.Lock()
	done := n.logDone
	n.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
	}
}

// Pause freezes the container (ContainerPause: the cgroup freezer, invisible
// to the process). Pausing a stopped or paused node is a no-op.
func (n *node) Pause(ctx context.Context) error {
	st, err := n.inspect(ctx)
	if err != nil {
		return err
	}
	if !st.Running || st.Paused {
		return nil
	}
	if err := n.c.cli.ContainerPause(ctx, n.cid); err != nil {
		return fmt.Errorf("pause %s: %w", n.name, err)
	}
	return nil
}

// Resume thaws a paused container; otherwise it is a no-op.
func (n *node) Resume(ctx context.Context) error {
	st, err := n.inspect(ctx)
	if err != nil {
		return err
	}
	if !st.Paused {
		return nil
	}
	if err := n.c.cli.ContainerUnpause(ctx, n.cid); err != nil {
		return fmt.Errorf("unpause %s: %w", n.name, err)
	}
	return nil
}

// NetNS returns the namespace of the container's current process, inspected
// anew each time: a restarted container has a new PID and a new namespace.
// A stopped container has none: the error wraps cluster.ErrNotRunning.
func (n *node) NetNS() (netns.NsHandle, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := n.inspect(ctx)
	if err != nil {
		return netns.None(), err
	}
	if !st.Running || st.Pid == 0 {
		return netns.None(), fmt.Errorf("%s (%s): %w", n.name, st.Status, cluster.ErrNotRunning)
	}
	ns, err := netns.GetFromPid(st.Pid)
	if err != nil {
		return netns.None(), fmt.Errorf("open network namespace of %s (pid %d): %w", n.name, st.Pid, err)
	}
	return ns, nil
}

// remove unpauses and force-removes the container and waits for its log.
func (n *node) remove(ctx context.Context) error {
	if st, err := n.inspect(ctx); err == nil && st.Paused {
		_ = n.c.cli.ContainerUnpause(ctx, n.cid)
	}
	err := n.c.cli.ContainerRemove(ctx, n.cid, container.RemoveOptions{Force: true, RemoveVolumes: true})
	n.waitLogs(ctx)
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", n.name, err)
	}
	return nil
}

// Clean removes every container and network labelled cluster.Label (what a
// killed harness left), unpausing containers first. It returns what it
// removed.
func Clean(ctx context.Context) (removed []string, err error) {
	cli, err := NewClient()
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	return cleanRun(ctx, cli, "")
}

// CleanRun is Clean restricted to the run with id run (the id in
// runtime.json), so other runs in progress are not touched.
func CleanRun(ctx context.Context, run string) (removed []string, err error) {
	if run == "" {
		return nil, errors.New("empty run id")
	}
	cli, err := NewClient()
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	return cleanRun(ctx, cli, run)
}

// cleanRun removes the labelled containers and networks of run, or of every
// run when run is empty.
func cleanRun(ctx context.Context, cli *client.Client, run string) (removed []string, err error) {
	sel := cluster.Label
	if run != "" {
		sel += "=" + run
	}
	f := filters.NewArgs(filters.Arg("label", sel))
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list labelled containers: %w", err)
	}
	var errs []error
	for _, c := range cs {
		name := strings.TrimPrefix(strings.Join(c.Names, ","), "/")
		if c.State == "paused" {
			_ = cli.ContainerUnpause(ctx, c.ID)
		}
		if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", name, err))
			continue
		}
		removed = append(removed, "container "+name)
	}
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return removed, errors.Join(append(errs, fmt.Errorf("list labelled networks: %w", err))...)
	}
	for _, n := range nets {
		if err := cli.NetworkRemove(ctx, n.ID); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
			continue
		}
		removed = append(removed, "network "+n.Name)
	}
	return removed, errors.Join(errs...)
}

// RemoveImages removes the faultline-node images (they are a cache: Start
// imports them again when needed).
func RemoveImages(ctx context.Context) (removed []string, err error) {
	cli, err := NewClient()
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	imgs, err := cli.ImageList(ctx, imageListOptions())
	if err != nil {
		return nil, fmt.Errorf("list %s images: %w", ImageRepo, err)
	}
	var errs []error
	for _, im := range imgs {
		for _, tag := range im.RepoTags {
			if !strings.HasPrefix(tag, ImageRepo+":") {
				continue
			}
			if _, err := cli.ImageRemove(ctx, tag, imageRemoveOptions()); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove image %s: %w", tag, err))
				continue
			}
			removed = append(removed, "image "+tag)
		}
	}
	return removed, errors.Join(errs...)
}
