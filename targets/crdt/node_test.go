package crdt

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/targets/peer"
	"github.com/faultline-io/faultline/targets/seam"
	"github.com/vishvananda/netns"
)

// testNode is a cluster.Node that only has an id and an address.
type testNode struct{ id, addr string }

func (n testNode) ID() string                     { return n.id }
func (n testNode) Addr() string                   { return n.addr }
func (n testNode) Kill(context.Context) error     { return cluster.ErrUnsupported }
func (n testNode) Start(context.Context) error    { return cluster.ErrUnsupported }
func (n testNode) Pause(context.Context) error    { return cluster.ErrUnsupported }
func (n testNode) Resume(context.Context) error   { return cluster.ErrUnsupported }
func (n testNode) NetNS() (netns.NsHandle, error) { return 0, cluster.ErrUnsupported }

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

// wallClock is the node clock of these tests: the real one.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// liveNode is one real node: a Node around a Machine, its storage on a
// temporary directory, an HTTP sender to its peers and an HTTP server on
// its own loopback listener.
type liveNode struct {
	id, addr, dir string
	storage       *Storage
	sender        *peer.HTTPSender[Message]
	srv           *http.Server
	stop          context.CancelFunc
	done          chan error
}

// startNode starts node id of peers on ln with the state in dir.
func startNode(t *testing.T, id string, peers []cluster.Peer, dir string, ln net.Listener, logger *log.Logger) *liveNode {
	t.Helper()
	storage, state, err := OpenStorage(dir, seam.NewDisk())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range peers {
		ids = append(ids, p.ID)
	}
	m, err := NewMachine(MachineConfig{ID: id, Peers: ids, Seed: 1, Now: time.Now(), GossipInterval: 20 * time.Millisecond,
		State: state, Logf: logger.Printf})
	if err != nil {
		t.Fatal(err)
	}
	sender := peer.NewHTTPSender(id, peers, func(m Message) string { return m.To }, logger, peer.Options{Path: GossipPath})
	node := NewNode(m, wallClock{}, storage, sender, logger)
	ctx, stop := context.WithCancel(context.Background())
	ln2 := &liveNode{id: id, addr: ln.Addr().String(), dir: dir, storage: storage, sender: sender,
		srv: &http.Server{Handler: node.Handler()}, stop: stop, done: make(chan error, 1)}
	go ln2.srv.Serve(ln)
	go func() { ln2.done <- node.Run(ctx) }()
	return ln2
}

// kill stops the node as a crash would: the machine stops and the server
// closes; the storage is left as it is (not closed, so not flushed).
func (n *liveNode) kill(t *testing.T) {
	t.Helper()
	n.stop()
	err := <-n.done
	n.done <- err // for the cleanup's wait
	if err != nil {
		t.Errorf("%s: Run: %v", n.id, err)
	}
	n.srv.Close()
	n.sender.Close()
}

// liveCluster starts three nodes on loopback listeners.
func liveCluster(t *testing.T) ([]*liveNode, []cluster.Peer, *log.Logger) {
	t.Helper()
	sink := &logSink{t: t}
	logger := log.New(sink, "", log.Lmicroseconds)
	var peers []cluster.Peer
	var lns []net.Listener
	for _, id := range []string{"n1", "n2", "n3"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		peers = append(peers, cluster.Peer{ID: id, Addr: ln.Addr().String()})
	}
	var nodes []*liveNode
	for i, p := range peers {
		nodes = append(nodes, startNode(t, p.ID, peers, t.TempDir(), lns[i], logger))
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop()
			n.srv.Close()
			n.sender.Close()
		}
		for _, n := range nodes {
			select {
			case <-n.done:
			case <-time.After(5 * time.Second):
				t.Errorf("%s did not stop", n.id)
			}
			n.storage.Close()
		}
		sink.mu.Lock()
		sink.closed = true
		sink.mu.Unlock()
	})
	return nodes, peers, logger
}

