package crdt

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"time"

	"github.com/faultline-io/faultline/cluster"
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
	var (
		id, listen, peersFlag, data string
		bugs                        []string
		seed                        = fs.Uint64("seed", 0, "seed of the gossip randomness (0: from the time, logged)")
		gossip                      = fs.Duration("gossip-interval", DefaultGossipInterval, "time between two digests this node sends")
	)
	fs.StringVar(&id, "id", "", "this node's id (required)")
	fs.StringVar(&listen, "listen", "", "HOST:PORT to serve peers and clients on (required)")
	fs.StringVar(&peersFlag, "peers", "", "every node as id=HOST:PORT, comma-separated, this one included (required)")
	fs.StringVar(&data, "data", "", "data directory holding the state log (required)")
	fs.Func("bug", "seeded bug to switch on (repeatable or comma-separated): "+strings.Join(BugNames(), ", "), func(s string) error {
		for _, b := range strings.Split(s, ",") {
			if b = strings.TrimSpace(b); b != "" {
				if !isBug(b) {
					return fmt.Errorf("unknown bug %q (known: %s)", b, strings.Join(BugNames(), ", "))
				}
				bugs = append(bugs, b)
			}
		}
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for name, v := range map[string]string{"--id": id, "--listen": listen, "--peers": peersFlag, "--data": data} {
		if v == "" {
			return fmt.Errorf("%s is required", name)
		}
	}
	peers, err := cluster.ParsePeers(peersFlag)
	if err != nil {
		return err
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
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
	m, err := NewMachine(MachineConfig{ID: id, Peers: ids, Seed: *seed, Now: clock.Now(), GossipInterval: *gossip,
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

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	mux := node.Handler()
	mux.Handle(seam.AdminPrefix, seam.AdminHandler(seam.Seams{Node: id, Clock: clock, Disk: disk, Msg: msgs}))
	logger.Printf("serving on %s; peers %s; %d keys restored; bugs %v; seed %d", ln.Addr(), peersFlag, len(state), bugs, *seed)
	return peer.Serve(ctx, ln, mux, logger, node.Run)
}
