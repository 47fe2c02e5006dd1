package nemesis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/targets/seam"
)

// Disk nemeses act through the storage seam of bundled nodes (see package
// targets/seam: a SIGKILL alone never loses page-cache writes).
//
//	disk-lose-unsynced  switch lose-unsynced on in the selected nodes, let
//	                    writes accumulate for Params "window" (default 1s),
//	                    then SIGKILL them (Node.Kill): everything they wrote
//	                    but did not fsync in the window is gone. Heal
//	                    restarts them (Node.Start) on what is left.
//	disk-eio            every fsync of the selected nodes fails with EIO.
//	                    A bundled node does not acknowledge a write whose
//	                    fsync failed; the Raft node crash-stops, as etcd does.
//	                    Heal restarts the node if it stopped and clears EIO.
func init() {
	Register("disk-lose-unsynced", func() Nemesis { return &loseUnsyncedNemesis{} })
	Register("disk-eio", func() Nemesis { return &eioNemesis{} })
}

// DefaultLoseUnsyncedWindow is how long disk-lose-unsynced lets unsynced
// writes pile up before the kill.
const DefaultLoseUnsyncedWindow = time.Second

type loseUnsyncedNemesis struct{ affected affectedSet }

func (*loseUnsyncedNemesis) Name() string { return "disk-lose-unsynced" }

// Selects are all, a majority or the leader. Lost unsynced writes of one
// follower are repaired from the others; what loses acknowledged data in a
// system that fsyncs late is correlated loss (a rack's power), so generated
// schedules draw those. A scenario may still name one or minority.
func (*loseUnsyncedNemesis) Selects() []string {
	return []string{SelectAll, SelectMajority, SelectLeader}
}

// Available is nil on every runtime: the storage seam is in the node.
func (*loseUnsyncedNemesis) Available(c cluster.Cluster) error { return nil }

func (n *loseUnsyncedNemesis) Invoke(ctx context.Context, env Env, f Fault) (Fault, error) {
	f.Nemesis = n.Name()
	window, err := paramDuration(f.Params, "window", DefaultLoseUnsyncedWindow)
	if err != nil {
		return f, err
	}
	ids, err := SelectNodes(ctx, env, f)
	if err != nil {
		return f, err
	}
	f.Nodes = ids
	clients, err := seamClients(ctx, env.Cluster, ids)
	if err != nil {
		return f, fmt.Errorf("%s: %w", n.Name(), err)
	}
	on, off := true, false
	undo := func(upTo int) {
		for _, id := range ids[:upTo] {
			_, _ = clients[id].Disk(context.WithoutCancel(ctx), seam.DiskRequest{LoseUnsynced: &off})
		}
	}
	for i, id := range ids {
		if _, err := clients[id].Disk(ctx, seam.DiskRequest{LoseUnsynced: &on}); err != nil {
			undo(i)
			return f, fmt.Errorf("%s: %s: %w", n.Name(), id, err)
		}
	}
	select {
	case <-time.After(window):
	case <-ctx.Done():
		undo(len(ids))
		return f, fmt.Errorf("%s: interrupted during the window: %w", n.Name(), ctx.Err())
	}
	lost := map[string]int64{}
	for _, id := range ids {
		// Best effort: what is about to be lost, for the record.
		if st, err := clients[id].State(ctx); err == nil && st.Disk != nil {
			lost[id] = st.Disk.UnsyncedBytes
		}
	}
	var errs []error
	for _, id := range ids {
		n.affected.add(id)
		if err := cluster.NodeByID(env.Cluster, id).Kill(ctx); err != nil {
			errs = append(errs, fmt.Errorf("kill %s: %w", id, err))
		}
	}
	f.Params = withParam(f.Params, "window", window.String())
	f.Params["unsynced_bytes"] = lost
	f.Note = fmt.Sprintf("storage seam: unsynced writes kept in process memory for %v, then SIGKILL (they are lost); "+
		"restarted on the same data at heal", window)
	return f, errors.Join(errs...)
}

// Heal restarts every node this nemesis killed and makes sure
// lose-unsynced is off: a restarted node's seam starts in its normal mode,
// and a node whose kill failed is switched back (retrying while a restarted
// node comes up).
func (n *loseUnsyncedNemesis) Heal(ctx context.Context, env Env) error {
	off := false
	return n.affected.heal(ctx, env.Cluster, n.Name(), restartWithDisk(seam.DiskRequest{LoseUnsynced: &off}))
}

// restartWithDisk returns a heal step that starts a node (a no-op on a
// running one) and then sets its storage seam with req, retrying while a
// restarted node comes up.
func restartWithDisk(req seam.DiskRequest) func(ctx context.Context, node cluster.Node) error {
	return func(ctx context.Context, node cluster.Node) error {
		if err := node.Start(ctx); err != nil {
			return fmt.Errorf("restart: %w", err)
		}
		ac := seam.NewAdminClient(node.Addr())
		return retryAdmin(ctx, 15*time.Second, func(ctx context.Context) error {
			_, err := ac.Disk(ctx, req)
			return err
		})
	}
}

type eioNemesis struct{ affected affectedSet }

func (*eioNemesis) Name() string      { return "disk-eio" }
func (*eioNemesis) Selects() []string { return seamSelects }

// Available is nil on every runtime: the storage seam is in the node.
func (*eioNemesis) Available(c cluster.Cluster) error { return nil }

func (n *eioNemesis) Invoke(ctx context.Context, env Env, f Fault) (Fault, error) {
	f.Nemesis = n.Name()
	ids, err := SelectNodes(ctx, env, f)
	if err != nil {
		return f, err
	}
	f.Nodes = ids
	clients, err := seamClients(ctx, env.Cluster, ids)
	if err != nil {
		return f, fmt.Errorf("%s: %w", n.Name(), err)
	}
	on := true
	var errs []error
	for _, id := range ids {
		n.affected.add(id)
		if _, err := clients[id].Disk(ctx, seam.DiskRequest{EIO: &on}); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
		}
	}
	f.Note = "storage seam: every fsync fails with EIO; the bundled Raft node crash-stops on it without " +
		"acknowledging the writes it was syncing; heal restarts it and clears EIO"
	return f, errors.Join(errs...)
}

// Heal restarts each affected node that stopped (Start is a no-op on a
// running node) and then clears EIO, retrying while a restarted node comes
// up. A restarted node's seam starts without EIO; clearing it anyway
// covers a node that never synced while the fault was on.
func (n *eioNemesis) Heal(ctx context.Context, env Env) error {
	off := false
	return n.affected.heal(ctx, env.Cluster, n.Name(), restartWithDisk(seam.DiskRequest{EIO: &off}))
}
