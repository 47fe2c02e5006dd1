package core

import (
	"fmt"
	"slices"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig("n1", []string{"n1", "n2", "n3"})
	if err := ok.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for name, tweak := range map[string]func(*Config){
		"no id":          func(c *Config) { c.ID = "" },
		"id not a peer":  func(c *Config) { c.ID = "n9" },
		"duplicate peer": func(c *Config) { c.Peers = []string{"n1", "n1"} },
		"election <= hb": func(c *Config) { c.ElectionTicks, c.HeartbeatTicks = 3, 3 },
		"short cq":       func(c *Config) { c.CheckQuorumTicks = 5 },
		"vote unknown":   func(c *Config) { c.HardState = HardState{Term: 1, Vote: "x"} },
		"term below log": func(c *Config) { c.Entries = []Entry{{Term: 2, Index: 1}}; c.HardState.Term = 1 },
		"gap in log": func(c *Config) {
			c.Entries = []Entry{{Term: 1, Index: 1}, {Term: 1, Index: 3}}
			c.HardState.Term = 1
		},
	} {
		c := ok
		tweak(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted %+v", name, c)
		}
	}
}

func TestElection(t *testing.T) {
	for _, size := range []int{1, 3, 5} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			nw := newNetwork(t, size, nil)
			l := nw.waitLeader(100)
			term := nw.nodes[l].r.term
			nw.tickAll(5) // a heartbeat round
			for _, id := range nw.ids {
				r := nw.nodes[id].r
				if r.lead != l || r.term != term {
					t.Errorf("%s: lead %q term %d, want %q term %d", id, r.lead, r.term, l, term)
				}
			}
		})
	}
}

func TestElectionWithoutPreVote(t *testing.T) {
	nw := newNetwork(t, 3, func(c *Config) { c.PreVote = false; c.CheckQuorumTicks = 0 })
	nw.waitLeader(100)
}

func TestReplication(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			nw := newNetwork(t, size, nil)
			l := nw.waitLeader(100)
			if _, _, err := nw.propose(l, "a", "b"); err != nil {
				t.Fatal(err)
			}
			nw.propose(l, "c")
			nw.tickAll(5)
			for _, id := range nw.ids {
				n := nw.nodes[id]
				if got := data(n.applied); !slices.Equal(got, []string{"a", "b", "c"}) {
					t.Errorf("%s applied %v", id, got)
				}
				if !slices.EqualFunc(n.ents, nw.nodes[l].ents, entryEq) {
					t.Errorf("%s log %v differs from leader's %v", id, n.ents, nw.nodes[l].ents)
				}
			}
		})
	}
}

func TestProposeOnFollowerFails(t *testing.T) {
	nw := newNetwork(t, 3, nil)
	l := nw.waitLeader(100)
	for _, id := range nw.ids {
		if id == l {
			continue
		}
		last := nw.nodes[id].r.log.lastIndex()
		if _, _, err := nw.propose(id, "x"); err != ErrNotLeader {
			t.Errorf("%s: Propose err %v, want ErrNotLeader", id, err)
		}
		if err := nw.readIndex(id, 7); err != ErrNotLeader {
			t.Errorf("%s: ReadIndex err %v, want ErrNotLeader", id, err)
		}
		if nw.nodes[id].r.log.lastIndex() != last {
			t.Errorf("%s: follower log grew", id)
		}
		if got := nw.nodes[id].r.Status().Lead; got != l {
			t.Errorf("%s: lead hint %q, want %q", id, got, l)
		}
	}
}

func TestLeaderCrashRestart(t *testing.T) {
	nw := newNetwork(t, 3, nil)
	old := nw.waitLeader(100)
	nw.propose(old, "x1", "x2")
	nw.propose(old, "x3")
	nw.tickAll(3)
	nw.crash(old)
	l := nw.waitLeader(200)
	if l == old {
		t.Fatalf("crashed leader %s still leads", old)
	}
	nw.propose(l, "y")
	nw.tickAll(3)
	nw.start(old)
	nw.tickAll(20)
	want := []string{"x1", "x2", "x3", "y"}
	for _, id := range nw.ids {
		if got := data(nw.nodes[id].applied); !slices.Equal(got, want) {
			t.Errorf("%s applied %v, want %v", id, got, want)
		}
	}
	if r := nw.nodes[old].r; r.role != Follower || r.lead != l {
		t.Errorf("restarted %s: role %v lead %q, want follower of %s", old, r.role, r.lead, l)
	}
}

