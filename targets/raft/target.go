package raft

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/targets"
)

func init() { targets.Register(Target{}) }

// Seeded bugs (see Target.Bugs).
const (
	// BugAckBeforeCommit makes the leader acknowledge a write or cas as
	// soon as it is in its own log (the result computed from the state
	// its log would produce), answer reads from that state too, and
	// send new entries to followers only every 100 ms. Without faults this
	// looks like a correct leader; when the leader is killed, the
	// acknowledged entries no follower had yet are overwritten by the next
	// leader, and reads contradict what was acknowledged and read before.
	BugAckBeforeCommit = "ack-before-commit"
	// BugStaleRead makes the leader answer reads from its local state
	// without confirming that it still leads. A leader cut off from the
	// others keeps believing it leads for the check-quorum window (2.5 s)
	// and serves values the new leader has already overwritten.
	BugStaleRead = "stale-read"
	// BugLeaseRead makes the leader serve reads locally, without a quorum
	// round, while it holds a lease measured on its own clock (the clock
	// seam): each ReadIndex round that confirms its leadership extends the
	// lease to the round's start plus two thirds of the minimum election
	// timeout, and the lease only ever grows. With true clocks the lease
	// ends before any follower can elect another leader; but a leader whose
	// clock was ahead when it extended the lease (a jump, the ahead phase
	// of a strobe) and then fell back keeps a lease that lasts that much
	// longer in real time, and serves stale reads if it is cut off and
	// replaced meanwhile.
	BugLeaseRead = "lease-read"
	// BugNoFsync makes the node acknowledge log entries without fsync:
	// followers answer AppendEntries and the leader answers clients once
	// the WAL write is in the page cache (the storage seam's normal mode
	// keeps it across a kill). When writes not yet synced are lost (the
	// disk-lose-unsynced nemesis on a majority), acknowledged writes
	// vanish.
	BugNoFsync = "no-fsync"
	// BugForgetVote makes the node persist its term but not its vote, so
	// that after a restart it may vote again, for another candidate, in a
	// term it already voted in: two leaders in one term.
	BugForgetVote = "forget-vote"
)

type bugSet struct{ ackBeforeCommit, staleRead, leaseRead, noFsync, forgetVote bool }

func parseBugs(names []string) (bugSet, error) {
	var b bugSet
	for _, n := range names {
		switch n {
		case BugAckBeforeCommit:
			b.ackBeforeCommit = true
		case BugStaleRead:
			b.staleRead = true
		case BugLeaseRead:
			b.leaseRead = true
		case BugNoFsync:
			b.noFsync = true
		case BugForgetVote:
			b.forgetVote = true
		default:
			return b, fmt.Errorf("unknown bug %q (known: %s)", n, strings.Join(BugNames(), ", "))
		}
	}
	return b, nil
}

// BugNames lists the seeded bugs by name.
func BugNames() []string {
	return []string{BugAckBeforeCommit, BugStaleRead, BugLeaseRead, BugNoFsync, BugForgetVote}
}

// Target is the bundled Raft key-value store. It implements targets.Target,
// targets.RoleResolver and targets.HealthChecker.
type Target struct{}

var (
	_ targets.Target        = Target{}
	_ targets.RoleResolver  = Target{}
	_ targets.HealthChecker = Target{}
)

// RoleLeader is the role of the node that leads.
const RoleLeader = "leader"

// Name returns "raft".
func (Target) Name() string { return "raft" }

// Workloads returns the workloads the target serves: "register" (read,
// write, cas), checked for linearizability.
func (Target) Workloads() []targets.Workload {
	return []targets.Workload{
		{Name: "register", Ops: []string{"read", "write", "cas"}, Checkers: []string{"linearizable", "stats"}},
	}
}

// Roles returns "leader".
func (Target) Roles() []string { return []string{RoleLeader} }

// AnsweredErrors returns the definite errors that answer an operation: a
// cas whose expected value was not there.
func (Target) AnsweredErrors() []string { return []string{ErrCodeCASMismatch} }

// NodeMain runs one node (see the package-level NodeMain).
func (Target) NodeMain(ctx context.Context, args []string, stderr io.Writer) error {
	return NodeMain(ctx, args, stderr)
}

// ResolveRole returns the leader for RoleLeader.
func (t Target) ResolveRole(ctx context.Context, nodes []cluster.Node, role string) (string, error) {
	if role != RoleLeader {
		return "", fmt.Errorf("raft has no role %q (roles: %s)", role, RoleLeader)
	}
	return t.Leader(ctx, nodes)
}

// NodeCommand returns the arguments after the faultline binary that run
// node self: `node raft --id ... --listen ... --peers ... --data ...` and one
// --bug per bug.
func (Target) NodeCommand(self cluster.Peer, peers []cluster.Peer, dataDir string, bugs []string, seed uint64) []string {
	ps := make([]string, len(peers))
	for i, p := range peers {
		ps[i] = p.ID + "=" + p.Addr
	}
	args := []string{"node", "raft", "--id", self.ID, "--listen", self.Addr, "--peers", strings.Join(ps, ","), "--data", dataDir,
		"--seed", strconv.FormatUint(seed, 10)}
	for _, b := range bugs {
		args = append(args, "--bug", b)
	}
	return args
}

