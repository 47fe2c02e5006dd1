package cluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Netns is the runtime that runs each node as a child process of the harness
// inside its own network namespace, without Docker. It needs root.
//
// Topology of one cluster with run id <id> (six hex digits):
//
//	host ns:   fl<id> (veth, 10.214.X.1/24) ─┐
//	faultline-<id>-sw:   up ── bridge fl<id> ── n1 … nN
//	faultline-<id>-nK:   eth0 (10.214.X.K+1/24) ── peer nK in the switch ns
//
// The bridge lives in a namespace of its own, not in the host's: on hosts
// with br_netfilter loaded (bridge-nf-call-iptables=1) and Docker's iptables
// FORWARD policy DROP, frames bridged between two ports of a host bridge
// are dropped by the host's FORWARD chain. Measured on the project's
// machine: 0 of 100 UDP datagrams crossed a host bridge between two
// namespaces, and an accept rule in a table of our own did not help (an
// accept in one nftables base chain does not overrule another table's drop
// policy). In a switch namespace of our own there are no iptables rules, so
// nodes reach each other (100 of 100) without touching the host firewall.
// The harness talks to nodes from the host through fl<id>, as a local
// endpoint (INPUT/OUTPUT, never FORWARD).
//
// Nodes keep their namespace across Kill and Start, so network faults
// installed in it survive restarts.
type Netns struct{}

// Name returns "netns".
func (Netns) Name() string { return "netns" }

// Netns names and addresses.
const (
	// NetnsPrefix starts the name of every namespace this runtime makes.
	NetnsPrefix = Label + "-"
	// LinkPrefix starts the name of the host link (and the bridge) of each
	// cluster: "fl" + six hex digits, within the 15 characters of IFNAMSIZ.
	LinkPrefix = "fl"
	// netnsSubnetBase is the /16 whose /24s the runtime uses: 10.214.X.0/24.
	netnsSubnetBase = "10.214.0.0"
)

var ourLink = regexp.MustCompile(`^fl[0-9a-f]{6}$`)

