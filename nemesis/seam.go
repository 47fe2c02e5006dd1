package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/targets/seam"
)

// Seam nemeses (clock-*, disk-*, msg-*) act through the admin endpoint that
// faultline's bundled nodes serve beside their API (package targets/seam),
// on the node's one address (Node.Addr). They work on every runtime,
// including local, and on no foreign target: before applying anything they
// ask every node they will touch for GET /admin/state and fail, naming the
// node, when it does not answer or is not a bundled node. They never report
// a fault as applied that a node did not confirm.
//
// Seam state lives in the node process. A node restarted while a clock or
// message fault is on (a kill that overlaps it in a scenario) gets the fault
// again from a start hook (cluster.StartHooker) once its admin endpoint
// answers: the same jump, drift rate, strobe or message rules, counted from
// the restart (drift accumulated before it is not restored).

// seamSelects are the selections of the seam nemeses.
var seamSelects = []string{SelectLeader, SelectOne, SelectMinority, SelectMajority, SelectAll}

// SeamNemeses lists the nemeses that need the seams of bundled nodes, sorted.
func SeamNemeses() []string {
	return []string{"clock-drift", "clock-jump", "clock-reset", "clock-strobe", "disk-eio",
		"disk-lose-unsynced", "msg-delay", "msg-drop", "msg-dup", "msg-reorder"}
}

// seamClientsOrDown is seamClients for faults that can wait for a node:
// a node that does not answer and whose runtime says it is not running
// (killed, or not restarted yet) is returned in down instead of failing the
// fault, as long as at least one node answers the seam protocol (so the
// target is a bundled one). A node that runs but does not answer (paused,
// or unreachable) is an error: a start hook would never apply its fault.
func seamClientsOrDown(ctx context.Context, c cluster.Cluster, ids []string) (clients map[string]*seam.AdminClient, down []string, err error) {
	clients = map[string]*seam.AdminClient{}
	for _, id := range ids {
		n := cluster.NodeByID(c, id)
		if n == nil {
			return nil, nil, fmt.Errorf("no node %s", id)
		}
		ac := seam.NewAdminClient(n.Addr())
		if _, err := ac.State(ctx); err != nil {
			if rr, ok := n.(cluster.RunningReporter); ok && !errors.Is(err, seam.ErrNotBundled) {
				running, rerr := rr.Running(ctx)
				if rerr == nil && !running {
					down = append(down, id)
					continue
				}
				if rerr == nil {
					// It runs: it may have just been started and not
					// listen yet (or have been down when asked).
					err = retryAdmin(ctx, 3*time.Second, func(ctx context.Context) error {
						_, err := ac.State(ctx)
						return err
					})
				}
			}
			if err != nil {
				return nil, nil, fmt.Errorf("node %s: %w", id, err)
			}
		}
		clients[id] = ac
	}
	if len(clients) == 0 && len(down) > 0 {
		return nil, nil, fmt.Errorf("no node answers its admin endpoint (%v not running)", down)
	}
	return clients, down, nil
}

// seamClients returns an admin client for each id, after checking that the
// node answers the seam protocol; a node that is down is an error.
func seamClients(ctx context.Context, c cluster.Cluster, ids []string) (map[string]*seam.AdminClient, error) {
	clients, down, err := seamClientsOrDown(ctx, c, ids)
	if err == nil && len(down) > 0 {
		err = fmt.Errorf("node %s is not running", down[0])
	}
	return clients, err
}

// paramRand is the source of a fault's parameter draws: seeded by the
// fault, but apart from the stream SelectNodes uses.
func paramRand(f Fault) *rand.Rand { return rand.New(rand.NewSource(f.Seed ^ 0x5ea3_c10c_d15c)) }

// logUniform draws from [lo, hi) with a uniform logarithm, so that every
// order of magnitude is as likely.
func logUniform(r *rand.Rand, lo, hi float64) float64 {
	return math.Exp(math.Log(lo) + r.Float64()*(math.Log(hi)-math.Log(lo)))
}

