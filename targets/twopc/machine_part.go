package twopc

import (
	"fmt"
	"slices"
	"time"
)

// participant is a participant's state.
type participant struct {
	balances map[int]int64 // committed, by account held here
	regs     map[string]int64
	prepared map[string]*ptxn           // voted yes, undecided
	decided  map[string]bool            // txn → committed, for every txn decided here
	xlocks   map[string]string          // lock key → holder
	slocks   map[string]map[string]bool // lock key → holders
	waiting  []*waiter                  // prepares waiting for locks, in arrival order
	blocked  []int64
	ndecided int
}

// waiter is a prepare that waits for locks: granted, in arrival order, as
// locks free up, or answered no (conflict) at until.
type waiter struct {
	msg   Message
	until time.Time
}

// ptxn is a txn the participant voted yes on and awaits the decision of.
type ptxn struct {
	ops     []TxnOp
	values  []*int64
	voteAt  time.Time
	nextAsk time.Time
}

// restoreParticipant rebuilds balances, register values, decided txns and
// prepared-but-undecided txns (re-taking their locks) from log, and asks
// the coordinator, in the first Batch, about each undecided one.
func (m *Machine) restoreParticipant(log []Record) error {
	p := &participant{
		balances: map[int]int64{},
		regs:     map[string]int64{},
		prepared: map[string]*ptxn{},
		decided:  map[string]bool{},
		xlocks:   map[string]string{},
		slocks:   map[string]map[string]bool{},
	}
	for a := range m.accounts {
		if m.AccountOwner(a) == m.id {
			p.balances[a] = m.initial
		}
	}
	m.p = p
	for i, r := range log {
		at := time.Unix(0, r.At)
		switch r.Type {
		case RecPrepare:
			if _, done := p.decided[r.Txn]; !done {
				p.prepared[r.Txn] = &ptxn{ops: r.Ops, voteAt: at}
			}
		case RecCommit:
			if _, done := p.decided[r.Txn]; done {
				continue
			}
			p.apply(r.Ops)
			p.settle(m, r.Txn, true, at)
		case RecAbort:
			if _, done := p.decided[r.Txn]; !done {
				p.settle(m, r.Txn, false, at)
			}
		default:
			return fmt.Errorf("MachineConfig.Log[%d]: record type %q on a participant", i, r.Type)
		}
	}
	for _, txn := range orderedKeys(p.prepared) {
		t := p.prepared[txn]
		if !m.bugs.earlyUnlock {
			for _, op := range t.ops {
				p.lock(txn, op)
			}
		}
		t.nextAsk = m.now.Add(m.inDoubt)
		m.send(Message{To: m.coord, Type: MsgStatus, Txn: txn})
	}
	m.logf("participant: accounts %v, %d registers, %d txns decided, %d in doubt; bugs %+v",
		orderedInts(p.balances), len(p.regs), len(p.decided), len(p.prepared), m.bugs)
	return nil
}

func (p *participant) step(m *Machine, now time.Time, msg Message) {
	if msg.From != m.coord {
		m.logf("dropped a %s message from %s, not the coordinator", msg.Type, msg.From)
		return
	}
	switch msg.Type {
	case MsgPrepare:
		p.prepare(m, now, msg)
	case MsgCommit:
		if t := p.prepared[msg.Txn]; t != nil {
			p.apply(t.ops)
			m.record(Record{Type: RecCommit, Txn: msg.Txn, Ops: t.ops, At: now.UnixNano()}, true)
			p.settle(m, msg.Txn, true, now)
		} else if committed, done := p.decided[msg.Txn]; !done || !committed {
			// Unknown here (never prepared, or its prepare lost under
			// volatile-prepare) or aborted on its own (presume-abort):
			// nothing to apply.
			m.logf("txn %s: commit for a txn %s here; acked, ignored", msg.Txn, map[bool]string{false: "unknown", true: "aborted"}[done])
		}
		m.send(Message{To: m.coord, Type: MsgAck, Txn: msg.Txn})
	case MsgAbort:
		p.dropWaiter(msg.Txn)
		if p.prepared[msg.Txn] != nil {
			m.record(Record{Type: RecAbort, Txn: msg.Txn, At: now.UnixNano()}, false)
			p.settle(m, msg.Txn, false, now)
		} else if committed := p.decided[msg.Txn]; committed {
			m.logf("txn %s: abort for a txn committed here; ignored", msg.Txn)
		} else if _, done := p.decided[msg.Txn]; !done {
			// Not voted yes (a no vote took no lock) or unknown:
			// remember it so a late prepare votes no.
			p.decided[msg.Txn] = false
		}
		m.send(Message{To: m.coord, Type: MsgAck, Txn: msg.Txn})
	default:
		m.logf("dropped a %s message from %s", msg.Type, msg.From)
	}
}

