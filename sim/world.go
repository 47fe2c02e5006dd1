// Package sim is faultline's deterministic simulator: every node of a
// bundled target in one goroutine, on a simulated network, clocks and
// disks, driven by one seeded random source and a virtual clock that jumps
// to the next event (DESIGN.md §6.1). One seed gives one execution: the
// same events in the same order, the same history.
//
// A target takes part by implementing Target: it builds a Cluster of its
// deterministic node layers (the same code real nodes run) over a World,
// which owns time, the network, the nodes' clocks and their up, down and
// paused states. Run drives a test on it: clients from the same workload
// generators as real runs, faults from the same schedules and scenario
// files (resolved by nemesis.ResolveForSim), and history ops in the same
// format, timed in virtual nanoseconds since the test started.
package sim

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/faultline-io/faultline/targets/seam"
)

// Epoch is the true (virtual) wall time at which every simulation starts.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Target is a bundled target's protocol logic under simulation.
type Target interface {
	// NewCluster returns the target's nodes, all down; Run starts them.
	NewCluster(w *World, cfg ClusterConfig) (Cluster, error)
}

// ClusterConfig is what a Target needs to build its nodes.
type ClusterConfig struct {
	IDs      []string // sorted node ids
	Bugs     []string // seeded bugs to switch on
	Seed     int64    // the run's seed; node seeds derive from it
	Workload string
}

// Cluster is a target's nodes under the simulator. Every method is called
// from the simulator's one goroutine, and only for the nodes it names as
// the World states (Start for a down node, the others for an up one).
type Cluster interface {
	// Start starts node id from what its storage kept (empty at first):
	// a first start or a restart after Stop or a crash-stop.
	Start(id string) error
	// Stop stops node id at once, as SIGKILL does. With loseUnsynced the
	// writes it did not sync are lost (a power loss, or the storage seam's
	// lose-unsynced mode); else the page cache keeps them.
	Stop(id string, loseUnsynced bool)
	// Deliver hands node to a message another node sent with World.Send.
	// A duplicated message is delivered twice: Deliver must not change it.
	Deliver(to string, msg any)
	// Request hands node id a client operation; the node answers it with
	// World.Answer, at once or later, or never (a crash ends it).
	Request(id string, c *Call)
	// Role returns the node playing role now ("leader", "coordinator"),
	// or an error when none does.
	Role(role string) (string, error)
	// SetEIO makes every disk write and sync of node id fail (on) or work
	// again. A node whose write fails crash-stops through World.CrashStop.
	// It may be called for a node that is down: its disk outlives it. A
	// node started while the fault lasts gets SetEIO(id, true) after Start.
	SetEIO(id string, on bool)
}

// StatsReporter is implemented by clusters whose nodes measure what no
// client sees (targets.StatsReporter in real runs).
type StatsReporter interface {
	Stats() ([]byte, error)
}

// node is the World's view of one node.
type node struct {
	id     string
	up     bool
	paused bool
	epoch  int      // bumped at every stop, so that stale events are dropped
	held   []func() // events that arrived while paused, in order
	clock  *seam.Clock
	msgs   *seam.Messages
	eio    bool
	// crashAt counts the crash-point faults armed on the node by point;
	// crashDown is how long the latest keeps it down.
	crashAt   map[string]int
	crashDown map[string]time.Duration
}

