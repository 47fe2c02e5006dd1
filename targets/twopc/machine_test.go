package twopc

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// sim drives one coordinator (n1) and three participants over an
// in-memory network with a virtual clock that jumps to the next event: a
// scheduled fault, a message delivery, a node's tick or a client's next
// request. Latency and drops come from a seeded source; cut counts the
// partitions blocking each directed link (checked when a message is
// sent; a partition also drops what is in flight on its links). Every
// message and record crosses as JSON, as in the shell. Each node's disk
// keeps the records its Batches persisted; a crash cuts it back to the
// last fsync.
type sim struct {
	t       *testing.T
	bugs    machineBugs
	names   []string
	now     time.Time
	rng     *rand.Rand
	ids     []string
	coord   string
	ms      map[string]*Machine // nil while down
	disk    map[string][]Record
	synced  map[string]int
	durable map[string]map[string]bool // node → "type/txn" of fsync'd records
	cut     map[[2]string]int
	drop    float64
	queue   []simMsg // by (at, seq)
	events  []simEvent
	seq     uint64
	trace   []string // every batch, encoded
	// hook, if set, runs after each Batch is carried out.
	hook func(id string, b Batch)

	// Clients.
	load    bool
	clients []*simClient
	gen     func(rng *rand.Rand) Request
	pending map[uint64]*simOp
	history []*simOp
	reqID   uint64
	total   int64
}

type simMsg struct {
	at  time.Time
	seq uint64
	m   Message
}

type simEvent struct {
	at  time.Time
	seq uint64
	fn  func()
}

type simClient struct {
	id   int
	next time.Time
	busy bool
}

// simOp is one client operation of the history.
type simOp struct {
	client           int
	req              Request
	txn              string
	invoke, complete time.Time
	status           string // ok | fail | info
	resp             Response
}

func (o *simOp) String() string {
	return fmt.Sprintf("c%d %s txn %s %s %d→%d %d [%v..%v] %s %s", o.client, o.status, o.txn, o.req.F,
		o.req.From, o.req.To, o.req.Amount, o.invoke.Sub(simStart), o.complete.Sub(simStart), o.resp.Value, o.resp.Error)
}

type simConfig struct {
	seed    uint64
	bugs    []string
	drop    float64
	clients int
	gen     func(rng *rand.Rand) Request
}

var simStart = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	simAccounts = DefaultAccounts
	simInitial  = DefaultInitialBalance
)

func newSim(t *testing.T, c simConfig) *sim {
	t.Helper()
	bugs, err := parseMachineBugs(c.bugs)
	if err != nil {
		t.Fatal(err)
	}
	s := &sim{
		t:       t,
		bugs:    bugs,
		names:   c.bugs,
		now:     simStart,
		rng:     rand.New(rand.NewPCG(c.seed, 0x2bc)),
		ids:     []string{"n1", "n2", "n3", "n4"},
		coord:   "n1",
		ms:      map[string]*Machine{},
		disk:    map[string][]Record{},
		synced:  map[string]int{},
		durable: map[string]map[string]bool{},
		cut:     map[[2]string]int{},
		drop:    c.drop,
		gen:     c.gen,
		pending: map[uint64]*simOp{},
		total:   simAccounts * simInitial,
	}
	if s.gen == nil {
		s.gen = randomBankOp
	}
	for i := range c.clients {
		s.clients = append(s.clients, &simClient{id: i, next: s.now.Add(time.Duration(s.rng.IntN(10)) * time.Millisecond)})
	}
	for _, id := range s.ids {
		s.durable[id] = map[string]bool{}
		s.start(id)
	}
	return s
}

// randomBankOp is a transfer of 1..40 between two random accounts (seven
// times in eight) or a read.
func randomBankOp(rng *rand.Rand) Request {
	if rng.IntN(8) == 0 {
		return Request{F: FRead}
	}
	from := rng.Int64N(simAccounts)
	to := (from + 1 + rng.Int64N(simAccounts-1)) % simAccounts
	return Request{F: FTransfer, From: from, To: to, Amount: 1 + rng.Int64N(40)}
}

// start (re)starts id from what its disk holds.
func (s *sim) start(id string) {
	m, err := NewMachine(MachineConfig{
		ID: id, Coordinator: s.coord, Nodes: s.ids, Seed: 1, Now: s.now,
		Bugs: s.names, Log: slices.Clone(s.disk[id]),
	})
	if err != nil {
		s.t.Fatal(err)
	}
	s.ms[id] = m
	s.drain(id)
}

