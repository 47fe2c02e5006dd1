package core

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
)

// tnode is one core under test with the storage it persists to, as a node
// shell would keep it.
type tnode struct {
	r       *Raft
	hs      HardState
	snap    *Snapshot // persisted snapshot, nil for none
	ents    []Entry   // persisted log after snap
	applied []Entry   // applied since the last (re)start
	reads   []ReadState
	up      bool
	// state is the state machine: every command applied, in order, with
	// the index of each in stateAt; stateIndex is the applied index.
	state      []string
	stateAt    []uint64
	stateIndex uint64
	// snapshots counts the snapshots installed from a leader.
	snapshots int
}

// smState is the state machine a snapshot's Data encodes: the commands
// applied and their indexes.
type smState struct {
	Cmds []string `json:"cmds"`
	At   []uint64 `json:"at"`
}

func encodeState(cmds []string, at []uint64) []byte {
	b, err := json.Marshal(smState{cmds, at})
	if err != nil {
		panic(err)
	}
	return b
}

func decodeState(t testing.TB, data []byte) ([]string, []uint64) {
	var st smState
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("snapshot data %q: %v", data, err)
	}
	return st.Cmds, st.At
}

// base is the index the persisted log starts after.
func (n *tnode) base() uint64 {
	if n.snap == nil {
		return 0
	}
	return n.snap.Index
}

// loadSnapshot replaces the state machine with s.
func (n *tnode) loadSnapshot(t testing.TB, s *Snapshot) {
	n.state, n.stateAt = nil, nil
	if s != nil {
		n.state, n.stateAt = decodeState(t, s.Data)
		n.stateIndex = s.Index
	} else {
		n.stateIndex = 0
	}
}

// network runs cores in one goroutine and delivers their messages
// synchronously (send) or through a queue the test drains in any order
// (async). Like etcd's raft network it can cut links, isolate nodes and
// recover.
type network struct {
	t     testing.TB
	ids   []string
	nodes map[string]*tnode
	cfg   func(id string) Config
	cut   map[[2]string]bool // directed: from -> to dropped
	drop  map[MsgType]bool   // message types dropped everywhere
	async bool
	queue []Message
	// observe, if set, is called after every Ready is processed.
	observe func(id string, rd Ready)
}

func newNetwork(t testing.TB, n int, tweak func(*Config)) *network {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("n%d", i+1)
	}
	nw := &network{t: t, ids: ids, nodes: map[string]*tnode{}, cut: map[[2]string]bool{}, drop: map[MsgType]bool{}}
	nw.cfg = func(id string) Config {
		c := DefaultConfig(id, ids)
		c.Seed = 1
		if tweak != nil {
			tweak(&c)
		}
		return c
	}
	for _, id := range ids {
		nw.nodes[id] = &tnode{}
		nw.start(id)
	}
	return nw
}

// start (re)creates id's core from what it persisted; applied state is
// rebuilt by applying the log again.
func (nw *network) start(id string) {
	nw.t.Helper()
	n := nw.nodes[id]
	c := nw.cfg(id)
	c.HardState = n.hs
	c.Entries = slices.Clone(n.ents)
	if n.snap != nil {
		s := *n.snap
		c.Snapshot = &s
	}
	n.loadSnapshot(nw.t, n.snap)
	r, err := New(c)
	if err != nil {
		nw.t.Fatalf("start %s: %v", id, err)
	}
	n.r, n.applied, n.reads, n.up = r, nil, nil, true
}

// compact snapshots id's state machine as of index (at most its applied
// index), hands the snapshot to its core and persists it, dropping the
// persisted entries it covers as a WAL rotation would.
func (nw *network) compact(id string, index uint64) error {
	nw.t.Helper()
	n := nw.nodes[id]
	k, _ := slices.BinarySearch(n.stateAt, index+1)
	if err := n.r.Compact(index, encodeState(n.state[:k], n.stateAt[:k])); err != nil {
		return err
	}
	s := n.r.Snapshot()
	if s.Index != index {
		nw.t.Fatalf("%s: Snapshot() index %d after Compact(%d)", id, s.Index, index)
	}
	drop := index - n.base()
	n.ents = slices.Clone(n.ents[min(drop, uint64(len(n.ents))):])
	n.snap = &s
	return nil
}

// crash stops id: everything not persisted is gone, messages to it vanish.
func (nw *network) crash(id string) {
	nw.nodes[id].up = false
	nw.nodes[id].r = nil
}

func (nw *network) isolate(id string) {
	for _, o := range nw.ids {
		if o != id {
			nw.cut[[2]string{id, o}] = true
			nw.cut[[2]string{o, id}] = true
		}
	}
}

// partition cuts every link between the two groups.
func (nw *network) partition(a, b []string) {
	for _, x := range a {
		for _, y := range b {
			nw.cut[[2]string{x, y}] = true
			nw.cut[[2]string{y, x}] = true
		}
	}
}

func (nw *network) recover() {
	nw.cut = map[[2]string]bool{}
	nw.drop = map[MsgType]bool{}
}

