package raft

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/history"
	"github.com/vishvananda/netns"
)

// fakeNode is a cluster.Node that only has an id and an address.
type fakeNode struct{ id, addr string }

func (n fakeNode) ID() string                     { return n.id }
func (n fakeNode) Addr() string                   { return n.addr }
func (n fakeNode) Kill(context.Context) error     { return cluster.ErrUnsupported }
func (n fakeNode) Start(context.Context) error    { return cluster.ErrUnsupported }
func (n fakeNode) Pause(context.Context) error    { return cluster.ErrUnsupported }
func (n fakeNode) Resume(context.Context) error   { return cluster.ErrUnsupported }
func (n fakeNode) NetNS() (netns.NsHandle, error) { return 0, cluster.ErrUnsupported }
func (n fakeNode) peer() cluster.Peer             { return cluster.Peer{ID: n.id, Addr: n.addr} }

// freePorts returns k distinct loopback addresses that were free a moment ago.
func freePorts(t testing.TB, k int) []string {
	t.Helper()
	var lns []net.Listener
	var addrs []string
	for range k {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return addrs
}

// logSink forwards node logs to t.Log until the test is over.
type logSink struct {
	mu     sync.Mutex
	t      testing.TB
	closed bool
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (s *logSink) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// procCluster runs nodes with NodeMain in goroutines, as the local runtime
// would run processes; stop and start model kill and restart on the same
// data directory.
type procCluster struct {
	t     testing.TB
	nodes []fakeNode
	dirs  map[string]string
	bugs  []string
	extra []string
	sink  *logSink

	mu      sync.Mutex
	cancels map[string]context.CancelFunc
	exited  map[string]chan error
}

func startProcCluster(t testing.TB, size int, bugs []string, extra ...string) *procCluster {
	t.Helper()
	addrs := freePorts(t, size)
	c := &procCluster{t: t, dirs: map[string]string{}, bugs: bugs, extra: extra, sink: &logSink{t: t},
		cancels: map[string]context.CancelFunc{}, exited: map[string]chan error{}}
	base := t.TempDir()
	for i, a := range addrs {
		id := fmt.Sprintf("n%d", i+1)
		c.nodes = append(c.nodes, fakeNode{id: id, addr: a})
		c.dirs[id] = filepath.Join(base, id)
	}
	t.Cleanup(c.stopAll)
	for _, n := range c.nodes {
		c.start(n.id)
	}
	return c
}

func (c *procCluster) clusterNodes() []cluster.Node {
	out := make([]cluster.Node, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n
	}
	return out
}

func (c *procCluster) peers() []cluster.Peer {
	out := make([]cluster.Peer, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.peer()
	}
	return out
}

func (c *procCluster) node(id string) fakeNode {
	for _, n := range c.nodes {
		if n.id == id {
			return n
		}
	}
	c.t.Fatalf("no node %s", id)
	return fakeNode{}
}

func (c *procCluster) start(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancels[id] != nil {
		return
	}
	args := Target{}.NodeCommand(c.node(id).peer(), c.peers(), c.dirs[id], c.bugs, uint64(len(id)))[2:] // drop "node raft"
	args = append(args, c.extra...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	c.cancels[id], c.exited[id] = cancel, done
	go func() { done <- NodeMain(ctx, args, c.sink) }()
}

// stop ends a node abruptly: its server closes every connection at once.
func (c *procCluster) stop(id string) {
	c.mu.Lock()
	cancel, done := c.cancels[id], c.exited[id]
	delete(c.cancels, id)
	c.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			c.t.Errorf("node %s exited: %v", id, err)
		}
	case <-time.After(10 * time.Second):
		c.t.Errorf("node %s did not stop", id)
	}
}

func (c *procCluster) stopAll() {
	for _, n := range c.nodes {
		c.stop(n.id)
	}
	c.sink.close()
}

// waitHealthy polls Target.Healthy until it passes or d elapses.
func (c *procCluster) waitHealthy(d time.Duration) string {
	c.t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = Target{}.Healthy(ctx, c.clusterNodes())
		var l string
		if err == nil {
			l, err = Target{}.Leader(ctx, c.clusterNodes())
		}
		cancel()
		if err == nil {
			return l
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("cluster not healthy after %v: %v", d, err)
	return ""
}

// do performs one op with a 1 s deadline, as the harness would.
func do(cl *Client, f, key string, value any) history.Op {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	op := history.Op{Type: history.Invoke, F: f, Key: key}
	if value != nil {
		op.Value = history.MustValue(value)
	}
	return cl.Invoke(ctx, op)
}

// doUntil retries an op until it returns ok (or fails after d).
func doUntil(t testing.TB, cl *Client, d time.Duration, f, key string, value any) history.Op {
	t.Helper()
	deadline := time.Now().Add(d)
	var last history.Op
	for time.Now().Before(deadline) {
		last = do(cl, f, key, value)
		if last.Type == history.OK {
			return last
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s %s %v never succeeded within %v; last: %+v", f, key, value, d, last)
	return last
}

func c1(n fakeNode) []cluster.Node { return []cluster.Node{n} }

func jsonDecode(r *http.Request, v any) error { return json.NewDecoder(r.Body).Decode(v) }

func newTestLogger(w io.Writer, id string) *log.Logger {
	return log.New(w, "raft "+id+" ", log.Lmicroseconds)
}
