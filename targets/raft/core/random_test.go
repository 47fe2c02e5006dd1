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
		runRandomized(t, uint64(seed), size, steps)
		if t.Failed() {
			t.Fatalf("seed %d (size %d) failed", seed, size)
		}
	}
}

func runRandomized(t *testing.T, seed uint64, size, steps int) {
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
	nw.observe = func(id string, rd Ready) {
		r := nw.nodes[id].r
		for _, e := range rd.CommittedEntries {
			if prev, ok := applied[e.Index]; ok && !entryEq(prev, e) {
				fail("%s applied %v at %d, another node applied %v", id, e, e.Index, prev)
			}
			applied[e.Index] = e
		}
		if rd.SoftState != nil && rd.SoftState.Role == Leader {
			for i, e := range applied {
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
		}
		if len(nw.queue) > 2000 {
			nw.queue = nw.queue[len(nw.queue)-2000:]
		}
		check()
	}
	if t.Failed() {
		return
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
	proposed := false
	for round := 0; round < 2000 && !t.Failed(); round++ {
		for _, id := range nw.ids {
			nw.tick(id)
		}
		drain()
		check()
		if ls := nw.leaders(); len(ls) == 1 && !proposed {
			if _, _, err := nw.propose(ls[0], final); err == nil {
				proposed = true
			}
			drain()
		}
		if proposed && allApplied(nw, final) {
			break
		}
	}
	if !proposed || !allApplied(nw, final) {
		fail("cluster did not converge after healing: leaders %v", nw.leaders())
		return
	}
	ref := nw.nodes[nw.ids[0]].applied
	for _, id := range nw.ids[1:] {
		a := nw.nodes[id].applied
		n := min(len(a), len(ref))
		if !slices.EqualFunc(a[:n], ref[:n], entryEq) {
			fail("%s applied log differs from %s", id, nw.ids[0])
		}
	}
}

func allApplied(nw *network, d string) bool {
	for _, id := range nw.ids {
		if !slices.Contains(data(nw.nodes[id].applied), d) {
			return false
		}
	}
	return true
}
