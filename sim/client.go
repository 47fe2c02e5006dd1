package sim

import (
	"encoding/json"
	"math/rand"
	"slices"
	"time"

	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/workloads"
)

// Call is one client request at one node. The node answers it with
// World.Answer; an answer to a call that already ended (timed out, or its
// node crashed) is ignored.
type Call struct {
	// Op is the invocation: F, Key and Value as the workload made them.
	Op history.Op
	// Deadline is the virtual time by which the client gives up, for
	// nodes that bound their own work by the client's deadline.
	Deadline time.Duration
	// Prev, on a call made to resolve an indefinite answer (Resolver),
	// is the call that got it.
	Prev *Call
	// RequestID is the cluster's own id for the request it made of this
	// call, if any (twopc's transfer ids): a Resolver reads Prev's.
	RequestID string

	id   uint64
	c    *clientCall
	node string
}

// Answer is a node's answer to a Call.
type Answer struct {
	// Type is history.OK, history.Fail (certainly not applied) or
	// history.Info (may have been applied).
	Type  history.Type
	Value json.RawMessage // a read's value
	Error string
	// Redirect names the node to ask instead (a not-leader hint): the
	// client follows it, within its hop limit, as the real clients do.
	Redirect string
	// MoveOn tells the client to talk to another node from now on (the
	// node cannot serve it, and knows no better one).
	MoveOn bool
}

// Resolver is implemented by clusters whose clients, after an indefinite
// answer to an operation that changes state (a timeout, a reset
// connection, an indefinite error), ask the system what became of it, as
// twopc's client asks the coordinator for a transfer's outcome.
type Resolver interface {
	// ResolveFor is how long after the indefinite answer the client
	// keeps asking.
	ResolveFor() time.Duration
	// Resolve asks what became of the operation of call.Prev, whose
	// answer was cause. The cluster answers call with World.Answer: OK or
	// Fail once it knows, Info when it gives up; by call.Deadline the
	// client gives up and records cause.
	Resolve(call *Call, cause Answer)
}

// RoundRobin is implemented by clusters of leaderless targets whose
// clients send each operation to the next node in turn, as crdt's client
// does, instead of staying on one node, following leader hints and
// probing another node with every ProbeEvery-th read.
type RoundRobin interface {
	RoundRobin()
}

// Client behaviour, as the bundled HTTP clients behave.
const (
	// ProbeEvery sends every ProbeEvery-th read of a worker to another
	// node in turn, so that nodes the worker does not talk to are read too.
	ProbeEvery = 4
	maxHops    = 2
	// refusedAfter is how soon a request to a down node is refused.
	refusedAfter = 100 * time.Microsecond
)

// clientCall is one operation in flight, over one or more hops.
type clientCall struct {
	op    history.Op // the invocation as recorded
	start time.Duration
	idx   int // node index of the current hop
	hop   int
	hopID uint64
	done  bool
	call  *Call // the current hop's
	// resolving is set once an indefinite answer is being resolved.
	resolving bool
	finish    func(res history.Op)
	timeout   time.Duration
	// What the worker learns: the node a redirect named (-1: none),
	// whether to move to another node, and how long to wait first.
	lead   int
	moveOn bool
	pause  time.Duration
}

// clients runs the workers and the final reads on a World.
type clients struct {
	w      *World
	record func(history.Op)
	calls  map[uint64]*Call // in flight by call id
	nextID uint64
	// opTimeout bounds each operation.
	opTimeout time.Duration
}

func newClients(w *World, record func(history.Op), opTimeout time.Duration) *clients {
	cs := &clients{w: w, record: record, calls: map[uint64]*Call{}, opTimeout: opTimeout}
	w.onCrash, w.clients = cs.crashed, cs
	return cs
}

// invoke records op's invocation at node index idx, performs it and calls
// done with its completion (already recorded).
func (cs *clients) invoke(op history.Op, idx int, done func(res history.Op, c *clientCall)) {
	op.Type, op.Time = history.Invoke, int64(cs.w.now)
	cs.record(op)
	c := &clientCall{op: op, start: cs.w.now, idx: idx, timeout: cs.opTimeout, lead: -1}
	c.finish = func(res history.Op) {
		res.Process, res.F, res.Key, res.Final, res.Time = op.Process, op.F, op.Key, op.Final, int64(cs.w.now)
		cs.record(res)
		done(res, c)
	}
	cs.w.at(c.timeout, func() {
		if !c.resolving {
			cs.end(c, Answer{Type: history.Info, Error: "timeout"}, true)
		}
	})
	cs.hop(c)
}

// hop sends c to node c.idx.
func (cs *clients) hop(c *clientCall) {
	id := cs.w.ids[c.idx]
	n := cs.w.nodes[id]
	cs.nextID++
	c.hopID = cs.nextID
	call := &Call{Op: c.op, Deadline: c.start + c.timeout, id: c.hopID, c: c, node: id}
	c.call = call
	if !n.up {
		cs.w.at(refusedAfter, func() {
			if c.hopID == call.id {
				cs.end(c, Answer{Type: history.Fail, Error: "connection refused", MoveOn: true}, false)
			}
		})
		return
	}
	cs.calls[call.id] = call
	epoch := n.epoch
	cs.w.at(cs.w.latency(), func() {
		if c.done || c.hopID != call.id {
			return
		}
		if !n.up || n.epoch != epoch {
			cs.end(c, Answer{Type: history.Info, Error: "connection reset", MoveOn: true}, true)
			return
		}
		cs.w.onNode(n, epoch, func() { cs.w.cluster.Request(id, call) })
	})
}

