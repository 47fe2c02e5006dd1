package crdt

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"

	"github.com/faultline-io/faultline/targets/peer"
	"github.com/faultline-io/faultline/targets/seam"
)

// NodeMain runs one CRDT node until ctx is done or it fails; `faultline node
// crdt ARGS` calls it. Flags:
//
//	--id n1 --listen HOST:PORT --peers n1=HOST:PORT,n2=HOST:PORT,...
//	--data DIR [--bug NAME]... [--seed N] [--gossip-interval 100ms]
//
// The node serves its whole HTTP API (clients, gossip, admin seams) on
// --listen and logs to stderr. After a SIGKILL it restarts from the state
// log in --data.
func NodeMain(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("faultline node crdt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var nf peer.NodeFlags
	nf.Define(fs, BugNames())
	gossip := fs.Duration("gossip-interval", DefaultGossipInterval, "time between two digests this node sends")
	peers, err := nf.Parse(fs, args)
	if err != nil {
		return err
	}
	id, data, bugs, seed := nf.ID, nf.Data, nf.Bugs, nf.Seed
	logger := log.New(stderr, "crdt "+id+" ", log.LstdFlags|log.Lmicroseconds|log.LUTC)

	// The fault seams, driven through the admin endpoint: the machine's
	// time comes from clock, the state log goes through disk, gossip
	// through msgs.
	clock, disk, msgs := seam.NewClock(nil), seam.NewDisk(), seam.NewMessages(nil)
	storage, state, err := OpenStorage(data, disk)
	if err != nil {
		return err
	}
	defer storage.Close()
	ids := make([]string, len(peers))
	for i, p := range peers {
		ids[i] = p.ID
	}
	m, err := NewMachine(MachineConfig{ID: id, Peers: ids, Seed: seed, Now: clock.Now(), GossipInterval: *gossip,
		Bugs: bugs, State: state, Logf: logger.Printf})
	if err != nil {
		return err
	}
	sender := peer.NewHTTPSender(id, peers, func(m Message) string { return m.To }, logger,
		peer.Options{Path: GossipPath, FromHeader: "X-Crdt-From"})
	defer sender.Close()
	shim := seam.NewShim(msgs, func(m Message) string { return m.To }, sender.Send)
	defer shim.Close()
	node := NewNode(m, clock, storage, shim, logger)

	ln, err := net.Listen("tcp", nf.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", nf.Listen, err)
	}
	mux := node.Handler()
	mux.Handle(seam.AdminPrefix, seam.AdminHandler(seam.Seams{Node: id, Clock: clock, Disk: disk, Msg: msgs}))
	logger.Printf("serving on %s; peers %s; %d keys restored; bugs %v; seed %d", ln.Addr(), nf.Peers, len(state), bugs, seed)
	return peer.Serve(ctx, ln, mux, logger, node.Run)
}