// NewClient returns a client for one worker.
// The workload is always "register".
func (Target) NewClient(nodes []cluster.Node, _ string) (targets.Client, error) {
	return NewClient(nodes)
}

// Bugs returns the seeded bugs, each with the nemesis that exposes it.
func (Target) Bugs() []targets.Bug {
	return []targets.Bug{
		{
			Name: BugAckBeforeCommit,
			Description: "the leader acknowledges a write or cas once it is in its own log, before a quorum has it, " +
				"serves reads from that log, and replicates in 100 ms batches; a killed leader's acknowledged " +
				"writes are overwritten by the next leader",
			Nemesis:  []string{"kill"},
			Workload: "register",
			Checker:  "linearizable",
		},
		{
			Name: BugStaleRead,
			Description: "the leader serves reads from local state without a ReadIndex quorum round; a partitioned " +
				"old leader keeps answering with values the new leader has overwritten",
			Nemesis:  []string{"partition-leader"},
			Workload: "register",
			Checker:  "linearizable",
		},
		{
			Name: BugLeaseRead,
			Description: "the leader serves reads under a lease measured on its own clock (the clock seam); a " +
				"leader whose clock was ahead when it extended the lease and then fell back (strobe, jump) keeps " +
				"serving reads after a new leader was elected elsewhere",
			Nemesis:  []string{"clock-strobe", "partition-leader"},
			Workload: "register",
			Checker:  "linearizable",
		},
		{
			Name: BugNoFsync,
			Description: "log entries are acknowledged before they are fsynced (followers ack AppendEntries, the " +
				"leader acks clients); killing a majority whose unsynced writes are lost loses acknowledged writes",
			Nemesis:  []string{"disk-lose-unsynced"},
			Workload: "register",
			Checker:  "linearizable",
		},
		{
			Name: BugForgetVote,
			Description: "the vote is not persisted, so a restarted node can vote twice in one term and two " +
				"leaders can share a term; needs a restart within an election and is rarely exposed on real runtimes " +
				"(see docs/detection.md); the simulator stops a node right after it votes (docs/simulation.md)",
			Nemesis:     []string{"partition-leader", "kill"},
			SimScenario: "docs/scenarios/forget-vote-sim.yaml",
			Workload:    "register",
			Checker:     "linearizable",
		},
	}
}

// statusClient asks nodes for /status; short timeouts, no proxies.
var statusClient = &http.Client{
	Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 500 * time.Millisecond}).DialContext,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
	},
}

// FetchStatus returns node addr's GET /status.
func FetchStatus(ctx context.Context, addr string) (StatusResponse, error) {
	var st StatusResponse
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+StatusPath, nil)
	if err != nil {
		return st, err
	}
	resp, err := statusClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("%s: %s", addr, resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// statuses asks every node at once; unreachable nodes are left out.
func statuses(ctx context.Context, nodes []cluster.Node) map[string]StatusResponse {
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[string]StatusResponse{}
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if st, err := FetchStatus(ctx, n.Addr()); err == nil {
				mu.Lock()
				out[n.ID()] = st
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// Leader returns the node that believes it leads in the highest term.
func (Target) Leader(ctx context.Context, nodes []cluster.Node) (string, error) {
	return leaderOf(statuses(ctx, nodes), len(nodes))
}

func leaderOf(sts map[string]StatusResponse, total int) (string, error) {
	best, term := "", uint64(0)
	for id, st := range sts {
		if st.State == "leader" && (best == "" || st.Term > term || (st.Term == term && id < best)) {
			best, term = id, st.Term
		}
	}
	if best == "" {
		return "", fmt.Errorf("no node reports being leader (%d of %d answered)", len(sts), total)
	}
	return best, nil
}

// Healthy returns nil when a leader exists that a majority of nodes (itself
// included) agree on, in its term.
func (Target) Healthy(ctx context.Context, nodes []cluster.Node) error {
	return healthyOf(statuses(ctx, nodes), len(nodes))
}

// healthyOf is Healthy on the statuses of the nodes that answered.
func healthyOf(sts map[string]StatusResponse, total int) error {
	l, err := leaderOf(sts, total)
	if err != nil {
		return err
	}
	lt := sts[l].Term
	var agree []string
	for id, st := range sts {
		if st.Leader == l && st.Term == lt {
			agree = append(agree, id)
		}
	}
	sort.Strings(agree)
	if need := total/2 + 1; len(agree) < need {
		return fmt.Errorf("leader %s (term %d) is acknowledged by %v, need %d of %d nodes", l, lt, agree, need, total)
	}
	return nil
}

var errNoNodes = errors.New("raft client: no nodes")
