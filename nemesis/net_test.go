package nemesis

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/nemesis/netfault"
	"github.com/faultline-io/faultline/nemesis/netfault/nettest"
)

// noNetNSCluster stands for the local runtime: nodes without a namespace.
type noNetNSCluster struct{}

type noNetNSNode struct{ id string }

func (noNetNSCluster) Nodes() []cluster.Node {
	return []cluster.Node{noNetNSNode{"n1"}, noNetNSNode{"n2"}}
}
func (noNetNSCluster) Teardown(context.Context) error        { return nil }
func (n noNetNSNode) ID() string                             { return n.id }
func (n noNetNSNode) Addr() string                           { return "127.0.0.1:7000" }
func (n noNetNSNode) Kill(context.Context) error             { return nil }
func (n noNetNSNode) Start(context.Context) error            { return nil }
func (n noNetNSNode) Pause(context.Context) error            { return nil }
func (n noNetNSNode) Resume(context.Context) error           { return nil }
func (n noNetNSNode) NetNS() (netns.NsHandle, error)         { return netns.None(), cluster.ErrUnsupported }
func (n noNetNSNode) SetStartHook(string, cluster.StartHook) {}

func TestNetworkNemesesRegistered(t *testing.T) {
	for _, name := range NetworkNemeses() {
		n, err := New(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n.Name() != name {
			t.Errorf("New(%q).Name() = %q", name, n.Name())
		}
	}
}

func TestNetworkNemesesUnavailableWithoutNetNS(t *testing.T) {
	for _, name := range NetworkNemeses() {
		n, _ := New(name)
		err := n.Available(noNetNSCluster{})
		if !errors.Is(err, ErrNoNetNS) {
			t.Errorf("%s on a runtime without namespaces: %v", name, err)
		}
		if _, err := n.Invoke(context.Background(), Env{Cluster: noNetNSCluster{}}, Fault{Seed: 1}); err == nil {
			t.Errorf("%s invoked without namespaces", name)
		}
		if err := n.Heal(context.Background(), Env{Cluster: noNetNSCluster{}}); err == nil {
			// Heal on such a cluster cannot enter anything either; an
			// error is fine, a panic is not.
			_ = err
		}
	}
	if !strings.Contains(ErrNoNetNS.Error(), "--runtime docker or netns") {
		t.Errorf("reason does not say what to do: %v", ErrNoNetNS)
	}
}

func TestParams(t *testing.T) {
	p, err := paramProbability(map[string]any{"p": "30%"}, "p", 0.2)
	if err != nil || p != 0.3 {
		t.Errorf("30%%: %v %v", p, err)
	}
	if _, err := paramProbability(map[string]any{"p": 2.0}, "p", 0.2); err == nil {
		t.Error("p=2 accepted")
	}
	d, err := paramDuration(map[string]any{"latency": 25.0}, "latency", 0)
	if err != nil || d != 25*time.Millisecond {
		t.Errorf("latency 25: %v %v", d, err)
	}
	d, err = paramDuration(map[string]any{"latency": "1.5s"}, "latency", 0)
	if err != nil || d != 1500*time.Millisecond {
		t.Errorf("latency 1.5s: %v %v", d, err)
	}
	r, err := paramRate(map[string]any{"rate": "8mbit"}, "rate", 0)
	if err != nil || r != 8_000_000 {
		t.Errorf("8mbit: %v %v", r, err)
	}
	if _, err := paramRate(map[string]any{"rate": "fast"}, "rate", 0); err == nil {
		t.Error("rate=fast accepted")
	}
}

func TestMerge(t *testing.T) {
	got := merge(map[string]netfault.Rules{
		"partition": {Blocked: nettestIPs("10.0.0.2")},
		"loss":      {Loss: []netfault.Loss{{P: 0.1}}},
		"bandwidth": {Rate: &netfault.Rate{BitsPerSecond: 2e6}},
		"other":     {Rate: &netfault.Rate{BitsPerSecond: 1e6}},
	})
	if len(got.Blocked) != 1 || len(got.Loss) != 1 || got.Rate.BitsPerSecond != 1e6 {
		t.Fatalf("merge: %+v", got)
	}
}

func nettestIPs(ss ...string) (ips []net.IP) {
	for _, s := range ss {
		ips = append(ips, net.ParseIP(s))
	}
	return ips
}

// oneWayVictims returns the pair (deaf, loud) of a two-node one-way grudge.
func oneWayPair(t *testing.T, c cluster.Cluster, f Fault) (deaf, loud cluster.Node) {
	t.Helper()
	if len(f.Grudge) != 1 {
		t.Fatalf("grudge %v, want one deaf node", f.Grudge)
	}
	for a, bs := range f.Grudge {
		deaf, loud = cluster.NodeByID(c, a), cluster.NodeByID(c, bs[0])
	}
	return deaf, loud
}

// TestPartitionOneWayNemesis drives partition-oneway through the Nemesis
// interface and checks the cut with probe traffic both ways.
func TestPartitionOneWayNemesis(t *testing.T) {
	c := nettest.Cluster(t, 2)
	env := Env{Cluster: c}
	n, _ := New("partition-oneway")
	if err := n.Available(c); err != nil {
		t.Fatalf("available: %v", err)
	}
	t.Cleanup(func() { _ = n.Heal(context.Background(), env) })
	f, err := n.Invoke(context.Background(), env, Fault{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if f.Note == "" || len(f.Nodes) != 1 {
		t.Errorf("fault not filled in: %+v", f)
	}
	deaf, loud := oneWayPair(t, c, f)
	cut := nettest.UDP(t, loud, deaf, 200, 200*time.Millisecond)
	open := nettest.UDP(t, deaf, loud, 200, 200*time.Millisecond)
	t.Logf("grudge %v: %s->%s %v; %s->%s %v", f.Grudge, loud.ID(), deaf.ID(), cut, deaf.ID(), loud.ID(), open)
	if cut.Received != 0 || cut.SendErrors != 0 {
		t.Errorf("%s->%s through a one-way partition: %v", loud.ID(), deaf.ID(), cut)
	}
	if open.Received != 200 {
		t.Errorf("%s->%s should pass: %v", deaf.ID(), loud.ID(), open)
	}
	if err := n.Heal(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if r := nettest.UDP(t, loud, deaf, 200, 200*time.Millisecond); r.Received != 200 {
		t.Errorf("after heal %s->%s: %v", loud.ID(), deaf.ID(), r)
	}
	assertNoTable(t, c)
}

// TestNetFaultsCompose: a partition and a loss on the same nodes share the
// table; healing the partition leaves the loss, healing the loss removes
// the table.
func TestNetFaultsCompose(t *testing.T) {
	c := nettest.Cluster(t, 3)
	env := Env{Cluster: c, Leader: func(context.Context) (string, error) { return "n2", nil }}
	part, _ := New("partition-leader")
	loss, _ := New("loss")
	t.Cleanup(func() {
		_ = part.Heal(context.Background(), env)
		_ = loss.Heal(context.Background(), env)
	})
	f, err := part.Invoke(context.Background(), env, Fault{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"n1": {"n2"}, "n3": {"n2"}, "n2": {"n1", "n3"}}
	if !reflect.DeepEqual(f.Grudge, want) {
		t.Fatalf("partition-leader grudge %v, want %v", f.Grudge, want)
	}
	lf, err := loss.Invoke(context.Background(), env, Fault{Seed: 1, Params: map[string]any{"p": 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	if lf.Select != SelectAll || len(lf.Nodes) != 3 || lf.Params["p"] != 0.5 {
		t.Errorf("loss fault: %+v", lf)
	}
	n1, n2, n3 := c.Nodes()[0], c.Nodes()[1], c.Nodes()[2]
	if r := nettest.UDP(t, n2, n1, 100, 200*time.Millisecond); r.Received != 0 {
		t.Errorf("leader reached n1 through the partition: %v", r)
	}
	if r := nettest.UDP(t, n3, n1, 1000, 200*time.Millisecond); r.Received < 350 || r.Received > 650 {
		t.Errorf("50%% loss n3->n1: %v", r)
	}
	if err := part.Heal(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if r := nettest.UDP(t, n2, n1, 1000, 200*time.Millisecond); r.Received < 350 || r.Received > 650 {
		t.Errorf("after healing the partition, 50%% loss n2->n1 should remain: %v", r)
	}
	if err := loss.Heal(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if r := nettest.UDP(t, n2, n1, 500, 200*time.Millisecond); r.Received != 500 {
		t.Errorf("after healing everything: %v", r)
	}
	assertNoTable(t, c)
}

// TestPartitionSurvivesNetnsRestart: a netns node keeps its namespace, so a
// killed and restarted node is still partitioned.
func TestPartitionSurvivesNetnsRestart(t *testing.T) {
	c := nettest.Cluster(t, 2)
	env := Env{Cluster: c}
	n, _ := New("partition-one")
	t.Cleanup(func() { _ = n.Heal(context.Background(), env) })
	if _, err := n.Invoke(context.Background(), env, Fault{Seed: 3}); err != nil {
		t.Fatal(err)
	}
	n1, n2 := c.Nodes()[0], c.Nodes()[1]
	if err := n1.Kill(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := n1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := nettest.UDP(t, n2, n1, 100, 200*time.Millisecond); r.Received != 0 {
		t.Errorf("restarted node lost its partition: %v", r)
	}
}

// TestInvokeFailsWhenANamespaceCannotBeChanged: a node whose namespace is
// gone makes Invoke return an error naming it, not a success.
func TestInvokeFailsWhenANamespaceCannotBeChanged(t *testing.T) {
	c := nettest.Cluster(t, 3)
	env := Env{Cluster: c}
	n, _ := New("partition")
	t.Cleanup(func() { _ = n.Heal(context.Background(), env) })
	victim := c.Nodes()[2].(interface{ NetNSName() string }).NetNSName()
	if err := netns.DeleteNamed(victim); err != nil {
		t.Fatal(err)
	}
	_, err := n.Invoke(context.Background(), env, Fault{Seed: 1, Select: "one"})
	if err == nil || !strings.Contains(err.Error(), "node n3") {
		t.Fatalf("Invoke with n3's namespace gone: %v", err)
	}
	if _, statErr := os.Stat(filepath.Join("/run/netns", victim)); statErr == nil {
		t.Fatal("namespace still there")
	}
}

// TestDelayAndBandwidthNemeses exercise the remaining nemeses end to end.
func TestDelayAndBandwidthNemeses(t *testing.T) {
	c := nettest.Cluster(t, 2)
	env := Env{Cluster: c}
	n1, n2 := c.Nodes()[0], c.Nodes()[1]
	delay, _ := New("delay")
	if err := delay.Available(c); err != nil {
		t.Fatalf("delay unavailable: %v", err)
	}
	t.Cleanup(func() { _ = delay.Heal(context.Background(), env) })
	f, err := delay.Invoke(context.Background(), env, Fault{Seed: 1, Params: map[string]any{"latency": "30ms", "jitter": "0s"}})
	if err != nil {
		t.Fatal(err)
	}
	r := nettest.UDP(t, n1, n2, 100, 300*time.Millisecond)
	t.Logf("%s: %v", f.Note, r)
	if p50 := r.Quantile(0.5); r.Received != 100 || p50 < 29*time.Millisecond || p50 > 150*time.Millisecond {
		t.Errorf("30ms delay: %v", r)
	}
	if err := delay.Heal(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if r := nettest.UDP(t, n1, n2, 100, 300*time.Millisecond); r.Quantile(0.5) > 20*time.Millisecond {
		t.Errorf("after heal: %v", r)
	}

	dup, _ := New("duplicate")
	t.Cleanup(func() { _ = dup.Heal(context.Background(), env) })
	if _, err := dup.Invoke(context.Background(), env, Fault{Seed: 1, Select: "links", Params: map[string]any{"p": 0.5}}); err != nil {
		t.Fatal(err)
	}
	r = nettest.UDP(t, n1, n2, 1000, 200*time.Millisecond)
	if r.Received < 1350 || r.Received > 1650 {
		t.Errorf("50%% duplicate on links: %v", r)
	}
	if err := dup.Heal(context.Background(), env); err != nil {
		t.Fatal(err)
	}

	bw, _ := New("bandwidth")
	t.Cleanup(func() { _ = bw.Heal(context.Background(), env) })
	if _, err := bw.Invoke(context.Background(), env, Fault{Seed: 1, Params: map[string]any{"rate": "4mbit"}}); err != nil {
		t.Fatal(err)
	}
	if got := nettest.TCPThroughput(t, n1, n2, time.Second); got < 2.5e6 || got > 4.5e6 {
		t.Errorf("4mbit configured: %.2f Mbit/s", got/1e6)
	}
	if err := bw.Heal(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	assertNoTable(t, c)
}

// assertNoTable checks that no node's namespace holds the table or our
// qdisc any more.
func assertNoTable(t *testing.T, c cluster.Cluster) {
	t.Helper()
	for _, node := range c.Nodes() {
		ns, err := node.NetNS()
		if err != nil {
			t.Fatal(err)
		}
		ctr, err := netfault.Counters(ns)
		ns.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(ctr) != 0 {
			t.Errorf("%s still has rules after heal: %v", node.ID(), ctr)
		}
	}
}
