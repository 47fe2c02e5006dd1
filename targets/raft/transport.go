package raft

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faultline-io/faultline/cluster"
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

// HTTPTransport sends batched JSON messages to each peer's MessagePath. One
// goroutine per peer drains that peer's queue and POSTs whatever has
// accumulated while the previous POST was in flight, so a slow or
// unreachable peer never delays the others; on any error the batch is
// dropped.
type HTTPTransport struct {
	self   string
	logger *log.Logger
	client *http.Client
	peers  map[string]*peerSender
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// HTTPTransportOptions tunes an HTTPTransport; zero fields take defaults.
type HTTPTransportOptions struct {
	// QueueLen is the number of messages queued per peer before Send
	// drops (default 4096).
	QueueLen int
	// Timeout bounds one POST, connection included (default 500 ms).
	Timeout time.Duration
	// MaxBatch is the most messages in one POST (default 1024).
	MaxBatch int
}

type peerSender struct {
	id, addr string
	q        chan core.Message
	dropped  atomic.Int64
	failing  atomic.Bool
}

// NewHTTPTransport returns a transport from self to every other peer in
// peers, and starts its sender goroutines.
func NewHTTPTransport(self string, peers []cluster.Peer, logger *log.Logger, o HTTPTransportOptions) *HTTPTransport {
	if o.QueueLen <= 0 {
		o.QueueLen = 4096
	}
	if o.Timeout <= 0 {
		o.Timeout = 500 * time.Millisecond
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1024
	}
	if logger == nil {
		logger = log.New(io.Discard, "", 0)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &HTTPTransport{
		self:   self,
		logger: logger,
		peers:  map[string]*peerSender{},
		ctx:    ctx,
		cancel: cancel,
		client: &http.Client{
			Timeout: o.Timeout,
			Transport: &http.Transport{
				Proxy:               nil,
				DialContext:         (&net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}).DialContext,
				MaxIdleConnsPerHost: 2,
				IdleConnTimeout:     90 * time.Second,
				DisableCompression:  true,
			},
		},
	}
	for _, p := range peers {
		if p.ID == self {
			continue
		}
		ps := &peerSender{id: p.ID, addr: p.Addr, q: make(chan core.Message, o.QueueLen)}
		t.peers[p.ID] = ps
		t.wg.Add(1)
		go t.run(ps, o.MaxBatch)
	}
	return t
}

// Send implements Transport.
func (t *HTTPTransport) Send(msgs []core.Message) {
	for _, m := range msgs {
		ps := t.peers[m.To]
		if ps == nil {
			continue
		}
		select {
		case ps.q <- m:
		default:
			ps.dropped.Add(1)
		}
	}
}

// Close implements Transport.
func (t *HTTPTransport) Close() error {
	t.cancel()
	t.wg.Wait()
	t.client.CloseIdleConnections()
	return nil
}

func (t *HTTPTransport) run(ps *peerSender, maxBatch int) {
	defer t.wg.Done()
	url := "http://" + ps.addr + MessagePath
	batch := make([]core.Message, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case <-t.ctx.Done():
			return
		case m := <-ps.q:
			batch = append(batch, m)
		}
	more:
		for len(batch) < maxBatch {
			select {
			case m := <-ps.q:
				batch = append(batch, m)
			default:
				break more
			}
		}
		err := t.post(url, batch)
		switch {
		case err != nil && !ps.failing.Swap(true):
			t.logger.Printf("transport: sending to %s (%s) fails: %v; dropping until it recovers", ps.id, ps.addr, err)
		case err == nil && ps.failing.Swap(false):
			t.logger.Printf("transport: %s reachable again (%d messages dropped on full queue so far)", ps.id, ps.dropped.Load())
		}
	}
}

func (t *HTTPTransport) post(url string, batch []core.Message) error {
	body, err := json.Marshal(batch)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(t.ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Raft-From", t.self)
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s", resp.Status)
	}
	return nil
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