// prepare votes on a prepare: locks (waiting for them, see grantable),
// then validation, then the prepare record (fsync'd) and the yes vote with
// the values read.
func (p *participant) prepare(m *Machine, now time.Time, msg Message) {
	vote := func(reason string, values []*int64) {
		m.send(Message{To: m.coord, Type: MsgVote, Txn: msg.Txn, Yes: reason == "", Reason: reason, Values: values})
	}
	if t := p.prepared[msg.Txn]; t != nil {
		vote("", t.values) // a repeated prepare
		return
	}
	if committed, done := p.decided[msg.Txn]; done {
		if !committed {
			vote(ErrAborted, nil)
		}
		return
	}
	for _, w := range p.waiting {
		if w.msg.Txn == msg.Txn {
			return // a repeated prepare, still waiting
		}
	}
	for _, op := range msg.Ops {
		if err := m.ownsOp(op); err != nil {
			m.logf("txn %s: %v", msg.Txn, err)
			vote(ErrAborted, nil)
			return
		}
	}
	switch bs := p.blockers(msg, len(p.waiting)); {
	case len(bs) == 0:
		p.grant(m, now, msg)
	case allOlder(bs, msg.Txn):
		p.waiting = append(p.waiting, &waiter{msg: msg, until: now.Add(m.prepareTO)})
	default:
		vote(ErrConflict, nil)
	}
}

// blockers returns the txns msg must wait for: the holders of locks that
// conflict with one msg wants, and the prepares among the first ahead
// waiters that want such a lock (so a stream of readers cannot starve a
// writer).
//
// A prepare waits only when every blocker is older (a smaller txn id),
// and votes no (conflict) otherwise: every wait goes from a younger txn to
// an older one, so waits never form a cycle (no deadlock), and the usual
// case — a later txn finding an earlier one's locks — waits rather than
// aborts. A wait is bounded by PrepareTimeout, after which the vote is no.
func (p *participant) blockers(msg Message, ahead int) []string {
	var out []string
	for _, op := range msg.Ops {
		out = append(out, p.holders(msg.Txn, op)...)
	}
	for _, w := range p.waiting[:ahead] {
	scan:
		for _, a := range w.msg.Ops {
			ka, xa := lockKey(a)
			for _, b := range msg.Ops {
				if kb, xb := lockKey(b); ka == kb && (xa || xb) {
					out = append(out, w.msg.Txn)
					break scan
				}
			}
		}
	}
	return out
}

// allOlder reports whether every txn of ts is older than txn.
func allOlder(ts []string, txn string) bool {
	for _, t := range ts {
		if compareTxn(t, txn) >= 0 {
			return false
		}
	}
	return true
}

