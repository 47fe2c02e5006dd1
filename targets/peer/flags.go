package peer

import (
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/faultline-io/faultline/cluster"
)

// NodeFlags are the flags every bundled node takes: --id, --listen,
// --peers, --data, --seed and --bug.
type NodeFlags struct {
	ID, Listen, Peers, Data string
	Bugs                    []string
	Seed                    uint64
}

// Define registers the flags on fs; --bug (repeatable or comma-separated)
// accepts the names in bugs.
func (f *NodeFlags) Define(fs *flag.FlagSet, bugs []string) {
	fs.StringVar(&f.ID, "id", "", "this node's id (required)")
	fs.StringVar(&f.Listen, "listen", "", "HOST:PORT to serve peers and clients on (required)")
	fs.StringVar(&f.Peers, "peers", "", "every node as id=HOST:PORT, comma-separated, this one included (required)")
	fs.StringVar(&f.Data, "data", "", "data directory holding the node's durable state (required)")
	fs.Uint64Var(&f.Seed, "seed", 0, "seed of the node's randomness (0: from the time)")
	fs.Func("bug", "seeded bug to switch on (repeatable or comma-separated): "+strings.Join(bugs, ", "), func(s string) error {
		for _, b := range strings.Split(s, ",") {
			if b = strings.TrimSpace(b); b != "" {
				if !slices.Contains(bugs, b) {
					return fmt.Errorf("unknown bug %q (known: %s)", b, strings.Join(bugs, ", "))
				}
				f.Bugs = append(f.Bugs, b)
			}
		}
		return nil
	})
}

// Parse parses args into fs (whose flags Define registered), checks that
// every required flag is set, draws a seed from the time when none was
// given, and returns the peers.
func (f *NodeFlags) Parse(fs *flag.FlagSet, args []string) ([]cluster.Peer, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, r := range []struct{ name, v string }{{"--id", f.ID}, {"--listen", f.Listen}, {"--peers", f.Peers}, {"--data", f.Data}} {
		if r.v == "" {
			return nil, fmt.Errorf("%s is required", r.name)
		}
	}
	if f.Seed == 0 {
		f.Seed = uint64(time.Now().UnixNano())
	}
	return cluster.ParsePeers(f.Peers)
}
