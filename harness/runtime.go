package harness

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/faultline-io/faultline/cluster"
)

// RuntimeFactory makes a runtime. Probe returns nil when the runtime can run
// on this machine, else the reason it cannot.
type RuntimeFactory struct {
	New   func() (cluster.Runtime, error)
	Probe func(ctx context.Context) error
	// Rank orders runtimes for --runtime auto: lower is preferred.
	Rank int
}

var (
	rtMu     sync.RWMutex
	runtimes = map[string]RuntimeFactory{
		"local": {
			New:   func() (cluster.Runtime, error) { return cluster.Local{}, nil },
			Probe: func(context.Context) error { return nil },
			Rank:  100,
		},
	}
)

// RegisterRuntime makes a runtime selectable with --runtime.
func RegisterRuntime(name string, f RuntimeFactory) {
	rtMu.Lock()
	defer rtMu.Unlock()
	runtimes[name] = f
}

// RuntimeNames lists the registered runtimes.
func RuntimeNames() []string {
	rtMu.RLock()
	defer rtMu.RUnlock()
	var ns []string
	for n := range runtimes {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// ResolveRuntime returns the runtime named name; "auto" picks the preferred
// runtime whose probe passes (docker, then netns, then local).
func ResolveRuntime(ctx context.Context, name string) (string, cluster.Runtime, error) {
	rtMu.RLock()
	defer rtMu.RUnlock()
	if name != "auto" {
		f, ok := runtimes[name]
		if !ok {
			return "", nil, fmt.Errorf("unknown runtime %q", name)
		}
		if err := f.Probe(ctx); err != nil {
			return "", nil, fmt.Errorf("runtime %s is not usable here: %w", name, err)
		}
		rt, err := f.New()
		return name, rt, err
	}
	names := make([]string, 0, len(runtimes))
	for n := range runtimes {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return runtimes[names[i]].Rank < runtimes[names[j]].Rank })
	for _, n := range names {
		if runtimes[n].Probe(ctx) == nil {
			rt, err := runtimes[n].New()
			return n, rt, err
		}
	}
	return "", nil, fmt.Errorf("no runtime is usable")
}
