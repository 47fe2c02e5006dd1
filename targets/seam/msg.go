package seam

import (
	"fmt"
	"math/rand"
	"sync"
	"time"
)

// AnyPeer is the rule key that applies to every peer without its own rule.
const AnyPeer = "*"

// DefaultReorderWindow is how far a reordered message is held back when its
// rule sets no ReorderWindow.
const DefaultReorderWindow = 50 * time.Millisecond

// MsgRule says what happens to protocol messages sent to one peer.
// Probabilities are in [0, 1]; the zero rule passes messages unchanged.
type MsgRule struct {
	// Drop is the probability that a message is dropped.
	Drop float64 `json:"drop,omitempty"`
	// Dup is the probability that a message is sent twice. The copy gets
	// its own delay, plus a uniform draw in (0, DupDelay] when DupDelay is
	// set, so that it arrives apart from the original.
	Dup      float64       `json:"dup,omitempty"`
	DupDelay time.Duration `json:"dup_delay_ns,omitempty"`
	// Delay and Jitter delay each message by Delay plus a uniform draw in
	// [-Jitter, +Jitter], at least 0. Jitter reorders messages whose
	// delays overlap.
	Delay  time.Duration `json:"delay_ns,omitempty"`
	Jitter time.Duration `json:"jitter_ns,omitempty"`
	// Reorder is the probability that a message is held back by a further
	// uniform draw in (0, ReorderWindow] (DefaultReorderWindow when 0),
	// so that messages sent after it overtake it.
	Reorder       float64       `json:"reorder,omitempty"`
	ReorderWindow time.Duration `json:"reorder_window_ns,omitempty"`
}

// IsZero reports whether r passes every message unchanged.
func (r MsgRule) IsZero() bool { return r == MsgRule{} }

// Validate names the first field out of range.
func (r MsgRule) Validate() error {
	for name, p := range map[string]float64{"drop": r.Drop, "dup": r.Dup, "reorder": r.Reorder} {
		if !(p >= 0 && p <= 1) {
			return fmt.Errorf("%s probability %v is not in [0, 1]", name, p)
		}
	}
	if r.Delay < 0 || r.Jitter < 0 || r.ReorderWindow < 0 || r.DupDelay < 0 {
		return fmt.Errorf("delay %v, jitter %v, reorder window %v and dup delay %v must not be negative",
			r.Delay, r.Jitter, r.ReorderWindow, r.DupDelay)
	}
	return nil
}

// MsgCounts counts what the shim did to messages since the process started.
type MsgCounts struct {
	Sent       int64 `json:"sent"`       // messages handed to the shim
	Dropped    int64 `json:"dropped"`    // dropped by a rule
	Duplicated int64 `json:"duplicated"` // extra copies sent
	Delayed    int64 `json:"delayed"`    // copies sent later than at once
	Reordered  int64 `json:"reordered"`  // copies held back to be overtaken
}

// MsgState is the rule set of a Messages controller and its counters.
type MsgState struct {
	// Rules by destination peer id; AnyPeer applies to the others.
	Rules  map[string]MsgRule `json:"rules,omitempty"`
	Seed   int64              `json:"seed"`
	Counts MsgCounts          `json:"counts"`
}

// Scheduler runs f after d. The real one is time.AfterFunc; tests pass a
// fake that fires on command.
type Scheduler interface {
	AfterFunc(d time.Duration, f func())
}

type realScheduler struct{}

func (realScheduler) AfterFunc(d time.Duration, f func()) { time.AfterFunc(d, f) }

// Messages holds the message rules of one node and the random source their
// choices come from; every Shim of the node consults it. It is safe for
// concurrent use.
type Messages struct {
	sched Scheduler

	mu     sync.Mutex
	rules  map[string]MsgRule
	seed   int64
	rnd    *rand.Rand
	counts MsgCounts
}

// NewMessages returns a controller without rules; sched nil means real
// timers.
func NewMessages(sched Scheduler) *Messages {
	if sched == nil {
		sched = realScheduler{}
	}
	return &Messages{sched: sched, rnd: rand.New(rand.NewSource(1)), seed: 1}
}

