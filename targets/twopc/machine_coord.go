package twopc

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// coordinator is the coordinator's state.
type coordinator struct {
	incarnation uint64
	seq         uint64
	active      map[string]*ctxn       // txns waiting for votes
	committed   map[string]bool        // every txn decided commit
	unended     map[string]*pendCommit // committed txns not acked by all
	decided     int
	// Client request ids (Request.ID): of the txns running, of the txns
	// committed (logged, or in memory under commit-before-log), and of
	// the requests an outcome query found neither, which must never run.
	activeReq    map[string]*ctxn
	committedReq map[string]string // request id → txn
	refusedReq   map[string]bool
}

// ctxn is a txn the coordinator waits votes for.
type ctxn struct {
	id       string
	reqID    uint64
	req      Request
	answered bool     // the client got its reply (a timeout)
	waiters  []uint64 // outcome queries answered at the decision
	ops      map[string][]TxnOp
	parts    []string // involved participants, sorted
	yes      map[string][]*int64
	deadline time.Time // PrepareTimeout
	replyBy  time.Time // RequestTimeout
}

// pendCommit is a committed txn some participant has not acked.
type pendCommit struct {
	parts []string
	acked map[string]bool
	next  time.Time // next re-send
	// unlogged: the decision record is not written yet (commit-before-log
	// writes it only once every participant acked).
	unlogged bool
	req      string // the client's request id
}

// restoreCoordinator rebuilds the decision log's state from log, bumps the
// incarnation (persisted, fsync'd, in the first Batch) and queues commit
// re-sends for every committed, unended txn (in the first Batch too).
func (m *Machine) restoreCoordinator(log []Record) error {
	c := &coordinator{active: map[string]*ctxn{}, committed: map[string]bool{}, unended: map[string]*pendCommit{},
		activeReq: map[string]*ctxn{}, committedReq: map[string]string{}, refusedReq: map[string]bool{}}
	for i, r := range log {
		switch r.Type {
		case RecIncarnation:
			c.incarnation = max(c.incarnation, r.Incarnation)
		case RecDecision:
			if r.Txn == "" {
				return fmt.Errorf("MachineConfig.Log[%d]: a decision without txn", i)
			}
			c.committed[r.Txn] = true
			if r.Req != "" {
				c.committedReq[r.Req] = r.Txn
			}
			c.unended[r.Txn] = &pendCommit{parts: r.Participants, acked: map[string]bool{}}
		case RecEnd:
			delete(c.unended, r.Txn)
		default:
			return fmt.Errorf("MachineConfig.Log[%d]: record type %q on the coordinator", i, r.Type)
		}
	}
	c.incarnation++
	m.c = c
	m.record(Record{Type: RecIncarnation, Incarnation: c.incarnation}, true)
	for _, txn := range orderedKeys(c.unended) {
		m.resendCommit(txn, c.unended[txn], m.now)
	}
	m.logf("coordinator: incarnation %d, %d committed txns, %d to re-send; participants %v, bugs %+v",
		c.incarnation, len(c.committed), len(c.unended), m.parts, m.bugs)
	return nil
}

// begin starts a txn for a client request: prepares go to each involved
// participant.
func (c *coordinator) begin(m *Machine, now time.Time, id uint64, req Request, ops map[string][]TxnOp) {
	c.seq++
	t := &ctxn{
		id:       fmt.Sprintf("%d.%d", c.incarnation, c.seq),
		reqID:    id,
		req:      req,
		ops:      ops,
		yes:      map[string][]*int64{},
		deadline: now.Add(m.prepareTO),
		replyBy:  now.Add(m.requestTO),
	}
	for p := range ops {
		t.parts = append(t.parts, p)
	}
	slices.Sort(t.parts)
	c.active[t.id] = t
	if req.ID != "" {
		c.activeReq[req.ID] = t
	}
	for _, p := range t.parts {
		m.send(Message{To: p, Type: MsgPrepare, Txn: t.id, Ops: ops[p]})
	}
}

func (c *coordinator) step(m *Machine, now time.Time, msg Message) {
	switch msg.Type {
	case MsgVote:
		t := c.active[msg.Txn]
		if t == nil {
			// A late or repeated vote: a yes voter waits for the
			// decision, so tell it again.
			if msg.Yes {
				m.send(Message{To: msg.From, Type: c.decision(msg.Txn), Txn: msg.Txn})
			}
			return
		}
		if !slices.Contains(t.parts, msg.From) {
			m.logf("txn %s: a vote from %s, not a participant", t.id, msg.From)
			return
		}
		if !msg.Yes {
			reason := msg.Reason
			if reason == "" {
				reason = ErrAborted
			}
			c.abort(m, t, reason)
			return
		}
		t.yes[msg.From] = msg.Values
		if len(t.yes) == len(t.parts) {
			c.commit(m, now, t)
		}
	case MsgAck:
		pc := c.unended[msg.Txn]
		if pc == nil || !slices.Contains(pc.parts, msg.From) {
			return
		}
		pc.acked[msg.From] = true
		if len(pc.acked) == len(pc.parts) {
			delete(c.unended, msg.Txn)
			if pc.unlogged {
				m.record(Record{Type: RecDecision, Txn: msg.Txn, Req: pc.req, Participants: pc.parts}, true)
			}
			m.record(Record{Type: RecEnd, Txn: msg.Txn}, false)
		}
	case MsgStatus:
		if c.active[msg.Txn] != nil {
			return // answered by the decision, which goes to every participant
		}
		m.send(Message{To: msg.From, Type: c.decision(msg.Txn), Txn: msg.Txn})
	default:
		m.logf("dropped a %s message from %s", msg.Type, msg.From)
	}
}

