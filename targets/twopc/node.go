package twopc

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"time"

	"github.com/faultline-io/faultline/targets/peer"
)

// Clock is where the node reads time: the clock seam in a real node.
type Clock interface{ Now() time.Time }

// Appender makes records durable (Storage in a real node).
type Appender interface {
	Append(recs []Record, fsync bool) error
}

// Sender carries messages to peers, best effort.
type Sender interface{ Send(msgs []Message) }

// requestTimeout bounds how long the HTTP handler waits for the machine's
// answer; the machine answers its own timeouts before that.
const requestTimeout = 2 * time.Second

// maxTickWait bounds the wait for the machine's next tick, so a clock seam
// that jumps back cannot put the node to sleep.
const maxTickWait = 20 * time.Millisecond

// Node is one 2PC node: the process shell around a Machine. One goroutine
// (Run) owns the machine, turns I/O into its events (peer messages, client
// requests, ticks at the clock's reading) and carries out each Batch in
// the order Batch states: append and fsync, then send, then answer.
type Node struct {
	m      *Machine
	clock  Clock
	log    Appender
	send   Sender
	addrs  map[string]string // node id → address, for not-coordinator hints
	logger *log.Logger

	recvc   chan []Message
	reqc    chan *request
	statsc  chan chan Stats
	done    chan struct{}
	nextID  uint64
	waiting map[uint64]*request
}

type request struct {
	req  Request
	resp chan Response
}

// NewNode returns a node around m; addrs maps every node id to its address.
func NewNode(m *Machine, clock Clock, lg Appender, send Sender, addrs map[string]string, logger *log.Logger) *Node {
	if logger == nil {
		logger = log.New(io.Discard, "", 0)
	}
	return &Node{m: m, clock: clock, log: lg, send: send, addrs: addrs, logger: logger,
		recvc: make(chan []Message, 64), reqc: make(chan *request, 256), statsc: make(chan chan Stats),
		done: make(chan struct{}), waiting: map[uint64]*request{}}
}

// Run drives the machine until ctx is done (nil) or an append fails (the
// error: after a failed fsync nothing may be acknowledged; requests in
// flight are then answered as indefinite).
func (n *Node) Run(ctx context.Context) error {
	defer close(n.done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			n.stopping()
			return nil
		case <-timer.C:
			n.m.Tick(n.clock.Now())
		case msgs := <-n.recvc:
			n.m.Step(n.clock.Now(), msgs)
		case r := <-n.reqc:
			n.request(r)
		case c := <-n.statsc:
			c <- n.m.Stats()
		}
		n.drain()
		b := n.m.Ready()
		if err := n.log.Append(b.Persist, b.Fsync); err != nil {
			n.logger.Printf("fatal: persist: %v", err)
			n.stopping()
			return err
		}
		n.send.Send(b.Messages)
		for _, rp := range b.Replies {
			if r := n.waiting[rp.ID]; r != nil {
				delete(n.waiting, rp.ID)
				r.resp <- rp.Resp
			}
		}
		wait := n.m.NextTick().Sub(n.clock.Now())
		timer.Reset(min(max(wait, time.Millisecond), maxTickWait))
	}
}

// stopping answers every waiting request as indefinite: its outcome was in
// a batch that was never carried out.
func (n *Node) stopping() {
	for id, r := range n.waiting {
		delete(n.waiting, id)
		r.resp <- Response{Error: ErrStopping}
	}
}

func (n *Node) request(r *request) {
	n.nextID++
	n.waiting[n.nextID] = r
	n.m.Request(n.clock.Now(), n.nextID, r.req)
}

// drain takes whatever else is already waiting, so one batch (one fsync)
// covers it all.
func (n *Node) drain() {
	for range 512 {
		select {
		case msgs := <-n.recvc:
			n.m.Step(n.clock.Now(), msgs)
		case r := <-n.reqc:
			n.request(r)
		default:
			return
		}
	}
}

// Handler returns the node's HTTP API: MessagePath for peers, OpPath,
// StatsPath and HealthPath for clients and the harness.
func (n *Node) Handler() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+MessagePath, n.handleMessage)
	mux.HandleFunc("POST "+OpPath, n.handleOp)
	mux.HandleFunc("GET "+StatsPath, n.handleStats)
	mux.HandleFunc("GET "+HealthPath, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-n.done:
			http.Error(w, "stopped", http.StatusServiceUnavailable)
		default:
			io.WriteString(w, "ok\n")
		}
	})
	return mux
}

func (n *Node) handleMessage(w http.ResponseWriter, r *http.Request) {
	if peer.Expired(r, time.Now()) {
		// Its sender gave it up as lost (a partition held it back).
		http.Error(w, "deadline passed", http.StatusRequestTimeout)
		return
	}
	var msgs []Message
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20)).Decode(&msgs); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	select {
	case n.recvc <- msgs:
		w.WriteHeader(http.StatusNoContent)
	case <-n.done:
		http.Error(w, "stopped", http.StatusServiceUnavailable)
	case <-time.After(time.Second):
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}
}

func (n *Node) handleStats(w http.ResponseWriter, r *http.Request) {
	c := make(chan Stats, 1)
	select {
	case n.statsc <- c:
		writeJSON(w, http.StatusOK, <-c)
	case <-n.done:
		http.Error(w, "stopped", http.StatusServiceUnavailable)
	case <-time.After(time.Second):
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}
}

func (n *Node) handleOp(w http.ResponseWriter, hr *http.Request) {
	var req Request
	if err := json.NewDecoder(http.MaxBytesReader(w, hr.Body, 1<<20)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, APIResponse{Response: Response{Error: ErrBadRequest, Definite: true}})
		return
	}
	ctx, cancel := context.WithTimeout(hr.Context(), requestTimeout)
	defer cancel()
	r := &request{req: req, resp: make(chan Response, 1)}
	select {
	case n.reqc <- r:
	case <-ctx.Done():
		writeJSON(w, http.StatusServiceUnavailable, APIResponse{Response: Response{Error: ErrBusy, Definite: true}})
		return
	case <-n.done:
		writeJSON(w, http.StatusServiceUnavailable, APIResponse{Response: Response{Error: ErrBusy, Definite: true}})
		return
	}
	var resp Response
	select {
	case resp = <-r.resp:
	case <-ctx.Done():
		resp = Response{Error: ErrTimeout}
	case <-n.done:
		select {
		case resp = <-r.resp:
		default:
			resp = Response{Error: ErrStopping}
		}
	}
	ar := APIResponse{Response: resp}
	if resp.Error == ErrNotCoordinator {
		ar.CoordinatorAddr = n.addrs[resp.Coordinator]
	}
	code := http.StatusOK
	if !resp.OK {
		code = http.StatusConflict
		if !resp.Definite {
			code = http.StatusServiceUnavailable
		}
	}
	writeJSON(w, code, ar)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
