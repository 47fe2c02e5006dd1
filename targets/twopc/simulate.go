package twopc

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/faultline-io/faultline/history"
	simulator "github.com/faultline-io/faultline/sim"
	"github.com/faultline-io/faultline/targets"
	"github.com/faultline-io/faultline/workloads"
)

// The simulator's package is imported as simulator: this package's tests
// have their own small simulator named sim.

type simTarget struct{}

// NewCluster builds the nodes of a simulated twopc cluster, all down, each
// with a MemStorage that outlives its restarts. The coordinator is the
// lowest id, as NodeCommand makes it.
func (simTarget) NewCluster(w *simulator.World, cfg simulator.ClusterConfig) (simulator.Cluster, error) {
	if len(cfg.IDs) < 2 {
		return nil, fmt.Errorf("twopc needs at least 2 nodes (a coordinator and a participant), got %d", len(cfg.IDs))
	}
	if cfg.Workload != "bank" && cfg.Workload != "register" {
		return nil, fmt.Errorf("twopc has no workload %q (bank, register)", cfg.Workload)
	}
	if _, err := parseMachineBugs(cfg.Bugs); err != nil {
		return nil, err
	}
	c := &simulated{w: w, cfg: cfg, coord: coordinatorOf(cfg.IDs), nodes: map[string]*simulatedNode{},
		client: &Client{workload: cfg.Workload}}
	for _, id := range cfg.IDs {
		c.nodes[id] = &simulatedNode{log: &MemStorage{}}
	}
	return c, nil
}

// simulated drives every node's Machine as Node.Run does: each event (a
// tick of the node's timer, a peer message, a client request) is given
// the node clock's reading, then the Batch is carried out in the order it
// states — append (an fsync that fails crash-stops the node), send,
// answer — and the timer is set to the machine's NextTick, within
// [1 ms, maxTickWait] of now. Client answers are classified as Client
// does (simAnswer), an indefinite one resolved by outcome queries within
// the op's deadline.
type simulated struct {
	w      *simulator.World
	cfg    simulator.ClusterConfig
	coord  string
	nodes  map[string]*simulatedNode
	client *Client // only its request (op → Request) is used
	// reqs numbers the request ids (Request.ID, kept in the call's
	// RequestID for resolving it) of transfers, writes and cas, unique over
	// the run as a real client's are.
	reqs uint64
}

type simulatedNode struct {
	m       *Machine // nil while down
	log     *MemStorage
	waiting map[uint64]simWait // by the machine's request id
	nextID  uint64
	starts  uint64
	// timer is the generation of the node's one pending tick: setting
	// the timer again makes earlier ticks stale, as Timer.Reset does.
	timer uint64
}

// simWait is a request the machine will answer: a client's call, or an
// outcome query on its behalf (resolving set).
type simWait struct {
	call      *simulator.Call
	req       Request
	resolving *simResolve
}

// simResolve is a call whose answer was indefinite, being resolved as
// Client.resolve does.
type simResolve struct {
	cause string // the indefinite answer's error
	last  string // the last outcome query's error
}

func (c *simulated) Start(id string) error {
	n := c.nodes[id]
	n.starts++
	m, err := NewMachine(MachineConfig{ID: id, Coordinator: c.coord, Nodes: c.cfg.IDs,
		Accounts: workloads.BankAccounts, InitialBalance: workloads.BankInitialBalance,
		Seed: targets.NodeSeed(c.cfg.Seed, id) + n.starts, Now: c.w.Now(id), Bugs: c.cfg.Bugs,
		Log: n.log.Records()})
	if err != nil {
		return err
	}
	n.m, n.waiting = m, map[uint64]simWait{}
	// Node.Run's timer fires at once: the first Batch (the coordinator's
	// incarnation record, a participant's status queries) goes out at the
	// first tick, after the World has set the node's disk faults.
	c.setTimer(id, 0)
	return nil
}

