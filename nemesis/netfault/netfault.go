// Package netfault applies network faults inside one node's network
// namespace, from the harness, with netlink and nftables sockets opened in
// that namespace. Nothing runs inside the node: no binary in its image, no
// capability added to it, and the caller never calls netns.Set.
//
// Every fault lives in one nftables table named Table (family ip) per
// namespace, plus at most one root qdisc under the reserved handle
// QdiscMajor on the node's interface. Apply rewrites the whole table in one
// atomic transaction; Heal deletes it. Mechanics and their traps were measured
// on the project's kernels (shared/notes/kernel-faults.md):
//
//   - Partitions drop at the receiver, in a prerouting base chain, with
//     `ip saddr @blocked drop`: senders see silence, as in a real partition.
//     A sender-side drop makes sendto fail with EPERM, which no network does.
//   - Loss is `numgen random mod 10000`, converted to network byte order, then
//     compared: nft_cmp compares bytes with memcmp, so without the conversion
//     30% configured drops about 71%.
//   - Duplication is nft `dup to ip daddr` behind the same numgen test, in the
//     sender's output chain.
//   - Delay is netem where the kernel has it, else the xt NFQUEUE target (with
//     the bypass flag, so traffic flows when no harness listens) and a Delayer
//     in the harness that gives verdicts late.
//   - Bandwidth is a TBF root qdisc on the node's interface.
package netfault

import (
	"errors"
	"fmt"
	"math"
	"net"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Table is the name of the nftables table that holds every fault of a
// namespace. It is family ip: the clusters faultline builds are IPv4 only.
const Table = "faultline"

// Queue is the NFQUEUE number the delay rule sends packets to. Queues are
// per network namespace, so every node uses the same number.
const Queue = 0xfa1

// DefaultDevice is the node's interface inside its namespace, on both the
// docker and the netns runtimes.
const DefaultDevice = "eth0"

// Rules is the complete desired network state of one namespace. The zero
// value is "no fault". Apply installs a Rules value as a whole, so callers
// that combine faults (a partition while packets are lost) merge them into
// one Rules first.
type Rules struct {
	// Blocked are the source addresses this namespace no longer hears from
	// (its grudge). Their packets are dropped at prerouting.
	Blocked []net.IP
	// Loss drops incoming packets at random.
	Loss []Loss
	// Duplicate sends extra copies of outgoing packets.
	Duplicate []Duplicate
	// Delay holds incoming packets (or, with netem, outgoing ones) before
	// they are delivered. Nil means no delay.
	Delay *Delay
	// Rate limits the egress bandwidth of the node's interface. Nil means
	// unlimited.
	Rate *Rate
}

// Loss drops a fraction P (0..1) of the packets received from From; a nil
// From means every source except loopback.
type Loss struct {
	From net.IP
	P    float64
}

// Duplicate sends one extra copy of a fraction P (0..1) of the packets sent
// to To; a nil To means every destination except loopback.
type Duplicate struct {
	To net.IP
	P  float64
}

// Delay delays each packet by Latency plus a uniform draw in
// [-Jitter, +Jitter] (clamped at zero). From lists the sources whose packets
// are delayed; empty means every source except loopback. Jittered verdicts
// are given out of order, so jitter also reorders.
//
// With netem (not on the project's kernels) the delay is applied on the
// node's outgoing interface instead and From is ignored.
type Delay struct {
	From    []net.IP
	Latency time.Duration
	Jitter  time.Duration
}

// Rate caps the egress of Device (DefaultDevice when empty) at BitsPerSecond.
type Rate struct {
	BitsPerSecond uint64
	Device        string
}

// Empty reports whether r asks for no fault at all.
func (r Rules) Empty() bool {
	return len(r.Blocked) == 0 && len(r.Loss) == 0 && len(r.Duplicate) == 0 && r.Delay == nil && r.Rate == nil
}

// Validate returns an error naming the first field out of range.
func (r Rules) Validate() error {
	for _, ip := range r.Blocked {
		if ip.To4() == nil {
			return fmt.Errorf("blocked address %v is not IPv4", ip)
		}
	}
	for _, l := range r.Loss {
		if l.P < 0 || l.P > 1 || math.IsNaN(l.P) {
			return fmt.Errorf("loss probability %v is outside 0..1", l.P)
		}
		if l.From != nil && l.From.To4() == nil {
			return fmt.Errorf("loss source %v is not IPv4", l.From)
		}
	}
	for _, d := range r.Duplicate {
		if d.P < 0 || d.P > 1 || math.IsNaN(d.P) {
			return fmt.Errorf("duplicate probability %v is outside 0..1", d.P)
		}
		if d.To != nil && d.To.To4() == nil {
			return fmt.Errorf("duplicate destination %v is not IPv4", d.To)
		}
	}
	if d := r.Delay; d != nil {
		if d.Latency < 0 || d.Jitter < 0 {
			return fmt.Errorf("delay %v ± %v is negative", d.Latency, d.Jitter)
		}
		for _, ip := range d.From {
			if ip.To4() == nil {
				return fmt.Errorf("delay source %v is not IPv4", ip)
			}
		}
	}
	if r.Rate != nil && r.Rate.BitsPerSecond < 8000 {
		return fmt.Errorf("rate %d bit/s is below the 8000 bit/s minimum", r.Rate.BitsPerSecond)
	}
	return nil
}

// Apply makes r the complete fault state of namespace ns: the nftables table
// is rewritten in one atomic transaction (so a partition never passes
// through a half-applied state) and the bandwidth and netem qdisc is set or
// removed.
// An empty r is the same as Heal.
//
// When r.Delay is set and the kernel has no netem, Apply installs an NFQUEUE
// rule; packets are delayed only while a Delayer listens in the same
// namespace (see Injector, which runs one), and flow undelayed otherwise.
func Apply(ns netns.NsHandle, r Rules) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if r.Empty() {
		return Heal(ns)
	}
	netem := r.Delay != nil && Probe().Netem.OK
	if err := applyTable(ns, r, r.Delay != nil && !netem); err != nil {
		return err
	}
	var delay *Delay
	if netem {
		delay = r.Delay
	}
	if err := applyQdisc(ns, r.Rate, delay); err != nil {
		return err
	}
	return nil
}

