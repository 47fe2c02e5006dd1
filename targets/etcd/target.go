// Package etcd is the etcd target: a real etcd cluster (the server built
// from Go modules by package etcdbin, pinned there) tested through the
// official client. A node is `faultline node etcd ...`, which execs the
// etcd binary with static membership, so kill, pause and the network
// nemeses act on etcd itself. etcd has no faultline seam (clock, disk and
// message faults need the bundled nodes' admin endpoint), so those
// nemeses refuse it.
package etcd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/etcdbin"
	"github.com/faultline-io/faultline/nemesis"
	"github.com/faultline-io/faultline/targets"
)

func init() { targets.Register(Target{opts: defaultOptions()}) }

// RoleLeader is the role of the node that leads (from the maintenance
// Status API).
const RoleLeader = "leader"

// ErrCodeCASMismatch is the error of a cas whose Txn compare failed: a
// definite answer, counted as served.
const ErrCodeCASMismatch = "cas-mismatch"

// Options are the target options (--target-opt KEY=VALUE).
type Options struct {
	// ReadConsistency is "linearizable" (the default: a quorum read) or
	// "serializable" (served from the member's local state, which etcd
	// documents may be stale: the linearizable checker flags it).
	ReadConsistency string
	// RequestTimeout caps each request (0: the operation's own timeout).
	RequestTimeout time.Duration
	// DialTimeout bounds a client's first connection.
	DialTimeout time.Duration
	// ElectionTimeout and HeartbeatInterval are the server's
	// --election-timeout and --heartbeat-interval.
	ElectionTimeout, HeartbeatInterval time.Duration
}

func defaultOptions() Options {
	return Options{ReadConsistency: "linearizable", DialTimeout: 2 * time.Second,
		ElectionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond}
}

// OptionKeys returns the keys --target-opt takes for etcd, with what each
// means.
func (Target) OptionKeys() map[string]string { return optionKeys }

var optionKeys = map[string]string{
	"read-consistency":   "linearizable (default) or serializable",
	"request-timeout":    "cap on each request, e.g. 500ms (default: the operation timeout)",
	"dial-timeout":       "client connection timeout (default 2s)",
	"election-timeout":   "server --election-timeout (default 1s)",
	"heartbeat-interval": "server --heartbeat-interval (default 100ms)",
}

// Target is the etcd target. It implements targets.Target,
// targets.RoleResolver, targets.HealthChecker, targets.Configurable and
// targets.NodePreparer.
type Target struct{ opts Options }

var (
	_ targets.Target         = Target{}
	_ targets.RoleResolver   = Target{}
	_ targets.HealthChecker  = Target{}
	_ targets.Configurable   = Target{}
	_ targets.NodePreparer   = Target{}
	_ targets.NemesisRefuser = Target{}
)

// Name returns "etcd".
func (Target) Name() string { return "etcd" }

// Options returns the target's options.
func (t Target) Options() Options { return t.opts }

// Configure returns the target with opts applied (see OptionKeys).
func (t Target) Configure(opts map[string]string) (targets.Target, error) {
	o := t.opts
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		v := opts[k]
		switch k {
		case "read-consistency":
			if v != "linearizable" && v != "serializable" {
				return nil, fmt.Errorf("target option %s=%s: want linearizable or serializable", k, v)
			}
			o.ReadConsistency = v
		case "request-timeout", "dial-timeout", "election-timeout", "heartbeat-interval":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 || (d == 0 && k != "request-timeout") {
				return nil, fmt.Errorf("target option %s=%s: want a positive duration such as 500ms", k, v)
			}
			switch k {
			case "request-timeout":
				o.RequestTimeout = d
			case "dial-timeout":
				o.DialTimeout = d
			case "election-timeout":
				o.ElectionTimeout = d
			case "heartbeat-interval":
				o.HeartbeatInterval = d
			}
		default:
			return nil, fmt.Errorf("target option %q: etcd takes %s", k, strings.Join(slices.Sorted(maps.Keys(optionKeys)), ", "))
		}
	}
	if o.ElectionTimeout < 5*o.HeartbeatInterval {
		return nil, fmt.Errorf("target options: election-timeout %v must be at least 5 times heartbeat-interval %v (etcd refuses less)",
			o.ElectionTimeout, o.HeartbeatInterval)
	}
	return Target{opts: o}, nil
}

