package cluster

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// echoNodeArg, as the first argument of the test binary, makes it an echo
// node instead of a test run: the netns runtime tests use the test binary
// itself as the node binary.
const echoNodeArg = "faultline-test-echo-node"

func init() {
	if len(os.Args) > 2 && os.Args[1] == echoNodeArg {
		runEchoNode(os.Args[2])
		os.Exit(0)
	}
}

// runEchoNode echoes every line of every TCP connection on addr.
func runEchoNode(addr string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	fmt.Println("echo node listening on", l.Addr())
	for {
		c, err := l.Accept()
		if err != nil {
			os.Exit(1)
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the netns runtime creates network namespaces, veths and a bridge")
	}
}

// startEchoCluster starts n echo nodes on the netns runtime and tears them
// down at cleanup.
func startEchoCluster(t *testing.T, n int) Cluster {
	t.Helper()
	needRoot(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{
		Name: t.Name(), RunDir: t.TempDir(), Nodes: n, Port: 7000, Binary: exe,
		Command: func(self Peer, peers []Peer, dataDir string) []string {
			return []string{echoNodeArg, self.Addr}
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	c, err := Netns{}.Start(ctx, spec)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Logf("netns runtime: %d nodes started in %v", n, time.Since(start))
	t.Cleanup(func() {
		if err := c.Teardown(context.Background()); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	return c
}

// echo dials addr (from inside ns unless ns is None), retrying for up to 5
// s while the node starts, sends a line and expects it back.
func echo(ns netns.NsHandle, addr string) error { return echoWithin(ns, addr, 5*time.Second) }

func echoWithin(ns netns.NsHandle, addr string, retry time.Duration) error {
	var conn net.Conn
	dial := func() error {
		var err error
		conn, err = net.DialTimeout("tcp", addr, time.Second)
		return err
	}
	var err error
	for deadline := time.Now().Add(retry); ; {
		if ns.IsOpen() {
			err = InNetNS(ns, dial)
		} else {
			err = dial()
		}
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintln(conn, "ping"); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read echo from %s: %w", addr, err)
	}
	if strings.TrimSpace(line) != "ping" {
		return fmt.Errorf("echo from %s: got %q", addr, line)
	}
	return nil
}

func TestNetnsNodesReachEachOther(t *testing.T) {
	c := startEchoCluster(t, 3)
	nodes := c.Nodes()
	for _, n := range nodes {
		if err := echo(netns.None(), n.Addr()); err != nil {
			t.Errorf("host -> %s: %v", n.ID(), err)
		}
	}
	for _, from := range nodes {
		ns, err := from.NetNS()
		if err != nil {
			t.Fatal(err)
		}
		for _, to := range nodes {
			if to == from {
				continue
			}
			if err := echo(ns, to.Addr()); err != nil {
				t.Errorf("%s -> %s: %v", from.ID(), to.ID(), err)
			}
		}
		ns.Close()
	}
}

func TestNetnsNodeRunsInItsNamespace(t *testing.T) {
	c := startEchoCluster(t, 1)
	n := c.Nodes()[0].(*netnsNode)
	ns, err := n.NetNS()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	pidNS, err := netns.GetFromPid(n.proc.Pid())
	if err != nil {
		t.Fatal(err)
	}
	defer pidNS.Close()
	if !ns.Equal(pidNS) {
		t.Fatalf("node process is in %v, want its namespace %v", pidNS, ns)
	}
	host, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	if host.Equal(ns) {
		t.Fatal("the test thread is in the node's namespace: a thread was not restored")
	}
}

func TestNetnsKillStartPause(t *testing.T) {
	c := startEchoCluster(t, 2)
	ctx := context.Background()
	n1 := c.Nodes()[0]
	if err := n1.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if err := echoWithin(netns.None(), n1.Addr(), 0); err == nil {
		t.Fatal("killed node still answers")
	}
	if err := n1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := echo(netns.None(), n1.Addr()); err != nil {
		t.Fatalf("restarted node: %v", err)
	}
	if err := n1.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", n1.Addr(), time.Second)
	if err == nil {
		// The kernel completes the handshake; a paused node never echoes.
		_ = conn.SetDeadline(time.Now().Add(300 * time.Millisecond))
		fmt.Fprintln(conn, "ping")
		if _, err := bufio.NewReader(conn).ReadString('\n'); err == nil {
			t.Error("paused node echoed")
		}
		conn.Close()
	}
	if err := n1.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if err := echo(netns.None(), n1.Addr()); err != nil {
		t.Fatalf("resumed node: %v", err)
	}
}

func TestNetnsTeardownRemovesEverything(t *testing.T) {
	needRoot(t)
	exe, _ := os.Executable()
	runDir := t.TempDir()
	c, err := Netns{}.Start(context.Background(), Spec{
		Name: t.Name(), RunDir: runDir, Nodes: 2, Port: 7000, Binary: exe,
		Command: func(self Peer, peers []Peer, dataDir string) []string { return []string{echoNodeArg, self.Addr} },
	})
	if err != nil {
		t.Fatal(err)
	}
	nc := c.(*netnsCluster)
	if err := echo(netns.None(), nc.nodes[0].addr); err != nil {
		t.Error(err)
	}
	if err := c.Teardown(context.Background()); err != nil {
		t.Fatalf("teardown: %v", err)
	}
	if err := c.Teardown(context.Background()); err != nil {
		t.Fatalf("second teardown: %v", err)
	}
	if _, err := netlink.LinkByName(nc.hostLink); err == nil {
		t.Errorf("host link %s survived teardown", nc.hostLink)
	}
	for _, n := range []string{nc.switchNS, nc.nodes[0].nsName, nc.nodes[1].nsName} {
		if _, err := os.Stat(filepath.Join(netnsDir, n)); err == nil {
			t.Errorf("namespace %s survived teardown", n)
		}
	}
	b, err := os.ReadFile(filepath.Join(runDir, "nodes", "n1", "node.log"))
	if err != nil || !strings.Contains(string(b), "echo node listening") {
		t.Errorf("node.log of n1: %q, %v", b, err)
	}
}

func TestCleanNetnsRemovesLeftovers(t *testing.T) {
	needRoot(t)
	// A leftover of a killed harness: a namespace and a host link with our
	// names.
	id, err := RandomHex(3)
	if err != nil {
		t.Fatal(err)
	}
	name := NetnsPrefix + id + "-n1"
	ns, err := NewNamedNetNS(name)
	if err != nil {
		t.Fatal(err)
	}
	ns.Close()
	t.Cleanup(func() { _ = netns.DeleteNamed(name) })
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: LinkPrefix + id}}
	if err := netlink.LinkAdd(br); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netlink.LinkDel(br) })

	// Only this test's leftovers: other packages' tests may be running
	// clusters right now.
	removed, err := cleanNetns(id)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(removed, "\n")
	for _, want := range []string{"namespace " + name, "link " + LinkPrefix + id} {
		if !strings.Contains(joined, want) {
			t.Errorf("CleanNetns did not report %q; removed:\n%s", want, joined)
		}
	}
	if _, err := os.Stat(filepath.Join(netnsDir, name)); err == nil {
		t.Errorf("namespace %s survived CleanNetns", name)
	}
}

func TestOverlapsAny(t *testing.T) {
	_, a, _ := net.ParseCIDR("10.214.3.0/24")
	_, b, _ := net.ParseCIDR("10.0.0.0/8")
	_, c, _ := net.ParseCIDR("10.214.4.0/24")
	if !OverlapsAny(a, []*net.IPNet{b}) || OverlapsAny(a, []*net.IPNet{c}) {
		t.Fatal("overlap check is wrong")
	}
}