// Start creates the switch namespace, one namespace per node with its veth
// and address, then starts every node inside its namespace. On any error
// everything made so far is removed.
func (Netns) Start(ctx context.Context, spec Spec) (Cluster, error) {
	if err := spec.CheckAddressed("netns"); err != nil {
		return nil, err
	}
	if spec.Image != "" {
		return nil, fmt.Errorf("the netns runtime runs programs, not Docker images (image %s): use the docker runtime", spec.Image)
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("the netns runtime needs root (network namespaces, veths, a bridge)")
	}
	bin, err := nodeBinary(spec.Binary)
	if err != nil {
		return nil, err
	}
	id, err := RandomHex(3)
	if err != nil {
		return nil, err
	}
	if spec.OnRun != nil {
		spec.OnRun(id)
	}
	subnet, err := freeNetnsSubnet()
	if err != nil {
		return nil, err
	}
	c := &netnsCluster{
		id:       id,
		subnet:   subnet,
		hostLink: LinkPrefix + id,
		switchNS: NetnsPrefix + id + "-sw",
	}
	if err := c.build(spec, bin); err != nil {
		_ = c.Teardown(context.WithoutCancel(ctx))
		return nil, err
	}
	if err := c.waitLinks(ctx); err != nil {
		_ = c.Teardown(context.WithoutCancel(ctx))
		return nil, err
	}
	for _, n := range c.nodes {
		if err := n.proc.Start(ctx); err != nil {
			_ = c.Teardown(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("start node %s in %s: %w", n.id, n.nsName, err)
		}
	}
	return c, nil
}

// netnsCluster is one running cluster of the netns runtime.
type netnsCluster struct {
	id       string
	subnet   net.IP // 10.214.X.0
	hostLink string
	switchNS string

	mu        sync.Mutex
	namespace []string // every named namespace created, for teardown
	nodes     []*netnsNode
}

// nodeIP returns the address of host (1 = the host side, 2.. = nodes).
func (c *netnsCluster) nodeIP(host int) net.IP { return HostIP(c.subnet, host) }

// HostIP is the harness's address on the cluster's network.
func (c *netnsCluster) HostIP() net.IP { return c.nodeIP(1) }

// Run returns the id that names this cluster's namespaces and links.
func (c *netnsCluster) Run() string { return c.id }

func (c *netnsCluster) build(spec Spec, bin string) error {
	sw, err := c.newNamespace(c.switchNS)
	if err != nil {
		return err
	}
	defer sw.Close()
	swh, err := netlink.NewHandleAt(sw)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", c.switchNS, err)
	}
	defer swh.Close()
	if err := linkUp(swh, "lo"); err != nil {
		return fmt.Errorf("%s: %w", c.switchNS, err)
	}
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: c.hostLink}}
	if err := swh.LinkAdd(br); err != nil {
		return fmt.Errorf("create bridge %s in %s: %w", c.hostLink, c.switchNS, err)
	}
	if err := swh.LinkSetUp(br); err != nil {
		return fmt.Errorf("bring up bridge %s: %w", c.hostLink, err)
	}

	// The harness's uplink: fl<id> in the host namespace, "up" on the bridge.
	host, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("netlink in the host namespace: %w", err)
	}
	defer host.Close()
	up := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: c.hostLink}, PeerName: "up", PeerNamespace: netlink.NsFd(int(sw))}
	if err := host.LinkAdd(up); err != nil {
		return fmt.Errorf("create veth %s: %w", c.hostLink, err)
	}
	if err := c.attach(swh, "up", br); err != nil {
		return err
	}
	hl, err := host.LinkByName(c.hostLink)
	if err != nil {
		return fmt.Errorf("find %s: %w", c.hostLink, err)
	}
	if err := host.AddrAdd(hl, &netlink.Addr{IPNet: &net.IPNet{IP: c.HostIP(), Mask: net.CIDRMask(24, 32)}}); err != nil {
		return fmt.Errorf("address %s on %s: %w", c.HostIP(), c.hostLink, err)
	}
	if err := host.LinkSetUp(hl); err != nil {
		return fmt.Errorf("bring up %s: %w", c.hostLink, err)
	}

	peers := make([]Peer, spec.Nodes)
	for i := range peers {
		peers[i] = Peer{ID: fmt.Sprintf("n%d", i+1), Addr: net.JoinHostPort(c.nodeIP(i+2).String(), fmt.Sprint(spec.Port))}
		if spec.PeerPort {
			peers[i].PeerAddr = net.JoinHostPort(c.nodeIP(i+2).String(), fmt.Sprint(spec.Port+1))
		}
	}
	for i, p := range peers {
		nsName := fmt.Sprintf("%s%s-%s", NetnsPrefix, c.id, p.ID)
		ns, err := c.newNamespace(nsName)
		if err != nil {
			return err
		}
		err = c.wireNode(swh, br, ns, p.ID, c.nodeIP(i+2))
		ns.Close()
		if err != nil {
			return fmt.Errorf("node %s: %w", p.ID, err)
		}
		dir := filepath.Join(spec.RunDir, "nodes", p.ID)
		data := filepath.Join(dir, "data")
		if err := os.MkdirAll(data, 0o755); err != nil {
			return err
		}
		proc := NewProcess(bin, spec.Command(p, peers, data), filepath.Join(dir, "node.log"))
		proc.Fork = forkIn(nsName)
		c.nodes = append(c.nodes, &netnsNode{id: p.ID, addr: p.Addr, nsName: nsName, proc: proc})
	}
	return nil
}

// waitLinks waits until frames can flow: every bridge port is forwarding
// and every node's eth0 (and the host link) has left the noop qdisc. Both
// happen asynchronously, in the kernel's linkwatch work, after a veth's
// carrier comes up; a frame sent before that is dropped. Measured: without
// this wait, about one new cluster in 40 lost the first ARP request, and
// its first datagrams with it.
func (c *netnsCluster) waitLinks(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		pending, err := c.linksPending()
		if err != nil {
			return err
		}
		if len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("links not ready after 10s: %s", strings.Join(pending, ", "))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for links: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// linksPending lists the links that cannot pass frames yet.
func (c *netnsCluster) linksPending() ([]string, error) {
	var pending []string
	sw, err := netns.GetFromName(c.switchNS)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", c.switchNS, err)
	}
	defer sw.Close()
	ports, err := BridgePorts(sw)
	if err != nil {
		return nil, fmt.Errorf("bridge port states in %s: %w", c.switchNS, err)
	}
	states := map[string]uint8{}
	for _, p := range ports {
		states[p.Name] = p.State
	}
	for _, port := range append([]string{"up"}, c.nodeIDs()...) {
		if st, ok := states[port]; !ok || st != BridgeForwarding {
			pending = append(pending, fmt.Sprintf("bridge port %s (state %d)", port, st))
		}
	}
	if active, err := qdiscActive(netns.None(), c.hostLink); err != nil {
		return nil, err
	} else if !active {
		pending = append(pending, "host link "+c.hostLink)
	}
	for _, n := range c.nodes {
		ns, err := netns.GetFromName(n.nsName)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", n.nsName, err)
		}
		active, err := qdiscActive(ns, "eth0")
		ns.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.id, err)
		}
		if !active {
			pending = append(pending, n.id+" eth0")
		}
	}
	return pending, nil
}

