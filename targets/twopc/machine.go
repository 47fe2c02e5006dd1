package twopc

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Machine is the deterministic layer of a two-phase-commit node
// (DESIGN.md §6.1): client request handling, the coordinator's and the
// participants' protocol, recovery from the log and the seeded bugs. It is
// a value driven by explicit events — Request (a client asked), Step (peer
// messages arrived) and Tick (time passed on the node's clock) — each
// given the node clock's reading; Ready returns what to do, in the order
// Batch states. It starts no goroutine, reads no clock, draws no random
// number and iterates maps in sorted order wherever the order shows, so one
// sequence of events gives one sequence of Batches.
//
// One type plays both roles: the node whose ID is MachineConfig.Coordinator
// coordinates (serves the client API, decides, keeps the decision log),
// every other node is a participant (holds accounts and register keys,
// locks, votes, applies). See the package doc for the protocol.
//
// A Machine is not safe for concurrent use.
type Machine struct {
	id, coord string
	parts     []string // participant ids, sorted
	accounts  int
	initial   int64
	prepareTO time.Duration
	resend    time.Duration
	inDoubt   time.Duration
	requestTO time.Duration
	bugs      machineBugs
	logf      func(format string, args ...any)
	now       time.Time // latest clock reading passed in

	c *coordinator // nil on a participant
	p *participant // nil on the coordinator

	// Output since the last Ready.
	persist  []Record
	fsync    bool
	messages []Message
	replies  []Reply
}

// MachineConfig configures a Machine.
type MachineConfig struct {
	ID string
	// Coordinator is the id of the coordinator node; every other node of
	// Nodes is a participant.
	Coordinator string
	// Nodes names every node of the cluster, this one included (at least
	// two).
	Nodes []string
	// Accounts is the number of bank accounts (default DefaultAccounts);
	// account a lives on participant Participants[a % P].
	Accounts int
	// InitialBalance is every account's starting balance (default
	// DefaultInitialBalance).
	InitialBalance int64
	// Seed is the run seed. The machine draws no random number today; it is
	// here so a future choice can be seeded without changing the API.
	Seed uint64
	// Now is the node clock's reading at start.
	Now time.Time
	// PrepareTimeout bounds the coordinator's wait for votes (default
	// DefaultPrepareTimeout); a txn short of votes then aborts.
	PrepareTimeout time.Duration
	// ResendInterval is how often the coordinator re-sends commit to the
	// participants that have not acked it (default DefaultResendInterval).
	ResendInterval time.Duration
	// InDoubtAfter is how long a participant that voted yes waits for the
	// decision before it asks the coordinator, and then the interval of
	// its asks (default DefaultInDoubtAfter).
	InDoubtAfter time.Duration
	// RequestTimeout bounds the wait of a client request (default
	// DefaultRequestTimeout): one undecided by then is answered indefinite
	// ErrTimeout (a read: definite).
	RequestTimeout time.Duration
	// Bugs names the seeded bugs to switch on: "presume-abort",
	// "volatile-prepare", "commit-before-log", "early-unlock".
	Bugs []string
	// Log is what the node's storage held at start, in order.
	Log []Record
	// Logf receives the node's log lines; nil discards them.
	Logf func(format string, args ...any)
}

// Defaults for the zero fields of MachineConfig.
const (
	DefaultAccounts       = 8
	DefaultInitialBalance = 100
	DefaultPrepareTimeout = 500 * time.Millisecond
	DefaultResendInterval = 200 * time.Millisecond
	DefaultInDoubtAfter   = 300 * time.Millisecond
	DefaultRequestTimeout = time.Second
)