func clientOf(t *testing.T, n testNode, workload string) *Client {
	t.Helper()
	c, err := NewClient([]cluster.Node{n}, workload)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func invoke(c *Client, f, key string, v any) history.Op {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	op := history.Op{Type: history.Invoke, F: f, Key: key}
	if v != nil {
		op.Value = history.MustValue(v)
	}
	return c.Invoke(ctx, op)
}

// waitRead reads key through c until pred holds of the value read, for at
// most 10 s (a liveness bound: gossip every 20 ms converges in far less).
func waitRead(t *testing.T, c *Client, key string, pred func(json.RawMessage) bool) json.RawMessage {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last history.Op
	for time.Now().Before(deadline) {
		last = invoke(c, "read", key, nil)
		if last.Type == history.OK && pred(last.Value) {
			return last.Value
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("read of %s never satisfied the wait; last %+v", key, last)
	return nil
}

func elements(t *testing.T, v json.RawMessage) []int64 {
	t.Helper()
	var es []int64
	if err := json.Unmarshal(v, &es); err != nil {
		t.Fatalf("set read %s: %v", v, err)
	}
	return es
}

// An update acknowledged by one node reaches the others by gossip over
// the HTTP sender, and a node restarted from its state log still has every
// update it acknowledged.
func TestNodesConvergeAndRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("real nodes on loopback skipped in -short mode")
	}
	nodes, peers, logger := liveCluster(t)
	cl := make([]*Client, 3)
	for i, p := range peers {
		cl[i] = clientOf(t, testNode{p.ID, p.Addr}, "set")
	}
	for _, e := range []int64{42, 43} {
		if op := invoke(cl[0], "add", "k", e); op.Type != history.OK || op.Node != "n1" {
			t.Fatalf("add %d on n1: %+v", e, op)
		}
	}
	if op := invoke(cl[0], "remove", "k", 43); op.Type != history.OK {
		t.Fatalf("remove on n1: %+v", op)
	}
	got := waitRead(t, cl[1], "k", func(v json.RawMessage) bool { return slices.Equal(elements(t, v), []int64{42}) })
	t.Logf("n2 reads %s", got)

	counters := make([]*Client, 3)
	for i, p := range peers {
		counters[i] = clientOf(t, testNode{p.ID, p.Addr}, "counter")
	}
	sum := 0
	for i, d := range []int{5, -2, 4} {
		if op := invoke(counters[i], "add", "c", d); op.Type != history.OK {
			t.Fatalf("counter add on n%d: %+v", i+1, op)
		}
		sum += d
	}
	for i := range counters {
		waitRead(t, counters[i], "c", func(v json.RawMessage) bool { return string(v) == "7" })
	}

	// n1 acknowledges more adds, then crashes.
	acked := []int64{42}
	for e := int64(100); e < 120; e++ {
		if op := invoke(cl[0], "add", "r", e); op.Type == history.OK {
			acked = append(acked, e)
		} else {
			t.Fatalf("add %d on n1: %+v", e, op)
		}
	}
	if op := invoke(counters[0], "add", "c", 3); op.Type != history.OK {
		t.Fatalf("counter add on n1: %+v", op)
	}
	nodes[0].kill(t)

	// Restarted on its data directory (on a new address its peers do not
	// know, so nothing reaches it by gossip), it reads what it acknowledged.
	s, state, err := OpenStorage(nodes[0].dir, seam.NewDisk())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if st := state["counter/c"]; st.Counter == nil || st.Counter.Value() != int64(sum+3) {
		t.Errorf("reopened log: counter/c = %+v, want %d", st.Counter, sum+3)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	re := startNode(t, "n1", peers, nodes[0].dir, ln, logger)
	t.Cleanup(func() {
		re.kill(t)
		re.storage.Close()
	})
	rc := clientOf(t, testNode{"n1", re.addr}, "set")
	r := invoke(rc, "read", "r", nil)
	if r.Type != history.OK {
		t.Fatalf("read on the restarted n1: %+v", r)
	}
	es := elements(t, r.Value)
	for _, e := range acked[1:] {
		if !slices.Contains(es, e) {
			t.Errorf("restarted n1 lost acknowledged add %d: reads %v", e, es)
		}
	}
	if r := invoke(rc, "read", "k", nil); r.Type != history.OK || !slices.Equal(elements(t, r.Value), []int64{42}) {
		t.Errorf("restarted n1 reads k = %+v, want [42]", r)
	}
	if r := invoke(clientOf(t, testNode{"n1", re.addr}, "counter"), "read", "c", nil); r.Type != history.OK || string(r.Value) != "10" {
		t.Errorf("restarted n1 reads counter c = %+v, want 10", r)
	}
	// A fresh add on the restarted node gets a tag it never used before:
	// removing the element there leaves the others alone.
	if op := invoke(rc, "add", "r", 500); op.Type != history.OK {
		t.Fatalf("add on the restarted n1: %+v", op)
	}
	if op := invoke(rc, "remove", "r", 500); op.Type != history.OK {
		t.Fatalf("remove on the restarted n1: %+v", op)
	}
	if r := invoke(rc, "read", "r", nil); r.Type != history.OK || len(elements(t, r.Value)) != len(acked)-1 {
		t.Errorf("after add and remove of 500: %+v, want the %d acknowledged adds", r, len(acked)-1)
	}
}

// A client that cannot connect has sent nothing: the add certainly did not
// happen (fail), and the read fails too.
func TestClientNodeNotListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := clientOf(t, testNode{"n1", addr}, "set")
	for _, f := range []string{"add", "remove", "read"} {
		var v any
		if f != "read" {
			v = 3
		}
		op := invoke(c, f, "k", v)
		if op.Type != history.Fail || op.Error == "" || op.Node != "n1" {
			t.Errorf("%s to a node not listening: %+v, want fail on n1 with a reason", f, op)
		}
	}
}

// A request that reached a node which never answers may have been
// applied: an add is info, a read (which changes nothing) fails. A node's
// definite error is a fail.
func TestClientOutcomes(t *testing.T) {
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	t.Cleanup(hang.Close)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		writeJSON(w, http.StatusBadRequest, Response{Error: ErrCodeBadRequest, Definite: true})
	}))
	t.Cleanup(bad.Close)
	stopping := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		writeJSON(w, http.StatusServiceUnavailable, Response{Error: ErrCodeStopping})
	}))
	t.Cleanup(stopping.Close)
	for _, tc := range []struct {
		name      string
		srv       *httptest.Server
		add, read history.Type
	}{
		{"no answer", hang, history.Info, history.Fail},
		{"definite error", bad, history.Fail, history.Fail},
		{"indefinite error", stopping, history.Info, history.Fail},
	} {
		c := clientOf(t, testNode{"n1", tc.srv.Listener.Addr().String()}, "counter")
		for f, want := range map[string]history.Type{"add": tc.add, "read": tc.read} {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			op := history.Op{Type: history.Invoke, F: f, Key: "k"}
			if f == "add" {
				op.Value = history.MustValue(2)
			}
			got := c.Invoke(ctx, op)
			cancel()
			if got.Type != want || got.Error == "" {
				t.Errorf("%s: %s gave %+v, want %s with a reason", tc.name, f, got, want)
			}
		}
	}
}

// The node answers a request the machine refuses as a definite error.
func TestNodeAnswersBadRequest(t *testing.T) {
	_, peers, _ := liveCluster(t)
	c := clientOf(t, testNode{peers[0].ID, peers[0].Addr}, "counter")
	if op := invoke(c, "add", "k", 0); op.Type != history.Fail || !strings.Contains(op.Error, ErrCodeBadRequest) {
		t.Errorf("counter add of 0: %+v, want a definite bad-request", op)
	}
}
