package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/nemesis/netfault"
)

// Network nemeses. Each applies its fault inside every node's network
// namespace through package netfault; none needs anything inside the node.
//
// Faults compose: every network nemesis of a cluster contributes its part of
// each node's rules to one shared state, and a node's namespace always holds
// the merge of all parts (a partition while packets are lost is one
// nftables table). Heal removes only the healing nemesis's part; the table
// is deleted when no part is left.
//
// Restarts: a netns node keeps its namespace, so its rules stay. A Docker
// container gets a new namespace on every start (verified: the table and the
// veth are gone after kill+start), so the nemeses register a start hook
// (cluster.StartHooker) that re-applies the node's rules; until it runs,
// for the few milliseconds between the container starting and the hook,
// the node is unfaulted. A node that is down when a fault is invoked has no
// namespace: its rules are recorded, applied when it starts, and the Note
// says so.

func init() {
	partition := func(name, shape string, selects []string) {
		Register(name, func() Nemesis {
			return &netNemesis{name: name, selects: selects, need: needNftables,
				resolve: func(ctx context.Context, env Env, f Fault, t *netTargets) (Fault, map[string]netfault.Rules, error) {
					return resolvePartition(ctx, env, f, t, shape)
				}}
		})
	}
	partition("partition", "", []string{"halves", "one", "leader", "coordinator", "ring", "bridge", "oneway"})
	partition("partition-one", "one", nil)
	partition("partition-leader", "leader", nil)
	// The coordinator cut off from the participants after its prepares are
	// out: one way (Unheard), so votes still arrive and decisions do not.
	partition("partition-coordinator", "coordinator", nil)
	partition("partition-ring", "ring", nil)
	partition("partition-bridge", "bridge", nil)
	partition("partition-oneway", "oneway", nil)

	nodeSelects := []string{SelectAll, SelectOne, SelectMinority, SelectMajority, "links"}
	Register("loss", func() Nemesis {
		return &netNemesis{name: "loss", selects: nodeSelects, need: needNftRandom, resolve: resolveLoss}
	})
	Register("duplicate", func() Nemesis {
		return &netNemesis{name: "duplicate", selects: nodeSelects, need: needNftRandom, resolve: resolveDuplicate}
	})
	Register("bandwidth", func() Nemesis {
		return &netNemesis{name: "bandwidth", selects: nodeSelects[:4], need: needTBF, resolve: resolveBandwidth}
	})
	Register("delay", func() Nemesis {
		return &netNemesis{name: "delay", selects: nodeSelects[:4], need: needDelay, resolve: resolveDelay}
	})
}

// NetworkNemeses lists the names of the network nemeses, sorted.
func NetworkNemeses() []string {
	return []string{"bandwidth", "delay", "duplicate", "loss", "partition", "partition-bridge",
		"partition-coordinator", "partition-leader", "partition-one", "partition-oneway", "partition-ring"}
}

// ErrNoNetNS is the reason network nemeses give on runtimes without a
// network namespace per node.
var ErrNoNetNS = errors.New("network faults need a network namespace per node: use --runtime docker or netns")

// netTargets is what a resolver needs to know about the cluster: node ids,
// sorted, and each node's address.
type netTargets struct {
	ids []string
	ip  map[string]net.IP
}

func (t *netTargets) ips(ids []string) []net.IP {
	out := make([]net.IP, 0, len(ids))
	for _, id := range ids {
		out = append(out, t.ip[id])
	}
	return out
}

// netNemesis is one network nemesis: resolve turns a fault into each node's
// part of the rules (nodes absent from the map get an empty part).
type netNemesis struct {
	name    string
	selects []string
	need    func(netfault.Capabilities) error
	resolve func(ctx context.Context, env Env, f Fault, t *netTargets) (Fault, map[string]netfault.Rules, error)
}

func (n *netNemesis) Name() string      { return n.name }
func (n *netNemesis) Selects() []string { return n.selects }

// Available needs a network namespace per node (cluster.ErrUnsupported on
// the local runtime), node addresses that are IPv4 literals, and the kernel
// facilities the fault uses (netfault.Probe).
func (n *netNemesis) Available(c cluster.Cluster) error {
	for _, node := range c.Nodes() {
		ns, err := node.NetNS()
		if errors.Is(err, cluster.ErrUnsupported) {
			return ErrNoNetNS
		}
		if err == nil {
			ns.Close()
		}
	}
	if _, err := targetsOf(c); err != nil {
		return err
	}
	caps := netfault.Probe()
	if !caps.Root.OK {
		return fmt.Errorf("network faults need root (%s)", caps.Root.Detail)
	}
	return n.need(caps)
}

