// Package peer carries a bundled node's protocol messages to its peers over
// HTTP: one queue and one sender goroutine per peer, JSON batches POSTed to
// the peer's message path, best effort. Raft and the CRDT node share it.
package peer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faultline-io/faultline/cluster"
)

// HTTPSender sends batched JSON messages of type M to each peer's Path.
// One goroutine per peer drains that peer's queue and POSTs whatever has
// accumulated while the previous POST was in flight, so a slow or
// unreachable peer never delays the others; on any error the batch is
// dropped. Delivery is best effort: messages may be dropped, and a protocol
// on top must tolerate it.
type HTTPSender[M any] struct {
	self    string
	to      func(M) string
	logger  *log.Logger
	client  *http.Client
	peers   map[string]*queue[M]
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	header  string
	timeout time.Duration
}

// Options tunes an HTTPSender; zero fields take defaults.
type Options struct {
	// Path is where peers accept messages: a POST of a JSON array of M.
	Path string
	// FromHeader is the request header naming the sender (default
	// "X-Faultline-From").
	FromHeader string
	// QueueLen is the number of messages queued per peer before Send
	// drops (default 4096).
	QueueLen int
	// Timeout bounds one POST, connection included (default 500 ms).
	Timeout time.Duration
	// MaxBatch is the most messages in one POST (default 1024).
	MaxBatch int
}

type queue[M any] struct {
	id, addr string
	q        chan M
	dropped  atomic.Int64
	failing  atomic.Bool
}

// NewHTTPSender returns a sender from self to every other peer in peers,
// and starts its sender goroutines. to names a message's destination peer.
func NewHTTPSender[M any](self string, peers []cluster.Peer, to func(M) string, logger *log.Logger, o Options) *HTTPSender[M] {
	if o.QueueLen <= 0 {
		o.QueueLen = 4096
	}
	if o.Timeout <= 0 {
		o.Timeout = 500 * time.Millisecond
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1024
	}
	if o.FromHeader == "" {
		o.FromHeader = "X-Faultline-From"
	}
	if logger == nil {
		logger = log.New(io.Discard, "", 0)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &HTTPSender[M]{
		self:    self,
		to:      to,
		logger:  logger,
		peers:   map[string]*queue[M]{},
		ctx:     ctx,
		cancel:  cancel,
		header:  o.FromHeader,
		timeout: o.Timeout,
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
		ps := &queue[M]{id: p.ID, addr: p.Addr, q: make(chan M, o.QueueLen)}
		t.peers[p.ID] = ps
		t.wg.Add(1)
		go t.run(ps, "http://"+p.Addr+o.Path, o.MaxBatch)
	}
	return t
}

// Send queues msgs for their peers and returns at once; it never blocks.
// Messages to unknown peers, or beyond a full queue, are dropped.
func (t *HTTPSender[M]) Send(msgs []M) {
	for _, m := range msgs {
		ps := t.peers[t.to(m)]
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

// Close stops delivery; queued messages are dropped.
func (t *HTTPSender[M]) Close() error {
	t.cancel()
	t.wg.Wait()
	t.client.CloseIdleConnections()
	return nil
}

func (t *HTTPSender[M]) run(ps *queue[M], url string, maxBatch int) {
	defer t.wg.Done()
	batch := make([]M, 0, maxBatch)
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

func (t *HTTPSender[M]) post(url string, batch []M) error {
	body, err := json.Marshal(batch)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(t.ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(t.header, t.self)
	req.Header.Set(DeadlineHeader, strconv.FormatInt(time.Now().Add(t.timeout).UnixNano(), 10))
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

// DeadlineHeader carries the wall-clock time (Unix ns, the host's clock,
// never a node's clock seam) after which the sender has given a POST up.
const DeadlineHeader = "X-Faultline-Deadline"

// Expired reports whether r arrived after the deadline its sender set
// (DeadlineHeader), as a gRPC server refuses a call whose deadline passed.
// A sender that timed out counts its messages as lost, but TCP keeps
// retransmitting what it wrote before the timeout and delivers it once a
// partition heals, seconds later; a receiver that must see lost messages
// as lost checks Expired and drops them.
func Expired(r *http.Request, now time.Time) bool {
	d, err := strconv.ParseInt(r.Header.Get(DeadlineHeader), 10, 64)
	return err == nil && now.UnixNano() > d
}
