package raft

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/faultline-io/faultline/history"
)

// TestIntegration runs three nodes through NodeMain on loopback, drives them
// with the Client, stops the leader, checks the others still serve, and
// restarts it from its data directory.
func TestIntegration(t *testing.T) {
	c := startProcCluster(t, 3, nil)
	leader := c.waitHealthy(5 * time.Second)
	cl, err := NewClient(c.clusterNodes())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	expect := func(op history.Op, typ history.Type, value string) {
		t.Helper()
		if op.Type != typ {
			t.Fatalf("%s %s: got %s (%s), want %s", op.F, op.Key, op.Type, op.Error, typ)
		}
		if value != "" && string(op.Value) != value {
			t.Fatalf("%s %s: value %s, want %s", op.F, op.Key, op.Value, value)
		}
		if op.Node == "" {
			t.Fatalf("%s %s: Node not set", op.F, op.Key)
		}
	}
	expect(do(cl, "read", "nothing", nil), history.OK, "null")
	expect(do(cl, "write", "k1", 1), history.OK, "1")
	expect(do(cl, "read", "k1", nil), history.OK, "1")
	expect(do(cl, "cas", "k1", [2]int{1, 2}), history.OK, "[1,2]")
	expect(do(cl, "read", "k1", nil), history.OK, "2")
	mismatch := do(cl, "cas", "k1", [2]int{1, 3})
	expect(mismatch, history.Fail, "")
	if mismatch.Error != ErrCodeCASMismatch {
		t.Fatalf("cas mismatch error %q, want %q", mismatch.Error, ErrCodeCASMismatch)
	}
	expect(do(cl, "cas", "absent", [2]int{0, 1}), history.Fail, "")
	if op := do(cl, "read", "k1", nil); op.Node != leader {
		t.Errorf("client asked %s, leader is %s: it should have followed the hint", op.Node, leader)
	}

	// Every node knows the leader and learns the commit index (followers
	// hear of it with the next heartbeat, so this waits: a liveness bound,
	// not a speed target).
	for _, n := range c.nodes {
		deadline := time.Now().Add(5 * time.Second)
		for {
			st, err := FetchStatus(context.Background(), n.addr)
			if err != nil {
				t.Fatal(err)
			}
			if st.ID == n.id && st.Leader == leader && st.Commit >= 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s status %+v, want leader %s and commit >= 3", n.id, st, leader)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	c.stop(leader)
	newLeader := c.waitHealthy(5 * time.Second)
	if newLeader == leader {
		t.Fatalf("stopped leader %s still reported as leader", leader)
	}
	expect(doUntil(t, cl, 3*time.Second, "write", "k1", 5), history.OK, "5")
	expect(do(cl, "read", "k1", nil), history.OK, "5")

	// Restart from the data directory; it catches up.
	c.start(leader)
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := FetchStatus(context.Background(), c.node(leader).addr)
		lst, lerr := FetchStatus(context.Background(), c.node(newLeader).addr)
		if err == nil && lerr == nil && st.Leader == newLeader && st.Applied >= lst.Commit && st.Applied > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted %s did not catch up: %+v (%v), leader %+v (%v)", leader, st, err, lst, lerr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A client pointed only at a node that is down fails definitely, without
// waiting for the deadline, and names the node.
func TestClientConnectionRefused(t *testing.T) {
	addr := freePorts(t, 1)[0]
	cl, err := NewClient(c1(fakeNode{id: "n1", addr: addr}))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"read", "write", "cas"} {
		var v any
		switch f {
		case "write":
			v = 1
		case "cas":
			v = [2]int{1, 2}
		}
		op := do(cl, f, "k", v)
		if op.Type != history.Fail || op.Node != "n1" {
			t.Errorf("%s against a closed port: %+v, want fail on n1", f, op)
		}
	}
	bad := cl.Invoke(context.Background(), history.Op{Type: history.Invoke, F: "write", Key: "k", Value: json.RawMessage(`"x"`)})
	if bad.Type != history.Fail {
		t.Errorf("malformed write value: %+v, want fail", bad)
	}
}