// crash stops id, losing its unsynced records; a crashed coordinator's
// pending client requests end info. It restarts after down (if > 0).
func (s *sim) crash(id string, down time.Duration) {
	if s.ms[id] == nil {
		return
	}
	s.ms[id] = nil
	s.disk[id] = s.disk[id][:s.synced[id]]
	if id == s.coord {
		for _, rid := range slices.Sorted(mapsKeys(s.pending)) {
			s.finish(rid, "info", Response{Error: "crashed"})
		}
	}
	if down > 0 {
		s.after(down, func() { s.restart(id) })
	}
}

func (s *sim) restart(id string) {
	if s.ms[id] == nil {
		s.start(id)
	}
}

func mapsKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// after schedules fn d from now.
func (s *sim) after(d time.Duration, fn func()) {
	s.seq++
	e := simEvent{at: s.now.Add(d), seq: s.seq, fn: fn}
	i, _ := slices.BinarySearchFunc(s.events, e, func(a, b simEvent) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return int(a.seq) - int(b.seq)
	})
	s.events = slices.Insert(s.events, i, e)
}

// isolate cuts every link between a and each of others, both ways, for d,
// and drops what is in flight on them.
func (s *sim) isolate(a string, others []string, d time.Duration) {
	var links [][2]string
	for _, b := range others {
		links = append(links, [2]string{a, b}, [2]string{b, a})
	}
	for _, l := range links {
		s.cut[l]++
	}
	s.queue = slices.DeleteFunc(s.queue, func(m simMsg) bool {
		return s.cut[[2]string{m.m.From, m.m.To}] > 0
	})
	s.after(d, func() {
		for _, l := range links {
			if s.cut[l]--; s.cut[l] <= 0 {
				delete(s.cut, l)
			}
		}
	})
}

// drain carries out id's Batch in the contract's order, checking that an
// ok reply follows its durable decision and a yes vote its durable
// prepare record (unless the bug that breaks that is on).
func (s *sim) drain(id string) {
	m := s.ms[id]
	if m == nil {
		return
	}
	b := m.Ready()
	if b.Empty() {
		return
	}
	s.trace = append(s.trace, encode(s.t, struct {
		Node  string
		At    time.Time
		Batch Batch
	}{id, s.now, b}))
	for _, r := range b.Persist {
		s.disk[id] = append(s.disk[id], roundTrip(s.t, r))
	}
	if b.Fsync {
		for _, r := range s.disk[id][s.synced[id]:] {
			s.durable[id][r.Type+"/"+r.Txn] = true
		}
		s.synced[id] = len(s.disk[id])
	}
	for _, msg := range b.Messages {
		if msg.From != id {
			s.t.Fatalf("%s sent a message from %q", id, msg.From)
		}
		if msg.Type == MsgVote && msg.Yes && !s.bugs.volatilePrepare &&
			!s.durable[id][RecPrepare+"/"+msg.Txn] && !s.durable[id][RecCommit+"/"+msg.Txn] {
			s.t.Fatalf("%s voted yes on %s before its prepare record was durable", id, msg.Txn)
		}
		if s.cut[[2]string{msg.From, msg.To}] > 0 || s.rng.Float64() < s.drop {
			continue
		}
		s.seq++
		sm := simMsg{at: s.now.Add(time.Millisecond + time.Duration(s.rng.Int64N(int64(20*time.Millisecond)))), seq: s.seq, m: roundTrip(s.t, msg)}
		i, _ := slices.BinarySearchFunc(s.queue, sm, func(a, b simMsg) int {
			if c := a.at.Compare(b.at); c != 0 {
				return c
			}
			return int(a.seq) - int(b.seq)
		})
		s.queue = slices.Insert(s.queue, i, sm)
	}
	for _, r := range b.Replies {
		if r.Resp.OK && !s.bugs.commitBeforeLog && !s.durable[id][RecDecision+"/"+r.Resp.Txn] {
			s.t.Fatalf("%s answered ok for %s before its decision was durable", id, r.Resp.Txn)
		}
		switch {
		case r.Resp.OK:
			s.finish(r.ID, "ok", r.Resp)
		case r.Resp.Definite:
			s.finish(r.ID, "fail", r.Resp)
		default:
			s.finish(r.ID, "info", r.Resp)
		}
	}
	if s.hook != nil {
		s.hook(id, b)
	}
}

func (s *sim) finish(rid uint64, status string, resp Response) {
	op := s.pending[rid]
	if op == nil {
		s.t.Fatalf("a reply to request %d, not pending", rid)
	}
	delete(s.pending, rid)
	op.complete, op.status, op.resp = s.now, status, resp
	if op.client < 0 {
		return
	}
	c := s.clients[op.client]
	c.busy = false
	c.next = s.now.Add(time.Duration(s.rng.IntN(20)) * time.Millisecond)
}