func (c *netnsCluster) nodeIDs() []string {
	ids := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		ids[i] = n.id
	}
	return ids
}

// BridgeForwarding is BR_STATE_FORWARDING, the bridge port state in which
// frames pass.
const BridgeForwarding = 3

// BridgePort is one bridge port as the kernel reports it.
type BridgePort struct {
	Index int
	Name  string
	// State is IFLA_BRPORT_STATE: 0 disabled, 1 listening, 2 learning,
	// 3 forwarding, 4 blocking.
	State uint8
}

// BridgePorts lists the bridge ports of namespace ns (netns.None() for the
// caller's own) with their states, which the netlink library does not
// parse. A port enters forwarding asynchronously after its carrier comes
// up; frames sent to it before are dropped.
func BridgePorts(ns netns.NsHandle) ([]BridgePort, error) {
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	req.AddData(nl.NewIfInfomsg(unix.AF_BRIDGE))
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: s}}
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return nil, err
	}
	var ports []BridgePort
	for _, m := range msgs {
		info := nl.DeserializeIfInfomsg(m)
		attrs, err := nl.ParseRouteAttr(m[info.Len():])
		if err != nil {
			return nil, err
		}
		p := BridgePort{Index: int(info.Index)}
		found := false
		for _, a := range attrs {
			switch a.Attr.Type &^ unix.NLA_F_NESTED {
			case unix.IFLA_IFNAME:
				p.Name = strings.TrimRight(string(a.Value), "\x00")
			case unix.IFLA_PROTINFO:
				inner, err := nl.ParseRouteAttr(a.Value)
				if err != nil {
					return nil, err
				}
				for _, in := range inner {
					if in.Attr.Type&^unix.NLA_F_NESTED == nl.IFLA_BRPORT_STATE && len(in.Value) > 0 {
						p.State, found = in.Value[0], true
					}
				}
			}
		}
		if found {
			ports = append(ports, p)
		}
	}
	return ports, nil
}

// qdiscActive reports whether link name in ns has a root qdisc other than
// noop, the one a device has until linkwatch activates it.
func qdiscActive(ns netns.NsHandle, name string) (bool, error) {
	var h *netlink.Handle
	var err error
	if ns.IsOpen() {
		h, err = netlink.NewHandleAt(ns)
	} else {
		h, err = netlink.NewHandle()
	}
	if err != nil {
		return false, fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	l, err := h.LinkByName(name)
	if err != nil {
		return false, fmt.Errorf("find %s: %w", name, err)
	}
	qs, err := h.QdiscList(l)
	if err != nil {
		return false, fmt.Errorf("qdiscs of %s: %w", name, err)
	}
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_ROOT && q.Type() != "noop" {
			return true, nil
		}
	}
	return false, nil
}

// wireNode creates the veth pair of one node: <id> on the bridge in the
// switch namespace, eth0 with the node's address in the node's namespace.
func (c *netnsCluster) wireNode(swh *netlink.Handle, br *netlink.Bridge, ns netns.NsHandle, id string, ip net.IP) error {
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: id}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(ns))}
	if err := swh.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s/eth0: %w", id, err)
	}
	if err := c.attach(swh, id, br); err != nil {
		return err
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in the node's namespace: %w", err)
	}
	defer h.Close()
	if err := linkUp(h, "lo"); err != nil {
		return err
	}
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		return fmt.Errorf("find eth0: %w", err)
	}
	if err := h.AddrAdd(eth0, &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(24, 32)}}); err != nil {
		return fmt.Errorf("address %s on eth0: %w", ip, err)
	}
	if err := h.LinkSetUp(eth0); err != nil {
		return fmt.Errorf("bring up eth0: %w", err)
	}
	return nil
}

func (c *netnsCluster) attach(swh *netlink.Handle, name string, br *netlink.Bridge) error {
	l, err := swh.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find %s in %s: %w", name, c.switchNS, err)
	}
	if err := swh.LinkSetMaster(l, br); err != nil {
		return fmt.Errorf("attach %s to bridge %s: %w", name, br.Name, err)
	}
	if err := swh.LinkSetUp(l); err != nil {
		return fmt.Errorf("bring up %s: %w", name, err)
	}
	return nil
}

