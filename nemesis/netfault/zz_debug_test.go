package netfault_test

import (
	"os/exec"
	"testing"
	"time"

	"github.com/faultline-io/faultline/nemesis/netfault/nettest"
)

func TestZZConn(t *testing.T) {
	for i := 0; i < 150; i++ {
		ok := t.Run("x", func(t *testing.T) {
			c := nettest.Cluster(t, 2)
			n1, n2 := c.Nodes()[0], c.Nodes()[1]
			r := nettest.UDP(t, n1, n2, 50, 100*time.Millisecond)
			if r.Received != 50 {
				name1 := c.Nodes()[0].(interface{ NetNSName() string }).NetNSName()
				name2 := c.Nodes()[1].(interface{ NetNSName() string }).NetNSName()
				for _, args := range [][]string{
					{"ip", "-n", name1, "addr"}, {"ip", "-n", name2, "addr"},
					{"ip", "-n", name1, "neigh"}, {"ip", "-n", name2, "neigh"}, {"ip", "-n", name1[:len(name1)-2] + "sw", "neigh"}, {"ip", "-n", name2, "-s", "-s", "link"},
					{"ip", "-n", name1[:len(name1)-2] + "sw", "-d", "-s", "link"},
					{"ip", "-n", name1, "-s", "link"}, {"ip", "-n", name2, "-s", "link"},
					{"bridge", "-n", name1[:len(name1)-2] + "sw", "link"},
					{"bridge", "-n", name1[:len(name1)-2] + "sw", "fdb"},
					{"ip", "netns", "exec", name2, "nft", "list", "ruleset"},
					{"ip", "netns", "exec", name1[:len(name1)-2] + "sw", "nft", "list", "ruleset"},
				} {
					out, _ := exec.Command(args[0], args[1:]...).CombinedOutput()
					t.Logf("%v:\n%s", args, out)
				}
				r2 := nettest.UDP(t, n1, n2, 50, 100*time.Millisecond)
				t.Fatalf("probe %v; again %v", r, r2)
			}
		})
		if !ok {
			break
		}
	}
}
