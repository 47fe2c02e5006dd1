package nemesis

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/targets/seam"
)

// Clock nemeses skew the clock seam of bundled nodes (see package
// targets/seam: no kernel gives one node its own wall clock, so the host
// clock is never touched and foreign targets cannot be skewed).
//
//	clock-jump    each selected node's clock jumps by its own delta, drawn
//	              log-uniformly from ±[1 ms, 300 s) (Params "delta" fixes it)
//	clock-drift   each selected node's clock gains or loses ppm parts per
//	              million, drawn log-uniformly from ±[1000, 500000) (Params "ppm")
//	clock-strobe  each selected node's clock jumps ahead by delta and back
//	              every period: delta log-uniform in [1 s, 100 s), period
//	              in [10 ms, 1 s) (Params "delta", "period")
//	clock-reset   the selected nodes' clocks (default: all) step back to
//	              real time, as NTP stepping would; Heal does nothing
//
// Generated schedules select the leader, a majority or all nodes: a skew
// that leaves the leader's clock alone rarely matters to a leader-based
// protocol (a fault may still name "one" or "minority"). Heal of jump,
// drift and strobe resets the affected clocks. Each applied
// fault records, in Params "clocks", every node's request and the clock
// state it confirmed (offset, drift, strobe and skew at that moment).
func init() {
	for _, kind := range []string{seam.ClockJump, seam.ClockDrift, seam.ClockStrobe, seam.ClockReset} {
		name := "clock-" + kind
		Register(name, func() Nemesis { return &clockNemesis{name: name, kind: kind} })
	}
}

type clockNemesis struct {
	name, kind string
	affected   affectedSet
}

// ClockApplied is what a clock nemesis did to one node: the request sent
// and the state the node confirmed.
type ClockApplied struct {
	Request seam.ClockRequest `json:"request"`
	State   seam.ClockState   `json:"state"`
	// Skew is State.Skew in words, for humans.
	Skew string `json:"skew"`
}

func (n *clockNemesis) Name() string { return n.name }
func (n *clockNemesis) Selects() []string {
	if n.kind == seam.ClockReset {
		return []string{SelectAll, SelectLeader, SelectMajority}
	}
	return []string{SelectLeader, SelectMajority, SelectAll}
}

// Available is nil on every runtime: the clock seam is in the node.
// Whether the nodes have one is checked when a fault is invoked.
func (n *clockNemesis) Available(c cluster.Cluster) error { return nil }

func (n *clockNemesis) Invoke(ctx context.Context, env Env, f Fault) (Fault, error) {
	f.Nemesis = n.name
	if n.kind == seam.ClockReset && f.Select == "" {
		f.Select = SelectAll
	}
	ids, err := SelectNodes(ctx, env, f)
	if err != nil {
		return f, err
	}
	f.Nodes = ids
	clients, down, err := seamClientsOrDown(ctx, env.Cluster, ids)
	if err != nil {
		return f, fmt.Errorf("%s: %w", n.name, err)
	}
	r := paramRand(f)
	reqs := map[string]seam.ClockRequest{}
	for _, id := range ids { // sorted: the draws are a function of the seed
		req, err := n.request(f.Params, r)
		if err != nil {
			return f, fmt.Errorf("%s: %w", n.name, err)
		}
		reqs[id] = req
	}
	applied := map[string]ClockApplied{}
	var errs []string
	for _, id := range ids {
		if n.kind != seam.ClockReset {
			n.affected.add(id) // before applying: a half-applied fault is still healed
		}
		req := reqs[id]
		if n.kind != seam.ClockReset { // a restart (or a down node's start) applies it again
			reapplyOnStart(env.Cluster, id, n.name, func(ctx context.Context, ac *seam.AdminClient) error {
				_, err := ac.Clock(ctx, req)
				return err
			})
		}
		if clients[id] == nil { // down: the start hook applies it when it is back
			continue
		}
		st, err := clients[id].Clock(ctx, req)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", id, err))
			continue
		}
		applied[id] = ClockApplied{Request: req, State: st, Skew: st.Skew.String()}
	}
	f.Params = withParam(f.Params, "clocks", applied)
	f.Note = "clock seam of the bundled nodes (admin endpoint): only time the node reads through the seam is skewed; " +
		"the host clock, timers and the harness are not"
	if len(down) > 0 {
		f.Note += fmt.Sprintf("; %v down: applied when it starts", down)
		f.Params = withParam(f.Params, "deferred", down)
	}
	if len(errs) > 0 {
		return f, fmt.Errorf("%s: %v", n.name, errs)
	}
	return f, nil
}

// request draws (or reads from params) one node's clock request.
func (n *clockNemesis) request(params map[string]any, r *rand.Rand) (seam.ClockRequest, error) {
	sign := func() float64 {
		if r.Intn(2) == 0 {
			return -1
		}
		return 1
	}
	ms := float64(time.Millisecond)
	switch n.kind {
	case seam.ClockJump:
		// Draw even when the parameter is given, so that every node's
		// draws stay where they are.
		d := time.Duration(sign() * logUniform(r, ms, 300*float64(time.Second))).Round(time.Microsecond)
		if v, ok, err := paramSignedDuration(params, "delta"); err != nil {
			return seam.ClockRequest{}, err
		} else if ok {
			d = v
		}
		return seam.ClockRequest{Op: seam.ClockJump, Delta: d}, nil
	case seam.ClockDrift:
		ppm := sign() * logUniform(r, 1000, 500000)
		if v, ok, err := paramFloat(params, "ppm"); err != nil {
			return seam.ClockRequest{}, err
		} else if ok {
			ppm = v
		}
		return seam.ClockRequest{Op: seam.ClockDrift, PPM: math.Round(ppm)}, nil
	case seam.ClockStrobe:
		d := time.Duration(logUniform(r, float64(time.Second), 100*float64(time.Second)))
		p := time.Duration(logUniform(r, 10*ms, float64(time.Second)))
		if v, ok, err := paramSignedDuration(params, "delta"); err != nil {
			return seam.ClockRequest{}, err
		} else if ok {
			d = v
		}
		if v, ok, err := paramSignedDuration(params, "period"); err != nil {
			return seam.ClockRequest{}, err
		} else if ok {
			p = v
		}
		if d == 0 || p <= 0 {
			return seam.ClockRequest{}, fmt.Errorf("strobe needs a non-zero delta and a positive period, got %v and %v", d, p)
		}
		return seam.ClockRequest{Op: seam.ClockStrobe, Delta: d.Round(time.Millisecond), Period: p.Round(time.Millisecond)}, nil
	default:
		return seam.ClockRequest{Op: seam.ClockReset}, nil
	}
}

// Heal resets the clock of every node this nemesis skewed; clock-reset has
// nothing to undo.
func (n *clockNemesis) Heal(ctx context.Context, env Env) error {
	return n.affected.heal(ctx, env.Cluster, n.name, func(ctx context.Context, node cluster.Node) error {
		forgetOnStart(node, n.name)
		_, err := seam.NewAdminClient(node.Addr()).Clock(ctx, seam.ClockRequest{Op: seam.ClockReset})
		return err
	})
}