func needNftables(c netfault.Capabilities) error {
	if !c.Nftables.OK {
		return fmt.Errorf("nftables is unusable: %s", c.Nftables.Detail)
	}
	return nil
}

func needNftRandom(c netfault.Capabilities) error {
	if err := needNftables(c); err != nil {
		return err
	}
	if !c.NftRandom.OK {
		return fmt.Errorf("nftables numgen/dup is unusable: %s", c.NftRandom.Detail)
	}
	return nil
}

func needTBF(c netfault.Capabilities) error {
	if !c.TBF.OK {
		return fmt.Errorf("the tbf qdisc is unavailable: %s", c.TBF.Detail)
	}
	return nil
}

func needDelay(c netfault.Capabilities) error {
	mech, err := c.DelayMechanism()
	if err != nil {
		return err
	}
	if mech == "nfqueue" {
		return needNftables(c)
	}
	return nil
}

// Invoke resolves f into each node's part, replacing whatever this nemesis
// applied before, and applies the merged rules in every node's namespace.
// It returns an error naming every node whose namespace could not be
// changed; the fault is then only partly in effect (and still recorded, so
// Heal undoes it).
func (n *netNemesis) Invoke(ctx context.Context, env Env, f Fault) (Fault, error) {
	f.Nemesis = n.name
	if err := ctx.Err(); err != nil {
		return f, err
	}
	// Not the whole of Available: entering each node's namespace happens
	// below anyway, and a node without one fails there by name.
	t, err := targetsOf(env.Cluster)
	if err != nil {
		return f, err
	}
	if caps := netfault.Probe(); !caps.Root.OK {
		return f, fmt.Errorf("%s: network faults need root (%s)", n.name, caps.Root.Detail)
	} else if err := n.need(caps); err != nil {
		return f, fmt.Errorf("%s unavailable: %w", n.name, err)
	}
	f, parts, err := n.resolve(ctx, env, f, t)
	if err != nil {
		return f, err
	}
	f.Nodes = nil
	for id, p := range parts {
		if !p.Empty() {
			f.Nodes = append(f.Nodes, id)
		}
	}
	sort.Strings(f.Nodes)
	st := stateOf(env.Cluster)
	down, err := st.set(ctx, env.Cluster, n.name, parts)
	if len(down) > 0 {
		f.Note += fmt.Sprintf("; %s down: applied when restarted", strings.Join(down, ", "))
	}
	return f, err
}

// Heal removes this nemesis's part from every node, re-entering each node's
// current namespace; nodes left without any part lose the table.
func (n *netNemesis) Heal(ctx context.Context, env Env) error {
	st := stateOf(env.Cluster)
	_, err := st.set(ctx, env.Cluster, n.name, nil)
	return err
}

// targetsOf reads node ids and IPv4 addresses from the cluster.
func targetsOf(c cluster.Cluster) (*netTargets, error) {
	t := &netTargets{ip: map[string]net.IP{}}
	for _, node := range c.Nodes() {
		host, _, err := net.SplitHostPort(node.Addr())
		if err != nil {
			host = node.Addr()
		}
		ip := net.ParseIP(host).To4()
		if ip == nil {
			return nil, fmt.Errorf("node %s address %q is not an IPv4 address", node.ID(), node.Addr())
		}
		t.ids = append(t.ids, node.ID())
		t.ip[node.ID()] = ip
	}
	sort.Strings(t.ids)
	return t, nil
}

// netState is the network fault state of one cluster, shared by its network
// nemeses.
type netState struct {
	mu    sync.Mutex
	nodes map[string]*netNode
}

type netNode struct {
	inj   netfault.Injector
	parts map[string]netfault.Rules // by nemesis name
}

var (
	statesMu sync.Mutex
	states   = map[cluster.Cluster]*netState{}
)

func stateOf(c cluster.Cluster) *netState {
	statesMu.Lock()
	defer statesMu.Unlock()
	st := states[c]
	if st == nil {
		st = &netState{nodes: map[string]*netNode{}}
		states[c] = st
	}
	return st
}

// hookKey names the start hook the network nemeses register.
const hookKey = "faultline/nemesis/net"