// A minority cannot commit; the majority elects and commits; when the old
// leader rejoins, its uncommitted entries are overwritten.
func TestMinorityPartition(t *testing.T) {
	nw := newNetwork(t, 5, nil)
	old := nw.waitLeader(100)
	nw.propose(old, "before")
	nw.tickAll(3)
	var minority, majority []string
	minority = append(minority, old)
	for _, id := range nw.ids {
		if id == old {
			continue
		}
		if len(minority) < 2 {
			minority = append(minority, id)
		} else {
			majority = append(majority, id)
		}
	}
	nw.partition(minority, majority)
	commit := nw.nodes[old].r.log.committed
	if _, _, err := nw.propose(old, "lost1", "lost2"); err != nil {
		t.Fatal(err)
	}
	// Old leader keeps leading (check-quorum is 250 ticks) but commits nothing.
	var l string
	for range 100 {
		nw.tickAll(1)
		for _, id := range majority {
			if nw.nodes[id].r.role == Leader {
				l = id
			}
		}
	}
	if l == "" {
		t.Fatal("majority elected no leader")
	}
	if got := nw.nodes[old].r.log.committed; got != commit {
		t.Fatalf("minority leader commit moved %d -> %d", commit, got)
	}
	if nw.nodes[old].r.role != Leader {
		t.Fatalf("old leader stepped down within 100 ticks; stale-read exposure depends on it staying")
	}
	nw.propose(l, "kept")
	nw.tickAll(3)
	for _, id := range majority {
		if got := data(nw.nodes[id].applied); !slices.Equal(got, []string{"before", "kept"}) {
			t.Errorf("majority %s applied %v", id, got)
		}
	}
	nw.recover()
	nw.tickAll(30)
	for _, id := range nw.ids {
		n := nw.nodes[id]
		if got := data(n.applied); !slices.Equal(got, []string{"before", "kept"}) {
			t.Errorf("%s applied %v", id, got)
		}
		if got := data(n.ents); slices.Contains(got, "lost1") || slices.Contains(got, "lost2") {
			t.Errorf("%s persisted log still holds uncommitted entries: %v", id, got)
		}
	}
	if ls := nw.leaders(); len(ls) != 1 || ls[0] != l {
		t.Errorf("leaders after heal %v, want [%s]", ls, l)
	}
}

func TestReadIndex(t *testing.T) {
	nw := newNetwork(t, 3, nil)
	l := nw.waitLeader(100)
	nw.propose(l, "w")
	nw.tickAll(3)
	if err := nw.readIndex(l, 42); err != nil {
		t.Fatal(err)
	}
	reads := nw.nodes[l].reads
	if len(reads) != 1 || reads[0].Context != 42 || reads[0].Index < nw.nodes[l].r.log.lastIndex() {
		t.Fatalf("read states %v, want one for ctx 42 at index >= %d", reads, nw.nodes[l].r.log.lastIndex())
	}
}

// A leader must not serve ReadIndex before committing an entry of its term.
func TestReadIndexWaitsForCommitInTerm(t *testing.T) {
	nw := newNetwork(t, 3, nil)
	nw.drop[MsgAppResp] = true
	nw.campaign("n1")
	if nw.nodes["n1"].r.role != Leader {
		t.Fatal("n1 did not win")
	}
	nw.readIndex("n1", 5)
	nw.tickAll(10) // heartbeats are acknowledged, the no-op is not
	if got := nw.nodes["n1"].reads; len(got) != 0 {
		t.Fatalf("read served before the no-op committed: %v", got)
	}
	delete(nw.drop, MsgAppResp)
	nw.tickAll(10)
	r := nw.nodes["n1"].r
	if got := nw.nodes["n1"].reads; len(got) != 1 || got[0].Context != 5 || got[0].Index != r.log.committed {
		t.Fatalf("read states %v, want ctx 5 at %d", got, r.log.committed)
	}
}

