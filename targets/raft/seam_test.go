package raft

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/targets/raft/core"
	"github.com/faultline-io/faultline/targets/seam"
)

// lease-read: a leader whose clock was ahead when it extended its lease,
// and then fell back, serves a stale read after a new leader was elected
// and wrote; without the skew, the same schedule reads nothing stale.
func TestNodeBugLeaseRead(t *testing.T) {
	for _, skew := range []bool{true, false} {
		name := "skewed"
		if !skew {
			name = "true clock"
		}
		t.Run(name, func(t *testing.T) {
			c := startMemCluster(t, 3, BugLeaseRead)
			all := newClient(t, c.all())
			doUntil(t, all, 5*time.Second, "write", "k", 1)
			old := c.waitLeader(5 * time.Second)
			lone := newClient(t, c.only(old))
			if skew {
				c.clocks[old].Jump(10 * time.Second)
			}
			// A read on the leader starts a ReadIndex round that extends
			// the lease from its start by the leader's (skewed) clock.
			doUntil(t, lone, 5*time.Second, "read", "k", nil)
			if skew {
				c.clocks[old].Reset() // back by 10 s: the lease now lasts ~10 s
			}
			c.net.Isolate(old, c.ids())
			maj := newClient(t, c.only(c.others(old)...))
			doUntil(t, maj, 5*time.Second, "write", "k", 2)
			op := do(lone, "read", "k", nil)
			stale := op.Type == history.OK && string(op.Value) == "1"
			if skew && !stale {
				t.Fatalf("lease-read bug with a skewed leader clock: read on the old leader %+v, want ok 1 (stale)", op)
			}
			if !skew && stale {
				t.Fatalf("lease-read with true clocks served a stale read %+v: the lease outlived the election", op)
			}
		})
	}
}

// no-fsync: acknowledged writes live only in the page cache; a crash of
// every node that loses unsynced writes loses them.
func TestNodeBugNoFsync(t *testing.T) {
	c := startMemCluster(t, 3, BugNoFsync)
	cl := newClient(t, c.all())
	doUntil(t, cl, 5*time.Second, "write", "k", 1)
	if op := doUntil(t, cl, 5*time.Second, "read", "k", nil); string(op.Value) != "1" {
		t.Fatalf("read before the crash: %s", op.Value)
	}
	for _, id := range c.ids() {
		c.kill(id) // MemStorage.LoseUnsynced: nothing was ever synced
	}
	for _, id := range c.ids() {
		if recs, _ := c.stor[id].ReadAll(); len(recs) != 0 {
			t.Fatalf("%s synced %d records; the no-fsync node must never sync", id, len(recs))
		}
	}
	for _, id := range c.ids() {
		c.start(id)
	}
	if op := doUntil(t, cl, 5*time.Second, "read", "k", nil); string(op.Value) != "null" {
		t.Fatalf("no-fsync bug: read after losing unsynced writes = %s, want null (the acknowledged 1 is lost)", op.Value)
	}
}

// captureTransport records what a node sends.
type captureTransport struct {
	mu   sync.Mutex
	sent []core.Message
}

func (c *captureTransport) Send(msgs []core.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, msgs...)
}

func (c *captureTransport) Close() error { return nil }

// voteResp waits for the node's answer to a vote request from `to`.
func (c *captureTransport) voteResp(t *testing.T, to string) core.Message {
	t.Helper()
	for i := 0; i < 500; i++ {
		c.mu.Lock()
		for _, m := range c.sent {
			if m.Type == core.MsgVoteResp && m.To == to {
				c.mu.Unlock()
				return m
			}
		}
		c.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no vote response to %s", to)
	return core.Message{}
}

// forget-vote: after a restart the node grants a second vote in a term it
// already voted in; the correct build refuses.
func TestNodeBugForgetVote(t *testing.T) {
	for _, bug := range []bool{false, true} {
		var bugs []string
		if bug {
			bugs = []string{BugForgetVote}
		}
		peers := []cluster.Peer{{ID: "n1", Addr: "x:1"}, {ID: "n2", Addr: "x:2"}, {ID: "n3", Addr: "x:3"}}
		s := &MemStorage{}
		run := func(from string) core.Message {
			tr := &captureTransport{}
			// A long tick: the node never campaigns on its own here.
			n, err := NewNode(Config{ID: "n1", Peers: peers, Storage: s, Transport: tr, Tick: time.Second, Bugs: bugs})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- n.Run(ctx) }()
			n.Receive(ctx, []core.Message{{Type: core.MsgVote, From: from, To: "n1", Term: 5}})
			m := tr.voteResp(t, from)
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			s.LoseUnsynced() // a crash
			return m
		}
		if m := run("n2"); m.Reject || m.Term != 5 {
			t.Fatalf("bug=%v: first vote in term 5: %v", bug, m)
		}
		hs, _, err := loadWAL(s)
		if err != nil {
			t.Fatal(err)
		}
		if hs.Term != 5 || (hs.Vote == "n2") == bug {
			t.Fatalf("bug=%v: persisted %+v", bug, hs)
		}
		second := run("n3")
		if bug && second.Reject {
			t.Fatalf("forget-vote bug: the restarted node refused n3 in term 5: %v", second)
		}
		if !bug && !second.Reject {
			t.Fatalf("correct build voted twice in term 5: %v", second)
		}
	}
}

// The WAL through the storage seam: with lose-unsynced on, records not yet
// synced are gone after a crash (the file reopened without Close); with
// EIO on, Sync fails.
func TestFileStorageOnSeam(t *testing.T) {
	path := filepath.Join(t.TempDir(), WALFile)
	d := seam.NewDisk()
	s, err := OpenFileStorageOn(path, d)
	if err != nil {
		t.Fatal(err)
	}
	defer s.f.Close()
	if _, err := s.ReadAll(); err != nil {
		t.Fatal(err)
	}
	s.Append([]byte("page-cache"))
	d.SetLoseUnsynced(true)
	s.Append([]byte("synced"))
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	s.Append([]byte("lost"))
	// Crash: no Close; a new process opens the file.
	s2, err := OpenFileStorage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	recs, err := s2.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || string(recs[0]) != "page-cache" || string(recs[1]) != "synced" {
		t.Fatalf("after the crash: %q, want page-cache and synced only", recs)
	}
	d.SetEIO(true)
	if err := s.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Sync with EIO on: %v", err)
	}
}

// The message shim sits in front of the transport: a dup rule doubles
// what reaches it, a drop rule stops it.
func TestShimTransport(t *testing.T) {
	inner := &captureTransport{}
	m := seam.NewMessages(nil)
	tr := NewShimTransport(inner, m)
	defer tr.Close()
	if err := m.SetRules(map[string]seam.MsgRule{"n2": {Dup: 1}, "n3": {Drop: 1}}, 1); err != nil {
		t.Fatal(err)
	}
	tr.Send([]core.Message{{Type: core.MsgApp, To: "n2"}, {Type: core.MsgApp, To: "n3"}})
	inner.mu.Lock()
	defer inner.mu.Unlock()
	if len(inner.sent) != 2 || inner.sent[0].To != "n2" || inner.sent[1].To != "n2" {
		t.Fatalf("sent %v, want two copies to n2 and nothing to n3", inner.sent)
	}
}
