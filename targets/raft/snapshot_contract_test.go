package raft

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/faultline-io/faultline/targets/raft/core"
)

// contractNode is a core driven exactly as package core's documentation
// asks a shell to, on a MemStorage WAL through saveRecord, saveSnapshot and
// loadWALSnapshot, with a state machine that is the list of commands
// applied. It checks the storage half of snapshots against the protocol
// half without the node layer.
type contractNode struct {
	id     string
	r      *core.Raft
	stor   *MemStorage
	hs     core.HardState
	state  []string
	up     bool
	maxWAL int
	// installs counts the snapshots installed from a leader.
	installs int
}

type contractCluster struct {
	t     *testing.T
	ids   []string
	nodes map[string]*contractNode
	queue []core.Message
	every uint64 // compact when this many entries are applied past the snapshot
}

func (c *contractCluster) start(id string) {
	c.t.Helper()
	n := c.nodes[id]
	hs, snap, ents, err := loadWALSnapshot(n.stor)
	if err != nil {
		c.t.Fatalf("%s: load wal: %v", id, err)
	}
	n.state = nil
	cc := core.DefaultConfig(id, c.ids)
	cc.Seed = 7
	if snap != nil {
		if err := json.Unmarshal(snap.Data, &n.state); err != nil {
			c.t.Fatal(err)
		}
		cc.Applied = snap.Index
	}
	cc.Snapshot, cc.HardState, cc.Entries = snap, hs, ents
	if n.r, err = core.New(cc); err != nil {
		c.t.Fatalf("%s: %v", id, err)
	}
	n.hs, n.up = hs, true
}

func (c *contractCluster) crash(id string) {
	n := c.nodes[id]
	n.up, n.r = false, nil
	n.stor.LoseUnsynced()
}

// process carries out id's Readies in the documented order, then compacts.
func (c *contractCluster) process(id string) {
	c.t.Helper()
	n := c.nodes[id]
	for n.up && n.r.HasReady() {
		rd := n.r.Ready()
		if !rd.HardState.IsEmpty() {
			n.hs = rd.HardState
		}
		var err error
		if rd.Snapshot != nil {
			n.installs++
			err = saveSnapshot(n.stor, *rd.Snapshot, n.hs, rd.Entries, true)
		} else {
			err = saveRecord(n.stor, n.hs, rd.Entries, rd.MustSync, true)
		}
		if err != nil {
			c.t.Fatalf("%s: persist: %v", id, err)
		}
		c.queue = append(c.queue, rd.Messages...)
		if rd.Snapshot != nil {
			n.state = nil
			if err := json.Unmarshal(rd.Snapshot.Data, &n.state); err != nil {
				c.t.Fatal(err)
			}
		}
		for _, e := range rd.CommittedEntries {
			if len(e.Data) > 0 {
				n.state = append(n.state, string(e.Data))
			}
		}
		n.r.Advance(rd)
		st := n.r.Status()
		if st.Applied >= st.SnapshotIndex+c.every {
			data, _ := json.Marshal(n.state)
			if err := n.r.Compact(st.Applied, data); err != nil {
				c.t.Fatalf("%s: compact: %v", id, err)
			}
			tail := n.r.Slice(st.Applied+1, st.LastIndex+1)
			if err := saveSnapshot(n.stor, n.r.Snapshot(), n.hs, tail, true); err != nil {
				c.t.Fatalf("%s: save snapshot: %v", id, err)
			}
		}
		recs, _ := n.stor.ReadAll()
		n.maxWAL = max(n.maxWAL, len(recs))
	}
}

func (c *contractCluster) deliver() {
	for len(c.queue) > 0 {
		m := c.queue[0]
		c.queue = c.queue[1:]
		if n := c.nodes[m.To]; n.up {
			n.r.Step(m)
			c.process(m.To)
		}
	}
}

func (c *contractCluster) tick() {
	for _, id := range c.ids {
		if n := c.nodes[id]; n.up {
			n.r.Tick()
			c.process(id)
		}
	}
	c.deliver()
}

func (c *contractCluster) leader() string {
	for _, id := range c.ids {
		if n := c.nodes[id]; n.up && n.r.Status().Role == core.Leader {
			return id
		}
	}
	return ""
}

// A cluster on the WAL with periodic snapshots: a follower down while the
// others compact comes back from its own WAL and catches up by snapshot;
// after a full restart every node recovers from snapshot and tail; the WAL
// stays bounded throughout.
func TestSnapshotContractOverWAL(t *testing.T) {
	c := &contractCluster{t: t, ids: []string{"n1", "n2", "n3"}, nodes: map[string]*contractNode{}, every: 50}
	for _, id := range c.ids {
		c.nodes[id] = &contractNode{id: id, stor: &MemStorage{}}
		c.start(id)
	}
	var want []string
	propose := func(k int) {
		for range k {
			l := ""
			for l == "" {
				c.tick()
				l = c.leader()
			}
			cmd := fmt.Sprint("cmd", len(want))
			if _, _, err := c.nodes[l].r.Propose([]byte(cmd)); err != nil {
				t.Fatal(err)
			}
			c.process(l)
			c.deliver()
			want = append(want, cmd)
		}
	}
	propose(120)
	down := "n3"
	if c.leader() == down {
		down = "n2"
	}
	c.crash(down)
	propose(200)
	c.start(down)
	for range 20 {
		c.tick()
	}
	if got := c.nodes[down].state; !slices.Equal(got, want) {
		t.Fatalf("%s after catching up: %d commands, want %d", down, len(got), len(want))
	}
	if c.nodes[down].installs != 1 {
		t.Fatalf("%s installed %d snapshots catching up, want 1", down, c.nodes[down].installs)
	}
	for _, id := range c.ids {
		c.crash(id)
	}
	for _, id := range c.ids {
		c.start(id)
	}
	propose(80)
	for range 20 {
		c.tick()
	}
	for _, id := range c.ids {
		n := c.nodes[id]
		if !slices.Equal(n.state, want) {
			t.Errorf("%s: %d commands, want %d", id, len(n.state), len(want))
		}
		// A snapshot every 50 entries; each proposal is one record
		// or two (entries, then the commit).
		if n.maxWAL > 4*int(c.every) {
			t.Errorf("%s: the WAL reached %d records", id, n.maxWAL)
		}
	}
}
