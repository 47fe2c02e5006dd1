package raft

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/targets/raft/core"
	"github.com/faultline-io/faultline/targets/seam"
)

// memCluster runs Nodes in-process over a MemNetwork (so tests can cut
// links between nodes) and MemStorage, each behind its own HTTP server (so
// clients reach every node whatever the partition, as in Jepsen).
type memCluster struct {
	t     testing.TB
	net   *MemNetwork
	nodes []fakeNode
	peers []cluster.Peer
	stor  map[string]*MemStorage
	bugs  []string
	// clocks are the nodes' clock seams (real time until a test skews one).
	clocks map[string]*seam.Clock
	// msgs are the nodes' message shims, kept across restarts as the
	// harness's rules are in a real run (no rules until a test sets some).
	msgs map[string]*seam.Messages
	sink *logSink

	mu   sync.Mutex
	live map[string]*memNode
}

type memNode struct {
	n       *Node
	handler http.Handler
	cancel  context.CancelFunc
	done    chan error
}

func startMemCluster(t testing.TB, size int, bugs ...string) *memCluster {
	t.Helper()
	c := &memCluster{t: t, net: NewMemNetwork(), stor: map[string]*MemStorage{}, clocks: map[string]*seam.Clock{}, msgs: map[string]*seam.Messages{}, bugs: bugs,
		sink: &logSink{t: t}, live: map[string]*memNode{}}
	for i := range size {
		id := fmt.Sprintf("n%d", i+1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.mu.Lock()
			mn := c.live[id]
			c.mu.Unlock()
			if mn == nil {
				panic(http.ErrAbortHandler) // down: drop the connection
			}
			mn.handler.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		c.nodes = append(c.nodes, fakeNode{id: id, addr: srv.Listener.Addr().String()})
		c.peers = append(c.peers, cluster.Peer{ID: id, Addr: srv.Listener.Addr().String()})
		c.stor[id] = &MemStorage{}
		c.clocks[id] = seam.NewClock(nil)
		c.msgs[id] = seam.NewMessages(nil)
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			c.kill(n.id)
		}
		c.sink.close()
	})
	for _, n := range c.nodes {
		c.start(n.id)
	}
	return c
}

func (c *memCluster) start(id string) {
	c.t.Helper()
	log := newTestLogger(c.sink, id)
	n, err := NewNode(Config{ID: id, Peers: c.peers, Storage: c.stor[id], Transport: NewShimTransport(c.net.Transport(id), c.msgs[id]),
		Clock: c.clocks[id], Seed: uint64(len(id)) + uint64(id[len(id)-1]), Bugs: c.bugs, Logger: log})
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mn := &memNode{n: n, handler: n.Handler(), cancel: cancel, done: make(chan error, 1)}
	c.net.Attach(id, func(msgs []core.Message) { n.Receive(ctx, msgs) })
	go func() { mn.done <- n.Run(ctx) }()
	c.mu.Lock()
	c.live[id] = mn
	c.mu.Unlock()
}

// kill stops id as a crash would: whatever it had not synced is lost.
func (c *memCluster) kill(id string) {
	c.mu.Lock()
	mn := c.live[id]
	delete(c.live, id)
	c.mu.Unlock()
	if mn == nil {
		return
	}
	c.net.Attach(id, nil)
	mn.cancel()
	if err := <-mn.done; err != nil {
		c.t.Errorf("%s: %v", id, err)
	}
	c.stor[id].LoseUnsynced()
}

func (c *memCluster) all() []cluster.Node {
	var out []cluster.Node
	for _, n := range c.nodes {
		out = append(out, n)
	}
	return out
}

func (c *memCluster) only(ids ...string) []cluster.Node {
	var out []cluster.Node
	for _, n := range c.nodes {
		for _, id := range ids {
			if n.id == id {
				out = append(out, n)
			}
		}
	}
	return out
}

func (c *memCluster) others(id string) []string {
	var out []string
	for _, n := range c.nodes {
		if n.id != id {
			out = append(out, n.id)
		}
	}
	return out
}

func (c *memCluster) ids() []string { return c.others("") }

func (c *memCluster) waitLeader(d time.Duration) string {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := Target{}.Healthy(ctx, c.all())
		l, lerr := Target{}.Leader(ctx, c.all())
		cancel()
		if err == nil && lerr == nil {
			return l
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatalf("no healthy leader within %v", d)
	return ""
}

func newClient(t testing.TB, nodes []cluster.Node) *Client {
	t.Helper()
	cl, err := NewClient(nodes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// A leader cut off from its peers serves no reads and acknowledges no
// writes; its uncommitted write is overwritten after the partition heals.
func TestNodeIsolatedLeader(t *testing.T) {
	c := startMemCluster(t, 3)
	all := newClient(t, c.all())
	doUntil(t, all, 5*time.Second, "write", "k", 1)
	old := c.waitLeader(5 * time.Second)
	c.net.Isolate(old, c.ids())
	lone := newClient(t, c.only(old))
	if op := do(lone, "write", "k", 7); op.Type != history.Info {
		t.Fatalf("write on the isolated leader: %+v, want info", op)
	}
	maj := newClient(t, c.only(c.others(old)...))
	doUntil(t, maj, 5*time.Second, "write", "k", 2)
	if op := do(lone, "read", "k", nil); op.Type != history.Fail {
		t.Fatalf("read on the isolated old leader: %+v, want fail", op)
	}
	c.net.Heal()
	if op := doUntil(t, all, 5*time.Second, "read", "k", nil); string(op.Value) != "2" {
		t.Fatalf("read after heal: %s, want 2 (the isolated write must be overwritten)", op.Value)
	}
}

// Every node crashes and restarts from its storage; nothing acknowledged
// is lost.
func TestNodeRestartAll(t *testing.T) {
	c := startMemCluster(t, 3)
	cl := newClient(t, c.all())
	for i := range 20 {
		doUntil(t, cl, 5*time.Second, "write", fmt.Sprintf("k%d", i%4), i)
	}
	doUntil(t, cl, 5*time.Second, "cas", "k3", [2]int{19, 100})
	for _, id := range c.ids() {
		c.kill(id)
	}
	for _, id := range c.ids() {
		c.start(id)
	}
	for key, want := range map[string]string{"k0": "16", "k1": "17", "k2": "18", "k3": "100"} {
		if op := doUntil(t, cl, 5*time.Second, "read", key, nil); string(op.Value) != want {
			t.Errorf("%s after restart = %s, want %s", key, op.Value, want)
		}
	}
}

// A node whose storage cannot sync stops instead of acknowledging.
func TestNodeStopsOnSyncError(t *testing.T) {
	s := &MemStorage{SyncErr: fmt.Errorf("EIO")}
	n, err := NewNode(Config{ID: "n1", Peers: []cluster.Peer{{ID: "n1", Addr: "x:1"}}, Storage: s,
		Transport: NewMemNetwork().Transport("n1"), Tick: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- n.Run(context.Background()) }()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Run returned nil after a failed sync")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("node kept running after a failed sync")
	}
}
