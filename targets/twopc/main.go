package twopc

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"slices"

	"github.com/faultline-io/faultline/targets/peer"
	"github.com/faultline-io/faultline/targets/seam"
	"github.com/faultline-io/faultline/workloads"
)

// NodeMain runs one 2PC node until ctx is done or it fails; `faultline node
// twopc ARGS` calls it. Flags:
//
//	--id n1 --listen HOST:PORT --peers n1=HOST:PORT,n2=HOST:PORT,...
//	--data DIR [--coordinator ID] [--bug NAME]... [--seed N]
//
// The coordinator defaults to the lowest node id. The node serves its
// whole HTTP API (clients, peers, stats, admin seams) on --listen and logs
// to stderr. After a SIGKILL it restarts from the log in --data.
func NodeMain(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("faultline node twopc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var nf peer.NodeFlags
	nf.Define(fs, BugNames())
	var coord string
	fs.StringVar(&coord, "coordinator", "", "the coordinator's id (default: the lowest id)")
	peers, err := nf.Parse(fs, args)
	if err != nil {
		return err
	}
	id, data, bugs, seed := nf.ID, nf.Data, nf.Bugs, nf.Seed
	ids := make([]string, len(peers))
	addrs := map[string]string{}
	for i, p := range peers {
		ids[i] = p.ID
		addrs[p.ID] = p.Addr
	}
	if coord == "" {
		coord = slices.Min(ids)
	}
	logger := log.New(stderr, "twopc "+id+" ", log.LstdFlags|log.Lmicroseconds|log.LUTC)

	// The fault seams: the machine's time comes from clock, the log goes
	// through disk, messages through msgs.
	clock, disk, msgs := seam.NewClock(nil), seam.NewDisk(), seam.NewMessages(nil)
	storage, recs, err := OpenStorage(data, disk)
	if err != nil {
		return err
	}
	defer storage.Close()
	m, err := NewMachine(MachineConfig{ID: id, Coordinator: coord, Nodes: ids,
		Accounts: workloads.BankAccounts, InitialBalance: workloads.BankInitialBalance,
		Seed: seed, Now: clock.Now(), Bugs: bugs, Log: recs, Logf: logger.Printf})
	if err != nil {
		return err
	}
	sender := peer.NewHTTPSender(id, peers, func(m Message) string { return m.To }, logger,
		peer.Options{Path: MessagePath, FromHeader: "X-Twopc-From"})
	defer sender.Close()
	shim := seam.NewShim(msgs, func(m Message) string { return m.To }, sender.Send)
	defer shim.Close()
	node := NewNode(m, clock, storage, shim, addrs, logger)

	ln, err := net.Listen("tcp", nf.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", nf.Listen, err)
	}
	mux := node.Handler()
	mux.Handle(seam.AdminPrefix, seam.AdminHandler(seam.Seams{Node: id, Clock: clock, Disk: disk, Msg: msgs}))
	logger.Printf("serving on %s; coordinator %s; peers %s; %d log records; bugs %v; seed %d",
		ln.Addr(), coord, nf.Peers, len(recs), bugs, seed)
	return peer.Serve(ctx, ln, mux, logger, node.Run)
}
