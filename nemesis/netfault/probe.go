package netfault

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Capability is one kernel or host facility, probed.
type Capability struct {
	Name string
	OK   bool
	// Detail says what was found, or why the facility is missing.
	Detail string
}

func (c Capability) String() string {
	if c.OK {
		return c.Name + ": ok (" + c.Detail + ")"
	}
	return c.Name + ": missing (" + c.Detail + ")"
}

// Capabilities is what Probe found on this machine.
type Capabilities struct {
	Root       Capability // euid 0, needed for namespaces, nftables and tc
	Namespaces Capability // unshare(CLONE_NEWNET) works
	Nftables   Capability // a table with a set and a prerouting drop (partitions)
	NftRandom  Capability // numgen, byteorder and dup (loss, duplicate)
	NFQueue    Capability // xt NFQUEUE target via nft compat plus nfnetlink_queue (delay without netem)
	Netem      Capability // sch_netem
	TBF        Capability // sch_tbf (bandwidth)
	HTB        Capability // sch_htb (per-peer bandwidth)
	Freezer    Capability // cgroup freezer (pause)
	TimeNS     Capability // time namespaces
}

// All lists the capabilities in display order.
func (c Capabilities) All() []Capability {
	return []Capability{c.Root, c.Namespaces, c.Nftables, c.NftRandom, c.NFQueue, c.Netem, c.TBF, c.HTB, c.Freezer, c.TimeNS}
}

// DelayMechanism says how delay is applied here: "netem", "nfqueue", or an
// error saying why delay is unavailable.
func (c Capabilities) DelayMechanism() (string, error) {
	switch {
	case c.Netem.OK:
		return "netem", nil
	case c.NFQueue.OK:
		return "nfqueue", nil
	}
	return "", fmt.Errorf("delay needs netem (%s) or the NFQUEUE target (%s)", c.Netem.Detail, c.NFQueue.Detail)
}

var probeOnce = sync.OnceValue(probe)

// Probe reports what this machine can do, probing once per process: the
// network facilities are tried for real in a throwaway network namespace
// (a table is built, qdiscs are added), so a module that is missing or not
// loadable shows up as missing with the kernel's error.
func Probe() Capabilities { return probeOnce() }

func probe() Capabilities {
	c := Capabilities{
		Root:       Capability{Name: "root"},
		Namespaces: Capability{Name: "network namespaces"},
		Nftables:   Capability{Name: "nftables"},
		NftRandom:  Capability{Name: "nftables numgen+dup"},
		NFQueue:    Capability{Name: "NFQUEUE"},
		Netem:      Capability{Name: "netem"},
		TBF:        Capability{Name: "tbf"},
		HTB:        Capability{Name: "htb"},
		Freezer:    Capability{Name: "cgroup freezer"},
		TimeNS:     Capability{Name: "time namespaces"},
	}
	c.Root.OK = os.Geteuid() == 0
	c.Root.Detail = fmt.Sprintf("euid %d", os.Geteuid())
	c.Freezer.OK, c.Freezer.Detail = probeFreezer()
	if _, err := os.Stat("/proc/self/ns/time"); err == nil {
		c.TimeNS.OK, c.TimeNS.Detail = true, "/proc/self/ns/time exists"
	} else {
		c.TimeNS.Detail = "no /proc/self/ns/time (kernel older than 5.6 or CONFIG_TIME_NS off)"
	}

	err := inThrowawayNS(func(ns netns.NsHandle) {
		c.Namespaces.OK, c.Namespaces.Detail = true, "unshare(CLONE_NEWNET) works"
		probeNet(ns, &c)
	})
	if err != nil {
		c.Namespaces.Detail = err.Error()
		for _, p := range []*Capability{&c.Nftables, &c.NftRandom, &c.NFQueue, &c.Netem, &c.TBF, &c.HTB} {
			p.Detail = "not probed: cannot create a network namespace: " + err.Error()
		}
	}
	return c
}