func (nw *network) dropped(m Message) bool {
	n := nw.nodes[m.To]
	return n == nil || !n.up || nw.cut[[2]string{m.From, m.To}] || nw.drop[m.Type]
}

// process carries out id's Ready batches, returning the messages to send.
func (nw *network) process(id string) []Message {
	n := nw.nodes[id]
	var out []Message
	for n.up && n.r.HasReady() {
		rd := n.r.Ready()
		if rd.Snapshot != nil {
			if !rd.MustSync {
				nw.t.Fatalf("%s: Ready with a snapshot but no MustSync", id)
			}
			s := *rd.Snapshot
			n.snap, n.ents = &s, nil
			n.snapshots++
		}
		if !rd.HardState.IsEmpty() {
			n.hs = rd.HardState
		}
		if len(rd.Entries) > 0 {
			first, base := rd.Entries[0].Index, n.base()
			if first > base+uint64(len(n.ents))+1 || first <= base {
				nw.t.Fatalf("%s: Ready entries start at %d, persisted log is (%d, %d]", id, first, base, base+uint64(len(n.ents)))
			}
			n.ents = append(slices.Clone(n.ents[:first-1-base]), rd.Entries...)
		}
		out = append(out, rd.Messages...)
		if rd.Snapshot != nil {
			n.loadSnapshot(nw.t, rd.Snapshot)
		}
		for _, e := range rd.CommittedEntries {
			if e.Index != n.stateIndex+1 {
				nw.t.Fatalf("%s: applies entry %d after %d", id, e.Index, n.stateIndex)
			}
			n.stateIndex = e.Index
			if len(e.Data) > 0 {
				n.state = append(n.state, string(e.Data))
				n.stateAt = append(n.stateAt, e.Index)
			}
		}
		n.applied = append(n.applied, rd.CommittedEntries...)
		n.reads = append(n.reads, rd.ReadStates...)
		if nw.observe != nil {
			nw.observe(id, rd)
		}
		n.r.Advance(rd)
	}
	return out
}

// send delivers msgs and everything they cause until the network is quiet
// (synchronous mode) or queues them (async mode).
func (nw *network) send(msgs ...Message) {
	if nw.async {
		nw.queue = append(nw.queue, msgs...)
		return
	}
	for len(msgs) > 0 {
		m := msgs[0]
		msgs = msgs[1:]
		if nw.dropped(m) {
			continue
		}
		if err := nw.nodes[m.To].r.Step(m); err != nil {
			nw.t.Fatalf("step %v: %v", m, err)
		}
		msgs = append(msgs, nw.process(m.To)...)
	}
}

// deliver steps one queued message (async mode).
func (nw *network) deliver(i int) {
	m := nw.queue[i]
	nw.queue = append(nw.queue[:i], nw.queue[i+1:]...)
	if nw.dropped(m) {
		return
	}
	if err := nw.nodes[m.To].r.Step(m); err != nil {
		nw.t.Fatalf("step %v: %v", m, err)
	}
	nw.queue = append(nw.queue, nw.process(m.To)...)
}

func (nw *network) tick(id string) {
	if n := nw.nodes[id]; n.up {
		n.r.Tick()
		nw.send(nw.process(id)...)
	}
}

func (nw *network) tickAll(k int) {
	for range k {
		for _, id := range nw.ids {
			nw.tick(id)
		}
	}
}

// campaign makes id start an election now, as if its timeout fired.
func (nw *network) campaign(id string) {
	nw.nodes[id].r.hup()
	nw.send(nw.process(id)...)
}

func (nw *network) propose(id string, data ...string) (uint64, uint64, error) {
	bs := make([][]byte, len(data))
	for i, d := range data {
		bs[i] = []byte(d)
	}
	idx, term, err := nw.nodes[id].r.Propose(bs...)
	nw.send(nw.process(id)...)
	return idx, term, err
}

func (nw *network) readIndex(id string, ctx uint64) error {
	err := nw.nodes[id].r.ReadIndex(ctx)
	nw.send(nw.process(id)...)
	return err
}

// leaders returns the up nodes that believe they lead.
func (nw *network) leaders() []string {
	var ls []string
	for _, id := range nw.ids {
		if n := nw.nodes[id]; n.up && n.r.role == Leader {
			ls = append(ls, id)
		}
	}
	return ls
}

// waitLeader ticks everyone until exactly one up node leads and every up
// node that can hear it agrees, failing after limit rounds.
func (nw *network) waitLeader(limit int) string {
	nw.t.Helper()
	for range limit {
		nw.tickAll(1)
		if ls := nw.leaders(); len(ls) == 1 {
			return ls[0]
		}
	}
	nw.t.Fatalf("no single leader after %d ticks: leaders %v", limit, nw.leaders())
	return ""
}

// data returns the commands (non-empty entries) of ents as strings.
func data(ents []Entry) []string {
	var out []string
	for _, e := range ents {
		if len(e.Data) > 0 {
			out = append(out, string(e.Data))
		}
	}
	return out
}