// paramSignedDuration reads a duration that may be negative: a Go duration
// string ("-5s") or a number of milliseconds.
func paramSignedDuration(params map[string]any, key string) (time.Duration, bool, error) {
	v, ok := params[key]
	if !ok {
		return 0, false, nil
	}
	switch x := v.(type) {
	case float64:
		if d, ok := millis(x); ok {
			return d, true, nil
		}
		return 0, false, fmt.Errorf("param %s=%v is out of range for a duration in ms", key, v)
	case int:
		if x > math.MaxInt64/int(time.Millisecond) || x < math.MinInt64/int(time.Millisecond) {
			return 0, false, fmt.Errorf("param %s=%v is out of range for a duration in ms", key, v)
		}
		return time.Duration(x) * time.Millisecond, true, nil
	case time.Duration:
		return x, true, nil
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(x))
		if err != nil {
			return 0, false, fmt.Errorf("param %s=%q: %w", key, x, err)
		}
		return d, true, nil
	}
	return 0, false, fmt.Errorf("param %s=%v is not a duration", key, v)
}

// paramFloat reads a number (or a numeric string).
func paramFloat(params map[string]any, key string) (float64, bool, error) {
	v, ok := params[key]
	if !ok {
		return 0, false, nil
	}
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int:
		f = float64(x)
	case string:
		if _, err := fmt.Sscan(strings.TrimSpace(x), &f); err != nil {
			return 0, false, fmt.Errorf("param %s=%q is not a number", key, x)
		}
	default:
		return 0, false, fmt.Errorf("param %s=%v is not a number", key, v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false, fmt.Errorf("param %s=%v is not a finite number", key, v)
	}
	return f, true, nil
}

// affectedSet remembers the nodes a seam nemesis touched, so that Heal
// undoes exactly those.
type affectedSet struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (a *affectedSet) add(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ids == nil {
		a.ids = map[string]bool{}
	}
	a.ids[id] = true
}

// heal runs undo on every affected node in id order and forgets those it
// succeeded on.
func (a *affectedSet) heal(ctx context.Context, c cluster.Cluster, name string, undo func(ctx context.Context, n cluster.Node) error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := make([]string, 0, len(a.ids))
	for id := range a.ids {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var errs []string
	for _, id := range ids {
		n := cluster.NodeByID(c, id)
		if n == nil {
			delete(a.ids, id)
			continue
		}
		if err := undo(ctx, n); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", id, err))
			continue
		}
		delete(a.ids, id)
	}
	if len(errs) > 0 {
		return fmt.Errorf("heal %s: %s", name, strings.Join(errs, "; "))
	}
	return nil
}

// reapplyOnStart registers a start hook on node id that applies a fault
// again, through apply, once the restarted node's admin endpoint answers.
func reapplyOnStart(c cluster.Cluster, id, nemesis string, apply func(ctx context.Context, ac *seam.AdminClient) error) {
	if h, ok := cluster.NodeByID(c, id).(cluster.StartHooker); ok {
		h.SetStartHook("seam-"+nemesis, func(ctx context.Context, n cluster.Node) error {
			ac := seam.NewAdminClient(n.Addr())
			return retryAdmin(ctx, 10*time.Second, func(ctx context.Context) error { return apply(ctx, ac) })
		})
	}
}

// forgetOnStart removes the hook reapplyOnStart registered on n.
func forgetOnStart(n cluster.Node, nemesis string) {
	if h, ok := n.(cluster.StartHooker); ok {
		h.SetStartHook("seam-"+nemesis, nil)
	}
}

// retryAdmin calls f until it succeeds, ctx ends or timeout passes: a node
// that was just started needs a moment before it serves.
func retryAdmin(ctx context.Context, timeout time.Duration, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// RefuseSeam is the NemesisRefuser answer of a target whose nodes do not
// serve the bundled nodes' admin endpoint (a third-party system): nil for
// every nemesis but the seam ones, which it refuses naming what (e.g.
// "etcd") and what applies instead.
func RefuseSeam(name, what string) error {
	if !slices.Contains(SeamNemeses(), name) {
		return nil
	}
	return fmt.Errorf("%s acts through the admin endpoint of faultline's bundled nodes, which %s does not serve; "+
		"the process and network nemeses (kill, pause, partition, partition-leader, loss, ...) apply to it", name, what)
}
