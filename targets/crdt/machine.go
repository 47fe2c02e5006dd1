package crdt

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/faultline-io/faultline/targets/crdt/core"
)

// Machine is the deterministic layer of a CRDT node (DESIGN.md §6.1):
// client request handling, anti-entropy gossip decisions and the seeded
// bugs, over the pure CRDTs of package core. It is a value driven by
// explicit events — Request (a client asked), Step (peer messages arrived)
// and Tick (time passed on the node's clock) — each given the node clock's
// reading; Ready returns what to do. It starts no goroutine, reads no clock
// and draws randomness only from a source seeded with MachineConfig.Seed
// and the node id, and it iterates maps in sorted order wherever the order
// shows, so one sequence of events gives one sequence of Batches.
//
// Every node accepts every update and answers reads from its own state.
// Every GossipInterval it sends a digest of its keys to one peer drawn from
// the seeded source; the exchange that follows (see Message) carries the
// states that differ both ways, and merges never lose an update, so nodes
// that can talk converge.
//
// A Machine is not safe for concurrent use.
type Machine struct {
	id       string
	peers    []string // every other node, sorted
	interval time.Duration
	bugs     machineBugs
	logf     func(format string, args ...any)
	rand     *rand.Rand

	states  map[string]core.State // by internal key "kind/key"
	digests map[string]uint64     // cache of states[k].Digest(); dropped on change
	hlc     core.HLC
	tagSeq  uint64 // seq of this node's latest OR-Set tag
	// changed holds, per peer, the keys changed since the last digest to
	// that peer (gossip-drop bug only).
	changed    map[string]map[string]bool
	nextGossip time.Time

	// Output since the last Ready.
	dirty    map[string]bool // keys to persist
	messages []Message
	replies  []Reply
}

// MachineConfig configures a Machine.
type MachineConfig struct {
	ID string
	// Peers names every node of the cluster, this one included.
	Peers []string
	// Seed seeds the choice of gossip peers (mixed with ID).
	Seed uint64
	// Now is the node clock's reading at start.
	Now time.Time
	// GossipInterval is how often the node sends one digest to one peer
	// (default DefaultGossipInterval).
	GossipInterval time.Duration
	// Bugs names the seeded bugs to switch on: "sum-merge",
	// "remove-by-value", "gossip-drop", "lww-wall-clock".
	Bugs []string
	// State is what the node's storage held at start, by internal key
	// "kind/key".
	State map[string]core.State
	// Logf receives the node's log lines; nil discards them.
	Logf func(format string, args ...any)
}

// DefaultGossipInterval is the gossip interval when MachineConfig leaves it
// zero.
const DefaultGossipInterval = 100 * time.Millisecond

// Request is the body of POST /op: one client operation on one key.
type Request struct {
	Kind  string          `json:"kind"` // core.Kind*
	F     string          `json:"f"`    // read | add | remove | write (by kind)
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value,omitempty"`
}

// Response answers a Request. An update that succeeded has OK and no
// Value; a read has OK and Value = core.State.ReadValue of the node's
// state. The only error is ErrCodeBadRequest, which is Definite (nothing
// happened).
type Response struct {
	OK       bool            `json:"ok"`
	Value    json.RawMessage `json:"value,omitempty"`
	Error    string          `json:"error,omitempty"`
	Definite bool            `json:"definite,omitempty"`
}

// ErrCodeBadRequest (definite): the request names an unknown kind or
// operation, has no key, or its value is not a valid integer (a zero one,
// for a counter add).
const ErrCodeBadRequest = "bad-request"

// Reply answers the request Request was given ID for.
type Reply struct {
	ID   uint64
	Resp Response
}

// Message is one gossip message between nodes (JSON over POST /gossip in
// the shell). An exchange is:
//
//  1. every GossipInterval, a node sends one peer a "digest": Digest maps
//     each of its keys to core.State.Digest;
//  2. the peer answers with a "state" message holding its states of the
//     keys whose digest differs or that the digest lacks, and Want = the
//     keys of the digest it lacks or differs on (none sent when both are
//     empty);
//  3. the first node merges those states and sends back, in a "state"
//     message without Want, its states of the keys wanted.
//
// Every message is best effort: a lost one only delays convergence to a
// later round (except under the gossip-drop bug).
type Message struct {
	From   string                `json:"from"`
	To     string                `json:"to"`
	Type   string                `json:"type"` // MsgDigest | MsgState
	Digest map[string]uint64     `json:"digest,omitempty"`
	States map[string]core.State `json:"states,omitempty"`
	Want   []string              `json:"want,omitempty"`
}