// SetRules replaces every rule with rules (nil or empty: none) and reseeds
// the random source with seed. It validates every rule first and changes
// nothing on error. Messages already delayed keep their delays.
func (m *Messages) SetRules(rules map[string]MsgRule, seed int64) error {
	keep := map[string]MsgRule{}
	for peer, r := range rules {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("rule for %q: %w", peer, err)
		}
		if !r.IsZero() {
			keep[peer] = r
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rules, m.seed, m.rnd = keep, seed, rand.New(rand.NewSource(seed))
	return nil
}

// Reset removes every rule.
func (m *Messages) Reset() { _ = m.SetRules(nil, m.State().Seed) }

// State returns the rules (a copy) and the counters.
func (m *Messages) State() MsgState {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := MsgState{Seed: m.seed, Counts: m.counts}
	if len(m.rules) > 0 {
		st.Rules = map[string]MsgRule{}
		for k, v := range m.rules {
			st.Rules[k] = v
		}
	}
	return st
}

// Plan decides the fate of one message to peer: the delay of each copy to
// send (none: dropped). A zero delay means "send now". The simulator calls
// it for every message; Shim does for the real transport.
func (m *Messages) Plan(peer string) []time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counts.Sent++
	r, ok := m.rules[peer]
	if !ok {
		r, ok = m.rules[AnyPeer]
	}
	if !ok {
		return []time.Duration{0}
	}
	if r.Drop > 0 && m.rnd.Float64() < r.Drop {
		m.counts.Dropped++
		return nil
	}
	copies := 1
	if r.Dup > 0 && m.rnd.Float64() < r.Dup {
		copies = 2
		m.counts.Duplicated++
	}
	out := make([]time.Duration, copies)
	for i := range out {
		d := r.Delay
		if r.Jitter > 0 {
			d += time.Duration(m.rnd.Int63n(int64(2*r.Jitter)+1)) - r.Jitter
		}
		if r.Reorder > 0 && m.rnd.Float64() < r.Reorder {
			w := r.ReorderWindow
			if w <= 0 {
				w = DefaultReorderWindow
			}
			d = max(d, 0) + 1 + time.Duration(m.rnd.Int63n(int64(w)))
			m.counts.Reordered++
		}
		if i == 1 && r.DupDelay > 0 {
			d = max(d, 0) + 1 + time.Duration(m.rnd.Int63n(int64(r.DupDelay)))
		}
		if d > 0 {
			m.counts.Delayed++
		} else {
			d = 0
		}
		out[i] = d
	}
	return out
}

// Shim applies a Messages controller's rules to the messages a node sends.
// M is the node's message type. It is safe for concurrent use; the send
// function it wraps is never called concurrently by one Shim.
type Shim[M any] struct {
	m      *Messages
	peerOf func(M) string
	send   func([]M)

	mu     sync.Mutex // serializes send
	closed bool
}

// NewShim returns a shim that sends through send, after m's rules for the
// destination peerOf(msg) of each message. send must not block for long: it
// is also called from timers.
func NewShim[M any](m *Messages, peerOf func(M) string, send func([]M)) *Shim[M] {
	return &Shim[M]{m: m, peerOf: peerOf, send: send}
}

// Send applies the rules to msgs: messages to send now go out in one call
// of send, in their original order; delayed copies go out later, each in
// its own call. It never blocks on a delay.
func (s *Shim[M]) Send(msgs []M) {
	now := make([]M, 0, len(msgs))
	for _, msg := range msgs {
		for _, d := range s.m.Plan(s.peerOf(msg)) {
			if d == 0 {
				now = append(now, msg)
				continue
			}
			s.m.sched.AfterFunc(d, func() { s.deliver([]M{msg}) })
		}
	}
	if len(now) > 0 {
		s.deliver(now)
	}
}

func (s *Shim[M]) deliver(msgs []M) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.send(msgs)
	}
}

// Close drops every message still delayed and every later one.
func (s *Shim[M]) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
}
