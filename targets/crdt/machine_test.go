package crdt

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline-io/faultline/targets/crdt/core"
)

// sim drives machines over an in-memory network with a virtual clock that
// jumps to the next event (a gossip tick or a message delivery). Delivery
// latency and drops come from a seeded source; cut holds the directed
// links a partition blocks. Each node's clock reads the true time plus its
// offset. Every message crosses the network as JSON, as in the shell.
type sim struct {
	t       *testing.T
	now     time.Time // true time
	rng     *rand.Rand
	ids     []string
	ms      map[string]*Machine
	offset  map[string]time.Duration
	cut     map[[2]string]bool
	drop    float64
	queue   []simMsg // by (at, seq)
	seq     uint64
	reqID   uint64
	disk    map[string]map[string]core.State // what each node persisted
	trace   []string                         // every batch, encoded
	minLat  time.Duration
	spread  time.Duration
	updates int // updates whose reply was checked against Persist
}

type simMsg struct {
	at  time.Time
	seq uint64
	m   Message
}

type simConfig struct {
	seed   uint64
	bugs   []string
	offset map[string]time.Duration // node clock offsets
	drop   float64                  // probability a message is lost
}

var simStart = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newSim(t *testing.T, c simConfig) *sim {
	t.Helper()
	s := &sim{
		t:      t,
		now:    simStart,
		rng:    rand.New(rand.NewPCG(c.seed, 0x5eed)),
		ids:    []string{"n1", "n2", "n3"},
		ms:     map[string]*Machine{},
		offset: c.offset,
		cut:    map[[2]string]bool{},
		drop:   c.drop,
		disk:   map[string]map[string]core.State{},
		minLat: time.Millisecond,
		spread: 20 * time.Millisecond,
	}
	if s.offset == nil {
		s.offset = map[string]time.Duration{}
	}
	for _, id := range s.ids {
		m, err := NewMachine(MachineConfig{ID: id, Peers: s.ids, Seed: c.seed, Now: s.clock(id), Bugs: c.bugs})
		if err != nil {
			t.Fatal(err)
		}
		s.ms[id] = m
		s.disk[id] = map[string]core.State{}
	}
	return s
}

func (s *sim) clock(id string) time.Time { return s.now.Add(s.offset[id]) }

// drain carries out id's Batch in the contract's order: persist, send,
// reply (returned).
func (s *sim) drain(id string) Batch {
	b := s.ms[id].Ready()
	if b.Empty() {
		return b
	}
	rec, err := json.Marshal(struct {
		Node  string
		At    time.Time
		Batch Batch
	}{id, s.now, b})
	if err != nil {
		s.t.Fatal(err)
	}
	s.trace = append(s.trace, string(rec))
	for k, st := range b.Persist {
		s.disk[id][k] = roundTrip(s.t, st)
	}
	for _, m := range b.Messages {
		if m.From != id {
			s.t.Fatalf("%s sent a message from %q", id, m.From)
		}
		if s.cut[[2]string{m.From, m.To}] || s.rng.Float64() < s.drop {
			continue
		}
		s.seq++
		at := s.now.Add(s.minLat + time.Duration(s.rng.Int64N(int64(s.spread))))
		sm := simMsg{at: at, seq: s.seq, m: roundTrip(s.t, m)}
		i, _ := slices.BinarySearchFunc(s.queue, sm, func(a, b simMsg) int {
			if c := a.at.Compare(b.at); c != 0 {
				return c
			}
			return int(a.seq) - int(b.seq)
		})
		s.queue = slices.Insert(s.queue, i, sm)
	}
	return b
}