// invoke sends client c's next request to the coordinator (if up).
func (s *sim) invoke(c *simClient) {
	req := s.gen(s.rng)
	m := s.ms[s.coord]
	if m == nil {
		c.next = s.now.Add(10 * time.Millisecond)
		return
	}
	s.reqID++
	if req.F != FRead {
		req.ID = fmt.Sprint("r", s.reqID)
	}
	op := &simOp{client: c.id, req: req, invoke: s.now}
	s.pending[s.reqID] = op
	s.history = append(s.history, op)
	c.busy = true
	m.Request(s.now, s.reqID, req)
	if _, ok := m.c.active[fmt.Sprintf("%d.%d", m.c.incarnation, m.c.seq)]; ok {
		op.txn = fmt.Sprintf("%d.%d", m.c.incarnation, m.c.seq)
	}
	s.drain(s.coord)
}

// runFor processes every event up to d from now, in time order.
func (s *sim) runFor(d time.Duration) {
	end := s.now.Add(d)
	for {
		at, kind, who := end, "", ""
		pick := func(t time.Time, k, w string) {
			if t.Before(at) || (kind == "" && t.Equal(at)) {
				at, kind, who = t, k, w
			}
		}
		if len(s.events) > 0 {
			pick(s.events[0].at, "event", "")
		}
		if len(s.queue) > 0 {
			pick(s.queue[0].at, "msg", "")
		}
		for _, id := range s.ids {
			if m := s.ms[id]; m != nil {
				pick(m.NextTick(), "tick", id)
			}
		}
		if s.load {
			for _, c := range s.clients {
				if !c.busy {
					pick(c.next, "client", fmt.Sprint(c.id))
				}
			}
		}
		if kind == "" {
			s.now = end
			return
		}
		if at.After(s.now) {
			s.now = at
		}
		switch kind {
		case "event":
			e := s.events[0]
			s.events = s.events[1:]
			e.fn()
		case "msg":
			msg := s.queue[0].m
			s.queue = s.queue[1:]
			if m := s.ms[msg.To]; m != nil {
				m.Step(s.now, []Message{msg})
				s.drain(msg.To)
			}
		case "tick":
			s.ms[who].Tick(s.now)
			s.drain(who)
		case "client":
			var i int
			fmt.Sscan(who, &i)
			s.invoke(s.clients[i])
		}
	}
}

// quiesce stops the load, heals every partition, restarts every node and
// runs until every txn is decided everywhere.
func (s *sim) quiesce() {
	s.load = false
	s.hook = nil
	s.drop = 0
	s.events = nil
	s.cut = map[[2]string]int{}
	for _, id := range s.ids {
		s.restart(id)
	}
	s.runFor(5 * time.Second)
}

// balances returns every account's balance, from the participants.
func (s *sim) balances() []int64 {
	out := make([]int64, simAccounts)
	for _, id := range s.ids[1:] {
		for a, b := range s.ms[id].Balances() {
			out[a] = b
		}
	}
	return out
}

// violation returns what a bank checker would flag: an ok read whose
// balances do not sum to the total or hold a negative one, or final
// balances that do so. "" when none.
func (s *sim) violation() string {
	for _, op := range s.history {
		if op.status != "ok" || op.req.F != FRead {
			continue
		}
		var bal []int64
		if err := json.Unmarshal(op.resp.Value, &bal); err != nil || len(bal) != simAccounts {
			return fmt.Sprintf("read %v: bad value %s", op, op.resp.Value)
		}
		if v := bankViolation(bal, s.total); v != "" {
			return fmt.Sprintf("read %v: %s", op, v)
		}
	}
	if v := bankViolation(s.balances(), s.total); v != "" {
		return "final balances: " + v
	}
	return ""
}

func bankViolation(bal []int64, total int64) string {
	var sum int64
	for a, b := range bal {
		if b < 0 {
			return fmt.Sprintf("account %d is negative in %v", a, bal)
		}
		sum += b
	}
	if sum != total {
		return fmt.Sprintf("%v sums to %d, not %d", bal, sum, total)
	}
	return ""
}

