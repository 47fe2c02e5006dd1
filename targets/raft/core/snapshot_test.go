package core

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// others returns the ids of nw other than id.
func (nw *network) others(id string) []string {
	var out []string
	for _, o := range nw.ids {
		if o != id {
			out = append(out, o)
		}
	}
	return out
}

// proposeN proposes n commands named prefix-0 ... on the leader l, one per
// call, and returns them.
func (nw *network) proposeN(t *testing.T, l, prefix string, n int) []string {
	t.Helper()
	var cmds []string
	for i := range n {
		c := fmt.Sprintf("%s-%d", prefix, i)
		if _, _, err := nw.propose(l, c); err != nil {
			t.Fatalf("propose %s on %s: %v", c, l, err)
		}
		cmds = append(cmds, c)
	}
	return cmds
}

func TestCompactArguments(t *testing.T) {
	nw := newNetwork(t, 3, nil)
	l := nw.waitLeader(100)
	nw.proposeN(t, l, "c", 5)
	r := nw.nodes[l].r
	applied := r.Status().Applied
	if err := r.Compact(applied+1, nil); err == nil || errors.Is(err, ErrCompacted) {
		t.Fatalf("Compact beyond the applied index %d: %v, want an error", applied, err)
	}
	if err := nw.compact(l, applied-2); err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint64{0, applied - 3, applied - 2} {
		if err := r.Compact(i, nil); !errors.Is(err, ErrCompacted) {
			t.Errorf("Compact(%d) after compacting to %d: %v, want ErrCompacted", i, applied-2, err)
		}
	}
	st := r.Status()
	if st.SnapshotIndex != applied-2 || st.FirstIndex != applied-1 || st.LastIndex != applied {
		t.Fatalf("status %+v, want snapshot %d, first %d, last %d", st, applied-2, applied-1, applied)
	}
	if wantTerm, _ := r.log.term(applied - 2); st.SnapshotTerm != wantTerm || st.SnapshotTerm == 0 {
		t.Fatalf("snapshot term %d, want %d", st.SnapshotTerm, wantTerm)
	}
	if got := r.Slice(1, applied+1); len(got) != 2 || got[0].Index != applied-1 {
		t.Fatalf("Slice over a compacted range returned %v", got)
	}
	if err := nw.compact(l, applied); err != nil {
		t.Fatal(err)
	}
	if r.log.lastIndex() != applied || len(r.log.ents) != 1 {
		t.Fatalf("log after compacting everything: last %d, %d slots", r.log.lastIndex(), len(r.log.ents))
	}
	// The leader still replicates after compacting its whole log.
	more := nw.proposeN(t, l, "after", 2)
	for _, id := range nw.ids {
		if got := nw.nodes[id].state; !slices.Equal(got[len(got)-2:], more) {
			t.Errorf("%s state ends %v, want %v", id, got, more)
		}
	}
}

// A follower cut off while the leader compacts past everything it has is
// brought up by the leader's snapshot, then by appends again.
func TestSnapshotCatchUpCutOffFollower(t *testing.T) {
	nw := newNetwork(t, 3, nil)
	l := nw.waitLeader(100)
	want := nw.proposeN(t, l, "before", 3)
	f := nw.others(l)[0]
	nw.isolate(f)
	want = append(want, nw.proposeN(t, l, "cut", 20)...)
	for _, id := range nw.ids {
		if id != f {
			if err := nw.compact(id, nw.nodes[id].stateIndex); err != nil {
				t.Fatal(err)
			}
		}
	}
	snapIndex := nw.nodes[l].snap.Index
	var snaps []Message
	nw.observe = func(_ string, rd Ready) {
		for _, m := range rd.Messages {
			if m.Type == MsgSnap {
				snaps = append(snaps, m)
			}
		}
	}
	nw.recover()
	nw.tickAll(10)
	if len(snaps) != 1 || snaps[0].To != f || snaps[0].Snapshot.Index != snapIndex {
		t.Fatalf("snapshot messages %v, want one to %s at %d", snaps, f, snapIndex)
	}
	fn := nw.nodes[f]
	if fn.snapshots != 1 || fn.snap == nil || fn.snap.Index != snapIndex || len(fn.ents) != 0 {
		t.Fatalf("%s: %d installs, persisted snapshot %+v and %d entries", f, fn.snapshots, fn.snap, len(fn.ents))
	}
	if !slices.Equal(fn.state, want) {
		t.Fatalf("%s state %v, want %v", f, fn.state, want)
	}
	if pr := nw.nodes[l].r.prs[f]; pr.state != stateReplicate || pr.match != nw.nodes[l].r.log.lastIndex() {
		t.Fatalf("leader's progress of %s: %+v", f, *pr)
	}
	want = append(want, nw.proposeN(t, l, "after", 3)...)
	for _, id := range nw.ids {
		if got := nw.nodes[id].state; !slices.Equal(got, want) {
			t.Errorf("%s state %v, want %v", id, got, want)
		}
	}
	if got := fn.r.Status(); got.SnapshotIndex != snapIndex || got.FirstIndex != snapIndex+1 || got.Commit != nw.nodes[l].r.log.committed {
		t.Errorf("%s status %+v", f, got)
	}
}

