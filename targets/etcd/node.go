package etcd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/etcdbin"
)

// NodeMain runs one etcd member: it parses `--id --listen --peer-listen
// --peers --data --election-timeout --heartbeat-interval` (see
// Target.NodeCommand), finds the etcd binary (beside the faultline
// executable, as /etcd in the docker node image; else FAULTLINE_ETCD or
// the build cache, see etcdbin) and execs it with static membership, so
// that the process the runtime kills, pauses and restarts is etcd itself.
// The data directory survives a kill, and a restarted member rejoins from
// it (etcd ignores the initial-cluster flags when it has data).
func NodeMain(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("node etcd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	id := fs.String("id", "", "member name")
	listen := fs.String("listen", "", "client address HOST:PORT")
	peerListen := fs.String("peer-listen", "", "peer address HOST:PORT")
	peersFlag := fs.String("peers", "", "every member's peer address: n1=HOST:PORT,...")
	data := fs.String("data", "", "data directory")
	election := fs.Int("election-timeout", 1000, "election timeout (ms)")
	heartbeat := fs.Int("heartbeat-interval", 100, "heartbeat interval (ms)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for name, v := range map[string]string{"id": *id, "listen": *listen, "peer-listen": *peerListen, "data": *data} {
		if v == "" {
			return fmt.Errorf("node etcd: --%s is required", name)
		}
	}
	for _, a := range []string{*listen, *peerListen} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("node etcd: %q: %v", a, err)
		}
	}
	peers, err := cluster.ParsePeers(*peersFlag)
	if err != nil {
		return fmt.Errorf("node etcd: %w", err)
	}
	bin, err := binary(ctx, stderr)
	if err != nil {
		return err
	}
	argv := append([]string{bin}, ServerArgs(*id, *listen, *peerListen, peers, *data, *election, *heartbeat)...)
	fmt.Fprintf(stderr, "node etcd: exec %s\n", strings.Join(argv, " "))
	return syscall.Exec(bin, argv, os.Environ())
}

// ServerArgs returns the etcd server's flags for one member.
func ServerArgs(id, listen, peerListen string, peers []cluster.Peer, data string, electionMS, heartbeatMS int) []string {
	initial := make([]string, len(peers))
	for i, p := range peers {
		initial[i] = p.ID + "=http://" + p.Addr
	}
	return []string{
		"--name", id,
		"--data-dir", data,
		"--listen-client-urls", "http://" + listen,
		"--advertise-client-urls", "http://" + listen,
		"--listen-peer-urls", "http://" + peerListen,
		"--initial-advertise-peer-urls", "http://" + peerListen,
		"--initial-cluster", strings.Join(initial, ","),
		"--initial-cluster-state", "new",
		"--initial-cluster-token", "faultline",
		"--election-timeout", fmt.Sprint(electionMS),
		"--heartbeat-interval", fmt.Sprint(heartbeatMS),
		"--logger", "zap",
		"--log-outputs", "stderr",
	}
}

// binary finds the etcd executable: beside this executable (the docker
// node image), else through etcdbin (FAULTLINE_ETCD, the cache).
func binary(ctx context.Context, stderr io.Writer) (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := etcdbin.Beside(exe)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
	}
	return etcdbin.Ensure(ctx, stderr)
}