// checkCorrect checks a quiesced correct build: nothing locked or in
// doubt anywhere, every commit acked, no bank violation, and every
// transfer applied atomically and exactly once on the participants' logs:
// an ok one everywhere, a failed one nowhere, an info one everywhere or
// nowhere; the final balances are the initial ones plus the committed
// transfers.
func (s *sim) checkCorrect() {
	t := s.t
	t.Helper()
	for _, id := range s.ids[1:] {
		m := s.ms[id]
		if p := m.Pending(); len(p) > 0 || m.Locks() > 0 || m.Waiting() > 0 {
			t.Fatalf("%s after quiescing: undecided %v, %d locks, %d waiting", id, p, m.Locks(), m.Waiting())
		}
		if st := m.Stats(); st.InDoubt != 0 {
			t.Fatalf("%s after quiescing: stats %+v", id, st)
		}
	}
	if n := len(s.ms[s.coord].c.unended); n != 0 {
		t.Fatalf("coordinator after quiescing: %d commits not acked", n)
	}
	if v := s.violation(); v != "" {
		t.Fatal(v)
	}
	commits := map[string]map[string]int{} // node → txn → commit records
	for _, id := range s.ids[1:] {
		commits[id] = map[string]int{}
		for _, r := range s.disk[id] {
			if r.Type == RecCommit {
				commits[id][r.Txn]++
			}
		}
	}
	want := make([]int64, simAccounts)
	for a := range want {
		want[a] = simInitial
	}
	s.resolveInfo()
	counts := map[string]int{}
	for _, op := range s.history {
		counts[op.status]++
		if op.req.F != FTransfer {
			continue
		}
		if op.txn == "" {
			t.Fatalf("%v: no txn", op)
		}
		from, to := s.ms[s.coord].AccountOwner(int(op.req.From)), s.ms[s.coord].AccountOwner(int(op.req.To))
		nf, nt := commits[from][op.txn], commits[to][op.txn]
		switch {
		case nf > 1 || nt > 1:
			t.Fatalf("%v: committed %d times on %s, %d on %s", op, nf, from, nt, to)
		case nf != nt:
			t.Fatalf("%v: half applied: %d commits on %s, %d on %s", op, nf, from, nt, to)
		case op.status == "ok" && nf == 0:
			t.Fatalf("%v: ok but not committed", op)
		case op.status == "fail" && nf > 0:
			t.Fatalf("%v: failed but committed", op)
		}
		if nf == 1 {
			want[op.req.From] -= op.req.Amount
			want[op.req.To] += op.req.Amount
		}
	}
	if got := s.balances(); !slices.Equal(got, want) {
		t.Fatalf("final balances %v, the committed transfers give %v", got, want)
	}
	t.Logf("%d ops: %v; final balances %v", len(s.history), counts, want)
}

// resolveInfo asks the coordinator the outcome of every info op with a
// request id and takes its answer as the op's status, as the client does.
func (s *sim) resolveInfo() {
	s.t.Helper()
	for _, op := range s.history {
		if op.status != "info" || op.req.ID == "" {
			continue
		}
		r := s.ask(Request{F: FOutcome, ID: op.req.ID})
		switch {
		case r.OK:
			op.status = "ok"
		case r.Definite:
			op.status = "fail"
		default:
			s.t.Fatalf("%v: outcome %+v", op, r)
		}
		op.resp = r
	}
}

// ask sends req to the coordinator and runs until it is answered.
func (s *sim) ask(req Request) Response {
	s.t.Helper()
	s.reqID++
	op := &simOp{client: -1, req: req, invoke: s.now}
	s.pending[s.reqID] = op
	s.ms[s.coord].Request(s.now, s.reqID, req)
	s.drain(s.coord)
	for i := 0; op.status == "" && i < 100; i++ {
		s.runFor(10 * time.Millisecond)
	}
	if op.status == "" {
		s.t.Fatalf("%+v: no answer", req)
	}
	return op.resp
}

// faults schedules, over d of load, a fault every 400..700 ms: the
// coordinator cut off from some participants, a coordinator crash, a
// participant crash, or none.
func (s *sim) faults(d time.Duration) {
	for at := time.Duration(0); ; {
		at += time.Duration(400+s.rng.IntN(300)) * time.Millisecond
		if at >= d {
			return
		}
		span := time.Duration(100+s.rng.IntN(600)) * time.Millisecond
		switch s.rng.IntN(4) {
		case 0:
			var others []string
			for _, p := range s.ids[1:] {
				if s.rng.IntN(2) == 0 {
					others = append(others, p)
				}
			}
			if len(others) == 0 {
				others = s.ids[1:]
			}
			s.after(at, func() { s.isolate(s.coord, others, span) })
		case 1:
			s.after(at, func() { s.crash(s.coord, span) })
		case 2:
			p := s.ids[1+s.rng.IntN(3)]
			s.after(at, func() { s.crash(p, span) })
		}
	}
}

