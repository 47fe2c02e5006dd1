package raft

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/history"
)

// fakeServer answers POST /kv with a fixed status and body, or hangs until
// the client gives up when body is empty.
func fakeServer(t *testing.T, code int, body string) (fakeNode, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.Copy(io.Discard, r.Body) // the server notices a gone client only after the body
		if body == "" {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(code)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return fakeNode{id: "n1", addr: srv.Listener.Addr().String()}, &hits
}

func invokeAll(cl *Client, d time.Duration) map[string]history.Op {
	out := map[string]history.Op{}
	for f, v := range map[string]any{"read": nil, "write": 3, "cas": [2]int{1, 2}} {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		op := history.Op{Type: history.Invoke, F: f, Key: "k"}
		if v != nil {
			op.Value = history.MustValue(v)
		}
		out[f] = cl.Invoke(ctx, op)
		cancel()
	}
	return out
}

func TestClientOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		code      int
		body      string
		read, mut history.Type // expected completion for read and for write/cas
	}{
		{"hang", 0, "", history.Fail, history.Info},
		{"indefinite", 504, `{"error":"timeout"}`, history.Fail, history.Info},
		{"garbage", 500, `oops`, history.Fail, history.Info},
		{"definite", 409, `{"error":"overwritten","definite":true}`, history.Fail, history.Fail},
		{"not leader, unknown", 421, `{"error":"not-leader","definite":true}`, history.Fail, history.Fail},
		{"ok", 200, `{"ok":true,"value":5}`, history.OK, history.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, _ := fakeServer(t, tc.code, tc.body)
			cl := newClient(t, []cluster.Node{n})
			start := time.Now()
			for f, op := range invokeAll(cl, 200*time.Millisecond) {
				want := tc.mut
				if f == "read" {
					want = tc.read
				}
				if op.Type != want || op.Node != "n1" {
					t.Errorf("%s: %s on %s (%s), want %s on n1", f, op.Type, op.Node, op.Error, want)
				}
				if op.Type != history.OK && op.Error == "" {
					t.Errorf("%s: %s without a reason", f, op.Type)
				}
			}
			// A liveness bound, not a speed target: the "hang" server never
			// answers, so a client that ignored its deadline would block
			// here for good.
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("three ops with 200ms deadlines took %v", d)
			}
		})
	}
}

func TestClientReadValue(t *testing.T) {
	n, _ := fakeServer(t, 200, `{"ok":true,"value":null}`)
	cl := newClient(t, []cluster.Node{n})
	op := do(cl, "read", "k", nil)
	if op.Type != history.OK || string(op.Value) != "null" {
		t.Fatalf("read of an absent key: %+v, want ok null", op)
	}
	op = do(cl, "write", "k", 4)
	if op.Type != history.OK || string(op.Value) != "4" {
		t.Fatalf("write: %+v, want ok with the written value", op)
	}
}

// The client follows a not-leader hint within the operation and keeps
// using the leader afterwards.
func TestClientFollowsLeaderHint(t *testing.T) {
	leader, leaderHits := fakeServer(t, 200, `{"ok":true}`)
	leader.id = "n2"
	follower, followerHits := fakeServer(t, 421, `{"error":"not-leader","definite":true,"leader":"n2"}`)
	cl := newClient(t, []cluster.Node{follower, leader})
	cl.cur = 0
	for range 3 {
		if op := do(cl, "write", "k", 1); op.Type != history.OK || op.Node != "n2" {
			t.Fatalf("write: %+v, want ok on n2", op)
		}
	}
	if followerHits.Load() != 1 || leaderHits.Load() != 3 {
		t.Fatalf("follower asked %d times, leader %d; want 1 and 3", followerHits.Load(), leaderHits.Load())
	}
}

// After an indefinite outcome the client moves to the next node.
func TestClientRotatesAfterInfo(t *testing.T) {
	slow, _ := fakeServer(t, 0, "")
	fine, _ := fakeServer(t, 200, `{"ok":true}`)
	fine.id = "n2"
	cl := newClient(t, []cluster.Node{slow, fine})
	cl.cur = 0
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if op := cl.Invoke(ctx, history.Op{Type: history.Invoke, F: "write", Key: "k", Value: history.MustValue(1)}); op.Type != history.Info {
		t.Fatalf("write to a hanging node: %+v, want info", op)
	}
	if op := do(cl, "write", "k", 2); op.Type != history.OK || op.Node != "n2" {
		t.Fatalf("next write: %+v, want ok on n2", op)
	}
}