func probeNet(ns netns.NsHandle, c *Capabilities) {
	testIP := net.IPv4(192, 0, 2, 1) // TEST-NET-1, never routed
	if err := applyTable(ns, Rules{Blocked: []net.IP{testIP}}, false); err != nil {
		c.Nftables.Detail = err.Error()
	} else {
		c.Nftables.OK, c.Nftables.Detail = true, "table, set and prerouting drop"
	}
	if err := applyTable(ns, Rules{Loss: []Loss{{P: 0.3}}, Duplicate: []Duplicate{{To: testIP, P: 0.1}}}, false); err != nil {
		c.NftRandom.Detail = err.Error()
	} else {
		c.NftRandom.OK, c.NftRandom.Detail = true, "numgen random, byteorder, dup"
	}
	if err := applyTable(ns, Rules{Delay: &Delay{Latency: time.Millisecond}}, true); err != nil {
		c.NFQueue.Detail = "xt NFQUEUE target through nft compat: " + err.Error()
	} else if d, err := NewDelayer(ns, time.Millisecond, 0, 1); err != nil {
		c.NFQueue.Detail = "nfnetlink_queue: " + err.Error()
	} else {
		_ = d.Close()
		c.NFQueue.OK, c.NFQueue.Detail = true, "xt NFQUEUE target (bypass) and nfnetlink_queue"
	}
	if nc, err := nftables.New(nftables.WithNetNSFd(int(ns))); err == nil {
		nc.DelTable(&nftables.Table{Name: Table, Family: nftables.TableFamilyIPv4})
		_ = nc.Flush()
	}

	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		for _, p := range []*Capability{&c.Netem, &c.TBF, &c.HTB} {
			p.Detail = "netlink: " + err.Error()
		}
		return
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		for _, p := range []*Capability{&c.Netem, &c.TBF, &c.HTB} {
			p.Detail = "no lo: " + err.Error()
		}
		return
	}
	root := netlink.QdiscAttrs{LinkIndex: lo.Attrs().Index, Handle: rootHandle, Parent: netlink.HANDLE_ROOT}
	try := func(p *Capability, q netlink.Qdisc, ok string) {
		err := h.QdiscAdd(q)
		switch {
		case err == nil:
			p.OK, p.Detail = true, ok
			_ = h.QdiscDel(q)
		case errors.Is(err, unix.ENOENT):
			p.Detail = fmt.Sprintf("adding a %s qdisc returns ENOENT: this kernel has no sch_%s", q.Type(), q.Type())
		default:
			p.Detail = fmt.Sprintf("adding a %s qdisc: %v", q.Type(), err)
		}
	}
	try(&c.Netem, netlink.NewNetem(root, netlink.NetemQdiscAttrs{Latency: 1000}), "sch_netem")
	try(&c.TBF, tbf(root, 8_000_000), "sch_tbf")
	try(&c.HTB, netlink.NewHtb(root), "sch_htb")
}

// probeFreezer looks for the cgroup v1 freezer hierarchy or cgroup v2
// cgroup.freeze files.
func probeFreezer() (bool, string) {
	if _, err := os.Stat("/sys/fs/cgroup/freezer/freezer.state"); err == nil {
		return true, "cgroup v1 freezer at /sys/fs/cgroup/freezer"
	}
	if _, err := os.Stat("/sys/fs/cgroup/freezer"); err == nil {
		return true, "cgroup v1 freezer at /sys/fs/cgroup/freezer"
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		matches, _ := filepath.Glob("/sys/fs/cgroup/*/cgroup.freeze")
		if len(matches) > 0 {
			return true, "cgroup v2 cgroup.freeze"
		}
		return false, "cgroup v2 without cgroup.freeze (kernel older than 5.2?)"
	}
	b, _ := os.ReadFile("/proc/self/cgroup")
	return false, "no freezer hierarchy found; /proc/self/cgroup: " + strings.TrimSpace(string(b))
}

// inThrowawayNS creates an unnamed network namespace on a locked thread,
// returns the thread to its own namespace, and runs fn with a handle to the
// new one. The namespace disappears when fn returns and the handle is closed.
// A thread whose namespace cannot be restored is never unlocked: it ends with
// its goroutine.
func inThrowawayNS(fn func(ns netns.NsHandle)) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("get current namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			// The thread did not move.
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
			return
		}
		ns, err := netns.Get()
		if rerr := netns.Set(orig); rerr != nil {
			errc <- fmt.Errorf("return to the original namespace: %w", rerr)
			return // thread stays locked and dies with this goroutine
		}
		runtime.UnlockOSThread()
		if err != nil {
			errc <- fmt.Errorf("open the new namespace: %w", err)
			return
		}
		defer ns.Close()
		fn(ns)
		errc <- nil
	}()
	return <-errc
}

// CleanHost deletes nftables tables whose names start with Table from the
// caller's (host) namespace, for `faultline clean`. Inside node namespaces
// the tables go away with the namespaces.
func CleanHost() ([]string, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	tables, err := c.ListTables()
	if err != nil {
		return nil, fmt.Errorf("list nftables tables: %w", err)
	}
	var removed []string
	for _, t := range tables {
		if strings.HasPrefix(t.Name, Table) {
			c.DelTable(t)
			removed = append(removed, "nftables table "+t.Name)
		}
	}
	if err := c.Flush(); err != nil {
		return nil, fmt.Errorf("delete nftables tables %v: %w", removed, err)
	}
	return removed, nil
}