// Message types.
const (
	MsgDigest = "digest"
	MsgState  = "state"
)

// Batch is one unit of work for the driver. Contract, in this order:
//  1. persist Persist — the full new state of each key changed since the
//     last Batch — durably (fsync'd) before anything else; if that fails,
//     stop the node and do nothing more of the batch;
//  2. send Messages (best effort; they may be lost);
//  3. deliver Replies.
//
// An update's reply is in the same Batch as the Persist entry of its key,
// so no client hears of an update the node could lose by crashing.
type Batch struct {
	Persist  map[string]core.State
	Messages []Message
	Replies  []Reply
}

// Empty reports whether b holds nothing to do.
func (b Batch) Empty() bool {
	return len(b.Persist) == 0 && len(b.Messages) == 0 && len(b.Replies) == 0
}

// machineBugs are the seeded bugs a Machine runs with.
type machineBugs struct {
	core       core.Bugs
	gossipDrop bool
}

// parseMachineBugs turns bug names into switches; an unknown name is an
// error naming it.
func parseMachineBugs(names []string) (machineBugs, error) {
	var b machineBugs
	for _, n := range names {
		switch n {
		case "sum-merge":
			b.core.SumMerge = true
		case "remove-by-value":
			b.core.RemoveByValue = true
		case "lww-wall-clock":
			b.core.LWWWallClock = true
		case "gossip-drop":
			b.gossipDrop = true
		default:
			return b, fmt.Errorf("unknown bug %q (known: gossip-drop, lww-wall-clock, remove-by-value, sum-merge)", n)
		}
	}
	return b, nil
}

// NewMachine returns a machine restored from c.State. Errors name the
// field at fault.
func NewMachine(c MachineConfig) (*Machine, error) {
	if c.ID == "" {
		return nil, fmt.Errorf("MachineConfig.ID is empty")
	}
	bugs, err := parseMachineBugs(c.Bugs)
	if err != nil {
		return nil, fmt.Errorf("MachineConfig.Bugs %q: %w", c.Bugs, err)
	}
	if c.GossipInterval < 0 {
		return nil, fmt.Errorf("MachineConfig.GossipInterval %v must not be negative", c.GossipInterval)
	}
	if c.GossipInterval == 0 {
		c.GossipInterval = DefaultGossipInterval
	}
	var peers []string
	self := false
	for i, p := range c.Peers {
		switch {
		case p == "":
			return nil, fmt.Errorf("MachineConfig.Peers[%d] is empty", i)
		case slices.Contains(c.Peers[:i], p):
			return nil, fmt.Errorf("MachineConfig.Peers[%d] %q is named twice", i, p)
		case p == c.ID:
			self = true
		default:
			peers = append(peers, p)
		}
	}
	if !self {
		return nil, fmt.Errorf("MachineConfig.Peers %q does not hold MachineConfig.ID %q", c.Peers, c.ID)
	}
	slices.Sort(peers)
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	h := fnv.New64a()
	h.Write([]byte(c.ID))
	m := &Machine{
		id:       c.ID,
		peers:    peers,
		interval: c.GossipInterval,
		bugs:     bugs,
		logf:     c.Logf,
		rand:     rand.New(rand.NewPCG(c.Seed, h.Sum64())),
		states:   map[string]core.State{},
		digests:  map[string]uint64{},
		changed:  map[string]map[string]bool{},
	}
	for _, k := range orderedKeys(c.State) {
		st := c.State[k]
		kind, _, ok := strings.Cut(k, "/")
		if !ok || st.Kind() != kind {
			return nil, fmt.Errorf("MachineConfig.State[%q]: a state of kind %q under a key of kind %q", k, st.Kind(), kind)
		}
		m.states[k] = st.Clone()
		m.observe(c.Now, st)
		if bugs.gossipDrop {
			m.markChanged(k)
		}
	}
	m.dirty = nil
	// The first gossip comes after a seeded fraction of an interval, so
	// nodes started together do not gossip in lockstep.
	m.nextGossip = c.Now.Add(time.Duration(1 + m.rand.Int64N(int64(m.interval))))
	m.logf("restored %d keys; peers %v, gossip every %v, bugs %v", len(m.states), peers, m.interval, c.Bugs)
	return m, nil
}

