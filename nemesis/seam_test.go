package nemesis

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/targets/seam"
	"github.com/vishvananda/netns"
)

// seamNode is a bundled node stand-in: it serves the seam admin endpoint;
// Kill and Start are recorded, and Start gives it fresh seams, as a
// restarted process has.
type seamNode struct {
	cluster.StartHooks
	id  string
	srv *httptest.Server

	mu      sync.Mutex
	seams   seam.Seams
	kills   int
	starts  int
	atKill  seam.DiskState
	foreign bool
	down    bool // reported by Running
}

func newSeamNode(t *testing.T, id string, foreign bool) *seamNode {
	n := &seamNode{id: id, foreign: foreign}
	n.fresh()
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.foreign {
			http.NotFound(w, r)
			return
		}
		n.mu.Lock()
		h := seam.AdminHandler(n.seams)
		n.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(n.srv.Close)
	return n
}

func (n *seamNode) fresh() {
	n.seams = seam.Seams{Node: n.id, Clock: seam.NewClock(nil), Disk: seam.NewDisk(), Msg: seam.NewMessages(nil)}
}

func (n *seamNode) get() seam.Seams {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.seams
}

func (n *seamNode) ID() string   { return n.id }
func (n *seamNode) Addr() string { return strings.TrimPrefix(n.srv.URL, "http://") }
func (n *seamNode) Kill(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.kills++
	n.atKill = n.seams.Disk.State()
	return nil
}
func (n *seamNode) Start(ctx context.Context) error {
	n.mu.Lock()
	n.starts++
	n.fresh()
	n.mu.Unlock()
	return n.RunStartHooks(ctx, n)
}
func (n *seamNode) Running(ctx context.Context) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.down, nil
}
func (n *seamNode) Pause(ctx context.Context) error  { return nil }
func (n *seamNode) Resume(ctx context.Context) error { return nil }
func (n *seamNode) NetNS() (netns.NsHandle, error)   { return 0, cluster.ErrUnsupported }

type seamCluster struct{ nodes []*seamNode }

func (c *seamCluster) Nodes() []cluster.Node {
	out := make([]cluster.Node, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n
	}
	return out
}
func (c *seamCluster) Teardown(ctx context.Context) error { return nil }

func newSeamCluster(t *testing.T, n int) (*seamCluster, Env) {
	c := &seamCluster{}
	for i := 1; i <= n; i++ {
		c.nodes = append(c.nodes, newSeamNode(t, "n"+string(rune('0'+i)), false))
	}
	return c, Env{Cluster: c, Leader: func(context.Context) (string, error) { return "n2", nil }}
}