// UsesQueue reports whether Apply(ns, r) sends packets to NFQUEUE, that is,
// whether r needs a Delayer to take effect.
func UsesQueue(r Rules) bool { return r.Delay != nil && !Probe().Netem.OK }

// Heal removes every fault from namespace ns: it deletes the table and the
// qdiscs under QdiscMajor. Healing a clean namespace is not an error.
func Heal(ns netns.NsHandle) error {
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return fmt.Errorf("nftables in %v: %w", ns, err)
	}
	t := &nftables.Table{Name: Table, Family: nftables.TableFamilyIPv4}
	// Adding an existing table is a no-op, so add+delete in one transaction
	// deletes the table whether or not it exists, atomically.
	c.AddTable(t)
	c.DelTable(t)
	var errs []error
	if err := c.Flush(); err != nil {
		errs = append(errs, fmt.Errorf("delete nftables table %s: %w", Table, err))
	}
	if err := clearQdiscs(ns); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Counters reports the packets matched so far by each rule of the table, by
// rule comment ("blocked", "loss 10.0.0.2", "dup *", "delay"). It is for
// tests and diagnostics; a namespace without the table returns an empty map.
func Counters(ns netns.NsHandle) (map[string]uint64, error) {
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return nil, fmt.Errorf("nftables in %v: %w", ns, err)
	}
	out := map[string]uint64{}
	t := &nftables.Table{Name: Table, Family: nftables.TableFamilyIPv4}
	for _, chain := range []string{"prerouting", "output"} {
		rules, err := c.GetRules(t, &nftables.Chain{Name: chain, Table: t})
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return nil, fmt.Errorf("list rules of %s/%s: %w", Table, chain, err)
		}
		for _, rule := range rules {
			for _, e := range rule.Exprs {
				if ctr, ok := e.(*expr.Counter); ok {
					out[string(rule.UserData)] += ctr.Packets
				}
			}
		}
	}
	return out, nil
}

// applyTable rewrites the table in one transaction: the table, its two base
// chains and its two sets are created if missing (a no-op when they exist),
// the chains and sets are flushed, and the rules and elements of r are
// added. The base chains are never deleted on this path: deleting a base
// chain waits for an RCU grace period (measured: 7.5 ms per table), while
// this rewrite takes about 0.5 ms. queueDelay selects the NFQUEUE delay rule.
func applyTable(ns netns.NsHandle, r Rules, queueDelay bool) error {
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return fmt.Errorf("nftables in %v: %w", ns, err)
	}
	t := c.AddTable(&nftables.Table{Name: Table, Family: nftables.TableFamilyIPv4})
	if err := buildTable(c, t, r, queueDelay); err != nil {
		return err
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("rewrite nftables table %s: %w", Table, err)
	}
	return nil
}