// Request serves one client request at node clock reading now; its Reply
// (with id) is in the next Batch, together with the new state of the key
// it updated.
func (m *Machine) Request(now time.Time, id uint64, req Request) {
	resp, err := m.serve(now, req)
	if err != nil {
		m.logf("request %d %s %s %q: %v", id, req.Kind, req.F, req.Key, err)
		resp = Response{Error: ErrCodeBadRequest, Definite: true}
	}
	m.replies = append(m.replies, Reply{ID: id, Resp: resp})
}

func (m *Machine) serve(now time.Time, req Request) (Response, error) {
	var ops []string
	switch req.Kind {
	case core.KindCounter:
		ops = []string{"read", "add"}
	case core.KindSet:
		ops = []string{"read", "add", "remove"}
	case core.KindLWW, core.KindMV:
		ops = []string{"read", "write"}
	default:
		return Response{}, fmt.Errorf("unknown kind %q", req.Kind)
	}
	if !slices.Contains(ops, req.F) {
		return Response{}, fmt.Errorf("kind %s has no operation %q", req.Kind, req.F)
	}
	if req.Key == "" {
		return Response{}, fmt.Errorf("empty key")
	}
	key := req.Kind + "/" + req.Key
	st, held := m.states[key]
	if !held {
		st, _ = core.NewState(req.Kind)
	}
	if req.F == "read" {
		// A read of a key not held answers the empty state without
		// creating it.
		return Response{OK: true, Value: st.ReadValue()}, nil
	}
	v, err := parseInt(req.Value)
	if err != nil {
		return Response{}, err
	}
	switch req.Kind {
	case core.KindCounter:
		if v == 0 {
			return Response{}, fmt.Errorf("counter add of 0")
		}
		st.Counter.Add(m.id, v)
	case core.KindSet:
		if req.F == "add" {
			m.tagSeq++
			st.Set.Add(v, fmt.Sprintf("%s:%d", m.id, m.tagSeq), m.bugs.core)
		} else {
			st.Set.Remove(v, m.bugs.core)
		}
	case core.KindLWW:
		ts := core.Timestamp{Wall: now.UnixNano(), Node: m.id}
		if !m.bugs.core.LWWWallClock {
			ts.Wall, ts.Logical = m.hlc.Now(now.UnixNano())
		}
		st.LWW.Set(v, ts)
	case core.KindMV:
		st.MV.Write(m.id, v)
	}
	m.states[key] = st
	m.markChanged(key)
	return Response{OK: true}, nil
}

// parseInt decodes a JSON integer.
func parseInt(raw json.RawMessage) (int64, error) {
	var v *int64
	if err := json.Unmarshal(raw, &v); err != nil || v == nil {
		return 0, fmt.Errorf("value %q is not an integer", raw)
	}
	return *v, nil
}

// Step delivers peer messages received at node clock reading now.
// Messages addressed to another node are dropped.
func (m *Machine) Step(now time.Time, msgs []Message) {
	for _, msg := range msgs {
		if msg.To != m.id {
			m.logf("dropped a %s message from %s to %q", msg.Type, msg.From, msg.To)
			continue
		}
		switch msg.Type {
		case MsgDigest:
			m.onDigest(msg)
		case MsgState:
			m.onState(now, msg)
		default:
			m.logf("dropped a message of unknown type %q from %s", msg.Type, msg.From)
		}
	}
}

// onDigest answers a digest with the states that differ and the keys this
// node wants (Message, step 2). Under gossip-drop it answers only about
// the keys in the digest.
func (m *Machine) onDigest(msg Message) {
	states := map[string]core.State{}
	var want []string
	if !m.bugs.gossipDrop {
		for _, k := range orderedKeys(m.states) {
			if d, ok := msg.Digest[k]; !ok || d != m.digest(k) {
				states[k] = m.states[k].Clone()
			}
		}
	}
	for _, k := range orderedKeys(msg.Digest) {
		if st, ok := m.states[k]; !ok || m.digest(k) != msg.Digest[k] {
			want = append(want, k)
			if ok {
				states[k] = st.Clone()
			}
		}
	}
	if len(states) == 0 && len(want) == 0 {
		return
	}
	if len(states) == 0 {
		states = nil
	}
	m.messages = append(m.messages, Message{From: m.id, To: msg.From, Type: MsgState, States: states, Want: want})
}

