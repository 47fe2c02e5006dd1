// Package nettest has test helpers for network faults: a netns cluster of
// idle nodes, and probe traffic sent and counted from sockets opened inside
// node namespaces. It is imported only by tests.
package nettest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/faultline-io/faultline/cluster"
)

// NeedRoot skips the test unless it runs as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and changes nftables and qdiscs in them")
	}
}

// Cluster starts n idle nodes (/bin/sleep) on the netns runtime and tears
// them down at cleanup. Faults are applied in the nodes' namespaces; the
// probes below open their own sockets there.
func Cluster(t testing.TB, n int) cluster.Cluster {
	t.Helper()
	NeedRoot(t)
	sleep := "/bin/sleep"
	if _, err := os.Stat(sleep); err != nil {
		sleep = "/usr/bin/sleep"
	}
	c, err := cluster.Netns{}.Start(context.Background(), cluster.Spec{
		Name: t.Name(), RunDir: t.TempDir(), Nodes: n, Port: 7000, Binary: sleep,
		Command: func(cluster.Peer, []cluster.Peer, string) []string { return []string{"3600"} },
	})
	if err != nil {
		t.Fatalf("start netns cluster: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Teardown(context.Background()); err != nil {
			t.Errorf("teardown: %v", err)
		}
	})
	return c
}

// IP returns the node's address.
func IP(t testing.TB, n cluster.Node) net.IP {
	t.Helper()
	host, _, err := net.SplitHostPort(n.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return net.ParseIP(host).To4()
}

// Within runs fn with a socket-opening thread inside the node's namespace.
func Within(t testing.TB, n cluster.Node, fn func() error) {
	t.Helper()
	ns, err := n.NetNS()
	if err != nil {
		t.Fatalf("netns of %s: %v", n.ID(), err)
	}
	defer ns.Close()
	if err := cluster.InNetNS(ns, fn); err != nil {
		t.Fatalf("in %s: %v", n.ID(), err)
	}
}

// Result of a UDP probe.
type Result struct {
	Sent, Received int
	// SendErrors counts sendto failures (EPERM would mean a sender-side
	// drop, which a partition must never cause).
	SendErrors int
	// Delays are the one-way delays of the received datagrams (sender and
	// receiver share this process's clock), sorted.
	Delays []time.Duration
}

// Quantile returns the q-quantile of the delays.
func (r Result) Quantile(q float64) time.Duration {
	if len(r.Delays) == 0 {
		return 0
	}
	return r.Delays[min(len(r.Delays)-1, int(q*float64(len(r.Delays))))]
}

// UDP sends count datagrams from node from to node to, from sockets opened
// inside their namespaces, paced so that no socket buffer overflows, and
// counts what arrives within settle after the last send.
func UDP(t testing.TB, from, to cluster.Node, count int, settle time.Duration) Result {
	t.Helper()
	var rx, tx *net.UDPConn
	Within(t, to, func() (err error) {
		rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: IP(t, to)})
		return err
	})
	defer rx.Close()
	_ = rx.SetReadBuffer(4 << 20)
	dst := rx.LocalAddr().(*net.UDPAddr)
	Within(t, from, func() (err error) {
		tx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: IP(t, from)})
		return err
	})
	defer tx.Close()

	epoch := time.Now()
	var res Result
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			_ = rx.SetReadDeadline(time.Now().Add(settle))
			n, err := rx.Read(buf)
			if err != nil {
				return
			}
			if n >= 8 {
				sentAt := time.Duration(binary.BigEndian.Uint64(buf))
				mu.Lock()
				res.Received++
				res.Delays = append(res.Delays, time.Since(epoch)-sentAt)
				mu.Unlock()
			}
		}
	}()
	msg := make([]byte, 32)
	for i := 0; i < count; i++ {
		binary.BigEndian.PutUint64(msg, uint64(time.Since(epoch)))
		if _, err := tx.WriteToUDP(msg, dst); err != nil {
			res.SendErrors++
		}
		res.Sent++
		if i%20 == 19 {
			time.Sleep(time.Millisecond)
		}
	}
	<-done
	sort.Slice(res.Delays, func(i, j int) bool { return res.Delays[i] < res.Delays[j] })
	return res
}

// TCPThroughput streams from node from to node to for d and returns the
// bits per second the receiver got.
func TCPThroughput(t testing.TB, from, to cluster.Node, d time.Duration) float64 {
	t.Helper()
	var l net.Listener
	Within(t, to, func() (err error) {
		l, err = net.Listen("tcp4", net.JoinHostPort(IP(t, to).String(), "0"))
		return err
	})
	defer l.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- 0
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		got <- n
	}()
	var c net.Conn
	Within(t, from, func() (err error) {
		c, err = net.DialTimeout("tcp4", l.Addr().String(), 2*time.Second)
		return err
	})
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(64 << 10) // so that little is left to drain after d
	}
	buf := make([]byte, 32<<10)
	start := time.Now()
	_ = c.SetWriteDeadline(start.Add(d))
	for time.Since(start) < d {
		if _, err := c.Write(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			t.Fatalf("write: %v", err)
		}
	}
	c.Close()
	n := <-got
	return float64(n*8) / time.Since(start).Seconds()
}

// String formats a result for logs.
func (r Result) String() string {
	return fmt.Sprintf("sent %d received %d (send errors %d) p50 %v p99 %v",
		r.Sent, r.Received, r.SendErrors, r.Quantile(0.5), r.Quantile(0.99))
}
