package raft

import (
	"log"
	"sync"
	"sync/atomic"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/targets/peer"
	"github.com/faultline-io/faultline/targets/raft/core"
	"github.com/faultline-io/faultline/targets/seam"
)

// Transport carries messages from this node to its peers. Delivery is best
// effort: messages may be dropped (a full queue, an unreachable peer),
// delayed, duplicated or reordered, all of which Raft tolerates.
//
// It is a seam: a fault injector may wrap it to delay, duplicate or drop
// messages per peer, switched on through the admin endpoint.
type Transport interface {
	// Send queues msgs for their To peers and returns at once; it never
	// blocks the core loop.
	Send(msgs []core.Message)
	// Close stops delivery; queued messages are dropped.
	Close() error
}

// ShimTransport applies the message shim of package targets/seam (per-peer
// delay, jitter, duplication, reordering and drops, set through the admin
// endpoint) to messages before inner sends them. The faults are
// message-level: they act on whole Raft messages, not packets.
type ShimTransport struct {
	inner Transport
	shim  *seam.Shim[core.Message]
}

// NewShimTransport wraps inner with the rules of m.
func NewShimTransport(inner Transport, m *seam.Messages) *ShimTransport {
	return &ShimTransport{inner: inner, shim: seam.NewShim(m,
		func(msg core.Message) string { return msg.To }, inner.Send)}
}

// Send implements Transport.
func (t *ShimTransport) Send(msgs []core.Message) { t.shim.Send(msgs) }

// Close drops delayed messages and closes inner.
func (t *ShimTransport) Close() error {
	t.shim.Close()
	return t.inner.Close()
}

// MessagePath is where a node accepts peer messages: a POST of a JSON array
// of core.Message.
const MessagePath = "/raft/message"

// HTTPTransport sends batched JSON messages to each peer's MessagePath
// (package peer's HTTPSender of core.Message).
type HTTPTransport = peer.HTTPSender[core.Message]

// HTTPTransportOptions tunes an HTTPTransport; Path is always MessagePath.
type HTTPTransportOptions = peer.Options

// NewHTTPTransport returns a transport from self to every other peer in
// peers, and starts its sender goroutines.
func NewHTTPTransport(self string, peers []cluster.Peer, logger *log.Logger, o HTTPTransportOptions) *HTTPTransport {
	o.Path, o.FromHeader = MessagePath, "X-Raft-From"
	return peer.NewHTTPSender(self, peers, func(m core.Message) string { return m.To }, logger, o)
}

// MemNetwork connects nodes in one process without sockets, for tests. It
// can cut directed links. Delivery is asynchronous and in order per link.
type MemNetwork struct {
	mu    sync.Mutex
	recv  map[string]func([]core.Message)
	cut   map[[2]string]bool
	queue map[string]chan []core.Message
}

// NewMemNetwork returns an empty network.
func NewMemNetwork() *MemNetwork {
	return &MemNetwork{recv: map[string]func([]core.Message){}, cut: map[[2]string]bool{}, queue: map[string]chan []core.Message{}}
}

// Attach makes deliver receive messages addressed to id, replacing any
// earlier receiver (a restarted node). A nil deliver detaches id.
func (n *MemNetwork) Attach(id string, deliver func([]core.Message)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if deliver == nil {
		delete(n.recv, id)
		return
	}
	n.recv[id] = deliver
	if n.queue[id] == nil {
		q := make(chan []core.Message, 1024)
		n.queue[id] = q
		go func() {
			for msgs := range q {
				n.mu.Lock()
				d := n.recv[id]
				n.mu.Unlock()
				if d != nil {
					d(msgs)
				}
			}
		}()
	}
}

// Cut drops every message from one node to another until Heal.
func (n *MemNetwork) Cut(from, to string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[[2]string{from, to}] = true
}

// Isolate cuts id off from every other attached node, both ways.
func (n *MemNetwork) Isolate(id string, others []string) {
	for _, o := range others {
		if o != id {
			n.Cut(id, o)
			n.Cut(o, id)
		}
	}
}

// Heal restores every link.
func (n *MemNetwork) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut = map[[2]string]bool{}
}

// Transport returns the Transport of node self.
func (n *MemNetwork) Transport(self string) Transport { return &memTransport{net: n, self: self} }

type memTransport struct {
	net    *MemNetwork
	self   string
	closed atomic.Bool
}

func (t *memTransport) Send(msgs []core.Message) {
	if t.closed.Load() {
		return
	}
	byPeer := map[string][]core.Message{}
	t.net.mu.Lock()
	for _, m := range msgs {
		if !t.net.cut[[2]string{t.self, m.To}] {
			byPeer[m.To] = append(byPeer[m.To], m)
		}
	}
	for to, ms := range byPeer {
		if q := t.net.queue[to]; q != nil {
			select {
			case q <- ms:
			default: // full: dropped, like a congested network
			}
		}
	}
	t.net.mu.Unlock()
}

func (t *memTransport) Close() error {
	t.closed.Store(true)
	return nil
}
