package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// ErrNotRunning is wrapped by Node.NetNS when the node is down and has no
// network namespace at all (a stopped Docker container). Its faults went
// with the namespace; a StartHook re-applies them when the node comes back.
var ErrNotRunning = errors.New("node is not running")

// StartHook runs after a node came back up in Start, with the node.
type StartHook func(ctx context.Context, n Node) error

// StartHooker is implemented by the nodes of every built-in runtime. A
// restart loses what lived in the old process or namespace, and nemeses
// register a hook that re-applies their desired state:
//
//   - network faults on Docker, whose containers get a new network
//     namespace on every start (verified: after ContainerKill +
//     ContainerStart the container has a new veth and none of the tables of
//     its old namespace); netns nodes keep theirs, where re-applying
//     rewrites the same rules;
//   - seam faults (clock, message rules), which live in the node process.
type StartHooker interface {
	// SetStartHook registers hook under key, replacing any hook with the
	// same key; a nil hook removes it. Start runs every hook after the node
	// is running and returns their errors.
	SetStartHook(key string, hook StartHook)
}

// RunningReporter is implemented by the nodes of every built-in runtime:
// whether the node's process (container) runs now. A nemesis that cannot
// reach a node asks it, to tell a node that is down (its fault can wait
// for a start hook) from one that is up but unreachable (an error).
type RunningReporter interface {
	Running(ctx context.Context) (bool, error)
}

// StartHooks is a set of start hooks by key, for nodes to embed: it
// implements StartHooker. The zero value is empty and ready.
type StartHooks struct {
	mu    sync.Mutex
	hooks map[string]StartHook
}

// SetStartHook implements StartHooker.
func (h *StartHooks) SetStartHook(key string, hook StartHook) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if hook == nil {
		delete(h.hooks, key)
		return
	}
	if h.hooks == nil {
		h.hooks = map[string]StartHook{}
	}
	h.hooks[key] = hook
}

// startProcess starts p, then runs h's hooks with n: Start of the nodes
// that are child processes (local, netns).
func startProcess(ctx context.Context, p *Process, h *StartHooks, n Node) error {
	if err := p.Start(ctx); err != nil {
		return err
	}
	return h.RunStartHooks(ctx, n)
}

// RunStartHooks runs every hook, in key order, with n (the node that
// started); it runs them all and joins their errors.
func (h *StartHooks) RunStartHooks(ctx context.Context, n Node) error {
	h.mu.Lock()
	keys := make([]string, 0, len(h.hooks))
	for k := range h.hooks {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	hooks := make([]StartHook, len(keys))
	for i, k := range keys {
		hooks[i] = h.hooks[k]
	}
	h.mu.Unlock()
	var errs []error
	for i, hook := range hooks {
		if err := hook(ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("%s started, but start hook %s failed: %w", n.ID(), keys[i], err))
		}
	}
	return errors.Join(errs...)
}
