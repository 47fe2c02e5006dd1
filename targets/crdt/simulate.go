package crdt

import (
	"encoding/json"
	"fmt"
	"syscall"
	"time"

	"github.com/faultline-io/faultline/history"
	simulator "github.com/faultline-io/faultline/sim"
	"github.com/faultline-io/faultline/targets"
)

// The simulator's package is imported as simulator: this package's tests
// already declare a type sim (machine_test.go).

// SimTarget returns the CRDT target under the simulator (`faultline sim`):
// the same Machine the node shell runs, driven as Node.Run drives it, with
// a MemStorage per node that survives restarts and loses what was not
// synced when a crash is a power loss.
func (Target) SimTarget() simulator.Target { return simTarget{} }

type simTarget struct{}

// NewCluster returns the nodes cfg names, all down. Their clients speak
// the CRDT that serves cfg.Workload.
func (simTarget) NewCluster(w *simulator.World, cfg simulator.ClusterConfig) (simulator.Cluster, error) {
	kind, ok := workloadKinds[cfg.Workload]
	if !ok {
		return nil, fmt.Errorf("crdt sim: no CRDT serves workload %q", cfg.Workload)
	}
	if _, err := parseMachineBugs(cfg.Bugs); err != nil {
		return nil, fmt.Errorf("crdt sim: %w", err)
	}
	c := &simulated{w: w, cfg: cfg, kind: kind, nodes: map[string]*simNode{}}
	for _, id := range cfg.IDs {
		c.nodes[id] = &simNode{stor: &MemStorage{}}
	}
	return c, nil
}

// simulated is the CRDT nodes under the simulator. Each node is driven as
// Node.Run drives its Machine: every event (a tick when the node's timer
// fires, a gossip message, a client request) is handed to the machine at
// the node clock's reading, then the batch is carried out in the order
// Batch states — persist and sync (a failed sync crash-stops the node
// before anything else of the batch), send, answer — and the timer is set
// again for the machine's next tick, clamped to [1 ms, maxTickWait].
// Gossip travels as the JSON body peer.HTTPSender posts, decoded afresh at
// each delivery.
//
// Differences from a real node: the real loop drains whatever else is
// queued into the same batch, while here each event is its own batch (the
// simulator hands events over one at a time); and gossip carries no
// deadline, so a message the World held for a paused node is delivered
// when it resumes, where a real node refuses a POST that arrives past its
// sender's deadline (peer.Expired). Late gossip only helps convergence.
type simulated struct {
	w     *simulator.World
	cfg   simulator.ClusterConfig
	kind  string // the CRDT the clients speak (workloadKinds)
	nodes map[string]*simNode
}

type simNode struct {
	m    *Machine // nil while down
	stor *MemStorage
	// waiting maps the machine's request ids to the calls they answer.
	waiting map[uint64]*simulator.Call
	nextID  uint64
	// starts counts the node's starts; it varies the seed of each
	// incarnation past the first.
	starts uint64
	// The node's timer: armed at virtual time due; a tick whose gen is
	// not timerGen was reset since it was set, as Node.Run's timer.Reset
	// does, and does nothing.
	timerGen uint64
	due      time.Duration
	armed    bool
}

// Start restores id's machine from its storage and starts its timer, which
// fires at once as Node.Run's does. The disk works again: a restarted
// process's disk seam starts in its normal mode, and the World calls
// SetEIO after Start when the fault is still on (it calls SetEIO only for
// up nodes, so a node that crash-stopped under EIO would otherwise come
// back failing every write after the heal).
// RoundRobin implements simulator.RoundRobin: every node serves reads and
// writes, and Client sends each operation to the next node in turn.
func (c *simulated) RoundRobin() {}

func (c *simulated) Start(id string) error {
	n := c.nodes[id]
	n.stor.SyncErr = nil
	state, err := n.stor.Open()
	if err != nil {
		return err
	}
	n.starts++
	// The first incarnation has the seed a real run's node gets
	// (harness: targets.NodeSeed); a restart draws another stream.
	m, err := NewMachine(MachineConfig{ID: id, Peers: c.cfg.IDs, Seed: targets.NodeSeed(c.cfg.Seed, id) + n.starts - 1,
		Now: c.w.Now(id), Bugs: c.cfg.Bugs, State: state})
	if err != nil {
		return err
	}
	n.m, n.waiting, n.nextID, n.armed = m, map[uint64]*simulator.Call{}, 0, false
	c.setTimer(id, 0)
	return nil
}

// Stop drops id's machine (its timer and the events addressed to it die
// with it in the World) and, for a power loss, what it wrote but did not
// sync.
func (c *simulated) Stop(id string, loseUnsynced bool) {
	n := c.nodes[id]
	n.m, n.waiting, n.armed = nil, nil, false
	if loseUnsynced {
		n.stor.LoseUnsynced()
	}
}

