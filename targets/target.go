// Package targets holds the registry of systems faultline can test and the
// interfaces a target implements. Each bundled target (raft, crdt, twopc) has a
// pure protocol core, a node shell and a client in its own sub-package.
package targets

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/history"
)

// Bug is a seeded bug a target can be built with, paired with the nemesis
// and checker that should expose it.
type Bug struct {
	Name        string
	Description string
	Nemesis     []string // nemeses that expose it
	// Scenario, when set, is the scenario file (a path from the repository
	// root, e.g. docs/scenarios/x.yaml) that exposes it: Nemesis then
	// names the nemeses the scenario uses, timed so that they overlap.
	Scenario string
	// SimScenario, when set, is the scenario that exposes it best in the
	// simulator (`faultline sim`): one that times faults to protocol
	// steps (nemesis kill-after-vote), which no real runtime can, or one
	// that fits the simulator's timing better than Scenario does.
	SimScenario string
	Workload    string
	Checker     string
}

// Workload is one workload a target serves: a generator of package
// workloads, the ops of it the target implements (the generator issues only
// these), and the checkers that decide histories of it on this target.
type Workload struct {
	Name     string
	Ops      []string
	Checkers []string
}

// Target is a system under test. A target package registers one Target
// (Register, from its init function); the CLI, the harness and `faultline
// targets` learn everything about it from that registration: how to run a
// node, its clients, workloads, checkers, seeded bugs and roles.
type Target interface {
	Name() string
	// NodeMain runs one node until ctx is done or it fails; `faultline node
	// NAME ARGS` calls it with ARGS (those NodeCommand returned after
	// "node NAME").
	NodeMain(ctx context.Context, args []string, stderr io.Writer) error
	// NodeCommand returns the arguments, after the faultline binary, that
	// run node self: "node", Name(), then NodeMain's arguments. The node
	// listens on self.Addr and draws all its randomness from seed (see
	// NodeSeed).
	NodeCommand(self cluster.Peer, peers []cluster.Peer, dataDir string, bugs []string, seed uint64) []string
	// NewClient returns a client for one worker running workload. Clients
	// are not shared between workers. A client given one node asks that
	// node first (the final reads of each node use one).
	NewClient(nodes []cluster.Node, workload string) (Client, error)
	// Workloads lists the workloads the target serves.
	Workloads() []Workload
	// Bugs lists the seeded bugs, each with the nemesis that exposes it.
	Bugs() []Bug
	// Roles names the roles some node plays ("leader", "coordinator"), which
	// nemeses may select; RoleResolver resolves them. None for a
	// leaderless target.
	Roles() []string
	// AnsweredErrors are the errors of failed operations that the target
	// answered rather than refused or lost (its precondition did not hold,
	// e.g. a cas whose expected value was not there): availability counts
	// them as served.
	AnsweredErrors() []string
}

// RoleResolver is implemented by targets with Roles: it returns the id of
// the node that currently plays role, or an error when none does.
type RoleResolver interface {
	ResolveRole(ctx context.Context, nodes []cluster.Node, role string) (string, error)
}

// Client performs operations against a cluster for one worker.
type Client interface {
	// Invoke performs op (of type invoke) and returns its completion with
	// Type ok, fail (certainly not applied) or info (may have been applied),
	// Value filled for reads, and Node naming the node that answered. It
	// must return by the time ctx is done. Time and Index are set by the
	// caller.
	Invoke(ctx context.Context, op history.Op) history.Op
	Close() error
}

// StatsReporter is implemented by targets whose nodes measure what no
// client sees, such as how long a two-phase-commit participant stayed
// blocked in doubt. After the final reads the harness records what
// TargetStats returns as the value of a nemesis op with f TargetStatsF, for
// the checkers.
type StatsReporter interface {
	TargetStats(ctx context.Context, nodes []cluster.Node) (json.RawMessage, error)
}

// TargetStatsF is the f of the history op holding StatsReporter's answer.
const TargetStatsF = "target-stats"

// HealthChecker is implemented by targets that can tell when the cluster is
// ready for clients (e.g. a leader has been elected).
type HealthChecker interface {
	Healthy(ctx context.Context, nodes []cluster.Node) error
}

// WorkloadOf returns t's workload named name.
func WorkloadOf(t Target, name string) (Workload, error) {
	var names []string
	for _, w := range t.Workloads() {
		if w.Name == name {
			return w, nil
		}
		names = append(names, w.Name)
	}
	return Workload{}, fmt.Errorf("target %s serves workloads %v", t.Name(), names)
}

// HasRole reports whether t declares role.
func HasRole(t Target, role string) bool { return slices.Contains(t.Roles(), role) }

var (
	mu       sync.RWMutex
	registry = map[string]Target{}
)

// Register adds t to the registry; it panics on a duplicate name.
func Register(t Target) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[t.Name()]; dup {
		panic("targets: duplicate target " + t.Name())
	}
	registry[t.Name()] = t
}

// Get returns the target named name.
func Get(name string) (Target, error) {
	mu.RLock()
	defer mu.RUnlock()
	t, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("unknown target %q (known: %v)", name, namesLocked())
	}
	return t, nil
}

// All returns every registered target, sorted by name.
func All() []Target {
	mu.RLock()
	defer mu.RUnlock()
	var ts []Target
	for _, n := range namesLocked() {
		ts = append(ts, registry[n])
	}
	return ts
}

func namesLocked() []string {
	var names []string
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// NodeSeed is the seed of node id's randomness in a run with the given
// seed: a function of the two alone, never zero, so the same run seed gives
// every node the same random choices again.
func NodeSeed(runSeed int64, id string) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s", runSeed, id)
	if s := h.Sum64(); s != 0 {
		return s
	}
	return 1
}

// Configurable is implemented by targets that take options
// (`--target-opt KEY=VALUE`, recorded in test.json).
type Configurable interface {
	// Configure returns the target with opts applied. An unknown key or a
	// bad value is an error that names it.
	Configure(opts map[string]string) (Target, error)
	// OptionKeys describes each key Configure takes, for `faultline
	// targets`.
	OptionKeys() map[string]string
}

// Configured returns t with opts (each KEY=VALUE) applied; t itself when
// there are none. A target that takes no options refuses any.
func Configured(t Target, opts []string) (Target, error) {
	if len(opts) == 0 {
		return t, nil
	}
	m := map[string]string{}
	for _, o := range opts {
		k, v, ok := strings.Cut(o, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("target option %q is not KEY=VALUE", o)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("target option %s given twice", k)
		}
		m[k] = v
	}
	c, ok := t.(Configurable)
	if !ok {
		return nil, fmt.Errorf("target %s takes no options", t.Name())
	}
	return c.Configure(m)
}

// NodeRequirements is what a target's nodes need beyond the faultline
// binary and one port.
type NodeRequirements struct {
	// PeerPort asks the runtime for a second port per node
	// (cluster.Peer.PeerAddr).
	PeerPort bool
	// Files are more static executables the nodes run, by name: the docker
	// runtime puts each at /<name> in the node image, beside /faultline;
	// nodes on the other runtimes run on this machine and find them where
	// PrepareNodes left them.
	Files map[string]string
}

// NodePreparer is implemented by targets whose nodes need more than the
// faultline binary (a third-party server). PrepareNodes runs before the
// cluster starts; it may build or fetch what the nodes run, printing
// progress to w.
type NodePreparer interface {
	PrepareNodes(ctx context.Context, w io.Writer) (NodeRequirements, error)
}
