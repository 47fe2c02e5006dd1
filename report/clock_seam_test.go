package report

import (
	"context"
	"math"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/nemesis"
	"github.com/faultline-io/faultline/targets/seam"
)

// testClock is a fake wall clock shared by the nodes' clock seams: test
// time t reads as epoch + t.
type testClock struct {
	mu sync.Mutex
	t  int64
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return epoch.Add(time.Duration(c.t))
}

func (c *testClock) set(t int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// seamNode is a bundled node reduced to its clock seam's admin endpoint.
type seamNode struct {
	id    string
	clock *seam.Clock
	srv   *httptest.Server
}

func (n *seamNode) ID() string                            { return n.id }
func (n *seamNode) Addr() string                          { return strings.TrimPrefix(n.srv.URL, "http://") }
func (n *seamNode) Kill(context.Context) error            { return nil }
func (n *seamNode) Start(context.Context) error           { return nil }
func (n *seamNode) Pause(context.Context) error           { return nil }
func (n *seamNode) Resume(context.Context) error          { return nil }
func (n *seamNode) NetNS() (netns.NsHandle, error)        { return 0, cluster.ErrUnsupported }
func (n *seamNode) Running(context.Context) (bool, error) { return true, nil }

type seamCluster []*seamNode

func (c seamCluster) Nodes() []cluster.Node {
	out := make([]cluster.Node, len(c))
	for i, n := range c {
		out[i] = n
	}
	return out
}
func (c seamCluster) Teardown(context.Context) error { return nil }

// The offsets the report computes from the history are the skews the
// nodes' clock seams apply: the real clock nemeses skew a fake cluster's
// seams (on a fake wall clock), the history records their faults and heals
// as the harness does, and at sample times between them every node's
// seam.Clock reading minus the real time must equal clockOffsetsOf's.
// This pins the nemesis names and the JSON of Params "clocks" the report
// duplicates.
func TestClockOffsetsFollowTheSeam(t *testing.T) {
	wall := &testClock{}
	var c seamCluster
	for _, id := range []string{"n1", "n2", "n3"} {
		n := &seamNode{id: id, clock: seam.NewClock(wall.now)}
		n.srv = httptest.NewServer(seam.AdminHandler(seam.Seams{Node: id, Clock: n.clock}))
		t.Cleanup(n.srv.Close)
		c = append(c, n)
	}
	env := nemesis.Env{Cluster: c, Leader: func(context.Context) (string, error) { return "n2", nil }}
	ctx := context.Background()
	nems := map[string]nemesis.Nemesis{}
	for _, name := range []string{clockJump, clockDrift, clockStrobe, clockReset} {
		n, err := nemesis.New(name)
		if err != nil {
			t.Fatalf("the report's clock nemesis %q: %v", name, err)
		}
		nems[name] = n
	}

	var ops []history.Op
	type sample struct {
		t    int64
		skew map[string]time.Duration
	}
	var samples []sample
	observe := func(at int64) {
		wall.set(at)
		s := sample{t: at, skew: map[string]time.Duration{}}
		for _, n := range c {
			s.skew[n.id] = n.clock.Now().Sub(wall.now())
		}
		samples = append(samples, s)
	}
	fault := func(at int64, name, sel string, params map[string]any) {
		wall.set(at)
		f, err := nems[name].Invoke(ctx, env, nemesis.Fault{Nemesis: name, Select: sel, Seed: at, Params: params})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ops = append(ops, history.Op{Process: history.Nemesis, Type: history.Info, F: name, Value: f.MarshalValue(), Time: at})
	}
	heal := func(at int64, name string) {
		wall.set(at)
		if err := nems[name].Heal(ctx, env); err != nil {
			t.Fatal(err)
		}
		ops = append(ops, history.Op{Process: history.Nemesis, Type: history.Info, F: healF, Value: history.MustValue(map[string]string{"nemesis": name}), Time: at})
	}
	between := func(from, to int64) {
		for _, frac := range []float64{0, 0.137, 0.5, 0.731, 0.999} {
			observe(from + int64(frac*float64(to-from)))
		}
	}

	fault(1e9, clockJump, nemesis.SelectAll, nil)
	between(1e9, 2e9)
	fault(2e9, clockDrift, nemesis.SelectMajority, nil)
	between(2e9, 3e9)
	fault(3e9, clockStrobe, nemesis.SelectLeader, map[string]any{"period": "40ms"})
	between(3e9, 4e9)
	fault(4e9, clockJump, nemesis.SelectLeader, nil) // on top of the strobe
	between(4e9, 5e9)
	heal(5e9, clockDrift)
	between(5e9, 6e9)
	fault(6e9, clockReset, nemesis.SelectLeader, nil)
	between(6e9, 7e9)
	heal(7e9, clockJump)
	heal(7e9, clockStrobe)
	between(7e9, 8e9)
	fault(8e9, clockStrobe, nemesis.SelectAll, map[string]any{"period": "100ms"})
	between(8e9, 9e9)
	// The harness's final heal: every nemesis, then heal-all.
	wall.set(9e9)
	for _, n := range nems {
		if err := n.Heal(ctx, env); err != nil {
			t.Fatal(err)
		}
	}
	ops = append(ops, history.Op{Process: history.Nemesis, Type: history.Info, F: healAllF, Time: 9e9})
	between(9e9, 10e9)

	oc := clockOffsetsOf(ops)
	if oc.Faults != 6 || len(oc.Nodes) != 3 || len(oc.Notes) != 0 {
		t.Fatalf("offsets: %d faults, %d nodes, notes %v", oc.Faults, len(oc.Nodes), oc.Notes)
	}
	skewed := 0
	for _, s := range samples {
		for _, nc := range oc.Nodes {
			want := float64(s.skew[nc.Node])
			if want != 0 {
				skewed++
			}
			// The drift is rounded to the nanosecond differently.
			if got := nc.At(s.t); math.Abs(got-want) > 2 {
				t.Errorf("%s at %.4fs: report's offset %v, the seam's %v", nc.Node, float64(s.t)/1e9,
					time.Duration(got), time.Duration(want))
			}
		}
	}
	if skewed < len(samples) {
		t.Errorf("only %d of %d samples skewed: the schedule does not exercise the faults", skewed, len(samples)*3)
	}
}