// pump grants the waiting prepares that can go, in arrival order, and
// answers no to those that waited until their deadline (or that a younger
// txn blocks, which the wait rule should never let happen).
func (p *participant) pump(m *Machine, now time.Time) {
	for i := 0; i < len(p.waiting); {
		w := p.waiting[i]
		bs := p.blockers(w.msg, i)
		switch {
		case len(bs) == 0:
			p.waiting = slices.Delete(p.waiting, i, i+1)
			p.grant(m, now, w.msg)
			i = 0 // what it locked may block waiters passed over; rescan
		case !now.Before(w.until) || !allOlder(bs, w.msg.Txn):
			p.waiting = slices.Delete(p.waiting, i, i+1)
			m.send(Message{To: m.coord, Type: MsgVote, Txn: w.msg.Txn, Reason: ErrConflict})
		default:
			i++
		}
	}
}

// dropWaiter forgets a waiting prepare of txn (aborted by the coordinator).
func (p *participant) dropWaiter(txn string) {
	p.waiting = slices.DeleteFunc(p.waiting, func(w *waiter) bool { return w.msg.Txn == txn })
}

// grant votes on a prepare whose locks are free: validation, the prepare
// record (fsync'd), the locks and the yes vote with the values read.
func (p *participant) grant(m *Machine, now time.Time, msg Message) {
	vote := func(reason string, values []*int64) {
		m.send(Message{To: m.coord, Type: MsgVote, Txn: msg.Txn, Yes: reason == "", Reason: reason, Values: values})
	}
	if reason := p.validate(msg.Ops); reason != "" {
		vote(reason, nil)
		return
	}
	values := make([]*int64, len(msg.Ops))
	for i, op := range msg.Ops {
		switch op.Kind {
		case OpRead:
			v := p.balances[op.Account]
			values[i] = &v
		case OpReadKey:
			if v, ok := p.regs[op.Key]; ok {
				values[i] = &v
			}
		}
	}
	t := &ptxn{ops: msg.Ops, values: values, voteAt: now, nextAsk: now.Add(m.inDoubt)}
	p.prepared[msg.Txn] = t
	if !m.bugs.earlyUnlock {
		for _, op := range msg.Ops {
			p.lock(msg.Txn, op)
		}
	}
	if !m.bugs.volatilePrepare {
		m.record(Record{Type: RecPrepare, Txn: msg.Txn, Ops: msg.Ops, At: now.UnixNano()}, true)
	}
	vote("", values)
}

// ownsOp checks that op's account or key lives here.
func (m *Machine) ownsOp(op TxnOp) error {
	switch op.Kind {
	case OpDebit, OpCredit, OpRead:
		if op.Account < 0 || op.Account >= m.accounts || m.AccountOwner(op.Account) != m.id {
			return fmt.Errorf("op %s on account %d, not held here", op.Kind, op.Account)
		}
		if op.Kind != OpRead && op.Amount <= 0 {
			return fmt.Errorf("op %s of amount %d", op.Kind, op.Amount)
		}
	case OpReadKey, OpWrite, OpCAS:
		if op.Key == "" || m.KeyOwner(op.Key) != m.id {
			return fmt.Errorf("op %s on key %q, not held here", op.Kind, op.Key)
		}
		if (op.Kind != OpReadKey && op.Value == nil) || (op.Kind == OpCAS && op.Expect == nil) {
			return fmt.Errorf("op %s without its values", op.Kind)
		}
	default:
		return fmt.Errorf("unknown op %q", op.Kind)
	}
	return nil
}

// validate checks ops against the committed state: every debit covered
// (taking earlier ops of the txn into account), every cas's expected
// value current. It returns the no vote's reason, or "".
func (p *participant) validate(ops []TxnOp) string {
	bal := map[int]int64{}
	for _, op := range ops {
		if _, ok := bal[op.Account]; !ok {
			bal[op.Account] = p.balances[op.Account]
		}
		switch op.Kind {
		case OpDebit:
			if bal[op.Account] < op.Amount {
				return ErrInsufficient
			}
			bal[op.Account] -= op.Amount
		case OpCredit:
			bal[op.Account] += op.Amount
		case OpCAS:
			if v, ok := p.regs[op.Key]; !ok || v != *op.Expect {
				return ErrCASMismatch
			}
		}
	}
	return ""
}

