package core

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestRandomized drives 3- and 5-node clusters through seeded random
// schedules that drop, duplicate and reorder messages, crash and restart
// nodes and partition the network, checking after every step:
//
//   - election safety: at most one leader per term, ever;
//   - state machine safety: every entry applied at an index, by any node at
//     any time, is the same entry;
//   - leader completeness: a new leader's log holds every entry applied
//     anywhere so far;
//   - ReadIndex: a read point is at or above every commit index known
//     anywhere when the read was requested;
//
// and, after healing everything, that the cluster converges: one leader,
// a new entry committed, and every node's applied log identical.
func TestRandomized(t *testing.T) {
	seeds := 300
	steps := 5000
	if testing.Short() {
		seeds = 60
	}
	for seed := range seeds {
		size := 3
		if seed%2 == 1 {
			size = 5
		}
		runRandomized(t, uint64(seed), size, steps, false)
		if t.Failed() {
			t.Fatalf("seed %d (size %d) failed", seed, size)
		}
	}
}

// TestRandomizedCompaction is TestRandomized with nodes compacting their
// logs at random points, so that lagging and restarted followers catch up
// by snapshot, snapshots are lost, duplicated and reordered, and leaders
// change between compactions. It also checks that every snapshot holds
// exactly the commands applied anywhere up to its index.
func TestRandomizedCompaction(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 60
	}
	installs := 0
	for seed := range seeds {
		size := 3
		if seed%2 == 1 {
			size = 5
		}
		installs += runRandomized(t, uint64(seed)+1000, size, 5000, true)
		if t.Failed() {
			t.Fatalf("seed %d (size %d) failed", seed+1000, size)
		}
	}
	if installs < seeds {
		t.Errorf("%d snapshots installed over %d seeds: the schedules hardly exercise install-snapshot", installs, seeds)
	}
}