func encode(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func roundTrip[T any](t *testing.T, v T) T {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// runRandom runs the random bank workload under drops, partitions of the
// coordinator and crashes, then quiesces.
func runRandom(t *testing.T, seed uint64, bugs []string) *sim {
	s := newSim(t, simConfig{seed: seed, bugs: bugs, drop: 0.05, clients: 4})
	s.load = true
	s.faults(6 * time.Second)
	s.runFor(6 * time.Second)
	s.quiesce()
	return s
}

// TestSimCorrect: the correct build under drops, partitions of the
// coordinator and crashes of every node keeps the bank conserved,
// decides every txn everywhere and applies every transfer atomically and
// exactly once.
func TestSimCorrect(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			s := runRandom(t, seed, nil)
			s.checkCorrect()
			var ok, fail int
			for _, op := range s.history {
				if op.req.F == FTransfer && op.status == "ok" {
					ok++
				} else if op.req.F == FTransfer && op.status == "fail" {
					fail++
				}
			}
			if ok < 10 {
				t.Fatalf("only %d ok transfers (%d failed)", ok, fail)
			}
		})
	}
}

// TestSimDeterminism: one seed gives one sequence of Batches.
func TestSimDeterminism(t *testing.T) {
	for seed := range uint64(3) {
		a, b := runRandom(t, seed, nil), runRandom(t, seed, nil)
		if len(a.trace) != len(b.trace) {
			t.Fatalf("seed %d: %d batches, then %d", seed, len(a.trace), len(b.trace))
		}
		for i := range a.trace {
			if a.trace[i] != b.trace[i] {
				t.Fatalf("seed %d: batch %d differs:\n%s\n%s", seed, i, a.trace[i], b.trace[i])
			}
		}
	}
}

// crossTxn returns the txn of b's messages of type typ that go to two or
// more participants, with those participants, or "".
func crossTxn(b Batch, typ string) (string, []string) {
	to := map[string][]string{}
	var order []string
	for _, m := range b.Messages {
		if m.Type == typ {
			if to[m.Txn] == nil {
				order = append(order, m.Txn)
			}
			to[m.Txn] = append(to[m.Txn], m.To)
		}
	}
	for _, txn := range order {
		if len(to[txn]) >= 2 {
			return txn, to[txn]
		}
	}
	return "", nil
}

// transfersOnly is a transfer of 1..40 between accounts on different
// participants, or (one time in five) a read.
func transfersOnly(rng *rand.Rand) Request {
	if rng.IntN(5) == 0 {
		return Request{F: FRead}
	}
	from := rng.Int64N(simAccounts)
	to := (from + 1 + 3*rng.Int64N(2)) % simAccounts // a different participant
	return Request{F: FTransfer, From: from, To: to, Amount: 1 + rng.Int64N(40)}
}

// bugScenario runs the bank workload with the fault that pairs with bug
// (armed by a hook that fires a few times) and returns the violation
// found, if any.
func bugScenario(t *testing.T, seed uint64, bug string, bugs []string) string {
	s := newSim(t, simConfig{seed: seed, bugs: bugs, clients: 4, gen: transfersOnly})
	fired, quiet := 0, time.Time{}
	arm := func() bool {
		if fired >= 3 || s.now.Before(quiet) || s.rng.IntN(3) != 0 {
			return false
		}
		fired++
		quiet = s.now.Add(1500 * time.Millisecond)
		return true
	}
	switch bug {
	case "presume-abort":
		// The coordinator cut off from one participant once the votes are
		// in: that participant misses the commit for a second.
		s.hook = func(id string, b Batch) {
			if txn, to := crossTxn(b, MsgCommit); id == s.coord && txn != "" && arm() {
				s.isolate(s.coord, to[:1], time.Second)
			}
		}
	case "volatile-prepare":
		// A participant crashes right after voting yes.
		s.hook = func(id string, b Batch) {
			for _, m := range b.Messages {
				if m.Type == MsgVote && m.Yes && len(m.Values) == 1 && arm() {
					s.crash(id, 300*time.Millisecond)
					return
				}
			}
		}
	case "commit-before-log":
		// The coordinator crashes right after sending commits, and one
		// commit is lost.
		s.hook = func(id string, b Batch) {
			if txn, to := crossTxn(b, MsgCommit); id == s.coord && txn != "" && arm() {
				s.queue = slices.DeleteFunc(s.queue, func(m simMsg) bool {
					return m.m.Type == MsgCommit && m.m.Txn == txn && m.m.To == to[0]
				})
				s.crash(s.coord, 300*time.Millisecond)
			}
		}
	case "early-unlock":
		// No fault: concurrent transfers of 30..80 from accounts 0 and 1,
		// and reads.
		s.clients = append(s.clients, &simClient{id: 4}, &simClient{id: 5})
		s.gen = func(rng *rand.Rand) Request {
			if rng.IntN(4) == 0 {
				return Request{F: FRead}
			}
			from := rng.Int64N(2)
			return Request{F: FTransfer, From: from, To: 2 + rng.Int64N(simAccounts-2), Amount: 30 + rng.Int64N(51)}
		}
	default:
		t.Fatalf("no scenario for %q", bug)
	}
	s.load = true
	s.runFor(5 * time.Second)
	s.quiesce()
	if len(bugs) == 0 {
		s.checkCorrect()
	}
	return s.violation()
}