// Request is the body of POST /op: one client operation, served by the
// coordinator as one transaction.
//
//   - "transfer": move Amount (> 0) from account From to account To
//     (From != To).
//   - "read": read every balance.
//   - "read-key", "write", "cas": the register workload on Key; Value is
//     an integer for write, [from, to] for cas.
//   - "outcome": what became of the request the client sent with ID: ok
//     if its transaction committed, a definite ErrAborted if it did not
//     (and then it never will: the id is refused from then on), answered
//     once the transaction is decided if it still runs. A client that got
//     no definite answer asks this instead of leaving the op unknown.
//
// ID, when set, names the request for a later "outcome"; a client gives
// each request a fresh one (an id seen before is refused, ErrBadRequest).
type Request struct {
	F      string          `json:"f"`
	ID     string          `json:"id,omitempty"`
	From   int64           `json:"from,omitempty"`
	To     int64           `json:"to,omitempty"`
	Amount int64           `json:"amount,omitempty"`
	Key    string          `json:"key,omitempty"`
	Value  json.RawMessage `json:"value,omitempty"`
}

// Request functions.
const (
	FTransfer = "transfer"
	FRead     = "read"
	FReadKey  = "read-key"
	FWrite    = "write"
	FCAS      = "cas"
	FOutcome  = "outcome"
)

// Response answers a Request. OK means the transaction committed; Value
// is then the read's JSON array of balances indexed by account, or
// read-key's integer or null, and absent for the other functions. A
// failure has Error (an Err*) and Definite (false: the outcome is
// unknown). Coordinator is set on ErrNotCoordinator. Txn names the
// transaction the coordinator ran for the request, when it started one.
type Response struct {
	OK          bool            `json:"ok"`
	Value       json.RawMessage `json:"value,omitempty"`
	Error       string          `json:"error,omitempty"`
	Definite    bool            `json:"definite,omitempty"`
	Coordinator string          `json:"coordinator,omitempty"`
	Txn         string          `json:"txn,omitempty"`
}

// Error codes of a Response.
const (
	// ErrNotCoordinator (definite): a participant was asked; retry at
	// Response.Coordinator.
	ErrNotCoordinator = "not-coordinator"
	// ErrInsufficient (definite): the source balance was below the
	// amount at prepare.
	ErrInsufficient = "insufficient"
	// ErrConflict (definite): a lock the transaction needed stayed held by
	// others for PrepareTimeout.
	ErrConflict = "conflict"
	// ErrAborted (definite): any other abort, e.g. a vote that did not
	// come within PrepareTimeout.
	ErrAborted = "aborted"
	// ErrCASMismatch (definite): the key's value was not cas's from.
	ErrCASMismatch = "cas-mismatch"
	// ErrTimeout: the request was not decided within RequestTimeout;
	// indefinite, except for a read (definite: reads change nothing).
	ErrTimeout = "timeout"
	// ErrBadRequest (definite): an unknown function or bad arguments.
	ErrBadRequest = "bad-request"
)

// Reply answers the request Request was given ID for.
type Reply struct {
	ID   uint64
	Resp Response
}

// TxnOp is one operation of a transaction at one participant.
type TxnOp struct {
	Kind    string `json:"kind"` // Op*
	Account int    `json:"account,omitempty"`
	Amount  int64  `json:"amount,omitempty"`
	Key     string `json:"key,omitempty"`
	// Value is the value a write sets, or a cas's new value.
	Value *int64 `json:"value,omitempty"`
	// Expect is a cas's expected current value.
	Expect *int64 `json:"expect,omitempty"`
}

// TxnOp kinds. Debit, credit, write and cas take an exclusive lock on
// their account or key, read and read-key a shared one.
const (
	OpDebit   = "debit"
	OpCredit  = "credit"
	OpRead    = "read"
	OpReadKey = "read-key"
	OpWrite   = "write"
	OpCAS     = "cas"
)