// newNamespace creates a named namespace and records it for teardown.
func (c *netnsCluster) newNamespace(name string) (netns.NsHandle, error) {
	ns, err := NewNamedNetNS(name)
	if err != nil {
		return ns, err
	}
	c.mu.Lock()
	c.namespace = append(c.namespace, name)
	c.mu.Unlock()
	return ns, nil
}

func (c *netnsCluster) Nodes() []Node {
	ns := make([]Node, len(c.nodes))
	for i, n := range c.nodes {
		ns[i] = n
	}
	return ns
}

// Teardown resumes and kills every node, deletes the host link (which
// deletes its peer) and every namespace, which takes the bridge and the node
// veths with it. It is idempotent; what is already gone is not an error.
func (c *netnsCluster) Teardown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var errs []error
	for _, n := range c.nodes {
		_ = n.proc.Resume(ctx)
		if err := n.proc.Kill(ctx); err != nil {
			errs = append(errs, fmt.Errorf("kill %s: %w", n.id, err))
		}
	}
	if err := deleteOurLink(c.hostLink); err != nil {
		errs = append(errs, err)
	}
	c.mu.Lock()
	names := c.namespace
	c.namespace = nil
	c.mu.Unlock()
	for _, name := range names {
		if err := netns.DeleteNamed(name); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.EINVAL) {
			errs = append(errs, fmt.Errorf("delete namespace %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// netnsNode is one node of the netns runtime.
type netnsNode struct {
	StartHooks
	id, addr, nsName string
	proc             *Process
}

func (n *netnsNode) ID() string                     { return n.id }
func (n *netnsNode) Addr() string                   { return n.addr }
func (n *netnsNode) Kill(ctx context.Context) error { return n.proc.Kill(ctx) }

// Running implements RunningReporter.
func (n *netnsNode) Running(ctx context.Context) (bool, error) { return n.proc.Running(), nil }

func (n *netnsNode) Start(ctx context.Context) error {
	return startProcess(ctx, n.proc, &n.StartHooks, n)
}
func (n *netnsNode) Pause(ctx context.Context) error  { return n.proc.Pause(ctx) }
func (n *netnsNode) Resume(ctx context.Context) error { return n.proc.Resume(ctx) }

// NetNS opens the node's namespace by name; it exists whether or not the
// node's process runs.
func (n *netnsNode) NetNS() (netns.NsHandle, error) {
	ns, err := netns.GetFromName(n.nsName)
	if err != nil {
		return netns.None(), fmt.Errorf("open namespace %s of %s: %w", n.nsName, n.id, err)
	}
	return ns, nil
}

// NetNSName returns the name of the node's namespace (ip netns exec NAME).
func (n *netnsNode) NetNSName() string { return n.nsName }

// forkIn returns a Process.Fork that starts the command from a thread inside
// the named namespace; the child inherits the thread's namespace.
//
// Process starts nodes with Pdeathsig, which the kernel ties to the thread
// that forked, not to the process. The forking thread is switched back to
// its namespace and unlocked, so it returns to the Go scheduler, which never
// retires an unlocked thread: the node lives as long as the harness. (A
// thread is retired only when a goroutine exits while locked to it, which
// InNetNS and the netlink libraries do only after failing to restore a
// namespace; a node forked from such a thread would get SIGKILL.)
func forkIn(nsName string) func(*exec.Cmd) error {
	return func(cmd *exec.Cmd) error {
		ns, err := netns.GetFromName(nsName)
		if err != nil {
			return fmt.Errorf("open namespace %s: %w", nsName, err)
		}
		defer ns.Close()
		return InNetNS(ns, cmd.Start)
	}
}

// InNetNS runs fn on an OS thread switched into namespace ns, then switches
// the thread back. Sockets fn opens stay in ns; processes it starts inherit
// ns. fn runs on a goroutine of its own, so the caller's thread never
// changes namespace. If the thread cannot be switched back it is never
// unlocked: it ends with its goroutine, and no other goroutine ever runs in
// the wrong namespace. (A child started with Pdeathsig by fn then receives
// its signal, since its parent thread died; Process reports that as a
// failed start.)
func InNetNS(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("get current namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter namespace %v: %w", ns, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("return to namespace %v: %w", orig, err))
			return // locked thread exits with this goroutine
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// NewNamedNetNS creates a network namespace bound at /run/netns/<name>
// (visible to `ip netns`) without moving the calling goroutine's thread: the
// work happens on a locked thread that returns to its own namespace.
func NewNamedNetNS(name string) (netns.NsHandle, error) {
	type result struct {
		ns  netns.NsHandle
		err error
	}
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			res <- result{netns.None(), fmt.Errorf("get current namespace: %w", err)}
			return
		}
		defer orig.Close()
		ns, err := netns.NewNamed(name)
		if rerr := netns.Set(orig); rerr != nil {
			if err == nil {
				ns.Close()
			}
			res <- result{netns.None(), fmt.Errorf("return to namespace %v after creating %s: %w", orig, name, rerr)}
			return // locked thread exits with this goroutine
		}
		runtime.UnlockOSThread()
		if err != nil {
			res <- result{netns.None(), fmt.Errorf("create namespace %s: %w", name, err)}
			return
		}
		res <- result{ns, nil}
	}()
	r := <-res
	return r.ns, r.err
}

// CleanNetns removes what a killed harness left of netns clusters: named
// namespaces starting with NetnsPrefix and host links named fl + six hex
// digits that are veths or bridges (nothing else is touched). It returns
// what it removed.
func CleanNetns() ([]string, error) { return cleanNetns("") }

// CleanNetnsRun is CleanNetns restricted to the run with id run (the id in
// runtime.json), so other runs in progress are not touched.
func CleanNetnsRun(run string) ([]string, error) {
	if run == "" {
		return nil, errors.New("empty run id")
	}
	return cleanNetns(run)
}

// cleanNetns is CleanNetns restricted to run id (all runs when empty).
func cleanNetns(id string) ([]string, error) {
	var removed []string
	var errs []error
	links, err := netlink.LinkList()
	if err != nil {
		errs = append(errs, fmt.Errorf("list links: %w", err))
	}
	for _, l := range links {
		name := l.Attrs().Name
		if !ourLink.MatchString(name) || (l.Type() != "veth" && l.Type() != "bridge") ||
			(id != "" && name != LinkPrefix+id) {
			continue
		}
		if err := netlink.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("delete link %s: %w", name, err))
			continue
		}
		removed = append(removed, fmt.Sprintf("link %s (%s)", name, l.Type()))
	}
	entries, err := os.ReadDir(netnsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("list %s: %w", netnsDir, err))
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), NetnsPrefix) || (id != "" && !strings.HasPrefix(e.Name(), NetnsPrefix+id+"-")) {
			continue
		}
		if err := netns.DeleteNamed(e.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("delete namespace %s: %w", e.Name(), err))
			continue
		}
		removed = append(removed, "namespace "+e.Name())
	}
	return removed, errors.Join(errs...)
}