type event struct {
	at  time.Duration
	seq uint64
	run func()
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// World owns virtual time, the network between nodes and each node's
// clock and state. It is not safe for concurrent use: everything runs in
// the goroutine that calls Run.
type World struct {
	now     time.Duration // virtual time since the simulation began
	seq     uint64
	queue   eventQueue
	net     *rand.Rand // latency draws
	ids     []string
	nodes   map[string]*node
	cluster Cluster
	// cut holds the from→to links that drop messages (partitions).
	cut    map[[2]string]int
	events int64
	// onCrash is told when a node stops, so the clients can end the
	// calls in flight on it.
	onCrash func(id string)
	clients *clients
	// MaxEvents guards against a livelock: past it Run fails.
	MaxEvents int64
	// crashes counts the stops at crash points; err is the first error of
	// a restart scheduled by the world itself.
	crashes int
	err     error
}

// NewWorld returns a world of the nodes ids (sorted), with its random
// source seeded from seed.
func NewWorld(ids []string, seed int64) *World {
	w := &World{net: rand.New(rand.NewPCG(uint64(seed), 0x6e65_7477_6f72_6b)), ids: slices.Clone(ids),
		nodes: map[string]*node{}, cut: map[[2]string]int{}, MaxEvents: 2_000_000_000}
	for i, id := range ids {
		n := &node{id: id, crashAt: map[string]int{}, crashDown: map[string]time.Duration{}}
		n.clock = seam.NewClock(func() time.Time { return Epoch.Add(w.now) })
		n.msgs = seam.NewMessages(nil)
		_ = n.msgs.SetRules(nil, seed+int64(i))
		w.nodes[id] = n
	}
	return w
}

// Elapsed is the virtual time since the simulation began.
func (w *World) Elapsed() time.Duration { return w.now }

// Events is how many events the world has run.
func (w *World) Events() int64 { return w.events }

// Now is node id's clock reading: the virtual wall time, skewed by the
// clock faults applied to the node.
func (w *World) Now(id string) time.Time { return w.nodes[id].clock.Now() }

// Up reports whether node id is running (paused or not).
func (w *World) Up(id string) bool { return w.nodes[id].up }

// at schedules f at d after now, in the order of scheduling among equal
// times.
func (w *World) at(d time.Duration, f func()) {
	w.seq++
	heap.Push(&w.queue, event{at: w.now + max(d, 0), seq: w.seq, run: f})
}

// After runs f on node id after d of virtual time, unless the node stops
// first; while the node is paused, f waits for it to resume. Nodes use it
// for their ticks.
func (w *World) After(id string, d time.Duration, f func()) {
	n := w.nodes[id]
	epoch := n.epoch
	w.at(d, func() { w.onNode(n, epoch, f) })
}

// onNode runs f on n if n is still the incarnation epoch, holding it
// while n is paused.
func (w *World) onNode(n *node, epoch int, f func()) {
	if !n.up || n.epoch != epoch {
		return
	}
	if n.paused {
		n.held = append(n.held, f)
		return
	}
	f()
}

// Later runs f after d of virtual time whatever the nodes do: for what a
// cluster does on its clients' behalf (a client's retries), not for a
// node's own timers (After).
func (w *World) Later(d time.Duration, f func()) { w.at(d, f) }

// Latency draws one network delay, as every message and client request
// takes.
func (w *World) Latency() time.Duration { return w.latency() }

// latency draws one network delay: 0.2-2 ms, one time in 20 up to 8 ms
// more.
func (w *World) latency() time.Duration {
	d := 200*time.Microsecond + time.Duration(w.net.Int64N(int64(1800*time.Microsecond)))
	if w.net.IntN(20) == 0 {
		d += time.Duration(w.net.Int64N(int64(8 * time.Millisecond)))
	}
	return d
}

// Send sends msg from node from to node to. A message fault at the sender
// (seam.Messages, as the node's transport shim) may drop it, duplicate it
// or hold a copy back before it is transmitted; a transmitted copy is in
// flight for a network delay, and is lost if the receiver is down, or
// restarts, before it arrives, or a partition cuts the link when it
// arrives. Messages to a paused node wait for it. Send returns how long
// until the last copy leaves the sender (0: at once, or dropped).
func (w *World) Send(from, to string, msg any) time.Duration {
	src, dst := w.nodes[from], w.nodes[to]
	if src == nil || dst == nil || !src.up {
		return 0
	}
	var last time.Duration
	transmit := func() {
		epoch := dst.epoch
		w.at(w.latency(), func() {
			if w.cut[[2]string{from, to}] > 0 {
				return
			}
			w.onNode(dst, epoch, func() { w.cluster.Deliver(to, msg) })
		})
	}
	for _, held := range src.msgs.Plan(to) {
		if held == 0 {
			transmit()
			continue
		}
		// Held back by the sender's shim, whose timer dies with the
		// sender's process.
		srcEpoch := src.epoch
		w.at(held, func() {
			if src.up && src.epoch == srcEpoch {
				transmit()
			}
		})
		last = max(last, held)
	}
	return last
}

// CrashStop stops node id because it failed (a write that returned EIO):
// the process exits, so what it wrote but did not sync survives in the
// page cache.
func (w *World) CrashStop(id string, err error) {
	w.stop(id, false)
}

// start starts node id if it is down.
func (w *World) start(id string) error {
	n := w.nodes[id]
	if n.up {
		return nil
	}
	n.up, n.paused, n.held = true, false, nil
	if err := w.cluster.Start(id); err != nil {
		n.up = false
		return fmt.Errorf("start %s: %w", id, err)
	}
	if n.eio {
		w.cluster.SetEIO(id, true)
	}
	return nil
}

// stop stops node id if it is up.
func (w *World) stop(id string, loseUnsynced bool) {
	n := w.nodes[id]
	if !n.up {
		return
	}
	n.up, n.paused, n.held = false, false, nil
	n.epoch++
	w.cluster.Stop(id, loseUnsynced)
	if w.onCrash != nil {
		w.onCrash(id)
	}
}

func (w *World) pause(id string) {
	if n := w.nodes[id]; n.up {
		n.paused = true
	}
}

func (w *World) resume(id string) {
	n := w.nodes[id]
	if !n.paused {
		return
	}
	n.paused = false
	held := n.held
	n.held = nil
	epoch := n.epoch
	for _, f := range held {
		w.at(0, func() { w.onNode(n, epoch, f) })
	}
}

// runUntil runs events until virtual time t, then sets the clock to t.
func (w *World) runUntil(t time.Duration) error {
	for len(w.queue) > 0 && w.queue[0].at <= t {
		e := heap.Pop(&w.queue).(event)
		w.now = e.at
		e.run()
		if w.err != nil {
			return w.err
		}
		if w.events++; w.events > w.MaxEvents {
			return fmt.Errorf("simulation ran %d events by %v of virtual time: a livelock?", w.events, w.now)
		}
	}
	w.now = max(w.now, t)
	return nil
}

// Reachable reports whether node id would answer a request now: it is up
// and not paused.
func (w *World) Reachable(id string) bool {
	n := w.nodes[id]
	return n.up && !n.paused
}

// Point tells the world that node id reached a step of its protocol that
// a crash-point fault may stop it at ("vote": it just sent a granted
// vote), and that what the step sent leaves the node after sent (see
// Send). An armed node is stopped once it has: at once when sent is 0, and
// Point then returns true, after which the caller must do nothing more
// for the node.
func (w *World) Point(id, point string, sent time.Duration) bool {
	n := w.nodes[id]
	if !n.up || n.crashAt[point] == 0 {
		return false
	}
	down := n.crashDown[point]
	crash := func() {
		w.stop(id, false)
		w.crashes++
		w.at(down, func() {
			if err := w.start(id); err != nil && w.err == nil {
				w.err = err
			}
		})
	}
	if sent == 0 {
		crash()
		return true
	}
	epoch := n.epoch
	w.at(sent, func() {
		if n.up && n.epoch == epoch {
			crash()
		}
	})
	return false
}