// Message is one protocol message between nodes (JSON over the
// transport). Types:
//
//   - MsgPrepare (coordinator → participant): Txn, Ops for that
//     participant.
//   - MsgVote (participant → coordinator): Txn, Yes, Reason (a no's
//     Err*), Values (a yes: one entry per op of the prepare, the value
//     read by a read or read-key op, null otherwise).
//   - MsgCommit, MsgAbort (coordinator → participant): the decision on
//     Txn; also the answer to a status query.
//   - MsgAck (participant → coordinator): Txn's decision is applied.
//   - MsgStatus (participant → coordinator): the participant voted yes on
//     Txn and asks for the decision.
//
// Every message may be lost; the protocol re-sends what matters.
type Message struct {
	From   string   `json:"from"`
	To     string   `json:"to"`
	Type   string   `json:"type"`
	Txn    string   `json:"txn"`
	Ops    []TxnOp  `json:"ops,omitempty"`
	Yes    bool     `json:"yes,omitempty"`
	Reason string   `json:"reason,omitempty"`
	Values []*int64 `json:"values,omitempty"`
}

// Message types.
const (
	MsgPrepare = "prepare"
	MsgVote    = "vote"
	MsgCommit  = "commit"
	MsgAbort   = "abort"
	MsgAck     = "ack"
	MsgStatus  = "status"
)

// Record is one record of a node's log. Types:
//
//   - RecIncarnation (coordinator, fsync): Incarnation, bumped at every
//     start; txn ids are "<incarnation>.<seq>".
//   - RecDecision (coordinator, fsync): Txn committed; Participants must
//     ack it; Req is the client's request id, if it gave one. A txn
//     without one is aborted (presumed abort).
//   - RecEnd (coordinator, no fsync): every participant acked Txn's
//     commit.
//   - RecPrepare (participant, fsync): the participant voted yes on Txn
//     with Ops at node time At.
//   - RecCommit (participant, fsync): Txn committed and Ops were applied
//     at node time At.
//   - RecAbort (participant, no fsync): Txn aborted at node time At.
type Record struct {
	Type         string   `json:"type"`
	Incarnation  uint64   `json:"incarnation,omitempty"`
	Txn          string   `json:"txn,omitempty"`
	Req          string   `json:"req,omitempty"`
	Participants []string `json:"participants,omitempty"`
	Ops          []TxnOp  `json:"ops,omitempty"`
	At           int64    `json:"at,omitempty"` // node clock, Unix ns
}

// Record types.
const (
	RecIncarnation = "incarnation"
	RecDecision    = "decision"
	RecEnd         = "end"
	RecPrepare     = "prepare"
	RecCommit      = "commit"
	RecAbort       = "abort"
)

// Batch is one unit of work for the driver. Contract, in this order:
//  1. append Persist to the log, in order, and if Fsync, fsync it; if that
//     fails, stop the node and do nothing more of the batch;
//  2. send Messages (best effort; they may be lost);
//  3. deliver Replies.
//
// So a commit decision is durable before any commit message or ok reply
// leaves (except under commit-before-log), and a prepare record before
// the yes vote (except under volatile-prepare).
type Batch struct {
	Persist  []Record
	Fsync    bool
	Messages []Message
	Replies  []Reply
}

// Empty reports whether b holds nothing to do.
func (b Batch) Empty() bool {
	return len(b.Persist) == 0 && len(b.Messages) == 0 && len(b.Replies) == 0
}

// Stats is a node's blocking report. On a participant: InDoubt counts the
// txns it voted yes on that are undecided InDoubtAfter or more after the
// vote (at the latest clock reading), BlockedNanos holds, for every txn
// decided after such a wait, the time from the vote to learning the
// decision, in decision order, and Decided counts the txns it voted yes on
// that are decided. Both survive restarts (they are rebuilt from the
// log's vote and decision times). On the coordinator: Decided counts the
// txns it decided since start, the rest is zero.
type Stats struct {
	InDoubt      int     `json:"in_doubt"`
	BlockedNanos []int64 `json:"blocked_nanos"`
	Decided      int     `json:"decided"`
}

// Bugs are the seeded bugs a Machine knows, sorted.
var Bugs = []string{"commit-before-log", "early-unlock", "presume-abort", "volatile-prepare"}

// machineBugs are the seeded bugs a Machine runs with.
type machineBugs struct {
	presumeAbort, volatilePrepare, commitBeforeLog, earlyUnlock bool
}

