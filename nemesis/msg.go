package nemesis

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/targets/seam"
)

// Message nemeses set rules in the message shim of bundled nodes (see
// package targets/seam). They are message-level, not packet-level: they
// delay, duplicate, reorder or drop whole protocol messages between nodes
// before the transport sends them, so client traffic and TCP itself are
// untouched, and they work on every runtime, including local.
//
// Every link that touches a selected node is affected in both directions:
// a selected node applies the rule to every peer, the others apply it to
// the selected nodes. Parameters (drawn from the fault's seed unless given
// in Params):
//
//	msg-delay    "delay" log-uniform in [10 ms, 300 ms), "jitter" delay/2
//	msg-dup      "p" uniform in [0.2, 0.6), "spread" (how much later the
//	             copy may arrive) 20 ms
//	msg-reorder  "p" uniform in [0.2, 0.5), "window" log-uniform in [10 ms, 100 ms)
//	msg-drop     "p" uniform in [0.1, 0.5)
//
// Heal clears the rules on every node the nemesis set them on. Only one
// message fault is in effect at a time: a new one replaces a node's rules.
func init() {
	for _, kind := range []string{"delay", "dup", "reorder", "drop"} {
		name := "msg-" + kind
		Register(name, func() Nemesis { return &msgNemesis{name: name, kind: kind} })
	}
}

type msgNemesis struct {
	name, kind string
	affected   affectedSet
}

func (n *msgNemesis) Name() string      { return n.name }
func (n *msgNemesis) Selects() []string { return seamSelects }

// Available is nil on every runtime: the shim is in the node.
func (n *msgNemesis) Available(c cluster.Cluster) error { return nil }

// rule draws (or reads from params) the fault's rule and describes it.
func (n *msgNemesis) rule(f Fault) (seam.MsgRule, map[string]any, string, error) {
	r := paramRand(f)
	params := map[string]any{}
	switch n.kind {
	case "delay":
		delay := time.Duration(logUniform(r, float64(10*time.Millisecond), float64(300*time.Millisecond))).Round(time.Millisecond)
		delay, err := paramDuration(f.Params, "delay", delay)
		if err != nil {
			return seam.MsgRule{}, nil, "", err
		}
		jitter, err := paramDuration(f.Params, "jitter", delay/2)
		if err != nil {
			return seam.MsgRule{}, nil, "", err
		}
		params["delay"], params["jitter"] = delay.String(), jitter.String()
		return seam.MsgRule{Delay: delay, Jitter: jitter}, params, fmt.Sprintf("delay %v ± %v", delay, jitter), nil
	case "dup":
		p, err := paramProbability(f.Params, "p", 0.2+0.4*r.Float64())
		if err != nil {
			return seam.MsgRule{}, nil, "", err
		}
		spread, err := paramDuration(f.Params, "spread", 20*time.Millisecond)
		if err != nil {
			return seam.MsgRule{}, nil, "", err
		}
		params["p"], params["spread"] = p, spread.String()
		return seam.MsgRule{Dup: p, DupDelay: spread}, params, fmt.Sprintf("duplicate %.0f%% (copy up to %v later)", p*100, spread), nil
	case "reorder":
		p, err := paramProbability(f.Params, "p", 0.2+0.3*r.Float64())
		if err != nil {
			return seam.MsgRule{}, nil, "", err
		}
		w := time.Duration(logUniform(r, float64(10*time.Millisecond), float64(100*time.Millisecond))).Round(time.Millisecond)
		if w, err = paramDuration(f.Params, "window", w); err != nil {
			return seam.MsgRule{}, nil, "", err
		}
		params["p"], params["window"] = p, w.String()
		return seam.MsgRule{Reorder: p, ReorderWindow: w}, params, fmt.Sprintf("hold back %.0f%% by up to %v", p*100, w), nil
	default:
		p, err := paramProbability(f.Params, "p", 0.1+0.4*r.Float64())
		if err != nil {
			return seam.MsgRule{}, nil, "", err
		}
		params["p"] = p
		return seam.MsgRule{Drop: p}, params, fmt.Sprintf("drop %.0f%%", p*100), nil
	}
}

// MsgRules returns each node's rules for rule applied to the links that
// touch selected: a selected node applies it to every peer (seam.AnyPeer),
// another node to the selected nodes. Nodes without rules are absent.
func MsgRules(all, selected []string, rule seam.MsgRule) map[string]map[string]seam.MsgRule {
	sel := map[string]bool{}
	for _, id := range selected {
		sel[id] = true
	}
	out := map[string]map[string]seam.MsgRule{}
	for _, id := range all {
		if sel[id] {
			out[id] = map[string]seam.MsgRule{seam.AnyPeer: rule}
			continue
		}
		for _, s := range selected {
			if out[id] == nil {
				out[id] = map[string]seam.MsgRule{}
			}
			out[id][s] = rule
		}
	}
	return out
}

func (n *msgNemesis) Invoke(ctx context.Context, env Env, f Fault) (Fault, error) {
	f.Nemesis = n.name
	rule, params, desc, err := n.rule(f)
	if err != nil {
		return f, fmt.Errorf("%s: %w", n.name, err)
	}
	ids, err := SelectNodes(ctx, env, f)
	if err != nil {
		return f, err
	}
	var all []string
	for _, node := range env.Cluster.Nodes() {
		all = append(all, node.ID())
	}
	sort.Strings(all)
	rules := MsgRules(all, ids, rule)
	var touched []string
	for _, id := range all {
		if rules[id] != nil {
			touched = append(touched, id)
		}
	}
	clients, down, err := seamClientsOrDown(ctx, env.Cluster, touched)
	if err != nil {
		return f, fmt.Errorf("%s: %w", n.name, err)
	}
	f.Nodes = ids
	var errs []string
	for i, id := range touched {
		n.affected.add(id)
		req := seam.MsgRequest{Rules: rules[id], Seed: f.Seed + int64(i)}
		reapplyOnStart(env.Cluster, id, n.name, func(ctx context.Context, ac *seam.AdminClient) error {
			_, err := ac.Msg(ctx, req)
			return err
		})
		if clients[id] == nil { // down: the start hook applies the rules when it is back
			continue
		}
		if _, err := clients[id].Msg(ctx, req); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", id, err))
		}
	}
	for k, v := range params {
		f.Params = withParam(f.Params, k, v)
	}
	f.Note = fmt.Sprintf("message-level, not packet-level: the bundled nodes' transport shim %s on every protocol "+
		"message over links touching %v; client traffic and TCP are unaffected", desc, ids)
	if len(down) > 0 {
		f.Note += fmt.Sprintf("; %v down: applied when it starts", down)
		f.Params = withParam(f.Params, "deferred", down)
	}
	if len(errs) > 0 {
		return f, fmt.Errorf("%s: %v", n.name, errs)
	}
	return f, nil
}

// Heal clears the rules of every node this nemesis set them on.
func (n *msgNemesis) Heal(ctx context.Context, env Env) error {
	return n.affected.heal(ctx, env.Cluster, n.name, func(ctx context.Context, node cluster.Node) error {
		forgetOnStart(node, n.name)
		_, err := seam.NewAdminClient(node.Addr()).Msg(ctx, seam.MsgRequest{})
		return err
	})
}