// onState merges the states of a "state" message and sends back the states
// it wants (Message, step 3).
func (m *Machine) onState(now time.Time, msg Message) {
	for _, k := range orderedKeys(msg.States) {
		remote := msg.States[k]
		kind, _, _ := strings.Cut(k, "/")
		local, held := m.states[k]
		if !held {
			var err error
			if local, err = core.NewState(kind); err != nil {
				m.logf("state from %s: key %q: %v", msg.From, k, err)
				continue
			}
		}
		merged, err := core.Merge(local, remote, m.bugs.core)
		if err != nil {
			m.logf("state from %s: key %q: %v", msg.From, k, err)
			continue
		}
		m.observe(now, remote)
		if held && merged.Digest() == m.digest(k) {
			continue
		}
		m.states[k] = merged
		m.markChanged(k)
	}
	if len(msg.Want) == 0 {
		return
	}
	states := map[string]core.State{}
	for _, k := range msg.Want {
		if st, ok := m.states[k]; ok {
			states[k] = st.Clone()
		}
	}
	if len(states) > 0 {
		m.messages = append(m.messages, Message{From: m.id, To: msg.From, Type: MsgState, States: states})
	}
}

// observe moves the HLC past an LWW state's timestamp and the tag sequence
// past this node's tags in an OR-Set state.
func (m *Machine) observe(now time.Time, st core.State) {
	if st.LWW != nil && st.LWW.Value != nil {
		m.hlc.Observe(now.UnixNano(), st.LWW.TS.Wall, st.LWW.TS.Logical)
	}
	if st.Set != nil {
		m.tagSeq = max(m.tagSeq, core.MaxTagSeq(*st.Set, m.id))
	}
}

// Tick tells the machine the node clock reads now. Once a gossip interval
// has passed it sends a digest to one peer drawn from the seeded source. A
// clock that jumped back restarts the interval from its new reading.
func (m *Machine) Tick(now time.Time) {
	if now.Before(m.nextGossip) {
		if m.nextGossip.Sub(now) > m.interval {
			m.nextGossip = now.Add(m.interval)
		}
		return
	}
	m.nextGossip = now.Add(m.interval)
	if len(m.peers) == 0 {
		return
	}
	m.gossip(m.peers[m.rand.IntN(len(m.peers))])
}

// gossip sends peer a digest of every key (Message, step 1). Under
// gossip-drop the digest covers only the keys changed since the last
// digest to peer, and sending it forgets them whether or not the exchange
// completes.
func (m *Machine) gossip(peer string) {
	keys := orderedKeys(m.states)
	if m.bugs.gossipDrop {
		keys = orderedKeys(m.changed[peer])
		delete(m.changed, peer)
		if len(keys) == 0 {
			return
		}
	}
	d := make(map[string]uint64, len(keys))
	for _, k := range keys {
		d[k] = m.digest(k)
	}
	m.messages = append(m.messages, Message{From: m.id, To: peer, Type: MsgDigest, Digest: d})
}

// NextTick is the node clock reading at which the machine next wants Tick.
func (m *Machine) NextTick() time.Time { return m.nextGossip }

// Ready returns what to do since the last Ready, to be carried out in the
// order Batch states; an empty Batch when there is nothing.
func (m *Machine) Ready() Batch {
	var b Batch
	if len(m.dirty) > 0 {
		b.Persist = make(map[string]core.State, len(m.dirty))
		for k := range m.dirty {
			b.Persist[k] = m.states[k].Clone()
		}
	}
	b.Messages, b.Replies = m.messages, m.replies
	m.dirty, m.messages, m.replies = nil, nil, nil
	return b
}

// Snapshot returns a copy of every key's state, by internal key.
func (m *Machine) Snapshot() map[string]core.State {
	out := make(map[string]core.State, len(m.states))
	for k, st := range m.states {
		out[k] = st.Clone()
	}
	return out
}

// markChanged records that key's state changed: to persist, to digest
// anew and, under gossip-drop, to cover in the next digest to each peer.
func (m *Machine) markChanged(key string) {
	if m.dirty == nil {
		m.dirty = map[string]bool{}
	}
	m.dirty[key] = true
	delete(m.digests, key)
	if m.bugs.gossipDrop {
		for _, p := range m.peers {
			if m.changed[p] == nil {
				m.changed[p] = map[string]bool{}
			}
			m.changed[p][key] = true
		}
	}
}

// digest returns the cached digest of key's state.
func (m *Machine) digest(key string) uint64 {
	d, ok := m.digests[key]
	if !ok {
		d = m.states[key].Digest()
		m.digests[key] = d
	}
	return d
}

func orderedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