// TestSimSeededBugs: each seeded bug is caught by the fault it pairs with
// for most seeds, and the correct build passes the same scenario.
func TestSimSeededBugs(t *testing.T) {
	const seeds = 10
	for _, bug := range Bugs {
		t.Run(bug, func(t *testing.T) {
			caught := 0
			for seed := range uint64(seeds) {
				if v := bugScenario(t, seed, bug, nil); v != "" {
					t.Fatalf("correct build, seed %d: %s", seed, v)
				}
				if v := bugScenario(t, seed, bug, []string{bug}); v != "" {
					caught++
					t.Logf("seed %d: %s", seed, v)
				}
			}
			if caught < 8 {
				t.Fatalf("caught on %d of %d seeds", caught, seeds)
			}
		})
	}
}

// TestSimBlocking: with the coordinator down for 2 s right after its
// prepares, both participants report the txn in doubt, then blocked for
// about 2 s; a participant restarted meanwhile keeps its count.
func TestSimBlocking(t *testing.T) {
	for seed := range uint64(5) {
		s := newSim(t, simConfig{seed: seed, clients: 1})
		s.clients[0].busy = true // driven by hand
		s.hook = func(id string, b Batch) {
			if txn, _ := crossTxn(b, MsgPrepare); id == s.coord && txn != "" {
				s.hook = nil
				s.crash(s.coord, 2*time.Second)
			}
		}
		s.reqID++
		op := &simOp{req: Request{F: FTransfer, From: 0, To: 1, Amount: 10}, invoke: s.now}
		s.pending[s.reqID] = op
		s.history = append(s.history, op)
		s.ms[s.coord].Request(s.now, s.reqID, op.req)
		s.drain(s.coord)
		if s.ms[s.coord] != nil {
			t.Fatal("the coordinator did not crash after its prepares")
		}
		s.runFor(time.Second)
		for _, id := range []string{"n2", "n3"} {
			if st := s.ms[id].Stats(); st.InDoubt != 1 || len(st.BlockedNanos) != 0 {
				t.Fatalf("seed %d: %s with the coordinator down: %+v", seed, id, st)
			}
		}
		s.crash("n2", 200*time.Millisecond)
		s.runFor(3 * time.Second)
		for _, id := range []string{"n2", "n3"} {
			st := s.ms[id].Stats()
			if st.InDoubt != 0 || st.Decided != 1 || len(st.BlockedNanos) != 1 {
				t.Fatalf("seed %d: %s after the restart: %+v", seed, id, st)
			}
			lo, hi := 2*time.Second-25*time.Millisecond, 2*time.Second+DefaultInDoubtAfter+50*time.Millisecond
			if d := time.Duration(st.BlockedNanos[0]); d < lo || d > hi {
				t.Fatalf("seed %d: %s blocked %v, want %v..%v", seed, id, d, lo, hi)
			}
		}
		if op.status != "info" {
			t.Fatalf("seed %d: %v", seed, op)
		}
		if v := s.violation(); v != "" || s.balances()[0] != simInitial {
			t.Fatalf("seed %d: %s %v", seed, v, s.balances())
		}
	}
}

