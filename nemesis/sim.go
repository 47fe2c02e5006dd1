package nemesis

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/faultline-io/faultline/targets/seam"
)

// SimEffect is a fault resolved without a cluster, for the deterministic
// simulator (package sim): the same selections, shapes and parameter draws
// as the nemesis's Invoke makes from the same Fault, so a schedule or a
// scenario means the same faults in a simulated run as in a real one.
type SimEffect struct {
	// Fault is f as applied: Select, Nodes, Grudge, Params and Note filled.
	Fault Fault
	Kind  SimKind
	// Nodes are the nodes acted on (crash, pause, clock, disk kinds).
	Nodes []string
	// Grudge maps a node to the nodes it no longer hears (SimPartition).
	Grudge map[string][]string
	// Clocks holds each selected node's clock request (SimClock).
	Clocks map[string]seam.ClockRequest
	// Msg holds each sending node's rules by destination (seam.AnyPeer for
	// every peer), for SimMessages.
	Msg map[string]map[string]seam.MsgRule
	// Window is how long unsynced writes pile up before the kill
	// (SimLoseUnsynced), or how long a node stays down (SimCrashPoint).
	Window time.Duration
	// Point is the protocol step a crash point stops a node at.
	Point string
}

// SimKind is what a simulated fault does.
type SimKind string

// The kinds of simulated faults.
const (
	SimCrash        SimKind = "crash"         // crash the nodes; restart them at heal
	SimPause        SimKind = "pause"         // freeze the nodes; resume them at heal
	SimPartition    SimKind = "partition"     // drop messages along Grudge
	SimClock        SimKind = "clock"         // skew the nodes' clocks; reset at heal
	SimMessages     SimKind = "messages"      // message rules on links; cleared at heal
	SimLoseUnsynced SimKind = "lose-unsynced" // after Window, crash losing unsynced writes; restart at heal
	SimEIO          SimKind = "eio"           // fail every disk write; clear and restart at heal
	// SimCrashPoint stops each node at Point of its protocol ("vote": right
	// after it grants a vote) and restarts it Window later, while held.
	SimCrashPoint SimKind = "crash-point"
)

