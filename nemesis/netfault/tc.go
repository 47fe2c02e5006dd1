package netfault

import (
	"errors"
	"fmt"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// QdiscMajor is the reserved major handle of every qdisc faultline adds:
// the root qdisc is QdiscMajor:0 and, when bandwidth and netem delay are
// both asked for, netem sits under it as (QdiscMajor+1):0. Heal deletes only
// root qdiscs with this major, never one it did not add.
const QdiscMajor = 0xfa17

var (
	rootHandle  = netlink.MakeHandle(QdiscMajor, 0)
	childHandle = netlink.MakeHandle(QdiscMajor+1, 0)
)

// applyQdisc makes the root qdisc of the node's interface match rate and
// delay (netem), leaving it alone when it already does, so that re-applying
// a partition does not flush the shaping queue.
func applyQdisc(ns netns.NsHandle, rate *Rate, delay *Delay) error {
	if rate == nil && delay == nil {
		return clearQdiscs(ns)
	}
	dev := DefaultDevice
	if rate != nil && rate.Device != "" {
		dev = rate.Device
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in %v: %w", ns, err)
	}
	defer h.Close()
	link, err := h.LinkByName(dev)
	if err != nil {
		return fmt.Errorf("find %s in the node's namespace: %w", dev, err)
	}
	qs, err := h.QdiscList(link)
	if err != nil {
		return fmt.Errorf("list qdiscs of %s: %w", dev, err)
	}
	var root, child netlink.Qdisc
	for _, q := range qs {
		a := q.Attrs()
		switch {
		case a.Parent == netlink.HANDLE_ROOT:
			root = q
		case a.Handle == childHandle:
			child = q
		}
	}
	if root != nil {
		if major, _ := netlink.MajorMinor(root.Attrs().Handle); major != 0 && major != QdiscMajor {
			return fmt.Errorf("%s already has a root qdisc %s (%s) that faultline did not add; not replacing it",
				dev, root.Type(), netlink.HandleStr(root.Attrs().Handle))
		}
	}
	want := wantQdiscs(link.Attrs().Index, rate, delay)
	if root != nil && root.Attrs().Handle == rootHandle && sameQdisc(root, want[0]) &&
		(len(want) == 1 && child == nil || len(want) == 2 && child != nil && sameQdisc(child, want[1])) {
		return nil
	}
	if root != nil && root.Attrs().Handle == rootHandle {
		if err := h.QdiscDel(root); err != nil {
			return fmt.Errorf("delete faultline qdisc on %s: %w", dev, err)
		}
	}
	for _, q := range want {
		if err := h.QdiscAdd(q); err != nil {
			return fmt.Errorf("add %s qdisc on %s: %w", q.Type(), dev, err)
		}
	}
	return nil
}

// wantQdiscs returns the root qdisc and, when both are asked for, netem under
// a TBF root.
func wantQdiscs(index int, rate *Rate, delay *Delay) []netlink.Qdisc {
	root := netlink.QdiscAttrs{LinkIndex: index, Handle: rootHandle, Parent: netlink.HANDLE_ROOT}
	var qs []netlink.Qdisc
	if rate != nil {
		qs = append(qs, tbf(root, rate.BitsPerSecond))
	}
	if delay != nil {
		attrs := root
		if rate != nil {
			attrs = netlink.QdiscAttrs{LinkIndex: index, Handle: childHandle, Parent: netlink.MakeHandle(QdiscMajor, 1)}
		}
		qs = append(qs, netlink.NewNetem(attrs, netlink.NetemQdiscAttrs{
			Latency: uint32(delay.Latency / time.Microsecond),
			Jitter:  uint32(delay.Jitter / time.Microsecond),
			Limit:   10000,
		}))
	}
	return qs
}

// tbf shapes to bits per second with a burst of 10 ms of traffic (at least
// two full frames) and a queue of 200 ms.
func tbf(attrs netlink.QdiscAttrs, bits uint64) *netlink.Tbf {
	rate := bits / 8 // bytes per second
	burst := max(rate/100, 2*1514)
	limit := max(rate/5, 3*burst)
	return &netlink.Tbf{
		QdiscAttrs: attrs,
		Rate:       rate,
		Limit:      uint32(limit),
		Buffer:     netlink.Xmittime(rate, uint32(burst)),
	}
}

func sameQdisc(have, want netlink.Qdisc) bool {
	if have.Type() != want.Type() {
		return false
	}
	switch w := want.(type) {
	case *netlink.Tbf:
		h := have.(*netlink.Tbf)
		return h.Rate == w.Rate && h.Limit == w.Limit
	case *netlink.Netem:
		h := have.(*netlink.Netem)
		return h.Latency == w.Latency && h.Jitter == w.Jitter
	}
	return false
}

// clearQdiscs deletes the root qdiscs with handle QdiscMajor:0 on every link
// of the namespace, and nothing else.
func clearQdiscs(ns netns.NsHandle) error {
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in %v: %w", ns, err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return fmt.Errorf("list links: %w", err)
	}
	var errs []error
	for _, l := range links {
		qs, err := h.QdiscList(l)
		if err != nil {
			errs = append(errs, fmt.Errorf("list qdiscs of %s: %w", l.Attrs().Name, err))
			continue
		}
		for _, q := range qs {
			if a := q.Attrs(); a.Parent == netlink.HANDLE_ROOT && a.Handle == rootHandle {
				if err := h.QdiscDel(q); err != nil {
					errs = append(errs, fmt.Errorf("delete faultline qdisc on %s: %w", l.Attrs().Name, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}
