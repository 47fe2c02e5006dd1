// Package targets holds the registry of systems faultline can test and the
// interfaces a target implements. Each bundled target (raft, crdt, twopc) has a
// pure protocol core, a node shell and a client in its own sub-package.
package targets

import (
	"context"
	"fmt"
	"hash/fnv"
	"sort"
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
	Workload    string
	Checker     string
}

// Target is a system under test.
type Target interface {
	Name() string
	// NodeCommand returns the arguments, after the faultline binary, that
	// run node self. The node listens on self.Addr and draws all its
	// randomness from seed (see NodeSeed).
	NodeCommand(self cluster.Peer, peers []cluster.Peer, dataDir string, bugs []string, seed uint64) []string
	// NewClient returns a client for one worker. Clients are not shared
	// between workers.
	NewClient(nodes []cluster.Node) (Client, error)
	Workloads() []string
	Bugs() []Bug
}

// Client performs operations against a cluster for one worker.
type Client interface {
	// Invoke performs op (of type invoke) and returns its completion with
	// Type ok, fail (certainly not applied) or info (may have been applied),
	// Value filled for reads, and Node naming the node that was asked. It
	// must return by the time ctx is done. Time and Index are set by the
	// caller.
	Invoke(ctx context.Context, op history.Op) history.Op
	Close() error
}

// LeaderReporter is implemented by targets that have a leader; nemeses that
// target the leader use it.
type LeaderReporter interface {
	// Leader returns the id of the node that currently believes it leads
	// with the highest term, or an error when there is none.
	Leader(ctx context.Context, nodes []cluster.Node) (string, error)
}

// HealthChecker is implemented by targets that can tell when the cluster is
// ready for clients (e.g. a leader has been elected).
type HealthChecker interface {
	Healthy(ctx context.Context, nodes []cluster.Node) error
}

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