// parseMachineBugs turns bug names into switches; an unknown name is an
// error naming it.
func parseMachineBugs(names []string) (machineBugs, error) {
	var b machineBugs
	for _, n := range names {
		switch n {
		case "presume-abort":
			b.presumeAbort = true
		case "volatile-prepare":
			b.volatilePrepare = true
		case "commit-before-log":
			b.commitBeforeLog = true
		case "early-unlock":
			b.earlyUnlock = true
		default:
			return b, fmt.Errorf("unknown bug %q (known: %s)", n, strings.Join(Bugs, ", "))
		}
	}
	return b, nil
}

// NewMachine returns a machine restored from c.Log. Errors name the field
// at fault.
func NewMachine(c MachineConfig) (*Machine, error) {
	if c.ID == "" {
		return nil, fmt.Errorf("MachineConfig.ID is empty")
	}
	bugs, err := parseMachineBugs(c.Bugs)
	if err != nil {
		return nil, fmt.Errorf("MachineConfig.Bugs %q: %w", c.Bugs, err)
	}
	var parts []string
	self, coord := false, false
	for i, n := range c.Nodes {
		switch {
		case n == "":
			return nil, fmt.Errorf("MachineConfig.Nodes[%d] is empty", i)
		case slices.Contains(c.Nodes[:i], n):
			return nil, fmt.Errorf("MachineConfig.Nodes[%d] %q is named twice", i, n)
		}
		self = self || n == c.ID
		coord = coord || n == c.Coordinator
		if n != c.Coordinator {
			parts = append(parts, n)
		}
	}
	switch {
	case !self:
		return nil, fmt.Errorf("MachineConfig.Nodes %q does not hold MachineConfig.ID %q", c.Nodes, c.ID)
	case !coord:
		return nil, fmt.Errorf("MachineConfig.Nodes %q does not hold MachineConfig.Coordinator %q", c.Nodes, c.Coordinator)
	case len(parts) == 0:
		return nil, fmt.Errorf("MachineConfig.Nodes %q: no participant besides the coordinator", c.Nodes)
	}
	slices.Sort(parts)
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"PrepareTimeout", &c.PrepareTimeout, DefaultPrepareTimeout},
		{"ResendInterval", &c.ResendInterval, DefaultResendInterval},
		{"InDoubtAfter", &c.InDoubtAfter, DefaultInDoubtAfter},
		{"RequestTimeout", &c.RequestTimeout, DefaultRequestTimeout},
	} {
		if *d.v < 0 {
			return nil, fmt.Errorf("MachineConfig.%s %v must not be negative", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	switch {
	case c.Accounts < 0:
		return nil, fmt.Errorf("MachineConfig.Accounts %d must not be negative", c.Accounts)
	case c.Accounts == 0:
		c.Accounts = DefaultAccounts
	}
	switch {
	case c.InitialBalance < 0:
		return nil, fmt.Errorf("MachineConfig.InitialBalance %d must not be negative", c.InitialBalance)
	case c.InitialBalance == 0:
		c.InitialBalance = DefaultInitialBalance
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	m := &Machine{
		id:        c.ID,
		coord:     c.Coordinator,
		parts:     parts,
		accounts:  c.Accounts,
		initial:   c.InitialBalance,
		prepareTO: c.PrepareTimeout,
		resend:    c.ResendInterval,
		inDoubt:   c.InDoubtAfter,
		requestTO: c.RequestTimeout,
		bugs:      bugs,
		logf:      c.Logf,
		now:       c.Now,
	}
	if m.IsCoordinator() {
		err = m.restoreCoordinator(c.Log)
	} else {
		err = m.restoreParticipant(c.Log)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// IsCoordinator reports whether this node is the coordinator.
func (m *Machine) IsCoordinator() bool { return m.id == m.coord }

// Participants returns the participant ids, sorted.
func (m *Machine) Participants() []string { return slices.Clone(m.parts) }

// AccountOwner returns the participant that holds account a.
func (m *Machine) AccountOwner(a int) string { return m.parts[a%len(m.parts)] }

// KeyOwner returns the participant that holds register key k.
func (m *Machine) KeyOwner(k string) string {
	h := fnv.New32a()
	h.Write([]byte(k))
	return m.parts[h.Sum32()%uint32(len(m.parts))]
}

// Request serves one client request at node clock reading now; its Reply
// (with id) comes in a later Batch, once the transaction is decided (or
// at once, for a request that starts none).
func (m *Machine) Request(now time.Time, id uint64, req Request) {
	m.now = now
	if !m.IsCoordinator() {
		m.reply(id, Response{Error: ErrNotCoordinator, Definite: true, Coordinator: m.coord})
		return
	}
	if req.F == FOutcome {
		m.c.outcome(m, id, req.ID)
		return
	}
	if req.ID != "" && m.c.known(req.ID) {
		m.logf("request %d %s: id %q seen before", id, req.F, req.ID)
		m.reply(id, Response{Error: ErrBadRequest, Definite: true})
		return
	}
	ops, err := m.txnOps(req)
	if err != nil {
		m.logf("request %d %s: %v", id, req.F, err)
		m.reply(id, Response{Error: ErrBadRequest, Definite: true})
		return
	}
	m.c.begin(m, now, id, req, ops)
}

// txnOps splits req into each participant's ops.
func (m *Machine) txnOps(req Request) (map[string][]TxnOp, error) {
	ops := map[string][]TxnOp{}
	add := func(p string, op TxnOp) { ops[p] = append(ops[p], op) }
	switch req.F {
	case FTransfer:
		n := int64(m.accounts)
		switch {
		case req.From < 0 || req.From >= n:
			return nil, fmt.Errorf("from %d is not an account (0..%d)", req.From, n-1)
		case req.To < 0 || req.To >= n:
			return nil, fmt.Errorf("to %d is not an account (0..%d)", req.To, n-1)
		case req.From == req.To:
			return nil, fmt.Errorf("from and to are both %d", req.From)
		case req.Amount <= 0:
			return nil, fmt.Errorf("amount %d is not positive", req.Amount)
		}
		from, to := int(req.From), int(req.To)
		add(m.AccountOwner(from), TxnOp{Kind: OpDebit, Account: from, Amount: req.Amount})
		add(m.AccountOwner(to), TxnOp{Kind: OpCredit, Account: to, Amount: req.Amount})
	case FRead:
		for a := range m.accounts {
			add(m.AccountOwner(a), TxnOp{Kind: OpRead, Account: a})
		}
	case FReadKey, FWrite, FCAS:
		if req.Key == "" {
			return nil, fmt.Errorf("empty key")
		}
		op := TxnOp{Kind: req.F, Key: req.Key}
		switch req.F {
		case FWrite:
			var v *int64
			if err := json.Unmarshal(req.Value, &v); err != nil || v == nil {
				return nil, fmt.Errorf("write value %q is not an integer", req.Value)
			}
			op.Value = v
		case FCAS:
			var v []*int64
			if err := json.Unmarshal(req.Value, &v); err != nil || len(v) != 2 || v[0] == nil || v[1] == nil {
				return nil, fmt.Errorf("cas value %q is not [from, to]", req.Value)
			}
			op.Expect, op.Value = v[0], v[1]
		}
		add(m.KeyOwner(req.Key), op)
	default:
		return nil, fmt.Errorf("unknown function %q", req.F)
	}
	return ops, nil
}

// Step delivers peer messages received at node clock reading now.
// Messages addressed to another node, or of a type the node's role does
// not take, are dropped.
func (m *Machine) Step(now time.Time, msgs []Message) {
	m.now = now
	for _, msg := range msgs {
		if msg.To != m.id {
			m.logf("dropped a %s message from %s to %q", msg.Type, msg.From, msg.To)
			continue
		}
		if m.IsCoordinator() {
			m.c.step(m, now, msg)
		} else {
			m.p.step(m, now, msg)
		}
	}
}

// Tick tells the machine the node clock reads now; it acts on every
// timeout that has passed.
func (m *Machine) Tick(now time.Time) {
	m.now = now
	if m.IsCoordinator() {
		m.c.tick(m, now)
	} else {
		m.p.tick(m, now)
	}
}

// idleTick is how far NextTick lies when nothing waits on time.
const idleTick = time.Second

// NextTick is the node clock reading at which the machine next wants
// Tick: the earliest pending timeout, or a second after the latest
// reading when none is pending.
func (m *Machine) NextTick() time.Time {
	var next time.Time
	if m.IsCoordinator() {
		next = m.c.nextTick()
	} else {
		next = m.p.nextTick()
	}
	if idle := m.now.Add(idleTick); next.IsZero() || next.After(idle) {
		next = idle
	}
	return next
}

// Ready returns what to do since the last Ready, to be carried out in the
// order Batch states; an empty Batch when there is nothing.
func (m *Machine) Ready() Batch {
	b := Batch{Persist: m.persist, Fsync: m.fsync && len(m.persist) > 0, Messages: m.messages, Replies: m.replies}
	m.persist, m.fsync, m.messages, m.replies = nil, false, nil, nil
	return b
}

// Stats returns the node's blocking report (see Stats).
func (m *Machine) Stats() Stats {
	if m.IsCoordinator() {
		return Stats{BlockedNanos: []int64{}, Decided: m.c.decided}
	}
	return m.p.stats(m)
}

// Balances returns a participant's balances by account (nil on the
// coordinator): committed state, without prepared ops.
func (m *Machine) Balances() map[int]int64 {
	if m.p == nil {
		return nil
	}
	out := make(map[int]int64, len(m.p.balances))
	for a, b := range m.p.balances {
		out[a] = b
	}
	return out
}

// Registers returns a participant's register values by key (nil on the
// coordinator).
func (m *Machine) Registers() map[string]int64 {
	if m.p == nil {
		return nil
	}
	out := make(map[string]int64, len(m.p.regs))
	for k, v := range m.p.regs {
		out[k] = v
	}
	return out
}

// Pending returns the txns a participant voted yes on and has no decision
// for, sorted (nil on the coordinator).
func (m *Machine) Pending() []string {
	if m.p == nil {
		return nil
	}
	return orderedKeys(m.p.prepared)
}

// Waiting returns how many prepares a participant holds waiting for locks.
func (m *Machine) Waiting() int {
	if m.p == nil {
		return 0
	}
	return len(m.p.waiting)
}

// Locks returns how many locks a participant holds (shared holders each
// count).
func (m *Machine) Locks() int {
	if m.p == nil {
		return 0
	}
	n := len(m.p.xlocks)
	for _, h := range m.p.slocks {
		n += len(h)
	}
	return n
}

func (m *Machine) send(msg Message) {
	msg.From = m.id
	m.messages = append(m.messages, msg)
}

func (m *Machine) reply(id uint64, r Response) {
	m.replies = append(m.replies, Reply{ID: id, Resp: r})
}

// record appends r to the next Batch's Persist (with fsync when sync).
func (m *Machine) record(r Record, sync bool) {
	m.persist = append(m.persist, r)
	m.fsync = m.fsync || sync
}

func orderedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareTxn)
	return keys
}

// compareTxn orders txn ids "<incarnation>.<seq>" numerically, other
// strings bytewise after them.
func compareTxn(a, b string) int {
	ai, as, aok := parseTxn(a)
	bi, bs, bok := parseTxn(b)
	switch {
	case aok && bok:
		if ai != bi {
			return cmpUint(ai, bi)
		}
		return cmpUint(as, bs)
	case aok:
		return -1
	case bok:
		return 1
	}
	return strings.Compare(a, b)
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func parseTxn(s string) (inc, seq uint64, ok bool) {
	i, q, found := strings.Cut(s, ".")
	if !found {
		return 0, 0, false
	}
	inc, err1 := strconv.ParseUint(i, 10, 64)
	seq, err2 := strconv.ParseUint(q, 10, 64)
	return inc, seq, err1 == nil && err2 == nil
}
