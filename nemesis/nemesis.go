// Package nemesis defines faults, the Nemesis interface that applies and heals
// them, seeded schedules, and the process nemeses (kill, pause). Network
// nemeses live beside them and apply their faults through package
// nemesis/netfault; the seam nemeses (clock-*, disk-*, msg-*) act through
// the admin endpoint of the bundled nodes (package targets/seam).
package nemesis

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"sort"
	"sync"

	"github.com/faultline-io/faultline/cluster"
)

// Fault is one fault: what the schedule asked for and, once invoked, what was
// applied. It is recorded as the value of a nemesis op in the history and in
// schedule.json, so that a run can be replayed.
type Fault struct {
	// Nemesis names the nemesis that applies the fault ("kill", "partition").
	Nemesis string `json:"nemesis"`
	// Select chooses the nodes: "one", "leader", "minority", "majority",
	// "all", or a shape for partitions. Empty means the nemesis's default.
	Select string `json:"select,omitempty"`
	// Seed drives every random choice the nemesis makes for this fault.
	Seed int64 `json:"seed"`
	// Nodes are the nodes the fault was applied to (set by Invoke).
	Nodes []string `json:"nodes,omitempty"`
	// Grudge maps a node to the nodes it no longer hears (partitions).
	Grudge map[string][]string `json:"grudge,omitempty"`
	// Params holds nemesis-specific parameters (loss probability, rate...).
	Params map[string]any `json:"params,omitempty"`
	// Note says how the fault was applied ("SIGKILL", "docker pause",
	// "nftables drop at receiver"), for humans.
	Note string `json:"note,omitempty"`
}

// Rand returns the deterministic source for this fault's random choices.
func (f Fault) Rand() *rand.Rand { return rand.New(rand.NewSource(f.Seed)) }

// Env is what a nemesis may use while applying a fault.
type Env struct {
	Cluster cluster.Cluster
	// Leader returns the current leader's id; nil when the target has none.
	Leader func(ctx context.Context) (string, error)
	// Role returns the id of the node playing a role ("coordinator", and
	// "leader" when Leader is nil); nil when the target has no roles.
	Role func(ctx context.Context, role string) (string, error)
}

// resolveRole returns the node playing role, or an error naming why there
// is none; it never picks another node instead.
func (e Env) resolveRole(ctx context.Context, role string) (string, error) {
	var id string
	var err error
	switch {
	case role == SelectLeader && e.Leader != nil:
		id, err = e.Leader(ctx)
	case e.Role != nil:
		id, err = e.Role(ctx, role)
	default:
		return "", fmt.Errorf("this target has no %s", role)
	}
	if err != nil {
		return "", fmt.Errorf("find %s: %w", role, err)
	}
	return id, nil
}

// Nemesis injects one kind of fault.
//
// Invoke applies f and returns it as applied (Nodes, Grudge and Note filled).
// It must not block on a node that ignores it: it returns once the fault is
// in effect or has failed. Heal undoes every fault this nemesis applied; it is
// idempotent and must succeed even when nothing is applied.
type Nemesis interface {
	Name() string
	// Available returns nil, or a reason the fault cannot be applied on this
	// runtime or kernel.
	Available(c cluster.Cluster) error
	Invoke(ctx context.Context, env Env, f Fault) (Fault, error)
	Heal(ctx context.Context, env Env) error
}

// Factory builds a nemesis.
type Factory func() Nemesis

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Register makes a nemesis available by name. It panics on duplicates.
func Register(name string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := factories[name]; dup {
		panic("nemesis: duplicate " + name)
	}
	factories[name] = f
}

// New returns a fresh nemesis by name.
func New(name string) (Nemesis, error) {
	mu.RLock()
	defer mu.RUnlock()
	f, ok := factories[name]
	if !ok {
		return nil, fmt.Errorf("unknown nemesis %q (known: %v)", name, namesLocked())
	}
	return f(), nil
}

// Names lists the registered nemeses, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	return namesLocked()
}

func namesLocked() []string {
	var ns []string
	for n := range factories {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// MarshalValue encodes f for a history op value.
func (f Fault) MarshalValue() json.RawMessage {
	b, _ := json.Marshal(f)
	return b
}