// Deliver hands to the gossip a peer sent: the JSON body of a POST to
// GossipPath, decoded afresh as handleGossip decodes it, so a duplicated
// message never shares state with its twin or with its sender.
func (c *simulated) Deliver(to string, msg any) {
	n := c.nodes[to]
	var msgs []Message
	if err := json.Unmarshal(msg.([]byte), &msgs); err != nil {
		panic(fmt.Sprintf("crdt sim: %s got a gossip body it cannot decode: %v", to, err))
	}
	n.m.Step(c.w.Now(to), msgs)
	c.process(to)
}

// Request hands id a client operation, as Client.Invoke builds it and
// handleOp passes it on.
func (c *simulated) Request(id string, call *simulator.Call) {
	n := c.nodes[id]
	req := Request{Kind: c.kind, F: call.Op.F, Key: call.Op.Key}
	if call.Op.F != "read" {
		req.Value = call.Op.Value
	}
	n.nextID++
	n.waiting[n.nextID] = call
	n.m.Request(c.w.Now(id), n.nextID, req)
	c.process(id)
}

// Role answers none: every CRDT node plays the same part.
func (c *simulated) Role(role string) (string, error) {
	return "", fmt.Errorf("crdt has no role %q (it has no roles)", role)
}

// SetEIO makes every sync of id's storage fail with EIO, or work again.
func (c *simulated) SetEIO(id string, on bool) {
	c.nodes[id].stor.SyncErr = nil
	if on {
		c.nodes[id].stor.SyncErr = syscall.EIO
	}
}

// Healthy is Target.Healthy on the simulated nodes: every node answers.
func (c *simulated) Healthy() bool {
	for _, id := range c.cfg.IDs {
		if !c.w.Reachable(id) {
			return false
		}
	}
	return true
}

// tick is the node's timer firing: Tick at the clock's reading, unless the
// timer was reset (or the node restarted) since.
func (c *simulated) tick(id string, gen uint64) {
	n := c.nodes[id]
	if n.m == nil || !n.armed || gen != n.timerGen {
		return
	}
	n.armed = false
	n.m.Tick(c.w.Now(id))
	c.process(id)
}

// process carries out id's batch as Node.Run does: persist, send, answer,
// then set the timer for the machine's next tick.
func (c *simulated) process(id string) {
	n := c.nodes[id]
	b := n.m.Ready()
	if err := n.stor.Save(b.Persist); err != nil {
		// Nothing of this batch leaves the node: it crash-stops, and its
		// clients see their connections reset (info, as the real
		// node's "stopping" answer is).
		c.w.CrashStop(id, err)
		return
	}
	for _, msg := range b.Messages {
		body, err := json.Marshal([]Message{msg}) // as peer.HTTPSender posts it
		if err != nil {
			panic(fmt.Sprintf("crdt sim: %s cannot encode a gossip message: %v", id, err))
		}
		c.w.Send(msg.From, msg.To, body)
	}
	for _, r := range b.Replies {
		if call := n.waiting[r.ID]; call != nil {
			delete(n.waiting, r.ID)
			c.w.Answer(call, simAnswer(call.Op.F, r.Resp))
		}
	}
	wait := n.m.NextTick().Sub(c.w.Now(id))
	c.setTimer(id, min(max(wait, time.Millisecond), maxTickWait))
}

// setTimer (re)sets id's timer to fire after d, as timer.Reset does; a
// timer already due at that time is kept rather than set again.
func (c *simulated) setTimer(id string, d time.Duration) {
	n := c.nodes[id]
	due := c.w.Elapsed() + d
	if n.armed && n.due == due {
		return
	}
	n.timerGen++
	n.armed, n.due = true, due
	gen := n.timerGen
	c.w.After(id, d, func() { c.tick(id, gen) })
}

// simAnswer classifies a node's answer as Client.Invoke does: ok; a
// definite error, or any error on a read, fails; any other error is info.
// Every answer moves the worker on to the next node, as Client.Invoke
// sends each operation to the next node in turn.
func simAnswer(f string, resp Response) simulator.Answer {
	switch {
	case resp.OK:
		a := simulator.Answer{Type: history.OK, MoveOn: true}
		if f == "read" {
			a.Value = resp.Value
			if len(a.Value) == 0 {
				a.Value = json.RawMessage("null")
			}
		}
		return a
	case resp.Definite || f == "read":
		return simulator.Answer{Type: history.Fail, Error: resp.Error, MoveOn: true}
	default:
		return simulator.Answer{Type: history.Info, Error: resp.Error, MoveOn: true}
	}
}

var (
	_ simulator.Cluster   = (*simulated)(nil)
	_ simulator.Healthier = (*simulated)(nil)
)
