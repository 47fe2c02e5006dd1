package nemesis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/faultline-io/faultline/cluster"
)

// Selections understood by the process nemeses.
const (
	SelectOne    = "one"
	SelectLeader = "leader"
	// SelectCoordinator is the two-phase-commit coordinator.
	SelectCoordinator = "coordinator"
	SelectMinority    = "minority"
	SelectMajority    = "majority"
	SelectAll         = "all"
	// SelectParticipants is every node but the coordinator: a kill of
	// them all at once takes every participant's in-doubt transactions
	// down together while the coordinator keeps its decisions.
	SelectParticipants = "participants"
	// SelectFollowers is every node but the leader.
	SelectFollowers = "followers"
)

// Selector is implemented by nemeses that choose their nodes with
// SelectNodes; schedules pick one of Selects() for each fault.
type Selector interface {
	Selects() []string
}

// SelectNodes resolves a selection to node ids, using f's seed for random
// choices. "leader" asks env.Leader; it fails when there is no leader rather
// than picking another node silently.
func SelectNodes(ctx context.Context, env Env, f Fault) ([]string, error) {
	var ids []string
	for _, n := range env.Cluster.Nodes() {
		ids = append(ids, n.ID())
	}
	return selectIDs(ctx, env, f, ids)
}

func selectIDs(ctx context.Context, env Env, f Fault, ids []string) ([]string, error) {
	r := f.Rand()
	shuffled := append([]string(nil), ids...)
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	var out []string
	switch f.Select {
	case "", SelectOne:
		out = shuffled[:1]
	case SelectMinority:
		out = shuffled[:max(1, (len(ids)-1)/2)]
	case SelectMajority:
		out = shuffled[:len(ids)/2+1]
	case SelectAll:
		out = shuffled
	case SelectLeader, SelectCoordinator:
		id, err := env.resolveRole(ctx, f.Select)
		if err != nil {
			return nil, err
		}
		out = []string{id}
	case SelectParticipants, SelectFollowers:
		id, err := env.resolveRole(ctx, complementedRole[f.Select])
		if err != nil {
			return nil, err
		}
		out = slices.DeleteFunc(shuffled, func(s string) bool { return s == id })
	default:
		return nil, fmt.Errorf("unknown selection %q (want one, leader, coordinator, minority, majority, all, followers or participants)", f.Select)
	}
	out = append([]string(nil), out...)
	sort.Strings(out)
	return out, nil
}

// processNemesis applies a per-node action (kill, pause) and remembers which
// nodes it affected so that Heal can undo exactly those.
type processNemesis struct {
	name    string
	note    string
	selects []string
	apply   func(ctx context.Context, n cluster.Node) error
	undo    func(ctx context.Context, n cluster.Node) error

	mu       sync.Mutex
	affected map[string]bool
}

func (p *processNemesis) Name() string { return p.name }

func (p *processNemesis) Selects() []string { return p.selects }

// Available is nil: every runtime can kill and pause its nodes.
func (p *processNemesis) Available(c cluster.Cluster) error { return nil }

func (p *processNemesis) Invoke(ctx context.Context, env Env, f Fault) (Fault, error) {
	if f.Select == "" && len(p.selects) > 0 {
		// A scenario may leave select out: the nemesis's own default,
		// so kill-coordinator kills the coordinator.
		f.Select = p.selects[0]
	}
	ids, err := SelectNodes(ctx, env, f)
	if err != nil {
		return f, err
	}
	f.Nodes, f.Note = ids, p.note
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.affected == nil {
		p.affected = map[string]bool{}
	}
	// Every selected node at once: killing all is a power loss, not a
	// rolling restart.
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		n := cluster.NodeByID(env.Cluster, id)
		if n == nil {
			errs[i] = fmt.Errorf("no node %s", id)
			continue
		}
		// Record before applying: a half-applied fault must still be healed.
		p.affected[id] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.apply(ctx, n); err != nil {
				errs[i] = fmt.Errorf("%s %s: %w", p.name, id, err)
			}
		}()
	}
	wg.Wait()
	return f, errors.Join(errs...)
}

func (p *processNemesis) Heal(ctx context.Context, env Env) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, n := range env.Cluster.Nodes() {
		if !p.affected[n.ID()] {
			continue
		}
		if err := p.undo(ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("heal %s %s: %w", p.name, n.ID(), err))
			continue
		}
		delete(p.affected, n.ID())
	}
	return errors.Join(errs...)
}

func init() {
	Register("kill", func() Nemesis {
		return &processNemesis{
			name: "kill",
			note: "SIGKILL, restarted on the same data at heal",
			// all: every node at once, as a power loss would.
			selects: []string{SelectOne, SelectLeader, SelectCoordinator, SelectMinority, SelectMajority, SelectAll},
			apply:   func(ctx context.Context, n cluster.Node) error { return n.Kill(ctx) },
			undo:    func(ctx context.Context, n cluster.Node) error { return n.Start(ctx) },
		}
	})
	Register("kill-coordinator", func() Nemesis {
		return &processNemesis{
			name:    "kill-coordinator",
			note:    "the coordinator SIGKILLed, restarted on the same data at heal",
			selects: []string{SelectCoordinator},
			apply:   func(ctx context.Context, n cluster.Node) error { return n.Kill(ctx) },
			undo:    func(ctx context.Context, n cluster.Node) error { return n.Start(ctx) },
		}
	})
	Register("pause", func() Nemesis {
		return &processNemesis{
			name:    "pause",
			note:    "paused (SIGSTOP or cgroup freezer), resumed at heal",
			selects: []string{SelectOne, SelectLeader, SelectCoordinator, SelectMinority, SelectMajority},
			apply:   func(ctx context.Context, n cluster.Node) error { return n.Pause(ctx) },
			undo:    func(ctx context.Context, n cluster.Node) error { return n.Resume(ctx) },
		}
	})
}