// netnsDir is where named namespaces are bound (as by `ip netns add`).
const netnsDir = "/run/netns"

// deleteOurLink deletes the host link name if it exists and is a veth or a
// bridge.
func deleteOurLink(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("find link %s: %w", name, err)
	}
	if l.Type() != "veth" && l.Type() != "bridge" {
		return fmt.Errorf("link %s is a %s, not ours; left alone", name, l.Type())
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

func linkUp(h *netlink.Handle, name string) error {
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find %s: %w", name, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("bring up %s: %w", name, err)
	}
	return nil
}

// freeNetnsSubnet picks 10.214.X.0/24 at random among those that overlap no
// route or address of the host. Two harnesses starting at the same instant
// could pick the same X (1 in 256); the second AddrAdd then still succeeds,
// so the route check is the guard.
func freeNetnsSubnet() (net.IP, error) {
	used, err := hostNets()
	if err != nil {
		return nil, err
	}
	base := net.ParseIP(netnsSubnetBase).To4()
	start, err := rand.Int(rand.Reader, big.NewInt(256))
	if err != nil {
		return nil, err
	}
	for i := 0; i < 256; i++ {
		x := byte((int(start.Int64()) + i) % 256)
		cand := &net.IPNet{IP: net.IPv4(base[0], base[1], x, 0).To4(), Mask: net.CIDRMask(24, 32)}
		if !OverlapsAny(cand, used) {
			return cand.IP, nil
		}
	}
	return nil, fmt.Errorf("no free /24 in %s/16: every one overlaps a host route", netnsSubnetBase)
}

// hostNets returns the destinations of the host's IPv4 routes and the
// networks of its addresses.
func hostNets() ([]*net.IPNet, error) {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list host routes: %w", err)
	}
	var nets []*net.IPNet
	for _, r := range routes {
		if r.Dst != nil && r.Dst.IP.To4() != nil && !r.Dst.IP.Equal(net.IPv4zero) {
			nets = append(nets, r.Dst)
		}
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list host addresses: %w", err)
	}
	for _, a := range addrs {
		nets = append(nets, &net.IPNet{IP: a.IP.Mask(a.Mask), Mask: a.Mask})
	}
	return nets, nil
}
