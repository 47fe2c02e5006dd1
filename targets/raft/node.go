package raft

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/targets/raft/core"
)

// Config configures a Node. Clock, Transport, Storage and the seed of all
// randomness come in here, so tests and fault injectors can replace each.
type Config struct {
	// ID is this node; Peers lists every node, this one included.
	ID    string
	Peers []cluster.Peer

	// Storage holds the write-ahead log (term, vote, entries).
	Storage Storage
	// Transport carries messages to peers; the node receives through
	// Receive (HTTP: Handler's MessagePath).
	Transport Transport
	// Clock times ticks; nil means RealClock.
	Clock Clock
	// Seed seeds the core's election-timeout randomness.
	Seed uint64

	// Tick is the length of one core tick (default 10 ms).
	Tick time.Duration
	// ElectionTicks, HeartbeatTicks and CheckQuorumTicks tune the core;
	// zero takes DefaultElectionTicks, DefaultHeartbeatTicks and
	// DefaultCheckQuorumTicks.
	ElectionTicks, HeartbeatTicks, CheckQuorumTicks int
	// SnapshotEvery compacts the log after that many applied entries
	// (default DefaultSnapshotEvery; negative: never).
	SnapshotEvery int
	// RequestTimeout bounds how long a client request waits for its
	// outcome before the node answers "timeout" (default 1 s).
	RequestTimeout time.Duration

	// Bugs names the seeded bugs to switch on (see Target.Bugs).
	Bugs []string
	// Logger receives the node's log; nil discards it.
	Logger *log.Logger
}

// Timing defaults. At a 10 ms tick: election timeouts drawn from
// [150 ms, 300 ms), a heartbeat every 30 ms, and a check-quorum window of
// 2.5 s. The window is long on purpose: a leader cut off from its peers keeps
// believing it leads (and keeps accepting client requests) for 2.5 s, which
// is what lets the stale-read bug be seen under a leader partition. The
// correct build is unaffected: its reads and writes need a quorum anyway, and
// the majority side elects a new leader within ~0.5 s regardless.
const (
	DefaultTick             = 10 * time.Millisecond
	DefaultElectionTicks    = 15
	DefaultHeartbeatTicks   = 3
	DefaultCheckQuorumTicks = 250
	DefaultRequestTimeout   = time.Second
)

// lazyReplicationTicks is how often a leader with the ack-before-commit bug
// sends new entries (100 ms at the default tick): with acknowledgements no
// longer waiting for replication, it batches. A leader killed at a random
// moment thus takes about that much acknowledged history with it.
const lazyReplicationTicks = 10

// Validate reports the first invalid field of c, naming it and its value.
func (c Config) Validate() error {
	if c.ID == "" {
		return errors.New("Config.ID is empty")
	}
	found := false
	for _, p := range c.Peers {
		if p.ID == c.ID {
			found = true
		}
	}
	if !found {
		return fmt.Errorf("Config.ID %q is not among Config.Peers %v", c.ID, c.Peers)
	}
	if c.Storage == nil {
		return errors.New("Config.Storage is nil")
	}
	if c.Transport == nil {
		return errors.New("Config.Transport is nil")
	}
	if c.Tick < 0 || c.RequestTimeout < 0 {
		return fmt.Errorf("Config.Tick %v and Config.RequestTimeout %v must not be negative", c.Tick, c.RequestTimeout)
	}
	if _, err := parseBugs(c.Bugs); err != nil {
		return fmt.Errorf("Config.Bugs %q: %w", c.Bugs, err)
	}
	return nil
}

// Node is one Raft KV node: the process shell around a Machine. One
// goroutine (Run) owns the machine and turns I/O into its events: ticks of
// the clock, messages from peers and client requests; it carries out each
// Batch the machine returns in the order Batch states (persist and fsync,
// then send, then answer clients). HTTP handlers talk to it through
// channels.
type Node struct {
	id        string
	storage   Storage
	transport Transport
	clock     Clock
	tick      time.Duration
	timeout   time.Duration
	logger    *log.Logger

	m *Machine

	reqc   chan *request
	recvc  chan []core.Message
	done   chan struct{}
	status atomic.Pointer[StatusResponse]

	// Owned by the Run goroutine.
	nextID  uint64
	waiting map[uint64]*request
}

// request is one client operation on its way to the machine.
type request struct {
	op   Op
	resp chan KVResponse // buffered: the loop never blocks on it
}

func (r *request) reply(resp KVResponse) {
	select {
	case r.resp <- resp:
	default:
	}
}

// NewNode replays cfg.Storage and returns a node ready to Run.
func NewNode(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	if cfg.Tick == 0 {
		cfg.Tick = DefaultTick
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = log.New(io.Discard, "", 0)
	}
	hs, snap, ents, err := loadWALSnapshot(cfg.Storage)
	if err != nil {
		return nil, fmt.Errorf("replay wal: %w", err)
	}
	m, err := NewMachine(MachineConfig{
		ID: cfg.ID, Peers: cfg.Peers, Snapshot: snap, HardState: hs, Entries: ents, Seed: cfg.Seed,
		SnapshotEvery: cfg.SnapshotEvery,
		Now:           cfg.Clock.Now(), Tick: cfg.Tick, ElectionTicks: cfg.ElectionTicks,
		HeartbeatTicks: cfg.HeartbeatTicks, CheckQuorumTicks: cfg.CheckQuorumTicks,
		Bugs: cfg.Bugs, Logf: cfg.Logger.Printf,
	})
	if err != nil {
		return nil, err
	}
	n := &Node{
		id:        cfg.ID,
		storage:   cfg.Storage,
		transport: cfg.Transport,
		clock:     cfg.Clock,
		tick:      cfg.Tick,
		timeout:   cfg.RequestTimeout,
		logger:    cfg.Logger,
		m:         m,
		reqc:      make(chan *request, 1024),
		recvc:     make(chan []core.Message, 1024),
		done:      make(chan struct{}),
		waiting:   map[uint64]*request{},
	}
	n.publishStatus()
	return n, nil
}