// apply applies committed ops.
func (p *participant) apply(ops []TxnOp) {
	for _, op := range ops {
		switch op.Kind {
		case OpDebit:
			p.balances[op.Account] -= op.Amount
		case OpCredit:
			p.balances[op.Account] += op.Amount
		case OpWrite, OpCAS:
			p.regs[op.Key] = *op.Value
		}
	}
}

// settle records txn's decision learned at node time at: its locks go,
// and if it was voted yes here, its blocking time is counted.
func (p *participant) settle(m *Machine, txn string, committed bool, at time.Time) {
	p.decided[txn] = committed
	t := p.prepared[txn]
	if t == nil {
		return
	}
	delete(p.prepared, txn)
	p.unlock(txn, t.ops)
	p.pump(m, at)
	p.ndecided++
	if d := at.Sub(t.voteAt); d >= m.inDoubt {
		p.blocked = append(p.blocked, int64(d))
	}
}

func (p *participant) tick(m *Machine, now time.Time) {
	p.pump(m, now)
	for _, txn := range orderedKeys(p.prepared) {
		t := p.prepared[txn]
		if now.Before(t.nextAsk) {
			continue
		}
		if m.bugs.presumeAbort {
			m.logf("txn %s: no decision %v after the yes vote: abort", txn, now.Sub(t.voteAt))
			m.record(Record{Type: RecAbort, Txn: txn, At: now.UnixNano()}, false)
			p.settle(m, txn, false, now)
			continue
		}
		t.nextAsk = now.Add(m.inDoubt)
		m.send(Message{To: m.coord, Type: MsgStatus, Txn: txn})
	}
}

func (p *participant) nextTick() time.Time {
	var next time.Time
	for _, t := range p.prepared {
		if next.IsZero() || t.nextAsk.Before(next) {
			next = t.nextAsk
		}
	}
	for _, w := range p.waiting {
		if next.IsZero() || w.until.Before(next) {
			next = w.until
		}
	}
	return next
}

func (p *participant) stats(m *Machine) Stats {
	s := Stats{BlockedNanos: append([]int64{}, p.blocked...), Decided: p.ndecided}
	for _, t := range p.prepared {
		if m.now.Sub(t.voteAt) >= m.inDoubt {
			s.InDoubt++
		}
	}
	return s
}

// lockKey names the lock an op takes.
func lockKey(op TxnOp) (key string, exclusive bool) {
	switch op.Kind {
	case OpDebit, OpCredit, OpRead:
		return fmt.Sprintf("account/%d", op.Account), op.Kind != OpRead
	}
	return "key/" + op.Key, op.Kind != OpReadKey
}

// holders returns the other txns holding a lock that conflicts with the
// one op needs.
func (p *participant) holders(txn string, op TxnOp) []string {
	k, x := lockKey(op)
	var out []string
	if h, ok := p.xlocks[k]; ok && h != txn {
		out = append(out, h)
	}
	if x {
		for _, h := range orderedKeys(p.slocks[k]) {
			if h != txn {
				out = append(out, h)
			}
		}
	}
	return out
}

func (p *participant) lock(txn string, op TxnOp) {
	k, x := lockKey(op)
	if x {
		p.xlocks[k] = txn
		return
	}
	if p.slocks[k] == nil {
		p.slocks[k] = map[string]bool{}
	}
	p.slocks[k][txn] = true
}

func (p *participant) unlock(txn string, ops []TxnOp) {
	for _, op := range ops {
		k, _ := lockKey(op)
		if p.xlocks[k] == txn {
			delete(p.xlocks, k)
		}
		if h := p.slocks[k]; h[txn] {
			delete(h, txn)
			if len(h) == 0 {
				delete(p.slocks, k)
			}
		}
	}
}

func orderedInts(m map[int]int64) []int {
	out := make([]int, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}
