package raft

import (
	"testing"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/targets/raft/core"
)

// A leader cut off from its peers serves no reads and acknowledges no
// writes; its uncommitted write is overwritten after the partition heals.
func TestSimIsolatedLeader(t *testing.T) {
	s := newSimCluster(t, 3, 1)
	s.doOK("write", "k", 1)
	old := s.waitLeader()
	s.isolate(old)
	if r := s.do(old, "write", "k", 7); r.OK || r.Definite {
		t.Fatalf("write on the isolated leader: %+v, want an indefinite failure", r)
	}
	s.runUntil(s.now + int64(time.Second))
	var newLeader string
	for _, id := range s.others(old) {
		if s.byID[id].m.Status().State == "leader" {
			newLeader = id
		}
	}
	if newLeader == "" {
		t.Fatal("the majority elected no leader within a second")
	}
	if r := s.do(newLeader, "write", "k", 2); !r.OK {
		t.Fatalf("write on the new leader: %+v", r)
	}
	if r := s.do(old, "read", "k", nil); r.OK {
		t.Fatalf("read on the isolated old leader: %+v, want a failure", r)
	}
	s.heal()
	if r := s.doOK("read", "k", nil); string(r.Value) != "2" {
		t.Fatalf("read after heal: %s, want 2 (the isolated write must be overwritten)", r.Value)
	}
}

// isolateLeaderAndWrite cuts the leader off and writes k=2 through the
// leader the others elect; it returns the old leader.
func isolateLeaderAndWrite(t *testing.T, s *simCluster) string {
	t.Helper()
	old := s.waitLeader()
	s.isolate(old)
	for deadline := s.now + int64(5*time.Second); s.now < deadline; s.runUntil(s.now + int64(10*time.Millisecond)) {
		for _, id := range s.others(old) {
			if s.byID[id].m.Status().State == "leader" {
				if r := s.do(id, "write", "k", 2); r.OK {
					return old
				}
			}
		}
	}
	t.Fatal("the majority never wrote k=2")
	return ""
}

// stale-read: the isolated old leader answers reads with a value the new
// leader has already overwritten; the correct build refuses to answer.
func TestSimBugStaleRead(t *testing.T) {
	for _, bug := range []bool{true, false} {
		bugs := bugsIf(bug, BugStaleRead)
		s := newSimCluster(t, 3, 2, bugs...)
		s.doOK("write", "k", 1)
		old := isolateLeaderAndWrite(t, s)
		r := s.do(old, "read", "k", nil)
		stale := r.OK && string(r.Value) == "1"
		if bug != stale {
			t.Fatalf("bug=%v: read on the isolated old leader %+v, stale=%v", bug, r, stale)
		}
	}
}

// ack-before-commit: the isolated leader acknowledges a write that the new
// leader then overwrites.
func TestSimBugAckBeforeCommit(t *testing.T) {
	for _, bug := range []bool{true, false} {
		bugs := bugsIf(bug, BugAckBeforeCommit)
		s := newSimCluster(t, 3, 3, bugs...)
		s.doOK("write", "k", 1)
		s.runUntil(s.now + int64(500*time.Millisecond)) // replicated and committed everywhere
		old := s.waitLeader()
		s.isolate(old)
		r := s.do(old, "write", "k", 7)
		if r.OK != bug {
			t.Fatalf("bug=%v: write on the isolated leader: %+v", bug, r)
		}
		s.runUntil(s.now + int64(time.Second))
		s.heal()
		if got := s.doOK("read", "k", nil); string(got.Value) != "1" {
			t.Fatalf("bug=%v: read after heal: %s, want 1 (the isolated 7 never committed)", bug, got.Value)
		}
	}
}

// lease-read: a leader whose clock was ahead when it extended its lease,
// and then fell back, serves a stale read after a new leader was elected
// and wrote; without the skew, the same schedule reads nothing stale.
func TestSimBugLeaseRead(t *testing.T) {
	for _, skew := range []bool{true, false} {
		s := newSimCluster(t, 3, 4, BugLeaseRead)
		s.doOK("write", "k", 1)
		old := s.waitLeader()
		if skew {
			s.byID[old].offset = 10 * time.Second
		}
		// A read on the leader starts a ReadIndex round that extends the
		// lease from its start by the leader's (skewed) clock.
		if r := s.do(old, "read", "k", nil); !r.OK {
			t.Fatalf("read on the leader: %+v", r)
		}
		s.byID[old].offset = 0 // back by 10 s: the lease now lasts ~10 s
		isolateLeaderAndWrite(t, s)
		r := s.do(old, "read", "k", nil)
		stale := r.OK && string(r.Value) == "1"
		if skew != stale {
			t.Fatalf("skew=%v: read on the old leader %+v, stale=%v", skew, r, stale)
		}
	}
}