// runRandomized runs one schedule and returns how many snapshots nodes
// installed from a leader.
func runRandomized(t *testing.T, seed uint64, size, steps int, compact bool) int {
	rng := rand.New(rand.NewPCG(seed, 99))
	nw := newNetwork(t, size, func(c *Config) {
		c.Seed = seed
		// Exercise both configurations.
		c.PreVote = seed%3 != 0
		if seed%4 == 0 {
			c.CheckQuorumTicks = 0
		} else {
			c.CheckQuorumTicks = 20
		}
		c.ElectionTicks = 6
		c.HeartbeatTicks = 2
		c.StallTicks = 4
		c.MaxInflight = 4
		c.MaxEntriesPerMsg = 3
	})
	nw.async = true

	leaderOf := map[uint64]string{}
	applied := map[uint64]Entry{}
	var globalCommit uint64
	readMin := map[uint64]uint64{} // ctx -> lowest acceptable read index
	var nextCtx uint64
	fail := func(format string, args ...any) {
		t.Errorf("seed %d: "+format, append([]any{seed}, args...)...)
	}
	checkSnap := func(id string, s Snapshot) {
		cmds, at := decodeState(t, s.Data)
		var want []string
		var wantAt []uint64
		for i := uint64(1); i <= s.Index; i++ {
			e, ok := applied[i]
			if !ok {
				fail("%s: snapshot at %d covers %d, which nobody applied", id, s.Index, i)
				return
			}
			if len(e.Data) > 0 {
				want = append(want, string(e.Data))
				wantAt = append(wantAt, i)
			}
		}
		if !slices.Equal(cmds, want) || !slices.Equal(at, wantAt) {
			fail("%s: snapshot at %d holds %v at %v, applied entries are %v at %v", id, s.Index, cmds, at, want, wantAt)
		}
		if e := applied[s.Index]; s.Term != e.Term {
			fail("%s: snapshot at %d has term %d, the entry applied there %d", id, s.Index, s.Term, e.Term)
		}
	}
	nw.observe = func(id string, rd Ready) {
		r := nw.nodes[id].r
		if rd.Snapshot != nil {
			checkSnap(id, *rd.Snapshot)
		}
		for _, e := range rd.CommittedEntries {
			if prev, ok := applied[e.Index]; ok && !entryEq(prev, e) {
				fail("%s applied %v at %d, another node applied %v", id, e, e.Index, prev)
			}
			applied[e.Index] = e
		}
		if rd.SoftState != nil && rd.SoftState.Role == Leader {
			for i, e := range applied {
				if i <= r.log.offset() {
					continue // in its snapshot, checked when made
				}
				if tt, ok := r.log.term(i); !ok || tt != e.Term {
					fail("new leader %s (term %d) lacks applied entry %v", id, r.term, e)
				}
			}
		}
		for _, rs := range rd.ReadStates {
			min, ok := readMin[rs.Context]
			if !ok {
				fail("%s: read state for unknown ctx %d", id, rs.Context)
			}
			if rs.Index < min {
				fail("%s: read ctx %d at index %d, but %d was committed before it was asked", id, rs.Context, rs.Index, min)
			}
		}
	}
	check := func() {
		for _, id := range nw.ids {
			n := nw.nodes[id]
			if !n.up {
				continue
			}
			globalCommit = max(globalCommit, n.r.log.committed)
			if n.r.role == Leader {
				if l, ok := leaderOf[n.r.term]; ok && l != id {
					fail("two leaders in term %d: %s and %s", n.r.term, l, id)
				}
				leaderOf[n.r.term] = id
			}
		}
	}
	proposals := 0
	for step := 0; step < steps && !t.Failed(); step++ {
		p := rng.IntN(100)
		switch {
		case p < 50:
			if len(nw.queue) == 0 {
				break
			}
			i := rng.IntN(len(nw.queue))
			switch q := rng.IntN(100); {
			case q < 10: // drop
				nw.queue = append(nw.queue[:i], nw.queue[i+1:]...)
			case q < 15: // duplicate
				nw.queue = append(nw.queue, nw.queue[i])
				nw.deliver(i)
			default:
				nw.deliver(i)
			}
		case p < 78:
			nw.tick(nw.ids[rng.IntN(size)])
		case p < 86:
			if ls := nw.leaders(); len(ls) > 0 {
				l := ls[rng.IntN(len(ls))]
				var ds []string
				for range 1 + rng.IntN(3) {
					proposals++
					ds = append(ds, fmt.Sprintf("s%d-%d", seed, proposals))
				}
				if _, _, err := nw.propose(l, ds...); err != nil {
					fail("propose on leader %s: %v", l, err)
				}
			}
		case p < 91:
			if ls := nw.leaders(); len(ls) > 0 {
				check()
				nextCtx++
				readMin[nextCtx] = globalCommit
				l := ls[rng.IntN(len(ls))]
				if err := nw.readIndex(l, nextCtx); err != nil {
					fail("read index on leader %s: %v", l, err)
				}
			}
		case p < 92:
			id := nw.ids[rng.IntN(size)]
			if nw.nodes[id].up {
				nw.crash(id)
			} else {
				nw.start(id)
			}
		case p < 94:
			nw.recover()
			switch rng.IntN(3) {
			case 0:
				nw.isolate(nw.ids[rng.IntN(size)])
			case 1:
				perm := rng.Perm(size)
				k := 1 + rng.IntN(size-1)
				var a, b []string
				for i, j := range perm {
					if i < k {
						a = append(a, nw.ids[j])
					} else {
						b = append(b, nw.ids[j])
					}
				}
				nw.partition(a, b)
			}
		case p < 95:
			// Lose messages in flight.
			if len(nw.queue) > 0 {
				nw.queue = nw.queue[rng.IntN(len(nw.queue)):]
			}
		case p < 98 && compact:
			id := nw.ids[rng.IntN(size)]
			n := nw.nodes[id]
			if !n.up || n.stateIndex <= n.base() {
				break
			}
			index := n.base() + 1 + rng.Uint64N(n.stateIndex-n.base())
			if err := nw.compact(id, index); err != nil {
				fail("%s: compact to %d (applied %d): %v", id, index, n.stateIndex, err)
			}
			checkSnap(id, *n.snap)
		}
		if len(nw.queue) > 2000 {
			nw.queue = nw.queue[len(nw.queue)-2000:]
		}
		check()
	}
	if t.Failed() {
		return 0
	}

	// Heal and converge.
	nw.recover()
	for _, id := range nw.ids {
		if !nw.nodes[id].up {
			nw.start(id)
		}
	}
	drain := func() {
		for n := 0; len(nw.queue) > 0; n++ {
			if n > 100000 {
				fail("message storm: %d messages still queued after %d deliveries", len(nw.queue), n)
				nw.queue = nil
				return
			}
			nw.deliver(0)
		}
	}
	final := fmt.Sprintf("final-%d", seed)
	// proposedIn is the term final was last proposed in: a leader change
	// may legitimately lose it, so each new leader proposes it again.
	var proposedIn uint64
	for round := 0; round < 2000 && !t.Failed(); round++ {
		for _, id := range nw.ids {
			nw.tick(id)
		}
		drain()
		check()
		if ls := nw.leaders(); len(ls) == 1 && nw.nodes[ls[0]].r.term != proposedIn {
			if _, term, err := nw.propose(ls[0], final); err == nil {
				proposedIn = term
			}
			drain()
		}
		if proposedIn != 0 && allApplied(nw, final) {
			break
		}
	}
	if proposedIn == 0 || !allApplied(nw, final) {
		fail("cluster did not converge after healing: leaders %v", nw.leaders())
		for _, id := range nw.ids {
			n := nw.nodes[id]
			t.Logf("%s: %+v, applied through %d, %d snapshots installed", id, n.r.Status(), n.stateIndex, n.snapshots)
			if n.r.role == Leader {
				for _, p := range nw.ids {
					t.Logf("  progress of %s: %+v", p, *n.r.prs[p])
				}
			}
		}
		return 0
	}
	ref := nw.nodes[nw.ids[0]].state
	for _, id := range nw.ids[1:] {
		a := nw.nodes[id].state
		n := min(len(a), len(ref))
		if !slices.Equal(a[:n], ref[:n]) {
			fail("%s state machine differs from %s", id, nw.ids[0])
		}
	}
	installs := 0
	for _, id := range nw.ids {
		installs += nw.nodes[id].snapshots
	}
	return installs
}

func allApplied(nw *network, d string) bool {
	for _, id := range nw.ids {
		if !slices.Contains(nw.nodes[id].state, d) {
			return false
		}
	}
	return true
}