// A follower that was down while the others compacted restarts with its
// old log and catches up by snapshot; then every node restarts from its own
// snapshot and tail, elects a leader and keeps going.
func TestSnapshotRestart(t *testing.T) {
	nw := newNetwork(t, 3, nil)
	l := nw.waitLeader(100)
	want := nw.proposeN(t, l, "a", 5)
	f := nw.others(l)[0]
	nw.crash(f)
	want = append(want, nw.proposeN(t, l, "b", 10)...)
	for _, id := range nw.others(f) {
		if err := nw.compact(id, nw.nodes[id].stateIndex-2); err != nil {
			t.Fatal(err)
		}
	}
	want = append(want, nw.proposeN(t, l, "c", 2)...)
	nw.start(f)
	nw.tickAll(10)
	if n := nw.nodes[f]; n.snapshots != 1 || !slices.Equal(n.state, want) {
		t.Fatalf("restarted %s: %d snapshots installed, state %v, want %v", f, n.snapshots, n.state, want)
	}
	// Everyone compacts to somewhere in the middle, then more commands.
	for _, id := range nw.ids {
		if err := nw.compact(id, nw.nodes[id].stateIndex-1); err != nil {
			t.Fatal(err)
		}
	}
	want = append(want, nw.proposeN(t, l, "d", 3)...)
	for _, id := range nw.ids {
		nw.crash(id)
	}
	for _, id := range nw.ids {
		nw.start(id)
		n := nw.nodes[id]
		st := n.r.Status()
		if st.SnapshotIndex != n.snap.Index || st.FirstIndex != n.snap.Index+1 || st.LastIndex != n.snap.Index+uint64(len(n.ents)) {
			t.Fatalf("%s restored %+v from a snapshot at %d and %d entries", id, st, n.snap.Index, len(n.ents))
		}
		if st.Applied < n.snap.Index || st.Commit < n.snap.Index {
			t.Fatalf("%s restored applied %d commit %d below its snapshot %d", id, st.Applied, st.Commit, n.snap.Index)
		}
	}
	l = nw.waitLeader(200)
	want = append(want, nw.proposeN(t, l, "e", 2)...)
	nw.tickAll(5)
	for _, id := range nw.ids {
		if got := nw.nodes[id].state; !slices.Equal(got, want) {
			t.Errorf("%s state %v, want %v", id, got, want)
		}
	}
}

// Under a long stream of proposals with periodic compaction, the log in
// memory and the persisted log stay bounded, also across a follower that
// falls behind and catches up by snapshot.
func TestCompactionBoundsLog(t *testing.T) {
	const (
		every = 100 // compact when this many entries are applied past the snapshot
		keep  = 20  // entries kept behind the applied index
		bound = every + keep + 64
	)
	nw := newNetwork(t, 3, nil)
	l := nw.waitLeader(100)
	lagger := nw.others(l)[0]
	maxMem, maxDisk := 0, 0
	for i := range 3000 {
		if i == 1000 {
			nw.isolate(lagger)
		}
		if i == 1500 {
			nw.recover()
		}
		if _, _, err := nw.propose(l, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			nw.tickAll(1)
		}
		for _, id := range nw.ids {
			n := nw.nodes[id]
			if n.stateIndex >= n.base()+every+keep {
				if err := nw.compact(id, n.stateIndex-keep); err != nil {
					t.Fatal(err)
				}
			}
			maxMem = max(maxMem, len(n.r.log.ents))
			maxDisk = max(maxDisk, len(n.ents))
		}
	}
	nw.tickAll(20)
	if maxMem > bound || maxDisk > bound {
		t.Errorf("log grew to %d entries in memory and %d persisted; bound %d", maxMem, maxDisk, bound)
	}
	if nw.nodes[lagger].snapshots == 0 {
		t.Errorf("%s caught up without a snapshot", lagger)
	}
	ref := nw.nodes[l].state
	if len(ref) != 3000 {
		t.Fatalf("leader applied %d commands, want 3000", len(ref))
	}
	for _, id := range nw.ids {
		if !slices.Equal(nw.nodes[id].state, ref) {
			t.Errorf("%s state differs from the leader's (%d vs %d commands)", id, len(nw.nodes[id].state), len(ref))
		}
	}
}