// set replaces owner's part on every node of c with parts[id] (empty when
// absent) and applies the merged rules, one goroutine per node (deleting a
// table waits for an RCU grace period; in parallel the waits overlap). It
// returns the nodes that were down (their rules are recorded and applied by
// the start hook).
func (st *netState) set(ctx context.Context, c cluster.Cluster, owner string, parts map[string]netfault.Rules) (down []string, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	type result struct {
		id     string
		isDown bool
		err    error
	}
	nodes := c.Nodes()
	results := make(chan result, len(nodes))
	empty := true
	for _, node := range nodes {
		id := node.ID()
		nn := st.nodes[id]
		if nn == nil {
			nn = &netNode{parts: map[string]netfault.Rules{}}
			st.nodes[id] = nn
		}
		if p := parts[id]; p.Empty() {
			delete(nn.parts, owner)
		} else {
			nn.parts[owner] = p
		}
		rules := merge(nn.parts)
		if !rules.Empty() {
			empty = false
		}
		go func() {
			isDown, err := applyNode(node, nn, rules)
			results <- result{id, isDown, err}
		}()
		if h, ok := node.(cluster.StartHooker); ok {
			if rules.Empty() {
				h.SetStartHook(hookKey, nil)
			} else {
				h.SetStartHook(hookKey, reapplyHook(nn))
			}
		}
	}
	var all []result
	for range nodes {
		all = append(all, <-results)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].id < all[j].id })
	var errs []error
	for _, r := range all {
		if r.isDown {
			down = append(down, r.id)
		}
		if r.err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", r.id, r.err))
		}
	}
	if empty && len(errs) == 0 {
		statesMu.Lock()
		delete(states, c)
		statesMu.Unlock()
	}
	return down, errors.Join(errs...)
}

// reapplyHook re-applies a node's rules in the namespace it got when it
// restarted.
func reapplyHook(nn *netNode) cluster.StartHook {
	return func(ctx context.Context, n cluster.Node) error {
		ns, err := n.NetNS()
		if err != nil {
			return fmt.Errorf("re-apply network faults: %w", err)
		}
		defer ns.Close()
		if err := nn.inj.Reapply(ns); err != nil {
			return fmt.Errorf("re-apply network faults: %w", err)
		}
		return nil
	}
}

// applyNode makes the node's current namespace hold rules. A node without a
// namespace (down) gets its rules recorded only.
func applyNode(node cluster.Node, nn *netNode, rules netfault.Rules) (down bool, err error) {
	ns, err := node.NetNS()
	if errors.Is(err, cluster.ErrUnsupported) {
		return false, ErrNoNetNS
	}
	if errors.Is(err, cluster.ErrNotRunning) {
		if rules.Empty() {
			return true, nn.inj.Forget()
		}
		return true, nn.inj.Want(rules)
	}
	if err != nil {
		_ = nn.inj.Want(rules)
		return false, fmt.Errorf("enter network namespace: %w", err)
	}
	defer ns.Close()
	if rules.Empty() {
		return false, nn.inj.Heal(ns)
	}
	return false, nn.inj.Apply(ns, rules)
}

// merge combines the parts of several nemeses: blocked sources, losses and
// duplicates add up, the lowest rate wins, and the delay of the
// alphabetically last nemesis wins (only "delay" sets one).
func merge(parts map[string]netfault.Rules) netfault.Rules {
	owners := make([]string, 0, len(parts))
	for o := range parts {
		owners = append(owners, o)
	}
	sort.Strings(owners)
	var r netfault.Rules
	for _, o := range owners {
		p := parts[o]
		r.Blocked = append(r.Blocked, p.Blocked...)
		r.Loss = append(r.Loss, p.Loss...)
		r.Duplicate = append(r.Duplicate, p.Duplicate...)
		if p.Delay != nil {
			r.Delay = p.Delay
		}
		if p.Rate != nil && (r.Rate == nil || p.Rate.BitsPerSecond < r.Rate.BitsPerSecond) {
			r.Rate = p.Rate
		}
	}
	return r
}

// resolvePartition computes the grudge (shape, or f.Select when shape is
// empty) and gives each node its blocked sources.
func resolvePartition(ctx context.Context, env Env, f Fault, t *netTargets, shape string) (Fault, map[string]netfault.Rules, error) {
	if shape == "" {
		shape = f.Select
		if shape == "" {
			shape = "halves"
		}
	}
	f.Select = shape
	var leader string // the node a role shape isolates
	if shape == SelectLeader || shape == SelectCoordinator {
		id, err := env.resolveRole(ctx, shape)
		if err != nil {
			return f, nil, err
		}
		if _, ok := t.ip[id]; !ok {
			return f, nil, fmt.Errorf("%s %q is not a node of this cluster", shape, id)
		}
		leader = id
	}
	g, err := PartitionShape(shape, t.ids, leader, f.Rand())
	if err != nil {
		return f, nil, err
	}
	parts := map[string]netfault.Rules{}
	for a, bs := range g {
		parts[a] = netfault.Rules{Blocked: t.ips(bs)}
	}
	f.Grudge = g
	f.Note = "nftables drop at receiver (prerouting, ip saddr @blocked)"
	return f, parts, nil
}