// TestMachineRegister: register ops run as single-participant txns.
func TestMachineRegister(t *testing.T) {
	s := newSim(t, simConfig{seed: 1, clients: 1})
	s.clients[0].busy = true
	do := func(req Request) Response {
		t.Helper()
		s.reqID++
		op := &simOp{req: req, invoke: s.now}
		s.pending[s.reqID] = op
		s.ms[s.coord].Request(s.now, s.reqID, req)
		s.drain(s.coord)
		s.runFor(100 * time.Millisecond)
		if op.status == "" {
			t.Fatalf("%+v: no reply", req)
		}
		return op.resp
	}
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	for _, c := range []struct {
		req  Request
		want string
	}{
		{Request{F: FReadKey, Key: "a"}, `{"ok":true,"value":null}`},
		{Request{F: FCAS, Key: "a", Value: raw("[1,2]")}, `{"ok":false,"error":"cas-mismatch","definite":true}`},
		{Request{F: FWrite, Key: "a", Value: raw("5")}, `{"ok":true}`},
		{Request{F: FReadKey, Key: "a"}, `{"ok":true,"value":5}`},
		{Request{F: FCAS, Key: "a", Value: raw("[5,7]")}, `{"ok":true}`},
		{Request{F: FCAS, Key: "a", Value: raw("[5,9]")}, `{"ok":false,"error":"cas-mismatch","definite":true}`},
		{Request{F: FReadKey, Key: "a"}, `{"ok":true,"value":7}`},
		{Request{F: FWrite, Key: "a", Value: raw(`"x"`)}, `{"ok":false,"error":"bad-request","definite":true}`},
		{Request{F: FTransfer, From: 1, To: 1, Amount: 5}, `{"ok":false,"error":"bad-request","definite":true}`},
		{Request{F: FTransfer, From: 1, To: 2, Amount: 500}, `{"ok":false,"error":"insufficient","definite":true}`},
		{Request{F: "nope"}, `{"ok":false,"error":"bad-request","definite":true}`},
	} {
		r := do(c.req)
		r.Txn = ""
		if got := encode(t, r); got != c.want {
			t.Errorf("%+v: %s, want %s", c.req, got, c.want)
		}
	}
	owner := s.ms[s.coord].KeyOwner("a")
	if got := s.ms[owner].Registers(); got["a"] != 7 {
		t.Errorf("%s registers %v", owner, got)
	}
	s.ms["n2"].Request(s.now, 99, Request{F: FRead})
	if b := s.ms["n2"].Ready(); len(b.Replies) != 1 || encode(t, b.Replies[0].Resp) != `{"ok":false,"error":"not-coordinator","definite":true,"coordinator":"n1"}` {
		t.Errorf("a participant answered %+v", b.Replies)
	}
}

// TestMachineOutcome: an outcome query answers ok for a committed request
// (also after the coordinator restarts), waits for the decision of a
// running one, and answers a definite abort for one it never saw, which
// it then refuses to run; a request id is never run twice.
func TestMachineOutcome(t *testing.T) {
	s := newSim(t, simConfig{seed: 1, clients: 1})
	s.clients[0].busy = true
	xfer := func(id string, amount int64) Request {
		return Request{F: FTransfer, ID: id, From: 0, To: 1, Amount: amount}
	}
	outcome := func(id string) Request { return Request{F: FOutcome, ID: id} }
	show := func(r Response) string { r.Txn = ""; return encode(t, r) }
	const ok, aborted, bad = `{"ok":true}`, `{"ok":false,"error":"aborted","definite":true}`, `{"ok":false,"error":"bad-request","definite":true}`

	a := s.ask(xfer("a", 10))
	if got := s.ask(outcome("a")); show(a) != ok || show(got) != ok || got.Txn != a.Txn {
		t.Fatalf("transfer %+v, then its outcome %+v", a, got)
	}
	if got := show(s.ask(outcome("never-sent"))); got != aborted {
		t.Fatalf("outcome of an unknown request: %s", got)
	}
	if got := show(s.ask(xfer("never-sent", 5))); got != bad {
		t.Fatalf("a refused request ran: %s", got)
	}
	if got := show(s.ask(xfer("a", 5))); got != bad {
		t.Fatalf("a request id ran twice: %s", got)
	}

	// Running: the coordinator cannot reach the participants, so the
	// txn aborts at PrepareTimeout; the query is answered then.
	s.isolate(s.coord, s.ids[1:], time.Second)
	s.reqID++
	run := &simOp{client: -1, req: xfer("c", 5), invoke: s.now}
	s.pending[s.reqID] = run
	s.ms[s.coord].Request(s.now, s.reqID, run.req)
	s.drain(s.coord)
	s.reqID++
	q := &simOp{client: -1, req: outcome("c"), invoke: s.now}
	s.pending[s.reqID] = q
	s.ms[s.coord].Request(s.now, s.reqID, q.req)
	s.drain(s.coord)
	if q.status != "" {
		t.Fatalf("outcome of a running txn answered at once: %+v", q.resp)
	}
	s.runFor(DefaultPrepareTimeout + 50*time.Millisecond)
	if show(q.resp) != aborted || show(run.resp) != aborted || q.complete.Sub(q.invoke) < DefaultPrepareTimeout {
		t.Fatalf("request %v, outcome %v", run, q)
	}
	s.runFor(time.Second)

	// The decision log keeps the request ids: after a restart, "a" and
	// "d" are still committed, "e" (never sent) is not.
	if got := show(s.ask(xfer("d", 7))); got != ok {
		t.Fatalf("transfer d: %s", got)
	}
	s.crash(s.coord, 0)
	s.restart(s.coord)
	for id, want := range map[string]string{"a": ok, "d": ok, "e": aborted} {
		if got := show(s.ask(outcome(id))); got != want {
			t.Errorf("after a restart, outcome of %s: %s, want %s", id, got, want)
		}
	}
	if got := show(s.ask(outcome(""))); got != bad {
		t.Errorf("outcome without an id: %s", got)
	}
}