// A lost MsgSnap is sent again after SnapshotRetryTicks, not at every
// heartbeat.
func TestLostSnapshotIsResent(t *testing.T) {
	nw := newNetwork(t, 3, nil)
	l := nw.waitLeader(100)
	f := nw.others(l)[0]
	nw.isolate(f)
	want := nw.proposeN(t, l, "x", 5)
	if err := nw.compact(l, nw.nodes[l].stateIndex); err != nil {
		t.Fatal(err)
	}
	sent := 0
	nw.observe = func(_ string, rd Ready) {
		for _, m := range rd.Messages {
			if m.Type == MsgSnap {
				sent++
			}
		}
	}
	nw.recover()
	nw.drop[MsgSnap] = true
	for range 20 {
		if sent > 0 {
			break
		}
		nw.tick(l)
	}
	if sent != 1 {
		t.Fatalf("%d snapshot messages, want 1 (the first try, to be lost)", sent)
	}
	retry := nw.cfg(l).withDefaults().SnapshotRetryTicks
	for range retry - 1 {
		nw.tick(l)
	}
	if sent != 1 {
		t.Fatalf("%d snapshot messages within %d ticks, want 1", sent, retry-1)
	}
	delete(nw.drop, MsgSnap)
	for range 2 {
		nw.tick(l)
	}
	if sent != 2 {
		t.Fatalf("%d snapshot messages after %d ticks, want 2", sent, retry+1)
	}
	if got := nw.nodes[f].state; !slices.Equal(got, want) {
		t.Fatalf("%s state %v, want %v", f, got, want)
	}
}

// A snapshot at or below the follower's commit index is ignored; one whose
// last entry the follower's log holds commits instead of replacing the log.
func TestSnapshotNotNewer(t *testing.T) {
	nw := newNetwork(t, 3, nil)
	l := nw.waitLeader(100)
	nw.proposeN(t, l, "y", 4)
	f := nw.others(l)[0]
	fr := nw.nodes[f].r
	commit := fr.log.committed
	last := fr.log.lastIndex()
	term := fr.term
	var resp []Message
	nw.observe = func(id string, rd Ready) {
		if id == f {
			resp = append(resp, rd.Messages...)
		}
	}
	old := Snapshot{Index: commit - 1, Term: term, Data: encodeState(nil, nil)}
	if err := fr.Step(Message{Type: MsgSnap, From: l, To: f, Term: term, Snapshot: &old}); err != nil {
		t.Fatal(err)
	}
	nw.process(f)
	if nw.nodes[f].snapshots != 0 || fr.log.offset() != 0 || fr.log.lastIndex() != last {
		t.Fatalf("old snapshot installed: %+v", fr.Status())
	}
	if len(resp) != 1 || resp[0].Type != MsgAppResp || resp[0].Index != commit || resp[0].Reject {
		t.Fatalf("answer to an old snapshot %v, want an ack of %d", resp, commit)
	}

	// Entries the follower holds but does not know are committed.
	nw.drop[MsgAppResp] = true
	nw.propose(l, "z")
	delete(nw.drop, MsgAppResp)
	last = fr.log.lastIndex()
	if fr.log.committed >= last {
		t.Fatalf("setup: follower commit %d, last %d", fr.log.committed, last)
	}
	resp = nil
	lt, _ := fr.log.term(last)
	held := Snapshot{Index: last, Term: lt, Data: encodeState(nil, nil)}
	fr.Step(Message{Type: MsgSnap, From: l, To: f, Term: term, Snapshot: &held})
	nw.process(f)
	if nw.nodes[f].snapshots != 0 || fr.log.offset() != 0 || fr.log.committed != last {
		t.Fatalf("snapshot of a held entry: installs %d offset %d commit %d, want 0, 0, %d", nw.nodes[f].snapshots, fr.log.offset(), fr.log.committed, last)
	}
	if len(resp) != 1 || resp[0].Index != last {
		t.Fatalf("answer %v, want an ack of %d", resp, last)
	}
}

func TestRestoreConfigValidate(t *testing.T) {
	ok := DefaultConfig("n1", []string{"n1", "n2", "n3"})
	snap := &Snapshot{Index: 10, Term: 2, Data: []byte("s")}
	good := ok
	good.Snapshot, good.HardState = snap, HardState{Term: 3, Commit: 4}
	good.Entries = []Entry{{Term: 2, Index: 11}, {Term: 3, Index: 12}}
	r, err := New(good)
	if err != nil {
		t.Fatalf("valid restore: %v", err)
	}
	if st := r.Status(); st.Commit != 10 || st.Applied != 10 || st.FirstIndex != 11 || st.LastIndex != 12 || st.SnapshotTerm != 2 {
		t.Fatalf("restored status %+v", st)
	}
	if s := r.Snapshot(); s.Index != 10 || string(s.Data) != "s" {
		t.Fatalf("restored snapshot %+v", s)
	}
	for name, tweak := range map[string]func(*Config){
		"term below snapshot": func(c *Config) { c.HardState.Term = 1; c.Entries = nil },
		"gap after snapshot":  func(c *Config) { c.Entries = []Entry{{Term: 2, Index: 12}} },
		"entry in snapshot":   func(c *Config) { c.Entries = []Entry{{Term: 2, Index: 10}} },
		"term drops":          func(c *Config) { c.Entries = []Entry{{Term: 1, Index: 11}} },
		"index without term":  func(c *Config) { c.Snapshot = &Snapshot{Index: 10}; c.Entries = nil },
		"commit beyond log":   func(c *Config) { c.HardState.Commit = 13 },
	} {
		c := good
		tweak(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted %+v", name, c)
		}
	}
}