func (c *simulated) Stop(id string, loseUnsynced bool) {
	n := c.nodes[id]
	// Outcome queries it was answering are asked again, as the client's
	// next try after its connection broke.
	for _, rid := range slices.Sorted(maps.Keys(n.waiting)) {
		if wt := n.waiting[rid]; wt.resolving != nil {
			c.w.Later(ResolveRetry, func() { c.query(wt) })
		}
	}
	n.m, n.waiting = nil, nil
	if loseUnsynced {
		n.log.LoseUnsynced()
	}
}

func (c *simulated) Deliver(to string, msg any) {
	n := c.nodes[to]
	if n.m == nil {
		return
	}
	// A copy, as the transport's JSON decoding makes one: a duplicated
	// message shares nothing with its twin.
	n.m.Step(c.w.Now(to), []Message{cloneMessage(msg.(Message))})
	c.carryOut(to)
}

func (c *simulated) Request(id string, call *simulator.Call) {
	req, err := c.client.request(call.Op)
	if err != nil {
		c.w.Answer(call, simulator.Answer{Type: history.Fail, Error: err.Error()})
		return
	}
	if call.Op.F != "read" {
		c.reqs++
		req.ID = fmt.Sprintf("sim-%d", c.reqs)
		call.RequestID = req.ID
	}
	c.ask(id, simWait{call: call, req: req})
}

// ask hands node id's machine a request, as Node.request does, and
// carries out the Batch.
func (c *simulated) ask(id string, wt simWait) {
	n := c.nodes[id]
	if n.m == nil {
		return
	}
	n.nextID++
	n.waiting[n.nextID] = wt
	n.m.Request(c.w.Now(id), n.nextID, wt.req)
	c.carryOut(id)
}

func (c *simulated) SetEIO(id string, on bool) { c.nodes[id].log.EIO = on }

// Role answers "coordinator" as Target.ResolveRole does: the lowest id,
// fixed at start.
func (c *simulated) Role(role string) (string, error) {
	if role != RoleCoordinator {
		return "", fmt.Errorf("twopc has no role %q (roles: %s)", role, RoleCoordinator)
	}
	return c.coord, nil
}

// Healthy is Target.Healthy on the simulated nodes: every node serves
// (up and not paused).
func (c *simulated) Healthy() bool {
	for _, id := range c.cfg.IDs {
		if !c.w.Reachable(id) {
			return false
		}
	}
	return true
}