// Workloads returns "register" (read = Range, write = Put, cas = Txn),
// checked for linearizability.
func (Target) Workloads() []targets.Workload {
	return []targets.Workload{
		{Name: "register", Ops: []string{"read", "write", "cas"}, Checkers: []string{"linearizable", "stats"}},
	}
}

// Bugs returns none: etcd is tested as it is released.
func (Target) Bugs() []targets.Bug { return nil }

// Roles returns "leader".
func (Target) Roles() []string { return []string{RoleLeader} }

// AnsweredErrors returns the cas mismatch.
func (Target) AnsweredErrors() []string { return []string{ErrCodeCASMismatch} }

// PrepareNodes builds (once, cached) the etcd binary and asks for a peer
// port per node; the docker runtime puts the binary at /etcd in the node
// image, beside /faultline.
func (Target) PrepareNodes(ctx context.Context, progress io.Writer) (targets.NodeRequirements, error) {
	path, err := etcdbin.Ensure(ctx, progress)
	if err != nil {
		return targets.NodeRequirements{}, err
	}
	return targets.NodeRequirements{PeerPort: true, Files: map[string]string{"etcd": path}}, nil
}

// NodeCommand returns `node etcd --id ... --listen HOST:PORT --peer-listen
// HOST:PORT --peers n1=HOST:PORT,... --data DIR` and the server timing
// options; the peers are the peer addresses.
func (t Target) NodeCommand(self cluster.Peer, peers []cluster.Peer, dataDir string, _ []string, _ uint64) []string {
	ps := make([]string, len(peers))
	for i, p := range peers {
		ps[i] = p.ID + "=" + p.PeerAddr
	}
	return []string{"node", "etcd", "--id", self.ID, "--listen", self.Addr, "--peer-listen", self.PeerAddr,
		"--peers", strings.Join(ps, ","), "--data", dataDir,
		"--election-timeout", strconv.FormatInt(t.opts.ElectionTimeout.Milliseconds(), 10),
		"--heartbeat-interval", strconv.FormatInt(t.opts.HeartbeatInterval.Milliseconds(), 10)}
}

// NodeMain execs the etcd server (see NodeMain).
func (Target) NodeMain(ctx context.Context, args []string, stderr io.Writer) error {
	return NodeMain(ctx, args, stderr)
}

// NewClient returns a client for one worker (workload "register").
func (t Target) NewClient(nodes []cluster.Node, _ string) (targets.Client, error) {
	return NewClient(nodes, t.opts)
}

// ResolveRole returns the leader's node id for RoleLeader.
func (t Target) ResolveRole(ctx context.Context, nodes []cluster.Node, role string) (string, error) {
	if role != RoleLeader {
		return "", fmt.Errorf("etcd has no role %q (roles: %s)", role, RoleLeader)
	}
	st, err := statuses(ctx, nodes, t.opts)
	if err != nil && len(st) == 0 {
		return "", err
	}
	for id, s := range st {
		if s.Leader != 0 && s.Leader == s.Member {
			return id, nil
		}
	}
	return "", errors.New("no member reports that it leads")
}

// Healthy returns nil once every node answers Status and they agree on a
// leader.
func (t Target) Healthy(ctx context.Context, nodes []cluster.Node) error {
	st, err := statuses(ctx, nodes, t.opts)
	if err != nil {
		return err
	}
	var leader uint64
	for id, s := range st {
		switch {
		case s.Leader == 0:
			return fmt.Errorf("%s has no leader", id)
		case leader != 0 && s.Leader != leader:
			return fmt.Errorf("members disagree on the leader (%x, %x)", leader, s.Leader)
		}
		leader = s.Leader
	}
	return nil
}

// RefuseNemesis implements targets.NemesisRefuser: the seam nemeses
// (clock, disk and message faults) act through the admin endpoint of
// faultline's bundled nodes, which etcd does not serve; and no kernel
// gives one container its own wall clock.
func (Target) RefuseNemesis(name string) error {
	return nemesis.RefuseSeam(name, "etcd")
}