// no-fsync: acknowledged writes live only in the page cache; a crash of
// every node loses them. The correct build keeps them.
func TestSimBugNoFsync(t *testing.T) {
	for _, bug := range []bool{true, false} {
		bugs := bugsIf(bug, BugNoFsync)
		s := newSimCluster(t, 3, 5, bugs...)
		s.doOK("write", "k", 1)
		for _, n := range s.nodes {
			s.kill(n.id)
		}
		for _, n := range s.nodes {
			if recs, _ := n.stor.ReadAll(); (len(recs) == 0) != bug {
				t.Fatalf("bug=%v: %s kept %d records across the crash", bug, n.id, len(recs))
			}
		}
		for _, n := range s.nodes {
			s.start(n.id)
		}
		want := "1"
		if bug {
			want = "null" // the acknowledged 1 is lost
		}
		if r := s.doOK("read", "k", nil); string(r.Value) != want {
			t.Fatalf("bug=%v: read after power loss = %s, want %s", bug, r.Value, want)
		}
	}
}

// Every node crashes and restarts from its storage, again and again;
// nothing acknowledged is lost.
func TestSimRestartAll(t *testing.T) {
	s := newSimCluster(t, 3, 6)
	want := map[string]string{}
	for i := range 20 {
		key := []string{"k0", "k1", "k2", "k3"}[i%4]
		s.doOK("write", key, i)
		want[key] = string(history.MustValue(i))
		if i%5 == 4 {
			for _, n := range s.nodes {
				s.kill(n.id)
			}
			for _, n := range s.nodes {
				s.start(n.id)
			}
		}
	}
	for key, v := range want {
		if r := s.doOK("read", key, nil); string(r.Value) != v {
			t.Errorf("%s after restarts = %s, want %s", key, r.Value, v)
		}
	}
}

// forget-vote: after a restart the machine grants a second vote in a term
// it already voted in; the correct build refuses.
func TestMachineBugForgetVote(t *testing.T) {
	peers := []cluster.Peer{{ID: "n1", Addr: "x:1"}, {ID: "n2", Addr: "x:2"}, {ID: "n3", Addr: "x:3"}}
	for _, bug := range []bool{false, true} {
		bugs := bugsIf(bug, BugForgetVote)
		stor := &MemStorage{}
		vote := func(from string) core.Message {
			hs, ents, err := loadWAL(stor)
			if err != nil {
				t.Fatal(err)
			}
			m, err := NewMachine(MachineConfig{ID: "n1", Peers: peers, HardState: hs, Entries: ents, Bugs: bugs, Now: simEpoch})
			if err != nil {
				t.Fatal(err)
			}
			m.Step([]core.Message{{Type: core.MsgVote, From: from, To: "n1", Term: 5}})
			var resp *core.Message
			for m.HasReady() {
				b, _ := m.Ready(simEpoch)
				if err := saveRecord(stor, b.HardState, b.Entries, b.MustSync, b.Fsync); err != nil {
					t.Fatal(err)
				}
				for _, msg := range b.Messages {
					if msg.Type == core.MsgVoteResp && msg.To == from {
						resp = &msg
					}
				}
			}
			stor.LoseUnsynced() // a crash
			if resp == nil {
				t.Fatalf("bug=%v: no vote response to %s", bug, from)
			}
			return *resp
		}
		if m := vote("n2"); m.Reject || m.Term != 5 {
			t.Fatalf("bug=%v: first vote in term 5: %v", bug, m)
		}
		hs, _, err := loadWAL(stor)
		if err != nil {
			t.Fatal(err)
		}
		if hs.Term != 5 || (hs.Vote == "n2") == bug {
			t.Fatalf("bug=%v: persisted %+v", bug, hs)
		}
		second := vote("n3")
		if bug && second.Reject {
			t.Fatalf("forget-vote bug: the restarted node refused n3 in term 5: %v", second)
		}
		if !bug && !second.Reject {
			t.Fatalf("correct build voted twice in term 5: %v", second)
		}
	}
}

// Ticks follow the clock the machine is given: no time, no election; a
// jump back does not stall it; a jump forward is worth at most an election
// timeout of ticks.
func TestMachineTicksFollowClock(t *testing.T) {
	start := simEpoch
	m, err := NewMachine(MachineConfig{ID: "n1", Peers: []cluster.Peer{{ID: "n1", Addr: "x:1"}}, Now: start, Tick: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	drain := func(now time.Time) {
		for m.HasReady() {
			m.Ready(now)
		}
	}
	for range 1000 {
		m.Tick(start)
		drain(start)
	}
	if st := m.Status(); st.State == "leader" {
		t.Fatalf("elected without the clock moving: %+v", st)
	}
	now := start.Add(-time.Hour)
	m.Tick(now)
	for i := 0; i < 200 && m.Status().State != "leader"; i++ {
		now = now.Add(time.Millisecond)
		m.Tick(now)
		drain(now)
	}
	if st := m.Status(); st.State != "leader" {
		t.Fatalf("not leader after 200 clock ticks following a jump back: %+v", st)
	}
	if next := m.NextTick(); next.Sub(now) != time.Millisecond {
		t.Fatalf("NextTick %v after %v, want one tick later", next, now)
	}
}

// bugsIf is []string{name} when on, else none.
func bugsIf(on bool, name string) []string {
	if on {
		return []string{name}
	}
	return nil
}