// A partitioned old leader must never serve a ReadIndex read.
func TestReadIndexPartitionedLeader(t *testing.T) {
	nw := newNetwork(t, 3, nil)
	old := nw.waitLeader(100)
	nw.propose(old, "v1")
	nw.tickAll(3)
	nw.isolate(old)
	if err := nw.readIndex(old, 9); err != nil {
		t.Fatal(err)
	}
	var l string
	for range 100 {
		nw.tickAll(1)
		for _, id := range nw.ids {
			if id != old && nw.nodes[id].r.role == Leader {
				l = id
			}
		}
	}
	if l == "" {
		t.Fatal("no new leader")
	}
	nw.propose(l, "v2")
	nw.tickAll(3)
	if nw.nodes[old].r.role != Leader {
		t.Fatal("old leader stepped down early")
	}
	if err := nw.readIndex(old, 10); err != nil {
		t.Fatal(err)
	}
	nw.tickAll(20)
	if got := nw.nodes[old].reads; len(got) != 0 {
		t.Fatalf("isolated old leader served reads: %v", got)
	}
	nw.recover()
	nw.tickAll(20)
	if got := nw.nodes[old].reads; len(got) != 0 {
		t.Fatalf("old leader served reads after rejoining: %v", got)
	}
	if nw.nodes[old].r.role == Leader {
		t.Fatal("old leader still leads after rejoining")
	}
}

func TestCheckQuorumStepDown(t *testing.T) {
	nw := newNetwork(t, 3, nil)
	l := nw.waitLeader(100)
	nw.isolate(l)
	cq := nw.cfg(l).CheckQuorumTicks
	for i := 0; i < cq-5; i++ {
		nw.tick(l)
	}
	if nw.nodes[l].r.role != Leader {
		t.Fatalf("isolated leader stepped down before %d ticks", cq)
	}
	for range 2 * cq {
		nw.tick(l)
	}
	if nw.nodes[l].r.role == Leader {
		t.Fatalf("isolated leader still leads after %d ticks", 2*cq)
	}
}

// With pre-vote, a node cut off for a long time does not raise its term and
// does not disturb the leader when it returns.
func TestPreVoteKeepsTermStable(t *testing.T) {
	nw := newNetwork(t, 3, nil)
	l := nw.waitLeader(100)
	term := nw.nodes[l].r.term
	var f string
	for _, id := range nw.ids {
		if id != l {
			f = id
			break
		}
	}
	nw.isolate(f)
	nw.tickAll(200)
	if got := nw.nodes[f].r.term; got != term {
		t.Fatalf("isolated follower term %d, want %d", got, term)
	}
	nw.recover()
	nw.tickAll(20)
	if ls := nw.leaders(); len(ls) != 1 || ls[0] != l || nw.nodes[l].r.term != term {
		t.Fatalf("leaders %v term %d after heal, want %s term %d", ls, nw.nodes[l].r.term, l, term)
	}
}

// A follower cut off from the leader alone cannot take over while the
// others still hear the leader (leader stickiness).
func TestLeaderStickiness(t *testing.T) {
	nw := newNetwork(t, 3, nil)
	l := nw.waitLeader(100)
	var others []string
	for _, id := range nw.ids {
		if id != l {
			others = append(others, id)
		}
	}
	nw.partition([]string{l}, others[:1])
	nw.tickAll(200)
	if ls := nw.leaders(); len(ls) != 1 || ls[0] != l {
		t.Fatalf("leaders %v, want still %s", ls, l)
	}
	nw.propose(l, "z")
	nw.tickAll(3)
	if got := data(nw.nodes[others[1]].applied); !slices.Equal(got, []string{"z"}) {
		t.Fatalf("%s applied %v", others[1], got)
	}
}

func TestVoteSurvivesRestart(t *testing.T) {
	nw := newNetwork(t, 3, func(c *Config) { c.CheckQuorumTicks = 0 })
	nw.drop[MsgVoteResp] = true
	nw.drop[MsgPreVoteResp] = true
	nw.nodes["n2"].r.campaign(false) // n2 asks in term 1
	nw.send(nw.process("n2")...)
	if nw.nodes["n1"].r.vote != "n2" || nw.nodes["n1"].hs.Vote != "n2" {
		t.Fatalf("n1 vote %q persisted %q, want n2", nw.nodes["n1"].r.vote, nw.nodes["n1"].hs.Vote)
	}
	nw.crash("n1")
	nw.start("n1")
	var resp []Message
	nw.observe = func(id string, rd Ready) {
		if id == "n1" {
			resp = append(resp, rd.Messages...)
		}
	}
	nw.nodes["n1"].r.Step(Message{Type: MsgVote, From: "n3", To: "n1", Term: 1})
	nw.process("n1")
	if len(resp) != 1 || resp[0].Type != MsgVoteResp || !resp[0].Reject {
		t.Fatalf("restarted n1 answered %v, want a rejection (already voted for n2 in term 1)", resp)
	}
}

