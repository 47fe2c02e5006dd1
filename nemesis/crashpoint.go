package nemesis

import (
	"context"
	"errors"

	"github.com/faultline-io/faultline/cluster"
)

// Crash points: faults only the simulator can apply, because they stop a
// node between two steps of its protocol rather than at a moment of the
// wall clock.
//
//	kill-after-vote  while the fault is held, every selected node that
//	                 grants a vote is stopped right after its answer is
//	                 sent and restarted Params "down" later (default 0:
//	                 at once, on what it had synced). A node that forgets
//	                 its vote (raft's forget-vote bug) can then vote twice
//	                 in one term.
func init() {
	Register(KillAfterVote, func() Nemesis { return crashPointNemesis{name: KillAfterVote} })
}

// KillAfterVote is the crash-point nemesis of granted votes.
const KillAfterVote = "kill-after-vote"

// ErrSimulatorOnly is the reason crash-point nemeses give on real runtimes.
var ErrSimulatorOnly = errors.New("only the simulator can stop a node between two protocol steps: use 'faultline sim'")

type crashPointNemesis struct{ name string }

func (n crashPointNemesis) Name() string      { return n.name }
func (n crashPointNemesis) Selects() []string { return seamSelects }

// Available always refuses: real runtimes cannot apply a crash point.
func (n crashPointNemesis) Available(cluster.Cluster) error { return ErrSimulatorOnly }

func (n crashPointNemesis) Invoke(context.Context, Env, Fault) (Fault, error) {
	return Fault{}, ErrSimulatorOnly
}

func (n crashPointNemesis) Heal(context.Context, Env) error { return nil }
