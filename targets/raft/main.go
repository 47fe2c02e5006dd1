package raft

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/targets/peer"
	"github.com/faultline-io/faultline/targets/seam"
)

// WALFile is the name of the write-ahead log inside a node's data directory.
const WALFile = "raft.wal"

// NodeMain runs one node until ctx is done or it fails; `faultline node raft
// ARGS` calls it. Flags:
//
//	--id n1 --listen HOST:PORT --peers n1=HOST:PORT,n2=HOST:PORT,...
//	--data DIR [--bug NAME]... [--tick 10ms] [--seed N]
//	[--election-ticks 15] [--heartbeat-ticks 3] [--check-quorum-ticks 250]
//	[--request-timeout 1s]
//
// --bug may repeat or take a comma-separated list. The node serves its whole
// HTTP API on --listen and logs to stderr. After a SIGKILL it restarts from
// the WAL in --data.
func NodeMain(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("faultline node raft", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		id, listen, peersFlag, data string
		bugs                        bugList
		tick                        = fs.Duration("tick", DefaultTick, "length of one core tick")
		seed                        = fs.Uint64("seed", 0, "seed of the election-timeout randomness (0: from the time, logged)")
		electionTicks               = fs.Int("election-ticks", DefaultElectionTicks, "base election timeout in ticks (randomized up to twice that)")
		heartbeatTicks              = fs.Int("heartbeat-ticks", DefaultHeartbeatTicks, "heartbeat interval in ticks")
		cqTicks                     = fs.Int("check-quorum-ticks", DefaultCheckQuorumTicks, "ticks without hearing a quorum before a leader steps down")
		reqTimeout                  = fs.Duration("request-timeout", DefaultRequestTimeout, "longest a client request waits for its outcome")
	)
	fs.StringVar(&id, "id", "", "this node's id (required)")
	fs.StringVar(&listen, "listen", "", "HOST:PORT to serve peers and clients on (required)")
	fs.StringVar(&peersFlag, "peers", "", "every node as id=HOST:PORT, comma-separated, this one included (required)")
	fs.StringVar(&data, "data", "", "data directory holding the write-ahead log (required)")
	fs.Var(&bugs, "bug", "seeded bug to switch on (repeatable or comma-separated): "+strings.Join(BugNames(), ", "))
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
	peers, err := ParsePeers(peersFlag)
	if err != nil {
		return err
	}
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	logger := log.New(stderr, "raft "+id+" ", log.LstdFlags|log.Lmicroseconds|log.LUTC)

	// The fault seams, driven through the admin endpoint: every time the
	// node decides anything by comes from clock, the WAL goes through
	// disk, peer messages through msgs.
	clock, disk, msgs := seam.NewClock(nil), seam.NewDisk(), seam.NewMessages(nil)
	storage, err := OpenFileStorageOn(filepath.Join(data, WALFile), disk)
	if err != nil {
		return err
	}
	defer storage.Close()
	transport := NewShimTransport(NewHTTPTransport(id, peers, logger, HTTPTransportOptions{}), msgs)
	defer transport.Close()
	node, err := NewNode(Config{
		ID: id, Peers: peers, Storage: storage, Transport: transport, Clock: clock, Seed: *seed,
		Tick: *tick, ElectionTicks: *electionTicks, HeartbeatTicks: *heartbeatTicks, CheckQuorumTicks: *cqTicks,
		RequestTimeout: *reqTimeout, Bugs: bugs, Logger: logger,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	mux := node.Handler()
	mux.Handle(seam.AdminPrefix, seam.AdminHandler(seam.Seams{Node: id, Clock: clock, Disk: disk, Msg: msgs}))
	logger.Printf("serving on %s; peers %s; tick %v; seed %d", ln.Addr(), peersFlag, *tick, *seed)
	return peer.Serve(ctx, ln, mux, logger, node.Run)
}

// ParsePeers parses "n1=HOST:PORT,n2=HOST:PORT" (cluster.ParsePeers).
func ParsePeers(s string) ([]cluster.Peer, error) { return cluster.ParsePeers(s) }

// bugList is a flag.Value collecting --bug flags, each possibly a comma list.
type bugList []string

func (b *bugList) String() string { return strings.Join(*b, ",") }

func (b *bugList) Set(s string) error {
	for _, name := range strings.Split(s, ",") {
		if name = strings.TrimSpace(name); name != "" {
			*b = append(*b, name)
		}
	}
	_, err := parseBugs(*b)
	return err
}