func mustNemesis(t *testing.T, name string) Nemesis {
	t.Helper()
	n, err := New(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Available(nil); err != nil {
		t.Fatalf("%s unavailable: %v", name, err)
	}
	return n
}

func TestSeamNemesesRegistered(t *testing.T) {
	known := map[string]bool{}
	for _, n := range Names() {
		known[n] = true
	}
	for _, n := range SeamNemeses() {
		if !known[n] {
			t.Errorf("%s not registered", n)
		}
	}
}

func TestClockJumpSkewsAndHeals(t *testing.T) {
	ctx := context.Background()
	c, env := newSeamCluster(t, 3)
	nem := mustNemesis(t, "clock-jump")
	f, err := nem.Invoke(ctx, env, Fault{Nemesis: "clock-jump", Select: SelectAll, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Nodes, []string{"n1", "n2", "n3"}) {
		t.Fatalf("nodes %v", f.Nodes)
	}
	applied, ok := f.Params["clocks"].(map[string]ClockApplied)
	if !ok || len(applied) != 3 {
		t.Fatalf("Params[clocks] = %#v", f.Params["clocks"])
	}
	for _, n := range c.nodes {
		a := applied[n.id]
		d := a.Request.Delta
		if d < 0 {
			d = -d
		}
		if d < time.Millisecond || d > 300*time.Second {
			t.Errorf("%s jumped by %v, outside ±[1ms, 300s]", n.id, a.Request.Delta)
		}
		if a.State.Offset != a.Request.Delta {
			t.Errorf("%s confirmed offset %v for delta %v", n.id, a.State.Offset, a.Request.Delta)
		}
		if got := n.get().Clock.Now().Sub(time.Now()); absDur(got-a.Request.Delta) > time.Second {
			t.Errorf("%s clock skew %v, want about %v", n.id, got, a.Request.Delta)
		}
	}
	// Same seed, same draws.
	_, env2 := newSeamCluster(t, 3)
	f2, err := mustNemesis(t, "clock-jump").Invoke(ctx, env2, Fault{Nemesis: "clock-jump", Select: SelectAll, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	for id, a := range f2.Params["clocks"].(map[string]ClockApplied) {
		if a.Request != applied[id].Request {
			t.Errorf("%s: seed 11 drew %+v then %+v", id, applied[id].Request, a.Request)
		}
	}
	if err := nem.Heal(ctx, env); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes {
		if st := n.get().Clock.State(); st.Offset != 0 || st.Skew != 0 {
			t.Errorf("%s after heal: %+v", n.id, st)
		}
	}
	if err := nem.Heal(ctx, env); err != nil {
		t.Fatalf("second heal: %v", err)
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func TestClockJumpParamDelta(t *testing.T) {
	c, env := newSeamCluster(t, 3)
	f, err := mustNemesis(t, "clock-jump").Invoke(context.Background(), env,
		Fault{Select: SelectLeader, Seed: 1, Params: map[string]any{"delta": "-90s"}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Nodes, []string{"n2"}) {
		t.Fatalf("nodes %v, want the leader", f.Nodes)
	}
	if st := c.nodes[1].get().Clock.State(); st.Offset != -90*time.Second {
		t.Fatalf("leader clock %+v", st)
	}
	if st := c.nodes[0].get().Clock.State(); st.Offset != 0 {
		t.Fatalf("n1 was skewed: %+v", st)
	}
}

// A restarted node gets its clock and message faults back (they live in the
// node process); once healed, a restart leaves it clean.
func TestSeamFaultsSurviveRestart(t *testing.T) {
	ctx := context.Background()
	c, env := newSeamCluster(t, 3)
	clock, msg := mustNemesis(t, "clock-jump"), mustNemesis(t, "msg-delay")
	if _, err := clock.Invoke(ctx, env, Fault{Select: SelectLeader, Seed: 1, Params: map[string]any{"delta": "42s"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := msg.Invoke(ctx, env, Fault{Select: SelectLeader, Seed: 2, Params: map[string]any{"delay": "50ms"}}); err != nil {
		t.Fatal(err)
	}
	leader, other := c.nodes[1], c.nodes[0]
	for _, n := range []*seamNode{leader, other} {
		n.Kill(ctx)
		if err := n.Start(ctx); err != nil {
			t.Fatalf("restart %s: %v", n.id, err)
		}
	}
	if st := leader.get().Clock.State(); st.Offset != 42*time.Second {
		t.Errorf("restarted leader's clock offset %v, want the 42s jump again", st.Offset)
	}
	if r := leader.get().Msg.State().Rules[seam.AnyPeer]; r.Delay != 50*time.Millisecond {
		t.Errorf("restarted leader's message rules %+v, want the 50ms delay again", leader.get().Msg.State().Rules)
	}
	if r := other.get().Msg.State().Rules["n2"]; r.Delay != 50*time.Millisecond {
		t.Errorf("restarted follower's rule towards the leader %+v, want the delay again", other.get().Msg.State().Rules)
	}
	if err := clock.Heal(ctx, env); err != nil {
		t.Fatal(err)
	}
	if err := msg.Heal(ctx, env); err != nil {
		t.Fatal(err)
	}
	leader.Kill(ctx)
	if err := leader.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if st := leader.get().Clock.State(); st.Offset != 0 || len(leader.get().Msg.State().Rules) != 0 {
		t.Errorf("healed faults came back after a restart: clock %+v, rules %+v", st, leader.get().Msg.State().Rules)
	}
}

func TestClockDriftStrobeReset(t *testing.T) {
	ctx := context.Background()
	c, env := newSeamCluster(t, 3)
	drift := mustNemesis(t, "clock-drift")
	if _, err := drift.Invoke(ctx, env, Fault{Select: SelectOne, Seed: 3, Params: map[string]any{"ppm": 2500.0}}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, node := range c.nodes {
		if node.get().Clock.State().DriftPPM == 2500 {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d nodes drift, want 1", n)
	}
	strobe := mustNemesis(t, "clock-strobe")
	f, err := strobe.Invoke(ctx, env, Fault{Select: SelectAll, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, node := range c.nodes {
		st := node.get().Clock.State()
		if st.StrobePeriod < 10*time.Millisecond || st.StrobePeriod > time.Second || st.StrobeDelta < time.Second || st.StrobeDelta > 100*time.Second {
			t.Errorf("%s strobe %+v outside the documented ranges", node.id, st)
		}
	}
	if len(f.Params["clocks"].(map[string]ClockApplied)) != 3 {
		t.Fatal("strobe did not record every node")
	}
	// clock-reset defaults to every node and records what it undid.
	rf, err := mustNemesis(t, "clock-reset").Invoke(ctx, env, Fault{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(rf.Nodes) != 3 {
		t.Fatalf("clock-reset nodes %v, want all", rf.Nodes)
	}
	for _, node := range c.nodes {
		if st := node.get().Clock.State(); st != (seam.ClockState{}) {
			t.Errorf("%s after clock-reset: %+v", node.id, st)
		}
	}
	for _, nem := range []Nemesis{drift, strobe} {
		if err := nem.Heal(ctx, env); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSeamNemesesRefuseForeignAndDeadNodes(t *testing.T) {
	ctx := context.Background()
	c, env := newSeamCluster(t, 3)
	c.nodes[1].foreign = true // the leader, n2
	for _, name := range SeamNemeses() {
		nem := mustNemesis(t, name)
		_, err := nem.Invoke(ctx, env, Fault{Select: SelectAll, Seed: 1, Params: map[string]any{"window": "1ms"}})
		if !errors.Is(err, seam.ErrNotBundled) {
			t.Errorf("%s on a foreign node: %v, want ErrNotBundled", name, err)
		}
	}
	for _, n := range c.nodes {
		if n.kills > 0 {
			t.Errorf("%s killed although the fault was refused", n.id)
		}
		if st := n.get().Clock.State(); st.Offset != 0 {
			t.Errorf("%s clock changed although the fault was refused", n.id)
		}
	}
	c2, env2 := newSeamCluster(t, 3)
	c2.nodes[0].srv.Close()
	c2.nodes[0].down = true
	if _, err := mustNemesis(t, "disk-eio").Invoke(ctx, env2, Fault{Select: SelectAll, Seed: 1}); err == nil ||
		!strings.Contains(err.Error(), "n1") {
		t.Fatalf("disk-eio with n1 down: %v, want an error naming n1", err)
	}
	// Clock and message faults wait for a node that is down: its start
	// hook applies them; the fault says so.
	f, err := mustNemesis(t, "clock-jump").Invoke(ctx, env2, Fault{Select: SelectAll, Seed: 1})
	if err != nil || !strings.Contains(f.Note, "[n1] down: applied when it starts") {
		t.Fatalf("clock-jump with n1 down: %v, note %q", err, f.Note)
	}
	if c2.nodes[1].get().Clock.State().Offset == 0 {
		t.Error("the nodes that are up were not skewed")
	}
	// A node that runs but does not answer (paused, unreachable) is an
	// error: no start hook would ever apply the fault.
	c2.nodes[0].down = false
	if _, err := mustNemesis(t, "msg-delay").Invoke(ctx, env2, Fault{Select: SelectAll, Seed: 1}); err == nil ||
		!strings.Contains(err.Error(), "n1") {
		t.Errorf("msg-delay with n1 running but unreachable: %v, want an error naming n1", err)
	}
	c2.nodes[0].down = true
	for _, n := range c2.nodes {
		n.srv.Close()
		n.down = true
	}
	if _, err := mustNemesis(t, "msg-drop").Invoke(ctx, env2, Fault{Select: SelectAll, Seed: 1}); err == nil {
		t.Error("a message fault with every node down reported no error")
	}
}

func TestDiskLoseUnsyncedKillsInModeAndRestarts(t *testing.T) {
	ctx := context.Background()
	c, env := newSeamCluster(t, 3)
	// A write that is never synced, so the record shows bytes at risk.
	var wrote sync.WaitGroup
	nem := mustNemesis(t, "disk-lose-unsynced")
	for _, n := range c.nodes {
		f := n.get().Disk.Wrap("wal", nopFile{})
		wrote.Add(1)
		go func() {
			defer wrote.Done()
			for !n.get().Disk.State().LoseUnsynced {
				time.Sleep(time.Millisecond)
			}
			f.Write([]byte("unsynced"))
		}()
	}
	done := make(chan struct{})
	var f Fault
	var err error
	go func() {
		defer close(done)
		f, err = nem.Invoke(ctx, env, Fault{Select: SelectAll, Seed: 1, Params: map[string]any{"window": "300ms"}})
	}()
	wrote.Wait()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if f.Params["window"] != "300ms" {
		t.Fatalf("window param %v", f.Params["window"])
	}
	lost := f.Params["unsynced_bytes"].(map[string]int64)
	for _, n := range c.nodes {
		if n.kills != 1 {
			t.Fatalf("%s killed %d times", n.id, n.kills)
		}
		if !n.atKill.LoseUnsynced || n.atKill.UnsyncedBytes != 8 {
			t.Fatalf("%s at kill: %+v, want lose-unsynced on with 8 bytes held", n.id, n.atKill)
		}
		if lost[n.id] != 8 {
			t.Fatalf("recorded unsynced bytes %v", lost)
		}
	}
	if err := nem.Heal(ctx, env); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.nodes {
		if n.starts != 1 {
			t.Fatalf("%s started %d times at heal", n.id, n.starts)
		}
	}
	if err := nem.Heal(ctx, env); err != nil {
		t.Fatal(err)
	}
	if c.nodes[0].starts != 1 {
		t.Fatal("a second heal restarted again")
	}
}

type nopFile struct{}

func (nopFile) Write(p []byte) (int, error) { return len(p), nil }
func (nopFile) Sync() error                 { return nil }

func TestDiskEIOAndHeal(t *testing.T) {
	ctx := context.Background()
	c, env := newSeamCluster(t, 3)
	nem := mustNemesis(t, "disk-eio")
	f, err := nem.Invoke(ctx, env, Fault{Select: SelectLeader, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Nodes, []string{"n2"}) || !c.nodes[1].get().Disk.State().EIO || c.nodes[0].get().Disk.State().EIO {
		t.Fatalf("nodes %v; n2 eio %v", f.Nodes, c.nodes[1].get().Disk.State())
	}
	if err := nem.Heal(ctx, env); err != nil {
		t.Fatal(err)
	}
	if c.nodes[1].starts != 1 || c.nodes[1].get().Disk.State().EIO {
		t.Fatalf("after heal: starts %d, %+v", c.nodes[1].starts, c.nodes[1].get().Disk.State())
	}
}

func TestMsgRulesTouchEveryLinkOfTheSelected(t *testing.T) {
	r := seam.MsgRule{Dup: 0.5}
	got := MsgRules([]string{"n1", "n2", "n3"}, []string{"n2"}, r)
	want := map[string]map[string]seam.MsgRule{
		"n1": {"n2": r}, "n2": {seam.AnyPeer: r}, "n3": {"n2": r},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	all := MsgRules([]string{"n1", "n2"}, []string{"n1", "n2"}, r)
	if !reflect.DeepEqual(all, map[string]map[string]seam.MsgRule{"n1": {"*": r}, "n2": {"*": r}}) {
		t.Fatalf("all selected: %v", all)
	}
}

func TestMsgNemesesSetAndClearRules(t *testing.T) {
	ctx := context.Background()
	c, env := newSeamCluster(t, 3)
	for _, name := range []string{"msg-delay", "msg-dup", "msg-reorder", "msg-drop"} {
		nem := mustNemesis(t, name)
		f, err := nem.Invoke(ctx, env, Fault{Select: SelectLeader, Seed: 8})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(f.Note, "message-level, not packet-level") {
			t.Errorf("%s note %q", name, f.Note)
		}
		st := c.nodes[1].get().Msg.State()
		rule, ok := st.Rules[seam.AnyPeer]
		if !ok || rule.IsZero() {
			t.Fatalf("%s: leader rules %+v", name, st.Rules)
		}
		switch name {
		case "msg-delay":
			if rule.Delay < 10*time.Millisecond || rule.Delay > 300*time.Millisecond {
				t.Errorf("delay %v", rule.Delay)
			}
		case "msg-dup":
			if rule.Dup < 0.2 || rule.Dup >= 0.6 {
				t.Errorf("dup %v", rule.Dup)
			}
		case "msg-reorder":
			if rule.Reorder < 0.2 || rule.Reorder >= 0.5 {
				t.Errorf("reorder %v", rule.Reorder)
			}
		case "msg-drop":
			if rule.Drop < 0.1 || rule.Drop >= 0.5 {
				t.Errorf("drop %v", rule.Drop)
			}
		}
		if r1 := c.nodes[0].get().Msg.State().Rules; len(r1) != 1 || r1["n2"] != rule {
			t.Fatalf("%s: n1 rules %+v, want the rule towards n2 only", name, r1)
		}
		if err := nem.Heal(ctx, env); err != nil {
			t.Fatal(err)
		}
		for _, n := range c.nodes {
			if rs := n.get().Msg.State().Rules; len(rs) != 0 {
				t.Fatalf("%s: %s keeps rules %v after heal", name, n.id, rs)
			}
		}
	}
}
