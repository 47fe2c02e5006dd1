package raft

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"syscall"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/sim"
	"github.com/faultline-io/faultline/targets"
	"github.com/faultline-io/faultline/targets/raft/core"
)

// SimTarget returns the Raft target under the simulator (`faultline sim`):
// the same Machine the node shell runs, driven as Node.Run drives it, with
// a MemStorage per node that survives restarts and loses what was not
// synced when a crash is a power loss.
func (Target) SimTarget() sim.Target { return simTarget{} }

type simTarget struct{}

func (simTarget) NewCluster(w *sim.World, cfg sim.ClusterConfig) (sim.Cluster, error) {
	c := &simulated{w: w, cfg: cfg, nodes: map[string]*simulatedNode{},
		rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x7261_6674))}
	for _, id := range cfg.IDs {
		c.peers = append(c.peers, cluster.Peer{ID: id, Addr: id})
		c.nodes[id] = &simulatedNode{stor: &MemStorage{}}
	}
	return c, nil
}

// simulated carries out the Batch contract for every node as Node.Run
// does: persist (a failed sync crash-stops the node), send, answer.
type simulated struct {
	w     *sim.World
	cfg   sim.ClusterConfig
	peers []cluster.Peer
	nodes map[string]*simulatedNode
	rng   *rand.Rand // tick phases
}

type simulatedNode struct {
	m       *Machine
	stor    *MemStorage
	waiting map[uint64]*sim.Call
	nextID  uint64
	starts  uint64
}

func (c *simulated) Start(id string) error {
	n := c.nodes[id]
	hs, snap, ents, err := loadWALSnapshot(n.stor)
	if err != nil {
		return err
	}
	n.starts++
	m, err := NewMachine(MachineConfig{ID: id, Peers: c.peers, Snapshot: snap, HardState: hs, Entries: ents,
		Seed: targets.NodeSeed(c.cfg.Seed, id) + n.starts, Now: c.w.Now(id), Bugs: c.cfg.Bugs})
	if err != nil {
		return err
	}
	n.m, n.waiting = m, map[uint64]*sim.Call{}
	var tick func()
	tick = func() {
		n.m.Tick(c.w.Now(id))
		c.process(id)
		c.w.After(id, DefaultTick, tick)
	}
	// Nodes tick out of phase with each other, as processes do.
	c.w.After(id, time.Duration(c.rng.Int64N(int64(DefaultTick))), tick)
	return nil
}

func (c *simulated) Stop(id string, loseUnsynced bool) {
	n := c.nodes[id]
	n.m, n.waiting = nil, nil
	if loseUnsynced {
		n.stor.LoseUnsynced()
	}
}

func (c *simulated) Deliver(to string, msg any) {
	// A message's Entries may be shared (with the sender's log, and by
	// the copies of a duplicated message): the log never writes an entry
	// in place (it appends to fresh arrays and caps the slices it hands
	// out), and a receiver copies what it appends, so no copy is needed.
	c.nodes[to].m.Step([]core.Message{msg.(core.Message)})
	c.process(to)
}

func (c *simulated) Request(id string, call *sim.Call) {
	n := c.nodes[id]
	op, err := ParseKVRequest(KVRequest{F: call.Op.F, Key: call.Op.Key, Value: call.Op.Value})
	if err != nil {
		c.w.Answer(call, sim.Answer{Type: history.Fail, Error: ErrCodeBadRequest + ": " + err.Error()})
		return
	}
	n.nextID++
	n.waiting[n.nextID] = call
	n.m.Request(c.w.Now(id), n.nextID, op)
	c.process(id)
}

func (c *simulated) SetEIO(id string, on bool) {
	c.nodes[id].stor.SyncErr = nil
	if on {
		c.nodes[id].stor.SyncErr = syscall.EIO
	}
}

// Role answers "leader" as Target.ResolveRole does, from the statuses of
// the nodes that would answer (up and not paused).
func (c *simulated) Role(role string) (string, error) {
	if role != RoleLeader {
		return "", fmt.Errorf("raft has no role %q (roles: %s)", role, RoleLeader)
	}
	return leaderOf(c.statuses(), len(c.cfg.IDs))
}

// Healthy is Target.Healthy on the simulated nodes.
func (c *simulated) Healthy() bool { return healthyOf(c.statuses(), len(c.cfg.IDs)) == nil }

func (c *simulated) statuses() map[string]StatusResponse {
	sts := map[string]StatusResponse{}
	for _, id := range c.cfg.IDs {
		if c.w.Reachable(id) {
			sts[id] = c.nodes[id].m.Status()
		}
	}
	return sts
}

// process carries out id's batches in order until the machine has none.
func (c *simulated) process(id string) {
	n := c.nodes[id]
	for i := 0; n.m != nil && n.m.HasReady(); i++ {
		if i > 1000 {
			panic(fmt.Sprintf("raft sim: %s never settles", id))
		}
		b, _ := n.m.Ready(c.w.Now(id))
		if err := b.Persist(n.stor); err != nil {
			// Nothing of this batch leaves the node: it crash-stops,
			// and its clients see their connections reset.
			c.w.CrashStop(id, err)
			return
		}
		voted, sent := false, time.Duration(0)
		for _, msg := range b.Messages {
			d := c.w.Send(msg.From, msg.To, msg)
			if msg.Type == core.MsgVoteResp && !msg.Reject {
				voted, sent = true, max(sent, d)
			}
		}
		if voted && c.w.Point(id, "vote", sent) {
			return // stopped right after its vote went out
		}
		for _, r := range b.Replies {
			if call := n.waiting[r.ID]; call != nil {
				delete(n.waiting, r.ID)
				c.w.Answer(call, simAnswer(id, call.Op.F, r.Resp))
			}
		}
	}
}

// simAnswer classifies a node's answer as Client.Invoke does.
func simAnswer(self, f string, kr KVResponse) sim.Answer {
	switch {
	case kr.OK:
		a := sim.Answer{Type: history.OK}
		if f == "read" {
			a.Value = kr.Value
			if len(a.Value) == 0 {
				a.Value = json.RawMessage("null")
			}
		}
		return a
	case kr.Error == ErrCodeNotLeader:
		msg := "not-leader"
		if kr.Leader != "" {
			msg += " (leader " + kr.Leader + ")"
		}
		a := sim.Answer{Type: history.Fail, Error: msg, Redirect: kr.Leader}
		if kr.Leader == "" || kr.Leader == self {
			a.Redirect, a.MoveOn = "", true
		}
		return a
	case kr.Definite || f == "read":
		return sim.Answer{Type: history.Fail, Error: kr.Error, MoveOn: !kr.Definite}
	default:
		return sim.Answer{Type: history.Info, Error: kr.Error, MoveOn: true}
	}
}