// Status returns the node's latest published status.
func (n *Node) Status() StatusResponse { return *n.status.Load() }

// Done is closed when Run has returned.
func (n *Node) Done() <-chan struct{} { return n.done }

// Receive hands messages from peers to the loop. It blocks until they are
// queued, ctx is done or the node stops.
func (n *Node) Receive(ctx context.Context, msgs []core.Message) error {
	select {
	case n.recvc <- msgs:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return errors.New("node stopped")
	}
}

// Run is the event loop: it ticks the machine by the clock, steps received
// messages and hands it client requests, then carries out the machine's
// batches. It returns nil when ctx is done, or the storage error that
// stopped it (after a failed fsync nothing may be acknowledged). Requests
// in flight are answered as it stops. Storage and Transport stay open: the
// caller owns them.
func (n *Node) Run(ctx context.Context) error {
	defer close(n.done)
	ticker := time.NewTicker(n.tick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			n.deliver(n.m.Stop())
			return nil
		case <-ticker.C:
			n.m.Tick(n.clock.Now())
		case msgs := <-n.recvc:
			n.m.Step(msgs)
		case r := <-n.reqc:
			n.request(r)
		}
		n.drainInputs()
		for i := 0; i < 4 && n.m.HasReady(); i++ {
			b, _ := n.m.Ready(n.clock.Now())
			// Durable before anything leaves this node or is applied.
			if err := b.Persist(n.storage); err != nil {
				n.logger.Printf("fatal: %v", err)
				n.deliver(n.m.Stop())
				// What is still waiting had its answer in this batch, which
				// must not be delivered (it may say ok for what was never
				// made durable): those outcomes are unknown.
				for _, r := range n.waiting {
					r.reply(KVResponse{Error: ErrCodeStopping})
				}
				return err
			}
			n.transport.Send(b.Messages)
			n.deliver(b.Replies)
		}
		n.publishStatus()
	}
}

func (n *Node) request(r *request) {
	n.nextID++
	n.waiting[n.nextID] = r
	n.m.Request(n.clock.Now(), n.nextID, r.op)
}

func (n *Node) deliver(replies []Reply) {
	for _, rp := range replies {
		if r := n.waiting[rp.ID]; r != nil {
			delete(n.waiting, rp.ID)
			r.reply(rp.Resp)
		}
	}
}

// drainInputs takes whatever else is already waiting, so one batch (one
// fsync) covers it all.
func (n *Node) drainInputs() {
	for range 512 {
		select {
		case msgs := <-n.recvc:
			n.m.Step(msgs)
		case r := <-n.reqc:
			n.request(r)
		default:
			return
		}
	}
}

func (n *Node) publishStatus() {
	st := n.m.Status()
	n.status.Store(&st)
}

// ---- HTTP ----

// Handler returns the node's HTTP API: MessagePath for peers, KVPath,
// StatusPath and HealthPath for clients and the harness. The result is a
// *http.ServeMux so an admin API can be added beside it.
func (n *Node) Handler() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+MessagePath, n.handleMessage)
	mux.HandleFunc("POST "+KVPath, n.handleKV)
	mux.HandleFunc("GET "+StatusPath, n.handleStatus)
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
	var msgs []core.Message
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 512<<20)).Decode(&msgs); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if err := n.Receive(ctx, msgs); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (n *Node) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, n.Status())
}

func (n *Node) handleKV(w http.ResponseWriter, hr *http.Request) {
	var kr KVRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, hr.Body, 1<<20)).Decode(&kr); err != nil {
		writeKV(w, KVResponse{Error: ErrCodeBadRequest, Definite: true})
		return
	}
	r, err := parseKVRequest(kr)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, KVResponse{Error: ErrCodeBadRequest + ": " + err.Error(), Definite: true})
		return
	}
	timeout := n.timeout
	if t := time.Duration(kr.TimeoutMS) * time.Millisecond; t > 0 && t < timeout {
		timeout = t
	}
	ctx, cancel := context.WithTimeout(hr.Context(), timeout)
	defer cancel()
	select {
	case n.reqc <- r:
	case <-ctx.Done():
		writeKV(w, KVResponse{Error: ErrCodeBusy, Definite: true})
		return
	case <-n.done:
		writeKV(w, KVResponse{Error: ErrCodeBusy, Definite: true})
		return
	}
	select {
	case resp := <-r.resp:
		writeKV(w, resp)
	case <-ctx.Done():
		writeKV(w, KVResponse{Error: ErrCodeTimeout})
	case <-n.done:
		select {
		case resp := <-r.resp: // answered as the loop stopped
			writeKV(w, resp)
		default:
			writeKV(w, KVResponse{Error: ErrCodeStopping})
		}
	}
}

func parseKVRequest(kr KVRequest) (*request, error) {
	op, err := ParseKVRequest(kr)
	if err != nil {
		return nil, err
	}
	return &request{op: op, resp: make(chan KVResponse, 1)}, nil
}

func writeKV(w http.ResponseWriter, resp KVResponse) {
	code := http.StatusOK
	switch resp.Error {
	case "":
	case ErrCodeNotLeader:
		code = http.StatusMisdirectedRequest
	case ErrCodeCASMismatch, ErrCodeOverwritten:
		code = http.StatusConflict
	case ErrCodeTimeout:
		code = http.StatusGatewayTimeout
	case ErrCodeBadRequest:
		code = http.StatusBadRequest
	default:
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, resp)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