func TestRejectsVoteForStaleLog(t *testing.T) {
	nw := newNetwork(t, 3, nil)
	l := nw.waitLeader(100)
	nw.propose(l, "a")
	nw.tickAll(3)
	r := nw.nodes[l].r
	var resp []Message
	nw.observe = func(id string, rd Ready) { resp = append(resp, rd.Messages...) }
	// A candidate whose log is behind ours asks in a much higher term.
	var f string
	for _, id := range nw.ids {
		if id != l {
			f = id
		}
	}
	fr := nw.nodes[f].r
	fr.lead = "" // pretend its election timer expired
	fr.Step(Message{Type: MsgVote, From: l, To: f, Term: r.term + 5, Index: 1, LogTerm: 1})
	nw.process(f)
	if len(resp) == 0 || !resp[len(resp)-1].Reject {
		t.Fatalf("vote for a stale log granted: %v", resp)
	}
}

// Fast backtracking: a follower with a long conflicting suffix is brought
// in line in a few rounds, not one per entry.
func TestFastBacktracking(t *testing.T) {
	mk := func(terms ...uint64) []Entry {
		var es []Entry
		for _, t := range terms {
			es = append(es, Entry{Term: t, Index: uint64(len(es) + 1), Data: []byte(fmt.Sprint("t", t))})
		}
		return es
	}
	rep := func(t uint64, n int) []uint64 { return slices.Repeat([]uint64{t}, n) }
	common := []uint64{1, 1, 1}
	leaderLog := mk(slices.Concat(common, rep(3, 100))...)
	staleLog := mk(slices.Concat(common, rep(2, 150))...)
	nw := newNetwork(t, 3, nil)
	nw.nodes["n1"].ents, nw.nodes["n1"].hs = leaderLog, HardState{Term: 3, Commit: 3}
	nw.nodes["n2"].ents, nw.nodes["n2"].hs = slices.Clone(leaderLog), HardState{Term: 3, Commit: 3}
	nw.nodes["n3"].ents, nw.nodes["n3"].hs = staleLog, HardState{Term: 2, Commit: 3}
	for _, id := range nw.ids {
		nw.start(id)
	}
	rejects := 0
	nw.observe = func(id string, rd Ready) {
		for _, m := range rd.Messages {
			if m.Reject && m.Type == MsgAppResp {
				rejects++
			}
		}
	}
	nw.campaign("n1")
	nw.tickAll(5)
	if !slices.EqualFunc(nw.nodes["n3"].ents, nw.nodes["n1"].ents, entryEq) {
		t.Fatalf("n3 log not repaired: %d entries vs %d", len(nw.nodes["n3"].ents), len(nw.nodes["n1"].ents))
	}
	if rejects > 4 {
		t.Errorf("%d rejections to repair a 150-entry conflicting suffix; fast backtracking should need few", rejects)
	}
}

func TestLogTruncationKeepsOldSlices(t *testing.T) {
	l, _ := newLog(nil, nil, 0, 0)
	l.append(Entry{Term: 1, Index: 1}, Entry{Term: 1, Index: 2}, Entry{Term: 1, Index: 3})
	held := l.slice(1, 4, 0)
	l.append(Entry{Term: 2, Index: 2})
	if held[1].Term != 1 || held[2].Term != 1 {
		t.Fatalf("truncation changed a slice handed out earlier: %v", held)
	}
	if l.lastIndex() != 2 || l.lastTerm() != 2 {
		t.Fatalf("log after truncation: last %d term %d", l.lastIndex(), l.lastTerm())
	}
}

// A duplicated or reordered old MsgApp must not truncate newer entries.
func TestStaleAppendDoesNotTruncate(t *testing.T) {
	l, _ := newLog(nil, nil, 0, 0)
	if _, ok := l.maybeAppend(0, 0, 0, []Entry{{Term: 1, Index: 1}, {Term: 1, Index: 2}, {Term: 1, Index: 3}}); !ok {
		t.Fatal("append rejected")
	}
	if last, ok := l.maybeAppend(0, 0, 0, []Entry{{Term: 1, Index: 1}}); !ok || last != 1 {
		t.Fatalf("old append: last %d ok %v", last, ok)
	}
	if l.lastIndex() != 3 {
		t.Fatalf("old append truncated the log to %d", l.lastIndex())
	}
}

func entryEq(a, b Entry) bool {
	return a.Term == b.Term && a.Index == b.Index && string(a.Data) == string(b.Data)
}