// Stats is Target.TargetStats on the simulated nodes: every serving node's
// NodeStats by id; the others are left out and named in the error, as
// peer.EachNode names them.
func (c *simulated) Stats() ([]byte, error) {
	out := map[string]NodeStats{}
	var failed []string
	for _, id := range c.cfg.IDs {
		n := c.nodes[id]
		if !c.w.Reachable(id) || n.m == nil {
			failed = append(failed, id+": not serving")
			continue
		}
		st := n.m.Stats()
		out[id] = NodeStats{InDoubt: st.InDoubt, BlockedNS: st.BlockedNanos, Decided: st.Decided}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	if len(failed) > 0 {
		return b, fmt.Errorf("stats: %d of %d nodes: %s", len(failed), len(c.cfg.IDs), strings.Join(failed, "; "))
	}
	return b, nil
}

// setTimer (re)sets node id's tick timer to fire after d.
func (c *simulated) setTimer(id string, d time.Duration) {
	n := c.nodes[id]
	n.timer++
	gen := n.timer
	c.w.After(id, d, func() {
		if n.timer != gen || n.m == nil {
			return
		}
		n.m.Tick(c.w.Now(id))
		c.carryOut(id)
	})
}

// carryOut carries out node id's Batch in the order Batch states, as
// Node.Run does after each event, and sets the node's timer.
func (c *simulated) carryOut(id string) {
	n := c.nodes[id]
	b := n.m.Ready()
	if err := n.log.Append(b.Persist, b.Fsync); err != nil {
		// Nothing more of the batch happens: the node exits, and its
		// clients see their connections reset.
		c.w.CrashStop(id, err)
		return
	}
	for _, msg := range b.Messages {
		c.w.Send(id, msg.To, msg)
	}
	for _, rp := range b.Replies {
		wt, ok := n.waiting[rp.ID]
		if !ok {
			continue
		}
		delete(n.waiting, rp.ID)
		c.answered(id, wt, rp.Resp)
	}
	wait := n.m.NextTick().Sub(c.w.Now(id))
	c.setTimer(id, min(max(wait, time.Millisecond), maxTickWait))
}

// answered classifies the machine's answer to wt as Client does.
func (c *simulated) answered(id string, wt simWait, resp Response) {
	if r := wt.resolving; r != nil {
		c.outcome(id, wt, resp)
		return
	}
	c.w.Answer(wt.call, simAnswer(id, wt.call.Op.F, resp))
}

// ResolveFor is Client's: how long it asks for an in-doubt outcome.
func (c *simulated) ResolveFor() time.Duration { return ResolveFor }

// Resolve asks the coordinator for the outcome of call.Prev's request, as
// Client.resolve does after an indefinite answer (an error, a timeout, a
// connection reset), every ResolveRetry until it learns it or call's
// deadline passes.
func (c *simulated) Resolve(call *simulator.Call, cause simulator.Answer) {
	id := call.Prev.RequestID
	if id == "" {
		c.w.Answer(call, cause)
		return
	}
	call.RequestID = id
	c.query(simWait{call: call, req: Request{F: FOutcome, ID: id}, resolving: &simResolve{cause: cause.Error}})
}

// query sends an outcome query to the coordinator over the network: held
// while it is paused, asked again after ResolveRetry while it is down.
func (c *simulated) query(wt simWait) {
	if c.w.Elapsed() >= wt.call.Deadline {
		return // the client has given up
	}
	if !c.w.Up(c.coord) {
		c.w.Later(ResolveRetry, func() { c.query(wt) })
		return
	}
	c.w.After(c.coord, c.w.Latency(), func() { c.ask(c.coord, wt) })
}

// outcome handles the answer to an outcome query as Client.resolve does:
// ok, a definite failure, or another query after ResolveRetry, until
// ResolveFor after the indefinite answer (the resolving call's deadline);
// then the op is info.
func (c *simulated) outcome(id string, wt simWait, resp Response) {
	r := wt.resolving
	switch {
	case resp.OK:
		c.w.Answer(wt.call, simulator.Answer{Type: history.OK})
		return
	case resp.Definite:
		c.w.Answer(wt.call, simulator.Answer{Type: history.Fail,
			Error: fmt.Sprintf("%s (outcome asked after %s)", resp.Error, r.cause)})
		return
	}
	r.last = resp.Error
	if c.w.Elapsed()+ResolveRetry >= wt.call.Deadline {
		c.w.Answer(wt.call, simulator.Answer{Type: history.Info,
			Error: fmt.Sprintf("%s; outcome unknown after %s: %s", r.cause, ResolveFor, r.last)})
		return
	}
	c.w.Later(ResolveRetry, func() { c.query(wt) })
}

// simAnswer classifies a node's answer as Client.Invoke does: ok (a read
// with its value, null when empty); not-coordinator redirects to the
// coordinator; a definite error, or any error of a read, fails; any other
// error is indefinite (info, which the caller resolves first).
func simAnswer(self, f string, r Response) simulator.Answer {
	switch {
	case r.OK:
		a := simulator.Answer{Type: history.OK}
		if f == "read" {
			a.Value = r.Value
			if len(a.Value) == 0 {
				a.Value = json.RawMessage("null")
			}
		}
		return a
	case r.Error == ErrNotCoordinator:
		a := simulator.Answer{Type: history.Fail, Error: r.Error, Redirect: r.Coordinator}
		if r.Coordinator == "" || r.Coordinator == self {
			a.Redirect, a.MoveOn = "", true
		}
		return a
	case r.Definite || f == "read":
		return simulator.Answer{Type: history.Fail, Error: r.Error}
	default:
		return simulator.Answer{Type: history.Info, Error: r.Error}
	}
}

// cloneMessage deep-copies msg.
func cloneMessage(msg Message) Message {
	msg.Ops = cloneOps(msg.Ops)
	if msg.Values != nil {
		vs := make([]*int64, len(msg.Values))
		for i, v := range msg.Values {
			if v != nil {
				x := *v
				vs[i] = &x
			}
		}
		msg.Values = vs
	}
	return msg
}