func roundTrip[T any](t *testing.T, v T) T {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// runFor processes every event up to d from now, in time order.
func (s *sim) runFor(d time.Duration) {
	end := s.now.Add(d)
	for {
		at, tickID := time.Time{}, ""
		for _, id := range s.ids {
			if tt := s.ms[id].NextTick().Add(-s.offset[id]); tickID == "" || tt.Before(at) {
				at, tickID = tt, id
			}
		}
		msg := len(s.queue) > 0 && !s.queue[0].at.After(at)
		if msg {
			at = s.queue[0].at
		}
		if at.After(end) {
			s.now = end
			return
		}
		if at.After(s.now) {
			s.now = at
		}
		if msg {
			m := s.queue[0].m
			s.queue = s.queue[1:]
			s.ms[m.To].Step(s.clock(m.To), []Message{m})
			s.drain(m.To)
		} else {
			s.ms[tickID].Tick(s.clock(tickID))
			s.drain(tickID)
		}
	}
}

// do runs one client request on node id and returns its response,
// checking the Batch contract: the reply is in the batch the request made,
// and an update's key is in that batch's Persist.
func (s *sim) do(id string, req Request) Response {
	s.t.Helper()
	s.reqID++
	s.ms[id].Request(s.clock(id), s.reqID, req)
	b := s.drain(id)
	if len(b.Replies) != 1 || b.Replies[0].ID != s.reqID {
		s.t.Fatalf("%s: request %d: replies %+v", id, s.reqID, b.Replies)
	}
	resp := b.Replies[0].Resp
	if resp.OK && req.F != "read" {
		key := req.Kind + "/" + req.Key
		st, ok := b.Persist[key]
		if !ok {
			s.t.Fatalf("%s: update %+v answered in a batch that does not persist %q", id, req, key)
		}
		if got, want := encode(s.t, st), encode(s.t, s.ms[id].Snapshot()[key]); got != want {
			s.t.Fatalf("%s: persisted %s, state is %s", id, got, want)
		}
		s.updates++
	}
	return resp
}

func (s *sim) update(id, kind, f, key string, v int64) {
	s.t.Helper()
	if r := s.do(id, Request{Kind: kind, F: f, Key: key, Value: json.RawMessage(fmt.Sprint(v))}); !r.OK {
		s.t.Fatalf("%s: %s %s %s %d: %+v", id, kind, f, key, v, r)
	}
}

// reads returns each node's read of key, by node id.
func (s *sim) reads(kind, key string) map[string]string {
	s.t.Helper()
	out := map[string]string{}
	for _, id := range s.ids {
		r := s.do(id, Request{Kind: kind, F: "read", Key: key})
		if !r.OK {
			s.t.Fatalf("%s: read %s %s: %+v", id, kind, key, r)
		}
		out[id] = string(r.Value)
	}
	return out
}

// partition cuts every link between different groups.
func (s *sim) partition(groups ...[]string) {
	for i, g := range groups {
		for j, h := range groups {
			if i == j {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					s.cut[[2]string{a, b}] = true
				}
			}
		}
	}
}

func (s *sim) heal() { s.cut = map[[2]string]bool{} }

// converged reports whether every node's Snapshot encodes equally, and
// checks that every node's storage holds its state.
func (s *sim) converged() bool {
	s.t.Helper()
	var first string
	same := true
	for i, id := range s.ids {
		snap := encode(s.t, s.ms[id].Snapshot())
		if disk := encode(s.t, s.disk[id]); disk != snap {
			s.t.Fatalf("%s: storage %s differs from state %s", id, disk, snap)
		}
		if i == 0 {
			first = snap
		} else if snap != first {
			same = false
		}
	}
	return same
}

