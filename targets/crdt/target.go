package crdt

import (
	"context"
	"io"
	"strconv"
	"strings"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/targets"
	"github.com/faultline-io/faultline/targets/peer"
)

func init() { targets.Register(Target{}) }

// Seeded bugs (see Target.Bugs).
const (
	BugSumMerge      = "sum-merge"
	BugRemoveByValue = "remove-by-value"
	BugGossipDrop    = "gossip-drop"
	BugLWWWallClock  = "lww-wall-clock"
)

// BugNames lists the seeded bugs by name.
func BugNames() []string {
	return []string{BugSumMerge, BugRemoveByValue, BugGossipDrop, BugLWWWallClock}
}

// Target is the bundled CRDT store: every node accepts reads and writes of
// PN-Counters, OR-Sets, LWW and MV registers and converges by gossip. It
// has no roles. It implements targets.Target and targets.HealthChecker,
// and harness.Simulable: SimTarget (simulate.go) runs it under `faultline
// sim`.
type Target struct{}

var (
	_ targets.Target        = Target{}
	_ targets.HealthChecker = Target{}
)

// Name returns "crdt".
func (Target) Name() string { return "crdt" }

// Workloads returns the workloads and the CRDT serving each: counter
// (PN-Counter), set (OR-Set), register (LWW register: read and write, no
// cas; checked for linearizability too, which LWW does not promise, so a
// false verdict there is a finding about LWW, not a failure),
// lww-register (the same, checked for convergence only) and mv-register.
func (Target) Workloads() []targets.Workload {
	conv := []string{"convergence", "stats"}
	return []targets.Workload{
		{Name: "counter", Ops: []string{"read", "add"}, Checkers: conv},
		{Name: "set", Ops: []string{"read", "add", "remove"}, Checkers: conv},
		{Name: "register", Ops: []string{"read", "write"}, Checkers: []string{"linearizable", "convergence", "stats"}},
		{Name: "lww-register", Ops: []string{"read", "write"}, Checkers: conv},
		{Name: "mv-register", Ops: []string{"read", "write"}, Checkers: conv},
	}
}

// Roles returns none: every node plays the same part.
func (Target) Roles() []string { return nil }

// AnsweredErrors returns none: a CRDT update has no precondition.
func (Target) AnsweredErrors() []string { return nil }

// NodeMain runs one node (see the package-level NodeMain).
func (Target) NodeMain(ctx context.Context, args []string, stderr io.Writer) error {
	return NodeMain(ctx, args, stderr)
}

// NodeCommand returns `node crdt --id ... --listen ... --peers ... --data
// ... --seed N` and one --bug per bug.
func (Target) NodeCommand(self cluster.Peer, peers []cluster.Peer, dataDir string, bugs []string, seed uint64) []string {
	ps := make([]string, len(peers))
	for i, p := range peers {
		ps[i] = p.ID + "=" + p.Addr
	}
	args := []string{"node", "crdt", "--id", self.ID, "--listen", self.Addr, "--peers", strings.Join(ps, ","), "--data", dataDir,
		"--seed", strconv.FormatUint(seed, 10)}
	for _, b := range bugs {
		args = append(args, "--bug", b)
	}
	return args
}

// NewClient returns a client for one worker of workload.
func (Target) NewClient(nodes []cluster.Node, workload string) (targets.Client, error) {
	return NewClient(nodes, workload)
}

// Bugs returns the seeded bugs, each with the nemesis that exposes it.
func (Target) Bugs() []targets.Bug {
	return []targets.Bug{
		{
			Name: BugSumMerge,
			Description: "a counter merge adds the replicas' entries instead of taking the maximum, so every " +
				"exchange between replicas that differ counts the same increments again",
			Nemesis: []string{"partition"}, Workload: "counter", Checker: "convergence",
		},
		{
			Name: BugRemoveByValue,
			Description: "a node that removed an element deletes every tag of it that later reaches it by gossip, " +
				"tags its remove never observed: a re-add made elsewhere after the remove is lost",
			Nemesis: []string{"partition"}, Workload: "set", Checker: "convergence",
		},
		{
			Name: BugGossipDrop,
			Description: "a digest covers only the keys changed since the last digest to that peer and is never " +
				"retried: updates whose exchange was cut by a partition never reach the other side",
			Nemesis: []string{"partition"}, Workload: "counter", Checker: "convergence",
		},
		{
			Name: BugLWWWallClock,
			Description: "the LWW register stamps writes with the node's clock alone, no hybrid logical clock: a " +
				"node whose clock is behind loses writes made after it had seen a newer value",
			Nemesis: []string{"clock-jump"}, Workload: "lww-register", Checker: "convergence",
		},
	}
}

// Healthy returns nil when every node answers HealthPath: every node
// serves on its own, so all of them must run.
func (Target) Healthy(ctx context.Context, nodes []cluster.Node) error {
	return peer.AllHealthy(ctx, nodes, HealthPath)
}