// buildTable queues, on c, the rewrite of table t to hold r:
//
//	chain prerouting (receiver side; priority raw, before conntrack):
//	  iifname "lo" accept
//	  ip saddr @blocked counter drop
//	  [ip saddr X] numgen random mod 10000 (to network order) < P*10000 counter drop
//	  [ip saddr @delayed] counter NFQUEUE num Queue bypass
//	chain output (sender side):
//	  oifname "lo" accept
//	  [ip daddr X] numgen random mod 10000 (to network order) < P*10000 counter dup to ip daddr
func buildTable(c *nftables.Conn, t *nftables.Table, r Rules, queueDelay bool) error {
	pre := c.AddChain(&nftables.Chain{
		Name: "prerouting", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRaw,
	})
	out := c.AddChain(&nftables.Chain{
		Name: "output", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityRaw,
	})
	c.FlushChain(pre)
	c.FlushChain(out)
	blocked, err := setOf(c, t, 1, "blocked", r.Blocked)
	if err != nil {
		return err
	}
	var delayFrom []net.IP
	if r.Delay != nil {
		delayFrom = r.Delay.From
	}
	delayed, err := setOf(c, t, 2, "delayed", delayFrom)
	if err != nil {
		return err
	}
	rule := func(ch *nftables.Chain, comment string, exprs ...expr.Any) {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: exprs, UserData: []byte(comment)})
	}

	rule(pre, "lo", append(ifname(expr.MetaKeyIIFNAME, "lo", expr.CmpOpEq), &expr.Verdict{Kind: expr.VerdictAccept})...)
	if len(r.Blocked) > 0 {
		rule(pre, "blocked", saddr(),
			&expr.Lookup{SourceRegister: 1, SetName: blocked.Name, SetID: blocked.ID},
			&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
	}
	for _, l := range r.Loss {
		var exprs []expr.Any
		name := "loss *"
		if l.From != nil {
			exprs = append(exprs, saddr(), &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: l.From.To4()})
			name = "loss " + l.From.String()
		}
		exprs = append(exprs, random(2, l.P)...)
		exprs = append(exprs, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
		rule(pre, name, exprs...)
	}
	if r.Delay != nil && queueDelay {
		var exprs []expr.Any
		if len(delayFrom) > 0 {
			exprs = append(exprs, saddr(), &expr.Lookup{SourceRegister: 1, SetName: delayed.Name, SetID: delayed.ID})
		}
		exprs = append(exprs, &expr.Counter{}, nfqueueTarget(Queue))
		rule(pre, "delay", exprs...)
	}

	rule(out, "lo", append(ifname(expr.MetaKeyOIFNAME, "lo", expr.CmpOpEq), &expr.Verdict{Kind: expr.VerdictAccept})...)
	for _, d := range r.Duplicate {
		var exprs []expr.Any
		name := "dup *"
		if d.To != nil {
			exprs = append(exprs, daddr(), &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: d.To.To4()})
			name = "dup " + d.To.String()
		}
		exprs = append(exprs, random(2, d.P)...)
		exprs = append(exprs, daddr(), &expr.Counter{}, &expr.Dup{RegAddr: 1})
		rule(out, name, exprs...)
	}
	return nil
}

// setOf queues the creation (if missing), flush and fill of an ipv4_addr
// set, so that its contents change atomically with the rest of the table.
// id identifies the set within the transaction; it is set here because
// nftables v0.3.0 otherwise draws it from an unsynchronized global counter
// (a data race when several namespaces are changed at once).
func setOf(c *nftables.Conn, t *nftables.Table, id uint32, name string, ips []net.IP) (*nftables.Set, error) {
	set := &nftables.Set{Table: t, ID: id, Name: name, KeyType: nftables.TypeIPAddr}
	if err := c.AddSet(set, nil); err != nil {
		return nil, fmt.Errorf("set %s: %w", name, err)
	}
	c.FlushSet(set)
	if els := elements(ips); len(els) > 0 {
		if err := c.SetAddElements(set, els); err != nil {
			return nil, fmt.Errorf("elements of set %s: %w", name, err)
		}
	}
	return set, nil
}

// random matches with probability p: numgen random mod 10000 into reg, then
// the byte-order conversion that makes nft_cmp's memcmp a numeric compare.
func random(reg uint32, p float64) []expr.Any {
	threshold := uint32(math.Round(p * 10000))
	return []expr.Any{
		&expr.Numgen{Register: reg, Modulus: 10000, Type: unix.NFT_NG_RANDOM},
		&expr.Byteorder{SourceRegister: reg, DestRegister: reg, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Cmp{Op: expr.CmpOpLt, Register: reg, Data: binaryutil.BigEndian.PutUint32(threshold)},
	}
}

func saddr() expr.Any {
	return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}
}

func daddr() expr.Any {
	return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4}
}

func ifname(key expr.MetaKey, name string, op expr.CmpOp) []expr.Any {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: op, Register: 1, Data: b}}
}

func elements(ips []net.IP) []nftables.SetElement {
	seen := map[string]bool{}
	var els []nftables.SetElement
	for _, ip := range ips {
		k := string(ip.To4())
		if seen[k] {
			continue
		}
		seen[k] = true
		els = append(els, nftables.SetElement{Key: ip.To4()})
	}
	return els
}

// nfqueueTarget is the xt NFQUEUE target, revision 3, through nft_compat
// (this kernel has no nft_queue). Its info is struct xt_NFQ_info_v3
// {u16 queuenum; u16 queues_total; u16 flags}, host byte order, padded to 8
// bytes. NFQ_FLAG_BYPASS (1) lets packets through when no program listens,
// so a harness that dies never leaves a node blackholed.
func nfqueueTarget(queue uint16) *expr.Target {
	info := make([]byte, 8)
	copy(info[0:], binaryutil.NativeEndian.PutUint16(queue))
	copy(info[2:], binaryutil.NativeEndian.PutUint16(1))
	copy(info[4:], binaryutil.NativeEndian.PutUint16(nfqFlagBypass))
	u := xt.Unknown(info)
	return &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &u}
}

const nfqFlagBypass = 0x01