// ResolveForSim resolves f for a simulated cluster of ids (sorted). role
// returns the node playing a role ("leader", "coordinator") or an error
// when none does. A nemesis the simulator has no model for is an error
// naming it.
func ResolveForSim(f Fault, ids []string, role func(string) (string, error)) (SimEffect, error) {
	env := Env{Role: func(_ context.Context, r string) (string, error) { return role(r) }}
	ctx := context.Background()
	eff := SimEffect{}
	nodes := func() error {
		got, err := selectIDs(ctx, env, f, ids)
		f.Nodes, eff.Nodes = got, got
		return err
	}
	name := f.Nemesis
	switch {
	case name == "kill" || name == "kill-coordinator" || name == "pause":
		n, _ := New(name)
		if f.Select == "" {
			f.Select = n.(Selector).Selects()[0]
		}
		if err := nodes(); err != nil {
			return eff, err
		}
		eff.Kind = SimCrash
		f.Note = "simulated crash, restarted on the same data at heal"
		if name == "pause" {
			eff.Kind = SimPause
			f.Note = "simulated pause (no ticks; messages and requests held until resumed at heal)"
		}
	case name == "partition" || strings.HasPrefix(name, "partition-") && slices.Contains(NetworkNemeses(), name):
		shape := ""
		if name != "partition" {
			shape = name[len("partition-"):]
		}
		g, err := simPartition(ctx, env, &f, ids, shape)
		if err != nil {
			return eff, err
		}
		eff.Kind, eff.Grudge, f.Grudge = SimPartition, g, g
		f.Note = "simulated network: messages dropped at the receiver"
	case name == "loss" || name == "duplicate" || name == "delay":
		p, err := paramProbability(f.Params, "p", 0.2)
		if err != nil {
			return eff, err
		}
		rule := seam.MsgRule{Drop: p}
		switch name {
		case "duplicate":
			rule = seam.MsgRule{Dup: p}
		case "delay":
			latency, err := paramDuration(f.Params, "latency", 50*time.Millisecond)
			if err != nil {
				return eff, err
			}
			jitter, err := paramDuration(f.Params, "jitter", 10*time.Millisecond)
			if err != nil {
				return eff, err
			}
			rule = seam.MsgRule{Delay: latency, Jitter: jitter}
			f.Params = withParam(f.Params, "latency", latency.String())
			f.Params["jitter"] = jitter.String()
		default:
			f.Params = withParam(f.Params, "p", p)
		}
		if f.Select == "" {
			f.Select = SelectAll
		}
		if f.Select == "links" {
			return eff, fmt.Errorf("%s: select links is not simulated; use all, one, minority or majority", name)
		}
		if err := nodes(); err != nil {
			return eff, err
		}
		eff.Kind, eff.Msg = SimMessages, MsgRules(ids, eff.Nodes, rule)
		f.Note = "simulated network: " + name + " on every message over links touching the nodes"
	case strings.HasPrefix(name, "msg-"):
		n, err := New(name)
		if err != nil {
			return eff, err
		}
		rule, params, desc, err := n.(*msgNemesis).rule(f)
		if err != nil {
			return eff, fmt.Errorf("%s: %w", name, err)
		}
		if err := nodes(); err != nil {
			return eff, err
		}
		for k, v := range params {
			f.Params = withParam(f.Params, k, v)
		}
		eff.Kind, eff.Msg = SimMessages, MsgRules(ids, eff.Nodes, rule)
		f.Note = "simulated network: " + desc
	case strings.HasPrefix(name, "clock-"):
		n, err := New(name)
		if err != nil {
			return eff, err
		}
		cn := n.(*clockNemesis)
		if cn.kind == seam.ClockReset && f.Select == "" {
			f.Select = SelectAll
		}
		if err := nodes(); err != nil {
			return eff, err
		}
		r := paramRand(f)
		eff.Clocks = map[string]seam.ClockRequest{}
		for _, id := range eff.Nodes {
			req, err := cn.request(f.Params, r)
			if err != nil {
				return eff, fmt.Errorf("%s: %w", name, err)
			}
			eff.Clocks[id] = req
		}
		eff.Kind = SimClock
		f.Params = withParam(f.Params, "clocks", eff.Clocks)
		f.Note = "simulated clocks of the selected nodes"
	case name == "disk-lose-unsynced":
		window, err := paramDuration(f.Params, "window", DefaultLoseUnsyncedWindow)
		if err != nil {
			return eff, err
		}
		if err := nodes(); err != nil {
			return eff, err
		}
		eff.Kind, eff.Window = SimLoseUnsynced, window
		f.Params = withParam(f.Params, "window", window.String())
		f.Note = fmt.Sprintf("simulated disk: unsynced writes kept for %v, then a crash loses them; restarted at heal", window)
	case name == KillAfterVote:
		down, err := paramDuration(f.Params, "down", 0)
		if err != nil {
			return eff, err
		}
		if f.Select == "" {
			f.Select = SelectAll
		}
		if err := nodes(); err != nil {
			return eff, err
		}
		eff.Kind, eff.Point, eff.Window = SimCrashPoint, "vote", down
		f.Note = fmt.Sprintf("simulated crash right after each vote granted, restarted %v later", down)
	case name == "disk-eio":
		if err := nodes(); err != nil {
			return eff, err
		}
		eff.Kind = SimEIO
		f.Note = "simulated disk: every write fails with EIO (the node crash-stops); cleared and restarted at heal"
	default:
		if _, err := New(name); err != nil {
			return eff, err
		}
		return eff, fmt.Errorf("nemesis %s has no simulated model (simulated: kill, kill-coordinator, pause, partition*, loss, duplicate, delay, msg-*, clock-*, disk-*)", name)
	}
	eff.Fault = f
	return eff, nil
}

// simPartition is resolvePartition without addresses.
func simPartition(ctx context.Context, env Env, f *Fault, ids []string, shape string) (map[string][]string, error) {
	if shape == "" {
		shape = f.Select
		if shape == "" {
			shape = "halves"
		}
	}
	f.Select = shape
	var leader string
	if shape == SelectLeader || shape == SelectCoordinator {
		id, err := env.resolveRole(ctx, shape)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ids, id) {
			return nil, fmt.Errorf("%s %q is not a node of this cluster", shape, id)
		}
		leader = id
	}
	return PartitionShape(shape, ids, leader, f.Rand())
}