// selectTargets resolves f.Select for the node-wide network faults:
// "all" (the default), "one", "minority", "majority" give nodes; "links"
// gives each node a random half of its peers (at least one).
func selectTargets(ctx context.Context, env Env, f Fault, t *netTargets) (Fault, []string, map[string][]string, error) {
	if f.Select == "" {
		f.Select = SelectAll
	}
	if f.Select == "links" {
		r := f.Rand()
		links := map[string][]string{}
		for _, a := range t.ids {
			var peers []string
			for _, b := range t.ids {
				if b != a {
					peers = append(peers, b)
				}
			}
			if len(peers) == 0 {
				continue
			}
			r.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
			k := max(1, len(peers)/2)
			links[a] = append([]string(nil), peers[:k]...)
			sort.Strings(links[a])
		}
		return f, nil, links, nil
	}
	ids, err := SelectNodes(ctx, env, f)
	return f, ids, nil, err
}

func resolveLoss(ctx context.Context, env Env, f Fault, t *netTargets) (Fault, map[string]netfault.Rules, error) {
	f, parts, links, p, err := resolvePerPeer(ctx, env, f, t, func(peers []net.IP, p float64) netfault.Rules {
		var ls []netfault.Loss
		for _, ip := range peers {
			ls = append(ls, netfault.Loss{From: ip, P: p})
		}
		return netfault.Rules{Loss: ls}
	})
	if err != nil {
		return f, nil, err
	}
	if links != nil {
		f.Note = fmt.Sprintf("nftables numgen drop of %.0f%% of packets from the listed peers, at the receiver", p*100)
	} else {
		f.Note = fmt.Sprintf("nftables numgen drop of %.0f%% of every packet the node receives", p*100)
	}
	return f, parts, nil
}

func resolveDuplicate(ctx context.Context, env Env, f Fault, t *netTargets) (Fault, map[string]netfault.Rules, error) {
	f, parts, _, p, err := resolvePerPeer(ctx, env, f, t, func(peers []net.IP, p float64) netfault.Rules {
		var ds []netfault.Duplicate
		for _, ip := range peers {
			ds = append(ds, netfault.Duplicate{To: ip, P: p})
		}
		return netfault.Rules{Duplicate: ds}
	})
	if err != nil {
		return f, nil, err
	}
	f.Note = fmt.Sprintf("nftables dup of %.0f%% of packets sent, at the sender (output)", p*100)
	return f, parts, nil
}

// resolvePerPeer resolves a probabilistic fault (Params "p", default 0.2)
// into rules per node: for whole-node targets, rules(nil peer) — one rule
// with a nil address, meaning every peer; for links, rules naming each peer.
// It records p and the links in f.Params.
func resolvePerPeer(ctx context.Context, env Env, f Fault, t *netTargets,
	rules func(peers []net.IP, p float64) netfault.Rules) (Fault, map[string]netfault.Rules, map[string][]string, float64, error) {
	p, err := paramProbability(f.Params, "p", 0.2)
	if err != nil {
		return f, nil, nil, 0, err
	}
	f, ids, links, err := selectTargets(ctx, env, f, t)
	if err != nil {
		return f, nil, nil, 0, err
	}
	parts := map[string]netfault.Rules{}
	for _, id := range ids {
		parts[id] = rules([]net.IP{nil}, p)
	}
	for a, bs := range links {
		var ips []net.IP
		for _, b := range bs {
			ips = append(ips, t.ip[b])
		}
		parts[a] = rules(ips, p)
	}
	f.Params = withParam(f.Params, "p", p)
	if links != nil {
		f.Params["links"] = links
	}
	return f, parts, links, p, nil
}

func resolveBandwidth(ctx context.Context, env Env, f Fault, t *netTargets) (Fault, map[string]netfault.Rules, error) {
	rate, err := paramRate(f.Params, "rate", 1_000_000)
	if err != nil {
		return f, nil, err
	}
	f, ids, _, err := selectTargets(ctx, env, f, t)
	if err != nil {
		return f, nil, err
	}
	parts := map[string]netfault.Rules{}
	for _, id := range ids {
		parts[id] = netfault.Rules{Rate: &netfault.Rate{BitsPerSecond: rate}}
	}
	f.Params = withParam(f.Params, "rate", rate)
	f.Note = fmt.Sprintf("tbf root qdisc %x: at %d bit/s on eth0 egress", netfault.QdiscMajor, rate)
	return f, parts, nil
}