// TestMachineLockWait: on a participant, a prepare whose lock an older
// txn holds waits and is granted once the holder commits; a prepare whose
// lock a younger txn holds votes no at once (waits only go from younger to
// older: no deadlock); a waiter whose holder stays undecided votes no
// after PrepareTimeout and holds nothing.
func TestMachineLockWait(t *testing.T) {
	now := simStart
	m, err := NewMachine(MachineConfig{ID: "n2", Coordinator: "n1", Nodes: []string{"n1", "n2"}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	debit := func(txn string) Message {
		return Message{From: "n1", To: "n2", Type: MsgPrepare, Txn: txn, Ops: []TxnOp{{Kind: OpDebit, Account: 0, Amount: 1}}}
	}
	step := func(msg Message) []string {
		t.Helper()
		m.Step(now, []Message{msg})
		var out []string
		for _, v := range m.Ready().Messages {
			out = append(out, fmt.Sprintf("%s %s yes=%v %s", v.Type, v.Txn, v.Yes, v.Reason))
		}
		return out
	}
	want := func(got []string, w ...string) {
		t.Helper()
		if !slices.Equal(got, w) {
			t.Fatalf("sent %q, want %q", got, w)
		}
	}
	want(step(debit("1.5")), "vote 1.5 yes=true ")
	want(step(debit("1.6"))) // younger: waits
	want(step(debit("1.4")), "vote 1.4 yes=false conflict")
	if m.Waiting() != 1 {
		t.Fatalf("waiting %d, want 1", m.Waiting())
	}
	want(step(Message{From: "n1", To: "n2", Type: MsgCommit, Txn: "1.5"}), "vote 1.6 yes=true ", "ack 1.5 yes=false ")
	if m.Waiting() != 0 || m.Balances()[0] != DefaultInitialBalance-1 {
		t.Fatalf("waiting %d, balance %d", m.Waiting(), m.Balances()[0])
	}
	// 1.6 stays undecided: 1.7 waits, then gives up.
	want(step(debit("1.7")))
	now = now.Add(DefaultPrepareTimeout)
	m.Tick(now)
	var got []string
	for _, v := range m.Ready().Messages {
		if v.Type == MsgVote {
			got = append(got, fmt.Sprintf("%s %s yes=%v %s", v.Type, v.Txn, v.Yes, v.Reason))
		}
	}
	want(got, "vote 1.7 yes=false conflict")
	if m.Waiting() != 0 || m.Locks() != 1 {
		t.Fatalf("after the timeout: waiting %d, locks %d (want 1, 1.6's)", m.Waiting(), m.Locks())
	}
}

// TestMachineConfig: NewMachine names the field at fault.
func TestMachineConfig(t *testing.T) {
	base := MachineConfig{ID: "n1", Coordinator: "n1", Nodes: []string{"n1", "n2"}}
	for _, c := range []struct {
		mod  func(*MachineConfig)
		want string
	}{
		{func(c *MachineConfig) { c.Bugs = []string{"nope"} }, `unknown bug "nope"`},
		{func(c *MachineConfig) { c.ID = "n3" }, "does not hold MachineConfig.ID"},
		{func(c *MachineConfig) { c.Coordinator = "n9" }, "does not hold MachineConfig.Coordinator"},
		{func(c *MachineConfig) { c.Nodes = []string{"n1"} }, "no participant"},
		{func(c *MachineConfig) { c.InDoubtAfter = -1 }, "MachineConfig.InDoubtAfter"},
		{func(c *MachineConfig) { c.Log = []Record{{Type: RecPrepare}} }, "MachineConfig.Log[0]"},
	} {
		cfg := base
		c.mod(&cfg)
		if _, err := NewMachine(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one naming %q", err, c.want)
		}
	}
}
