package twopc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/faultline-io/faultline/cluster"
	simulator "github.com/faultline-io/faultline/sim"
	"github.com/faultline-io/faultline/targets"
	"github.com/faultline-io/faultline/targets/peer"
)

func init() { targets.Register(Target{}) }

// RoleCoordinator is the role of the node that runs every transaction.
const RoleCoordinator = "coordinator"

// Seeded bugs (see Target.Bugs).
const (
	BugPresumeAbort    = "presume-abort"
	BugVolatilePrepare = "volatile-prepare"
	BugCommitBeforeLog = "commit-before-log"
	BugEarlyUnlock     = "early-unlock"
)

// BugNames lists the seeded bugs by name.
func BugNames() []string {
	return []string{BugPresumeAbort, BugVolatilePrepare, BugCommitBeforeLog, BugEarlyUnlock}
}

// Target is the bundled two-phase-commit bank: a coordinator (the lowest
// node id) runs every transaction over participants that hold the
// accounts (and register keys), sharded. It implements targets.Target,
// targets.RoleResolver, targets.HealthChecker and targets.StatsReporter,
// and runs under the simulator (SimTarget).
type Target struct{}

var (
	_ targets.Target        = Target{}
	_ targets.RoleResolver  = Target{}
	_ targets.HealthChecker = Target{}
	_ targets.StatsReporter = Target{}
)

// Name returns "twopc".
func (Target) Name() string { return "twopc" }

// Workloads returns bank (transfers and reads of every balance, checked by
// the bank checker) and register (single-key read, write and cas
// transactions, checked for linearizability).
func (Target) Workloads() []targets.Workload {
	return []targets.Workload{
		{Name: "bank", Ops: []string{"read", "transfer"}, Checkers: []string{"bank", "stats"}},
		{Name: "register", Ops: []string{"read", "write", "cas"}, Checkers: []string{"linearizable", "stats"}},
	}
}

// Roles returns "coordinator".
func (Target) Roles() []string { return []string{RoleCoordinator} }

// AnsweredErrors: a transfer from an account without the funds, a cas
// that found another value.
func (Target) AnsweredErrors() []string { return []string{ErrInsufficient, ErrCASMismatch} }

// NodeMain runs one node (see the package-level NodeMain).
func (Target) NodeMain(ctx context.Context, args []string, stderr io.Writer) error {
	return NodeMain(ctx, args, stderr)
}

// coordinatorOf is the coordinator of a cluster: its lowest node id.
func coordinatorOf(ids []string) string { return slices.Min(ids) }

// NodeCommand returns `node twopc --id ... --listen ... --peers ... --data
// ... --coordinator ID --seed N` and one --bug per bug.
func (Target) NodeCommand(self cluster.Peer, peers []cluster.Peer, dataDir string, bugs []string, seed uint64) []string {
	ps := make([]string, len(peers))
	ids := make([]string, len(peers))
	for i, p := range peers {
		ps[i] = p.ID + "=" + p.Addr
		ids[i] = p.ID
	}
	args := []string{"node", "twopc", "--id", self.ID, "--listen", self.Addr, "--peers", strings.Join(ps, ","),
		"--data", dataDir, "--coordinator", coordinatorOf(ids), "--seed", strconv.FormatUint(seed, 10)}
	for _, b := range bugs {
		args = append(args, "--bug", b)
	}
	return args
}

// SimTarget returns the twopc target under the simulator (`faultline
// sim`, harness.Simulable): the same Machine the node shell runs, driven as
// Node.Run drives it, each node's log a MemStorage that survives restarts
// and loses what was not fsynced when a crash is a power loss.
func (Target) SimTarget() simulator.Target { return simTarget{} }

// NewClient returns a client for one worker of workload.
func (Target) NewClient(nodes []cluster.Node, workload string) (targets.Client, error) {
	return NewClient(nodes, workload)
}

// ResolveRole returns the coordinator, which is fixed at start.
func (Target) ResolveRole(_ context.Context, nodes []cluster.Node, role string) (string, error) {
	if role != RoleCoordinator || len(nodes) == 0 {
		return "", fmt.Errorf("twopc has no role %q (roles: %s)", role, RoleCoordinator)
	}
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID()
	}
	return coordinatorOf(ids), nil
}

// Bugs returns the seeded bugs, each with what exposes it. Their windows
// are the time between a participant's yes vote and the decision reaching
// every node, a few milliseconds on a healthy network, so each is paired
// with delayed messages (msg-delay), which widen them; the bugs that also
// need a crash inside the window are paired with a scenario file that
// kills every participant (volatile-prepare) or the coordinator
// (commit-before-log) every few seconds while every message is delayed.
func (Target) Bugs() []targets.Bug {
	return []targets.Bug{
		{Name: BugPresumeAbort, Workload: "bank", Checker: "bank", Nemesis: []string{"msg-delay"},
			Scenario:    "docs/scenarios/presume-abort.yaml",
			SimScenario: "docs/scenarios/presume-abort-sim.yaml",
			Description: "a participant that voted yes and hears no decision aborts on its own; if the coordinator " +
				"committed, the transfer is half applied or lost"},
		{Name: BugVolatilePrepare, Workload: "bank", Checker: "bank", Nemesis: []string{"msg-delay", "kill"},
			Scenario: "docs/scenarios/volatile-prepare.yaml",
			Description: "the prepare record is not durable: a participant killed after voting yes forgets the " +
				"transaction, and the commit that follows finds nothing to apply"},
		{Name: BugCommitBeforeLog, Workload: "bank", Checker: "bank", Nemesis: []string{"msg-delay", "kill-coordinator"},
			Scenario: "docs/scenarios/commit-before-log.yaml",
			Description: "the coordinator sends commit before its decision is durable: killed in between, it " +
				"presumes abort for the participants that did not hear the commit"},
		{Name: BugEarlyUnlock, Workload: "bank", Checker: "bank", Nemesis: []string{"msg-delay"},
			Description: "a participant releases its locks when it votes, before the decision: two transfers from " +
				"one account both pass the balance check, and reads see undecided state"},
	}
}

// Healthy returns nil when every node answers HealthPath: the coordinator
// runs the transactions and every participant holds accounts.
func (Target) Healthy(ctx context.Context, nodes []cluster.Node) error {
	return peer.AllHealthy(ctx, nodes, HealthPath)
}

// NodeStats is one node's entry in the target-stats record: how many
// transactions it holds in doubt now, how long each transaction it was in
// doubt about stayed blocked (vote to decision), and how many it decided.
type NodeStats struct {
	InDoubt   int     `json:"in_doubt"`
	BlockedNS []int64 `json:"blocked_ns"`
	Decided   int     `json:"decided"`
}

// TargetStats returns every node's NodeStats by node id (nodes that do
// not answer are left out and named in the error).
func (Target) TargetStats(ctx context.Context, nodes []cluster.Node) (json.RawMessage, error) {
	var mu sync.Mutex
	out := map[string]NodeStats{}
	err := peer.EachNode(nodes, func(n cluster.Node) error {
		var st Stats
		if err := peer.GetJSON(ctx, n.Addr(), StatsPath, &st); err != nil {
			return err
		}
		mu.Lock()
		out[n.ID()] = NodeStats{InDoubt: st.InDoubt, BlockedNS: st.BlockedNanos, Decided: st.Decided}
		mu.Unlock()
		return nil
	})
	b, merr := json.Marshal(out)
	if merr != nil {
		return nil, merr
	}
	if err != nil {
		return b, fmt.Errorf("stats: %w", err)
	}
	return b, nil
}