// Answer delivers a node's answer to call, after a network delay.
func (w *World) Answer(call *Call, a Answer) {
	c := call.c
	if c == nil || c.done {
		return
	}
	w.at(w.latency(), func() {
		if c.hopID == call.id && !c.done {
			w.clients.answered(c, call, a)
		}
	})
}

// answered ends c's hop with a, or follows a redirect.
func (cs *clients) answered(c *clientCall, call *Call, a Answer) {
	delete(cs.calls, call.id)
	if a.Redirect != "" && a.Type == history.Fail {
		if i := slices.Index(cs.w.ids, a.Redirect); i >= 0 && i != c.idx {
			c.lead = i
			if c.hop < maxHops && cs.w.now-c.start < c.timeout-100*time.Millisecond {
				c.hop++
				c.idx = i
				cs.hop(c)
				return
			}
		} else {
			a.MoveOn = true // a hint to itself or to no node: go elsewhere
		}
	}
	cs.end(c, a, true)
}

// crashed ends every call in flight on node id, as a connection reset
// ends them.
func (cs *clients) crashed(id string) {
	var ids []uint64
	for cid, call := range cs.calls {
		if call.node == id {
			ids = append(ids, cid)
		}
	}
	slices.Sort(ids)
	for _, cid := range ids {
		call := cs.calls[cid]
		delete(cs.calls, cid)
		if call.c.hopID == cid {
			cs.end(call.c, Answer{Type: history.Info, Error: "connection reset", MoveOn: true}, true)
		}
	}
}

// end completes c with a: sent says the request reached the node, so a
// write may have happened. Reads that fail in doubt are failures: they
// changed nothing. A write in doubt is first resolved (Resolver), once:
// the resolving call's answer, or its deadline, ends c.
func (cs *clients) end(c *clientCall, a Answer, sent bool) {
	if c.done {
		return
	}
	if rs, ok := cs.w.cluster.(Resolver); ok && a.Type == history.Info && sent && c.op.F != "read" && !c.resolving && c.call != nil {
		// Ask what became of it, as the real client does; the answer to
		// the resolving call ends c.
		c.resolving = true
		cs.nextID++
		c.hopID = cs.nextID
		rc := &Call{Op: c.op, Deadline: cs.w.now + rs.ResolveFor(), Prev: c.call, id: c.hopID, c: c}
		cs.w.at(rs.ResolveFor(), func() {
			if c.hopID == rc.id {
				a.Error += "; outcome unknown after " + rs.ResolveFor().String()
				cs.end(c, a, true)
			}
		})
		rs.Resolve(rc, a)
		return
	}
	c.done = true
	res := history.Op{Type: a.Type, Node: cs.w.ids[c.idx], Error: a.Error}
	c.moveOn = a.MoveOn
	switch {
	case a.Type == history.OK:
		res.Value = a.Value
	case a.Type == history.Info && (!sent || c.op.F == "read"):
		res.Type = history.Fail
		c.moveOn = true
	case a.Type != history.Fail && a.Type != history.Info:
		res.Type, res.Error = history.Info, "node answered type "+string(a.Type)+"; recorded as info"
	}
	if res.Type == history.Fail && c.moveOn && c.lead < 0 {
		c.pause = 20 * time.Millisecond
	}
	c.finish(res)
}

// worker issues one worker's operations until end, at its share of rate.
type worker struct {
	cs      *clients
	stream  workloads.Stream
	rng     *rand.Rand
	process history.Process
	workers int
	cur     int
	reads   int
	probes  int
	// roundRobin: each op goes to the next node (see RoundRobin).
	roundRobin bool
	every      time.Duration
	end        time.Duration
	next       time.Duration
	stopped    func()
}

func (wk *worker) issue() {
	w := wk.cs.w
	if w.now >= wk.end {
		wk.stopped()
		return
	}
	op := wk.stream.Next(wk.rng)
	op.Process = wk.process
	idx := wk.cur
	switch {
	case wk.roundRobin:
		wk.cur = (wk.cur + 1) % len(w.ids)
	case op.F == "read" && len(w.ids) > 1:
		if wk.reads++; wk.reads%ProbeEvery == 0 {
			idx = (wk.cur + 1 + wk.probes%(len(w.ids)-1)) % len(w.ids)
			wk.probes++
		}
	}
	wk.cs.invoke(op, idx, func(res history.Op, c *clientCall) {
		if res.Type == history.Info {
			// A process that got info never issues again (DESIGN.md §4).
			wk.process += history.Process(wk.workers)
		}
		switch {
		case wk.roundRobin:
		case c.lead >= 0:
			wk.cur = c.lead
		case c.moveOn && c.idx == wk.cur:
			wk.cur = (wk.cur + 1) % len(w.ids)
		}
		pause := c.pause
		wk.next += wk.every
		if behind := w.now - wk.next; behind > wk.every {
			wk.next = w.now
		}
		w.at(max(wk.next-w.now, pause), wk.issue)
	})
}
