package docker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/nemesis"
	"github.com/faultline-io/faultline/nemesis/netfault"
	"github.com/faultline-io/faultline/nemesis/netfault/nettest"
)

// echoBinary is a static build of testdata/echonode, made once by TestMain
// (the real faultline binary may not build while other packages change).
var echoBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "faultline-docker-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	echoBinary = filepath.Join(dir, "echonode")
	cmd := exec.Command("go", "build", "-o", echoBinary, "./testdata/echonode")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build testdata/echonode: %v\n%s", err, out)
		echoBinary = ""
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needDocker skips unless the daemon answers, we are root (NetNS opens
// /proc/<pid>/ns/net of container processes) and the echo node was built.
func needDocker(t testing.TB) {
	t.Helper()
	if _, err := Available(context.Background()); err != nil {
		t.Skipf("needs a Docker daemon: %v", err)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to enter container network namespaces")
	}
	if echoBinary == "" {
		t.Fatal("the static echo node did not build (see TestMain output)")
	}
}

func echoSpec(t testing.TB, n int) cluster.Spec {
	return cluster.Spec{
		Name: t.Name(), RunDir: t.TempDir(), Nodes: n, Port: 7000, Binary: echoBinary,
		Command: func(self cluster.Peer, peers []cluster.Peer, dataDir string) []string {
			return []string{"0.0.0.0:7000", "data=" + dataDir}
		},
	}
}

func startCluster(t *testing.T, spec cluster.Spec) cluster.Cluster {
	t.Helper()
	start := time.Now()
	c, err := Runtime{}.Start(context.Background(), spec)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Logf("%d containers running after %v", spec.Nodes, time.Since(start))
	t.Cleanup(func() {
		if err := c.Teardown(context.Background()); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	return c
}

// echo dials addr from the host (retrying while the node starts) and
// expects a line back.
func echo(addr string, retry time.Duration) error {
	var conn net.Conn
	var err error
	for deadline := time.Now().Add(retry); ; {
		conn, err = net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	fmt.Fprintln(conn, "ping")
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "ping" {
		return fmt.Errorf("got %q", line)
	}
	return nil
}

func TestCheckStatic(t *testing.T) {
	if echoBinary == "" {
		t.Fatal("echo node did not build")
	}
	if err := CheckStatic(echoBinary); err != nil {
		t.Errorf("static echo node rejected: %v", err)
	}
	for _, dyn := range []string{"/bin/sleep", "/usr/bin/sleep"} {
		if _, err := os.Stat(dyn); err != nil {
			continue
		}
		err := CheckStatic(dyn)
		if err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
			t.Errorf("dynamic %s: %v", dyn, err)
		}
		break
	}
	if err := CheckStatic("/etc/hostname"); err == nil {
		t.Error("a text file passed as a static binary")
	}
}

func TestDockerRuntime(t *testing.T) {
	needDocker(t)
	ctx := context.Background()
	spec := echoSpec(t, 3)
	c := startCluster(t, spec)
	run := c.(*dockerCluster).Run()
	nodes := c.Nodes()
	for _, n := range nodes {
		if err := echo(n.Addr(), 5*time.Second); err != nil {
			t.Fatalf("host -> %s (%s): %v", n.ID(), n.Addr(), err)
		}
	}
	// Node to node, from inside n1's namespace.
	for _, to := range nodes[1:] {
		nettest.Within(t, nodes[0], func() error {
			conn, err := net.DialTimeout("tcp", to.Addr(), time.Second)
			if err == nil {
				conn.Close()
			}
			return err
		})
	}

	// Containers are labelled, named and unprivileged.
	cli, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	info, err := cli.ContainerInspect(ctx, nodes[0].(*node).cid)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "/faultline-"+run+"-n1" || info.Config.Hostname != "n1" || info.Config.Labels[cluster.Label] != run {
		t.Errorf("container: name %s hostname %s labels %v", info.Name, info.Config.Hostname, info.Config.Labels)
	}
	if info.HostConfig.Privileged || len(info.HostConfig.CapAdd) > 0 {
		t.Errorf("container is privileged or has extra capabilities: %v", info.HostConfig.CapAdd)
	}

	n1 := nodes[0]
	ns1, err := n1.NetNS()
	if err != nil {
		t.Fatal(err)
	}
	ns1.Close()
	pidBefore := info.State.Pid
	if err := n1.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if err := echo(n1.Addr(), 0); err == nil {
		t.Error("killed node answers")
	}
	if _, err := n1.NetNS(); !errors.Is(err, cluster.ErrNotRunning) {
		t.Errorf("NetNS of a stopped container: %v, want ErrNotRunning", err)
	}
	if err := n1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := echo(n1.Addr(), 5*time.Second); err != nil {
		t.Fatalf("restarted node: %v", err)
	}
	info, _ = cli.ContainerInspect(ctx, n1.(*node).cid)
	if info.State.Pid == pidBefore {
		t.Errorf("pid unchanged after restart: %d", pidBefore)
	}

	n2 := nodes[1]
	if err := n2.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if err := echo(n2.Addr(), 0); err == nil {
		t.Error("paused node echoed")
	}
	if err := n2.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if err := echo(n2.Addr(), 2*time.Second); err != nil {
		t.Fatalf("resumed node: %v", err)
	}
	// Kill a paused node: it is unpaused and killed.
	if err := n2.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n2.Kill(ctx); err != nil {
		t.Fatalf("kill paused node: %v", err)
	}

	// The log of n1 holds both runs.
	if err := c.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(filepath.Join(spec.RunDir, "nodes", "n1", "node.log"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(log), "echonode listening"); got != 2 {
		t.Errorf("node.log has %d runs of the node, want 2:\n%s", got, log)
	}
	if !strings.Contains(string(log), "data=/data") {
		t.Errorf("node did not get its data dir: %s", log)
	}
	assertGone(t, run)
	if err := c.Teardown(ctx); err != nil {
		t.Errorf("second teardown: %v", err)
	}
}

// assertGone checks that no container or network of run is left.
func assertGone(t *testing.T, run string) {
	t.Helper()
	cli, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	f := filters.NewArgs(filters.Arg("label", cluster.Label+"="+run))
	cs, err := cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := cli.NetworkList(context.Background(), network.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 0 || len(ns) != 0 {
		t.Errorf("after teardown: %d containers, %d networks labelled %s=%s", len(cs), len(ns), cluster.Label, run)
	}
}

// TestRestartGetsNewNamespace documents the Docker behaviour the network
// nemeses rely on: a table installed in a container's namespace is gone
// after kill+start (a new sandbox), so faults must be re-applied.
func TestRestartGetsNewNamespace(t *testing.T) {
	needDocker(t)
	c := startCluster(t, echoSpec(t, 1))
	n := c.Nodes()[0]
	ns, err := n.NetNS()
	if err != nil {
		t.Fatal(err)
	}
	err = netfault.Apply(ns, netfault.Rules{Blocked: []net.IP{net.IPv4(192, 0, 2, 1)}})
	ns.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Kill(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ns, err = n.NetNS()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	ctr, err := netfault.Counters(ns)
	if err != nil {
		t.Fatal(err)
	}
	if len(ctr) != 0 {
		t.Fatalf("the table survived a restart (%v): Docker kept the namespace; the start hook is then redundant", ctr)
	}
}

// TestPartitionSurvivesDockerRestart: the network nemeses' start hook puts a
// restarted container's rules back into its new namespace.
func TestPartitionSurvivesDockerRestart(t *testing.T) {
	needDocker(t)
	c := startCluster(t, echoSpec(t, 2))
	env := nemesis.Env{Cluster: c}
	part, err := nemesis.New("partition-one")
	if err != nil {
		t.Fatal(err)
	}
	if err := part.Available(c); err != nil {
		t.Fatalf("partition unavailable on docker: %v", err)
	}
	t.Cleanup(func() { _ = part.Heal(context.Background(), env) })
	f, err := part.Invoke(context.Background(), env, nemesis.Fault{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	n1, n2 := c.Nodes()[0], c.Nodes()[1]
	if r := nettest.UDP(t, n2, n1, 100, 200*time.Millisecond); r.Received != 0 {
		t.Fatalf("partition %v not in effect: %v", f.Grudge, r)
	}
	if err := n1.Kill(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Invoking while n1 is down records its rules for the restart.
	f, err = part.Invoke(context.Background(), env, nemesis.Fault{Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.Note, "n1 down") {
		t.Errorf("note does not say n1 was down: %q", f.Note)
	}
	if err := n1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := nettest.UDP(t, n2, n1, 100, 200*time.Millisecond); r.Received != 0 {
		t.Errorf("restarted container lost its partition: %v", r)
	}
	if err := part.Heal(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if r := nettest.UDP(t, n2, n1, 100, 200*time.Millisecond); r.Received != 100 {
		t.Errorf("after heal: %v", r)
	}
	// After heal the hook is gone: a restart brings no rules back.
	if err := n1.Kill(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := n1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := nettest.UDP(t, n2, n1, 100, 200*time.Millisecond); r.Received != 100 {
		t.Errorf("healed partition came back after restart: %v", r)
	}
}

func TestCleanRemovesLabelled(t *testing.T) {
	needDocker(t)
	if os.Getenv("FAULTLINE_TEST_CLEAN") == "" {
		t.Skip("removes every faultline container on the machine, including those of tests running in parallel; set FAULTLINE_TEST_CLEAN=1")
	}
	spec := echoSpec(t, 2)
	c, err := Runtime{}.Start(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	run := c.(*dockerCluster).Run()
	t.Cleanup(func() { _ = c.Teardown(context.Background()) })
	_ = c.Nodes()[0].Pause(context.Background())
	removed, err := Clean(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("removed %v", removed)
	assertGone(t, run)
}

// BenchmarkDockerStart5 measures the time until the five containers of a
// cluster run (image already imported), and teardown.
func BenchmarkDockerStart5(b *testing.B) {
	needDocker(b)
	var start, down []time.Duration
	spec := echoSpec(b, 5)
	if _, _, err := func() (string, bool, error) {
		cli, err := NewClient()
		if err != nil {
			return "", false, err
		}
		defer cli.Close()
		return EnsureImage(context.Background(), cli, echoBinary)
	}(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		c, err := Runtime{}.Start(context.Background(), spec)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := c.Teardown(context.Background()); err != nil {
			b.Fatal(err)
		}
		start = append(start, t1.Sub(t0))
		down = append(down, time.Since(t1))
	}
	b.StopTimer()
	b.ReportMetric(median(start).Seconds()*1000, "start-ms")
	b.ReportMetric(median(down).Seconds()*1000, "teardown-ms")
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func TestImageImport(t *testing.T) {
	needDocker(t)
	cli, err := NewClient()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	tag, err := ImageTag(echoBinary)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tag, ImageRepo+":") || len(tag) != len(ImageRepo)+1+12 {
		t.Errorf("tag %q", tag)
	}
	start := time.Now()
	got, built, err := EnsureImage(context.Background(), cli, echoBinary)
	if err != nil || got != tag {
		t.Fatalf("EnsureImage: %q %v", got, err)
	}
	t.Logf("EnsureImage %s built=%v in %v", tag, built, time.Since(start))
	start = time.Now()
	if _, built, err := EnsureImage(context.Background(), cli, echoBinary); err != nil || built {
		t.Errorf("second EnsureImage rebuilt (%v) or failed: %v", built, err)
	}
	t.Logf("cached EnsureImage in %v", time.Since(start))
	info, err := cli.ImageInspect(context.Background(), tag)
	if err != nil {
		t.Fatal(err)
	}
	if ep := info.Config.Entrypoint; len(ep) != 1 || ep[0] != "/faultline" {
		t.Errorf("entrypoint %v", ep)
	}
	if info.Config.Labels[cluster.Label] != "image" {
		t.Errorf("labels %v", info.Config.Labels)
	}
}

// BenchmarkDockerPartitionInvokeHeal measures, through the nemesis API, one
// partition Invoke and one Heal across the five containers of a cluster
// (each re-inspects the containers to enter their current namespaces).
func BenchmarkDockerPartitionInvokeHeal(b *testing.B) {
	needDocker(b)
	c, err := Runtime{}.Start(context.Background(), echoSpec(b, 5))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Teardown(context.Background())
	env := nemesis.Env{Cluster: c}
	part, err := nemesis.New("partition")
	if err != nil {
		b.Fatal(err)
	}
	var inv, heal []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := part.Invoke(context.Background(), env, nemesis.Fault{Seed: int64(i)}); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := part.Heal(context.Background(), env); err != nil {
			b.Fatal(err)
		}
		inv = append(inv, t1.Sub(t0))
		heal = append(heal, time.Since(t1))
	}
	b.StopTimer()
	q := func(ds []time.Duration, p float64) float64 {
		s := append([]time.Duration(nil), ds...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return float64(s[min(len(s)-1, int(p*float64(len(s))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(inv, 0.5), "invoke-p50-ms")
	b.ReportMetric(q(inv, 0.99), "invoke-p99-ms")
	b.ReportMetric(q(heal, 0.5), "heal-p50-ms")
	b.ReportMetric(q(heal, 0.99), "heal-p99-ms")
}

// TestDelaySurvivesDockerRestart: the delay nemesis's NFQUEUE listener
// follows a restarted container into its new namespace.
func TestDelaySurvivesDockerRestart(t *testing.T) {
	needDocker(t)
	if netfault.Probe().Netem.OK {
		t.Log("netem present: delay uses netem, re-applied by the same hook")
	}
	c := startCluster(t, echoSpec(t, 2))
	env := nemesis.Env{Cluster: c}
	delay, err := nemesis.New("delay")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = delay.Heal(context.Background(), env) })
	if _, err := delay.Invoke(context.Background(), env, nemesis.Fault{Seed: 1, Params: map[string]any{"latency": "30ms", "jitter": "0s"}}); err != nil {
		t.Fatal(err)
	}
	n1, n2 := c.Nodes()[0], c.Nodes()[1]
	if err := n1.Kill(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := n1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := nettest.UDP(t, n2, n1, 100, 300*time.Millisecond)
	t.Logf("after restart: %v", r)
	if r.Received != 100 || r.Quantile(0.5) < 29*time.Millisecond {
		t.Errorf("delay not in effect after restart: %v", r)
	}
	if err := delay.Heal(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if r := nettest.UDP(t, n2, n1, 100, 300*time.Millisecond); r.Received != 100 || r.Quantile(0.5) > 20*time.Millisecond {
		t.Errorf("after heal: %v", r)
	}
}