func encode(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func agree(reads map[string]string) bool {
	for _, v := range reads {
		if v != reads["n1"] {
			return false
		}
	}
	return true
}

// workload runs seeded random updates of kind on keys a and b at every
// node, spaced by a few ms of virtual time; it returns the sum of the
// counter adds per key and the set elements that must be present.
func (s *sim) workload(kind string, rng *rand.Rand, n int, next *int64, sums map[string]int64, present map[string]map[int64]bool) {
	s.t.Helper()
	for range n {
		id := s.ids[rng.IntN(len(s.ids))]
		key := []string{"a", "b"}[rng.IntN(2)]
		*next++
		switch kind {
		case core.KindCounter:
			v := int64(rng.IntN(9)) - 4
			if v == 0 {
				v = 5
			}
			s.update(id, kind, "add", key, v)
			sums[key] += v
		case core.KindSet:
			// Unique adds; a remove of an element this node itself holds.
			if rng.IntN(3) == 0 {
				var st core.State
				st, _ = core.NewState(kind)
				if held, ok := s.ms[id].Snapshot()[kind+"/"+key]; ok {
					st = held
				}
				if els := st.Set.Elements(); len(els) > 0 {
					e := els[rng.IntN(len(els))]
					s.update(id, kind, "remove", key, e)
					if present[key] != nil && present[key][e] {
						// Removed here; it stays only if another node's
						// unobserved add of it exists, which unique adds rule out.
						delete(present[key], e)
					}
					break
				}
			}
			if present[key] == nil {
				present[key] = map[int64]bool{}
			}
			s.update(id, kind, "add", key, *next)
			present[key][*next] = true
		default:
			s.update(id, kind, "write", key, *next)
		}
		s.runFor(time.Duration(rng.IntN(5)) * time.Millisecond)
	}
}

// TestConvergence: for every kind, updates on every node before and
// during a partition, with lost messages, end in equal states and equal
// reads on every node after the heal; counters read the sum of the adds
// and sets hold exactly the elements added and not removed.
func TestConvergence(t *testing.T) {
	for _, kind := range core.Kinds() {
		for seed := range uint64(10) {
			t.Run(fmt.Sprintf("%s/seed%d", kind, seed), func(t *testing.T) {
				s := newSim(t, simConfig{seed: seed, drop: 0.1})
				rng := rand.New(rand.NewPCG(seed, 1))
				var next int64
				sums := map[string]int64{}
				present := map[string]map[int64]bool{}
				s.workload(kind, rng, 20, &next, sums, present)
				s.runFor(time.Second)
				s.partition([]string{"n1"}, []string{"n2", "n3"})
				s.workload(kind, rng, 30, &next, sums, present)
				s.runFor(time.Second)
				s.heal()
				s.runFor(3 * time.Second)
				if !s.converged() {
					t.Fatalf("states differ after the heal:\n%s", s.snapshots())
				}
				for _, key := range []string{"a", "b"} {
					r := s.reads(kind, key)
					if !agree(r) {
						t.Fatalf("key %s: reads differ: %v", key, r)
					}
					switch kind {
					case core.KindCounter:
						if want := fmt.Sprint(sums[key]); r["n1"] != want {
							t.Fatalf("counter %s reads %s, want %s", key, r["n1"], want)
						}
					case core.KindSet:
						want := []int64{}
						for e := range present[key] {
							want = append(want, e)
						}
						slices.Sort(want)
						if w := encode(t, want); r["n1"] != w {
							t.Fatalf("set %s reads %s, want %s", key, r["n1"], w)
						}
					}
				}
				if s.updates < 50 {
					t.Fatalf("only %d updates checked", s.updates)
				}
			})
		}
	}
}

func (s *sim) snapshots() string {
	var b strings.Builder
	for _, id := range s.ids {
		fmt.Fprintf(&b, "%s: %s\n", id, encode(s.t, s.ms[id].Snapshot()))
	}
	return b.String()
}

// partitionedAdds adds to a counter on both sides of a partition that
// outlasts many gossip rounds, heals it, waits, and returns the reads.
func partitionedAdds(t *testing.T, bugs []string) map[string]string {
	s := newSim(t, simConfig{seed: 3, bugs: bugs})
	s.runFor(500 * time.Millisecond)
	s.partition([]string{"n1"}, []string{"n2", "n3"})
	s.update("n1", core.KindCounter, "add", "c", 5)
	s.update("n2", core.KindCounter, "add", "c", 7)
	s.runFor(2 * time.Second)
	s.heal()
	s.runFor(10 * time.Second)
	return s.reads(core.KindCounter, "c")
}

// TestGossipDrop: under gossip-drop, digests sent into a partition forget
// the keys they covered, so after the heal nobody offers those updates
// again and the nodes disagree for good; the correct build converges.
func TestGossipDrop(t *testing.T) {
	if r := partitionedAdds(t, nil); !agree(r) || r["n1"] != "12" {
		t.Fatalf("correct build: reads %v, want 12 everywhere", r)
	}
	r := partitionedAdds(t, []string{"gossip-drop"})
	if agree(r) {
		t.Fatalf("gossip-drop: reads agree (%v); the partition's updates should stay lost", r)
	}
	t.Logf("gossip-drop: reads 10 s after the heal: %v", r)
}

// TestSumMerge: under sum-merge every exchange adds entries a node already
// counted, so counters exceed the sum of the adds; the correct build reads
// exactly the sum.
func TestSumMerge(t *testing.T) {
	for _, bugged := range []bool{false, true} {
		var bugs []string
		if bugged {
			bugs = []string{"sum-merge"}
		}
		s := newSim(t, simConfig{seed: 5, bugs: bugs})
		s.update("n1", core.KindCounter, "add", "c", 1)
		s.update("n2", core.KindCounter, "add", "c", 2)
		s.update("n3", core.KindCounter, "add", "c", 3)
		s.runFor(300 * time.Millisecond)
		r := s.reads(core.KindCounter, "c")
		over := false
		for _, v := range r {
			var n int64
			if err := json.Unmarshal([]byte(v), &n); err != nil {
				t.Fatal(err)
			}
			over = over || n > 6
		}
		if over != bugged {
			t.Fatalf("sum-merge %v: reads %v (sum of adds 6)", bugged, r)
		}
		if !bugged && (!agree(r) || r["n1"] != "6") {
			t.Fatalf("correct build: reads %v, want 6 everywhere", r)
		}
	}
}

// TestRemoveByValue: n1 adds 5 and removes it; n2, having seen the
// remove, adds 5 again. The correct build keeps the re-add everywhere;
// under remove-by-value n1 tombstones the re-add's tag it never observed
// and the element is lost on every node.
func TestRemoveByValue(t *testing.T) {
	for _, bugged := range []bool{false, true} {
		var bugs []string
		want := "[5]"
		if bugged {
			bugs, want = []string{"remove-by-value"}, "[]"
		}
		s := newSim(t, simConfig{seed: 11, bugs: bugs})
		s.update("n1", core.KindSet, "add", "s", 5)
		s.runFor(time.Second)
		s.update("n1", core.KindSet, "remove", "s", 5)
		s.runFor(time.Second)
		if r := s.reads(core.KindSet, "s"); r["n2"] != "[]" {
			t.Fatalf("remove-by-value %v: n2 has not seen the remove: %v", bugged, r)
		}
		s.update("n2", core.KindSet, "add", "s", 5)
		s.runFor(2 * time.Second)
		r := s.reads(core.KindSet, "s")
		for _, id := range s.ids {
			if r[id] != want {
				t.Fatalf("remove-by-value %v: reads %v, want %s everywhere", bugged, r, want)
			}
		}
		if !s.converged() {
			t.Fatalf("remove-by-value %v: states differ:\n%s", bugged, s.snapshots())
		}
	}
}

// TestLWWWallClock: n1's clock runs a second ahead. n1 writes 1; n2 sees
// it and then writes 2, causally after. With the HLC, n2's timestamp
// follows n1's and 2 wins everywhere; under lww-wall-clock n2 stamps its
// own clock, behind n1's stamp, and its write is lost.
func TestLWWWallClock(t *testing.T) {
	for _, bugged := range []bool{false, true} {
		var bugs []string
		want := "2"
		if bugged {
			bugs, want = []string{"lww-wall-clock"}, "1"
		}
		s := newSim(t, simConfig{seed: 2, bugs: bugs, offset: map[string]time.Duration{"n1": time.Second}})
		s.update("n1", core.KindLWW, "write", "r", 1)
		s.runFor(400 * time.Millisecond)
		if r := s.reads(core.KindLWW, "r"); r["n2"] != "1" {
			t.Fatalf("lww-wall-clock %v: n2 has not seen the first write: %v", bugged, r)
		}
		s.update("n2", core.KindLWW, "write", "r", 2)
		s.runFor(2 * time.Second)
		r := s.reads(core.KindLWW, "r")
		for _, id := range s.ids {
			if r[id] != want {
				t.Fatalf("lww-wall-clock %v: reads %v, want %s everywhere", bugged, r, want)
			}
		}
	}
}

// TestMVConcurrentWrites: writes on both sides of a partition are both
// kept after the heal; a write after seeing them replaces them.
func TestMVConcurrentWrites(t *testing.T) {
	s := newSim(t, simConfig{seed: 4})
	s.partition([]string{"n1"}, []string{"n2", "n3"})
	s.update("n1", core.KindMV, "write", "m", 10)
	s.update("n3", core.KindMV, "write", "m", 30)
	s.runFor(time.Second)
	s.heal()
	s.runFor(2 * time.Second)
	if r := s.reads(core.KindMV, "m"); !agree(r) || r["n1"] != "[10,30]" {
		t.Fatalf("after the heal: %v, want [10,30] everywhere", r)
	}
	s.update("n2", core.KindMV, "write", "m", 20)
	s.runFor(2 * time.Second)
	if r := s.reads(core.KindMV, "m"); !agree(r) || r["n1"] != "[20]" {
		t.Fatalf("after a later write: %v, want [20] everywhere", r)
	}
}

// deterministicRun runs a mixed workload with drops, latency, a
// partition, a heal and clock offsets, and returns every batch.
func deterministicRun(t *testing.T, seed uint64, bugs []string) []string {
	s := newSim(t, simConfig{seed: seed, bugs: bugs, drop: 0.2,
		offset: map[string]time.Duration{"n2": 300 * time.Millisecond, "n3": -200 * time.Millisecond}})
	rng := rand.New(rand.NewPCG(seed, 2))
	var next int64
	sums, present := map[string]int64{}, map[string]map[int64]bool{}
	for i, kind := range core.Kinds() {
		if i == 2 {
			s.partition([]string{"n1", "n3"}, []string{"n2"})
		}
		s.workload(kind, rng, 15, &next, sums, present)
	}
	s.runFor(time.Second)
	s.heal()
	s.runFor(2 * time.Second)
	return s.trace
}

// TestDeterminism: one seed gives one execution, batch for batch.
func TestDeterminism(t *testing.T) {
	for _, bugs := range [][]string{nil, {"gossip-drop", "sum-merge", "remove-by-value", "lww-wall-clock"}} {
		a, b := deterministicRun(t, 21, bugs), deterministicRun(t, 21, bugs)
		if len(a) < 50 {
			t.Fatalf("bugs %v: only %d batches", bugs, len(a))
		}
		if i := firstDiff(a, b); i >= 0 {
			t.Fatalf("bugs %v: runs with one seed differ at batch %d:\n%s\n%s", bugs, i, a[i], b[i])
		}
		if firstDiff(a, deterministicRun(t, 22, bugs)) < 0 {
			t.Fatalf("bugs %v: seeds 21 and 22 gave the same run", bugs)
		}
	}
}

func firstDiff(a, b []string) int {
	for i := range max(len(a), len(b)) {
		if i >= len(a) || i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return -1
}

func newTestMachine(t *testing.T, c MachineConfig) *Machine {
	t.Helper()
	if c.ID == "" {
		c.ID = "n1"
	}
	if c.Peers == nil {
		c.Peers = []string{"n1", "n2", "n3"}
	}
	if c.Now.IsZero() {
		c.Now = simStart
	}
	m, err := NewMachine(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestBatchOrder: an update's reply comes in the same Batch as the new
// state of its key, which the driver persists before replying; a read
// persists nothing and creates no key.
func TestBatchOrder(t *testing.T) {
	m := newTestMachine(t, MachineConfig{})
	m.Request(simStart, 1, Request{Kind: core.KindCounter, F: "add", Key: "x", Value: json.RawMessage("3")})
	m.Request(simStart, 2, Request{Kind: core.KindCounter, F: "add", Key: "x", Value: json.RawMessage("-1")})
	b := m.Ready()
	if len(b.Replies) != 2 || b.Replies[0].ID != 1 || b.Replies[1].ID != 2 || !b.Replies[0].Resp.OK || !b.Replies[1].Resp.OK {
		t.Fatalf("replies %+v", b.Replies)
	}
	st, ok := b.Persist["counter/x"]
	if !ok || string(st.ReadValue()) != "2" {
		t.Fatalf("persist %s, want counter/x at 2", encode(t, b.Persist))
	}
	if !m.Ready().Empty() {
		t.Fatal("a second Ready is not empty")
	}
	m.Request(simStart, 3, Request{Kind: core.KindSet, F: "read", Key: "y"})
	b = m.Ready()
	if len(b.Persist) != 0 || len(b.Replies) != 1 || string(b.Replies[0].Resp.Value) != "[]" {
		t.Fatalf("read of a new key: %s", encode(t, b))
	}
	if _, ok := m.Snapshot()["set/y"]; ok {
		t.Fatal("a read created its key")
	}
}

func TestBadRequests(t *testing.T) {
	m := newTestMachine(t, MachineConfig{})
	bad := []Request{
		{Kind: "bag", F: "read", Key: "k"},
		{Kind: core.KindCounter, F: "write", Key: "k", Value: json.RawMessage("1")},
		{Kind: core.KindSet, F: "add", Key: "", Value: json.RawMessage("1")},
		{Kind: core.KindLWW, F: "write", Key: "k"},
		{Kind: core.KindLWW, F: "write", Key: "k", Value: json.RawMessage("null")},
		{Kind: core.KindMV, F: "write", Key: "k", Value: json.RawMessage("1.5")},
		{Kind: core.KindMV, F: "write", Key: "k", Value: json.RawMessage(`"1"`)},
		{Kind: core.KindCounter, F: "add", Key: "k", Value: json.RawMessage("0")},
	}
	for i, req := range bad {
		m.Request(simStart, uint64(i), req)
	}
	b := m.Ready()
	if len(b.Persist) != 0 || len(b.Replies) != len(bad) {
		t.Fatalf("batch %s", encode(t, b))
	}
	for i, r := range b.Replies {
		if r.Resp.OK || r.Resp.Error != ErrCodeBadRequest || !r.Resp.Definite {
			t.Errorf("%+v: response %+v, want a definite bad-request", bad[i], r.Resp)
		}
	}
}

func TestNewMachineErrors(t *testing.T) {
	set, _ := core.NewState(core.KindSet)
	cases := []struct {
		c    MachineConfig
		want string
	}{
		{MachineConfig{Peers: []string{"n1"}}, "MachineConfig.ID"},
		{MachineConfig{ID: "n1", Peers: []string{"n2"}}, "MachineConfig.Peers"},
		{MachineConfig{ID: "n1", Peers: []string{"n1", "n1"}}, "MachineConfig.Peers[1]"},
		{MachineConfig{ID: "n1", Peers: []string{"n1"}, Bugs: []string{"eat-data"}}, `"eat-data"`},
		{MachineConfig{ID: "n1", Peers: []string{"n1"}, GossipInterval: -1}, "MachineConfig.GossipInterval"},
		{MachineConfig{ID: "n1", Peers: []string{"n1"}, State: map[string]core.State{"counter/x": set}}, `MachineConfig.State["counter/x"]`},
	}
	for _, c := range cases {
		_, err := NewMachine(c.c)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewMachine(%+v) = %v, want an error naming %s", c.c, err, c.want)
		}
	}
}

// TestRestore: a machine restored from storage continues its OR-Set tags
// above the stored ones and stamps LWW writes after the stored timestamp,
// even when its clock reads earlier.
func TestRestore(t *testing.T) {
	set, _ := core.NewState(core.KindSet)
	set.Set.Add(1, "n1:41", core.Bugs{})
	lww, _ := core.NewState(core.KindLWW)
	lww.LWW.Set(1, core.Timestamp{Wall: simStart.Add(time.Hour).UnixNano(), Node: "n2"})
	m := newTestMachine(t, MachineConfig{State: map[string]core.State{"set/s": set, "lww/r": lww}})
	m.Request(simStart, 1, Request{Kind: core.KindSet, F: "add", Key: "s", Value: json.RawMessage("2")})
	m.Request(simStart, 2, Request{Kind: core.KindLWW, F: "write", Key: "r", Value: json.RawMessage("2")})
	b := m.Ready()
	if _, ok := b.Persist["set/s"].Set.Adds["n1:42"]; !ok {
		t.Fatalf("new tag not n1:42: %s", encode(t, b.Persist["set/s"]))
	}
	if got := string(b.Persist["lww/r"].ReadValue()); got != "2" {
		t.Fatalf("a write after restart lost to the stored one: reads %s", got)
	}
}

// TestGossipPeers: digests go to every peer over time, one per interval,
// never to the node itself, and a clock that jumps back restarts the
// interval.
func TestGossipPeers(t *testing.T) {
	m := newTestMachine(t, MachineConfig{Seed: 9})
	to := map[string]int{}
	now := simStart
	for range 60 {
		now = m.NextTick()
		m.Tick(now)
		b := m.Ready()
		if len(b.Messages) != 1 || b.Messages[0].Type != MsgDigest {
			t.Fatalf("tick at %v: %s", now, encode(t, b))
		}
		to[b.Messages[0].To]++
	}
	if len(to) != 2 || to["n1"] != 0 {
		t.Fatalf("digests went to %v", to)
	}
	if next := m.NextTick(); next.Sub(now) != DefaultGossipInterval {
		t.Fatalf("next tick %v after %v", next, now)
	}
	back := now.Add(-time.Hour)
	m.Tick(back)
	if next := m.NextTick(); next.Sub(back) != DefaultGossipInterval {
		t.Fatalf("after the clock jumped back: next tick %v, clock %v", next, back)
	}
}

// TestMachinePurity keeps the machine deterministic: it reads no clock,
// sets no timer, starts no goroutine and draws no global randomness.
func TestMachinePurity(t *testing.T) {
	src, err := os.ReadFile("machine.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"time.Now", "time.Since", "time.Until", "time.Sleep", "time.After", "time.NewTimer", "time.NewTicker", "time.Tick(", "go func", "sync."} {
		if strings.Contains(string(src), bad) {
			t.Errorf("machine.go uses %s", bad)
		}
	}
	for _, m := range regexp.MustCompile(`(?:^|[^.\w])rand\.([A-Z]\w*)`).FindAllStringSubmatch(string(src), -1) {
		if m[1] != "New" && m[1] != "NewPCG" && m[1] != "Rand" {
			t.Errorf("machine.go uses rand.%s: global randomness", m[1])
		}
	}
}