// known reports whether request id req was seen: running, committed or
// refused.
func (c *coordinator) known(req string) bool {
	_, committed := c.committedReq[req]
	return c.activeReq[req] != nil || committed || c.refusedReq[req]
}

// outcome answers query id about request req: at the decision if its txn
// runs, ok if it committed, else a definite abort — and req is refused
// from then on, so the answer stays true (presumed abort: no record
// means no commit; the request, if it is still on its way, will not
// start a txn).
func (c *coordinator) outcome(m *Machine, id uint64, req string) {
	switch txn, committed := c.committedReq[req]; {
	case req == "":
		m.reply(id, Response{Error: ErrBadRequest, Definite: true})
	case c.activeReq[req] != nil:
		t := c.activeReq[req]
		t.waiters = append(t.waiters, id)
	case committed:
		m.reply(id, Response{OK: true, Txn: txn})
	default:
		c.refusedReq[req] = true
		m.reply(id, Response{Error: ErrAborted, Definite: true})
	}
}

// finish forgets t as running and answers its outcome queries with r.
func (c *coordinator) finish(m *Machine, t *ctxn, r Response) {
	delete(c.active, t.id)
	c.decided++
	if t.req.ID != "" {
		delete(c.activeReq, t.req.ID)
	}
	for _, w := range t.waiters {
		m.reply(w, r)
	}
}

// decision is the message type of a decided txn's outcome: commit if
// logged committed, else abort (presumed).
func (c *coordinator) decision(txn string) string {
	if c.committed[txn] {
		return MsgCommit
	}
	return MsgAbort
}

// commit decides t commit: the decision record (fsync'd) before the commit
// messages and the client's ok — under commit-before-log, the record only
// once every participant acked the commit, so a crash before that forgets
// the decision.
func (c *coordinator) commit(m *Machine, now time.Time, t *ctxn) {
	c.finish(m, t, Response{OK: true, Txn: t.id})
	c.committed[t.id] = true
	if t.req.ID != "" {
		c.committedReq[t.req.ID] = t.id
	}
	pc := &pendCommit{parts: t.parts, acked: map[string]bool{}, unlogged: m.bugs.commitBeforeLog, req: t.req.ID}
	if !pc.unlogged {
		m.record(Record{Type: RecDecision, Txn: t.id, Req: t.req.ID, Participants: t.parts}, true)
	}
	c.unended[t.id] = pc
	m.resendCommit(t.id, pc, now)
	if !t.answered {
		m.reply(t.reqID, Response{OK: true, Value: c.readValue(m, t), Txn: t.id})
	}
}

// readValue is the ok value of t's request: the balances of a read, the
// value of a read-key, nothing else.
func (c *coordinator) readValue(m *Machine, t *ctxn) json.RawMessage {
	switch t.req.F {
	case FRead:
		bal := make([]int64, m.accounts)
		for _, p := range t.parts {
			for i, op := range t.ops[p] {
				if i < len(t.yes[p]) && t.yes[p][i] != nil {
					bal[op.Account] = *t.yes[p][i]
				}
			}
		}
		b, _ := json.Marshal(bal)
		return b
	case FReadKey:
		var v *int64
		for _, p := range t.parts {
			if len(t.yes[p]) > 0 {
				v = t.yes[p][0]
			}
		}
		b, _ := json.Marshal(v)
		return b
	}
	return nil
}

// abort decides t abort: no record (presumed abort); abort goes to every
// involved participant, once.
func (c *coordinator) abort(m *Machine, t *ctxn, reason string) {
	c.finish(m, t, Response{Error: reason, Definite: true, Txn: t.id})
	for _, p := range t.parts {
		m.send(Message{To: p, Type: MsgAbort, Txn: t.id})
	}
	if !t.answered {
		m.reply(t.reqID, Response{Error: reason, Definite: true, Txn: t.id})
	}
}

// resendCommit sends commit for txn to every participant that has not
// acked it and schedules the next re-send.
func (m *Machine) resendCommit(txn string, pc *pendCommit, now time.Time) {
	for _, p := range pc.parts {
		if !pc.acked[p] {
			m.send(Message{To: p, Type: MsgCommit, Txn: txn})
		}
	}
	pc.next = now.Add(m.resend)
}

func (c *coordinator) tick(m *Machine, now time.Time) {
	for _, id := range orderedKeys(c.active) {
		t := c.active[id]
		if !t.answered && !now.Before(t.replyBy) {
			t.answered = true
			m.reply(t.reqID, Response{Error: ErrTimeout, Definite: t.req.F == FRead, Txn: t.id})
		}
		if !now.Before(t.deadline) {
			m.logf("txn %s: votes from %d of %d participants within %v: abort", t.id, len(t.yes), len(t.parts), m.prepareTO)
			c.abort(m, t, ErrAborted)
		}
	}
	for _, id := range orderedKeys(c.unended) {
		if pc := c.unended[id]; !now.Before(pc.next) {
			m.resendCommit(id, pc, now)
		}
	}
}

func (c *coordinator) nextTick() time.Time {
	var next time.Time
	at := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, t := range c.active {
		at(t.deadline)
		if !t.answered {
			at(t.replyBy)
		}
	}
	for _, pc := range c.unended {
		at(pc.next)
	}
	return next
}