func resolveDelay(ctx context.Context, env Env, f Fault, t *netTargets) (Fault, map[string]netfault.Rules, error) {
	latency, err := paramDuration(f.Params, "latency", 50*time.Millisecond)
	if err != nil {
		return f, nil, err
	}
	jitter, err := paramDuration(f.Params, "jitter", 10*time.Millisecond)
	if err != nil {
		return f, nil, err
	}
	f, ids, _, err := selectTargets(ctx, env, f, t)
	if err != nil {
		return f, nil, err
	}
	parts := map[string]netfault.Rules{}
	for _, id := range ids {
		parts[id] = netfault.Rules{Delay: &netfault.Delay{Latency: latency, Jitter: jitter}}
	}
	f.Params = withParam(f.Params, "latency", latency.String())
	f.Params["jitter"] = jitter.String()
	mech, _ := netfault.Probe().DelayMechanism()
	switch mech {
	case "netem":
		f.Note = fmt.Sprintf("netem %v ± %v on eth0 egress", latency, jitter)
	default:
		f.Note = fmt.Sprintf("NFQUEUE (bypass) at the receiver, verdicts after %v ± %v from the harness", latency, jitter)
	}
	return f, parts, nil
}

func withParam(p map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for kk, vv := range p {
		out[kk] = vv
	}
	out[k] = v
	return out
}

// paramProbability reads a probability in 0..1 (a number, or a string such
// as "0.3" or "30%").
func paramProbability(params map[string]any, key string, def float64) (float64, error) {
	v, ok := params[key]
	if !ok {
		return def, nil
	}
	var p float64
	switch x := v.(type) {
	case float64:
		p = x
	case int:
		p = float64(x)
	case string:
		s := strings.TrimSpace(x)
		pct := strings.HasSuffix(s, "%")
		f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil {
			return 0, fmt.Errorf("param %s=%q is not a probability", key, x)
		}
		if pct {
			f /= 100
		}
		p = f
	default:
		return 0, fmt.Errorf("param %s=%v is not a probability", key, v)
	}
	if !(p >= 0 && p <= 1) { // NaN too
		return 0, fmt.Errorf("param %s=%v is outside 0..1", key, v)
	}
	return p, nil
}

// paramDuration reads a duration: a number of milliseconds or a Go duration
// string ("50ms").
func paramDuration(params map[string]any, key string, def time.Duration) (time.Duration, error) {
	v, ok := params[key]
	if !ok {
		return def, nil
	}
	d, _, err := paramSignedDuration(params, key)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("param %s=%v is negative", key, v)
	}
	return d, nil
}

// millis converts a number of milliseconds to a duration, or fails when it
// is not finite or does not fit.
func millis(ms float64) (time.Duration, bool) {
	ns := ms * float64(time.Millisecond)
	if !(ns > math.MinInt64 && ns < math.MaxInt64) { // NaN too
		return 0, false
	}
	return time.Duration(ns), true
}

// paramRate reads a rate in bits per second: a number, or a string with a
// unit ("512kbit", "8mbit", "1gbit").
func paramRate(params map[string]any, key string, def uint64) (uint64, error) {
	v, ok := params[key]
	if !ok {
		return def, nil
	}
	var bits float64
	switch x := v.(type) {
	case float64:
		bits = x
	case int:
		bits = float64(x)
	case uint64:
		bits = float64(x)
	case string:
		s := strings.ToLower(strings.TrimSpace(x))
		mult := 1.0
		for _, u := range []struct {
			suffix string
			mult   float64
		}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}} {
			if strings.HasSuffix(s, u.suffix) {
				s, mult = strings.TrimSuffix(s, u.suffix), u.mult
				break
			}
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return 0, fmt.Errorf("param %s=%q is not a rate (e.g. 8mbit)", key, x)
		}
		bits = f * mult
	default:
		return 0, fmt.Errorf("param %s=%v is not a rate", key, v)
	}
	if !(bits >= 8000) { // NaN too
		return 0, fmt.Errorf("param %s=%v is below 8kbit", key, v)
	}
	if bits >= math.MaxUint64 {
		return 0, fmt.Errorf("param %s=%v is too large", key, v)
	}
	return uint64(bits), nil
}
