package seam

import (
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"
)

// fakeSched records AfterFunc calls and fires them in order of due time
// when told to.
type fakeSched struct {
	mu    sync.Mutex
	now   time.Duration
	seq   int
	queue []timer
}

type timer struct {
	due time.Duration
	seq int
	f   func()
}

func (s *fakeSched) AfterFunc(d time.Duration, f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	s.queue = append(s.queue, timer{due: s.now + d, seq: s.seq, f: f})
}

// Advance fires every timer due by now+d, in due order.
func (s *fakeSched) Advance(d time.Duration) {
	s.mu.Lock()
	s.now += d
	sort.Slice(s.queue, func(i, j int) bool {
		if s.queue[i].due != s.queue[j].due {
			return s.queue[i].due < s.queue[j].due
		}
		return s.queue[i].seq < s.queue[j].seq
	})
	var fire []func()
	for len(s.queue) > 0 && s.queue[0].due <= s.now {
		fire = append(fire, s.queue[0].f)
		s.queue = s.queue[1:]
	}
	s.mu.Unlock()
	for _, f := range fire {
		f()
	}
}

func (s *fakeSched) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

type testMsg struct {
	to  string
	seq int
}

// recorder collects what the shim sends, per call.
type recorder struct {
	mu    sync.Mutex
	calls [][]testMsg
}

func (r *recorder) send(ms []testMsg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, append([]testMsg(nil), ms...))
}

func (r *recorder) seqs(to string) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for _, c := range r.calls {
		for _, m := range c {
			if m.to == to {
				out = append(out, m.seq)
			}
		}
	}
	return out
}

func newTestShim(t *testing.T, rules map[string]MsgRule, seed int64) (*Shim[testMsg], *Messages, *fakeSched, *recorder) {
	t.Helper()
	sched := &fakeSched{}
	m := NewMessages(sched)
	if err := m.SetRules(rules, seed); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	return NewShim(m, func(x testMsg) string { return x.to }, rec.send), m, sched, rec
}

func msgs(to string, from, n int) []testMsg {
	out := make([]testMsg, n)
	for i := range out {
		out[i] = testMsg{to: to, seq: from + i}
	}
	return out
}

func seqRange(from, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = from + i
	}
	return out
}

func TestShimWithoutRulesPassesThroughInOneCall(t *testing.T) {
	s, m, sched, rec := newTestShim(t, nil, 1)
	s.Send(append(msgs("n2", 0, 3), msgs("n3", 0, 2)...))
	if len(rec.calls) != 1 || len(rec.calls[0]) != 5 {
		t.Fatalf("calls %v, want one call with all five messages", rec.calls)
	}
	if sched.Pending() != 0 {
		t.Fatal("timers scheduled without rules")
	}
	if c := m.State().Counts; c.Sent != 5 || c.Delayed+c.Dropped+c.Duplicated != 0 {
		t.Fatalf("counts %+v", c)
	}
}

func TestShimDelayAppliesPerPeer(t *testing.T) {
	s, _, sched, rec := newTestShim(t, map[string]MsgRule{"n2": {Delay: 100 * time.Millisecond}}, 1)
	s.Send(append(msgs("n2", 0, 3), msgs("n3", 0, 3)...))
	if got := rec.seqs("n2"); len(got) != 0 {
		t.Fatalf("n2 got %v before its delay", got)
	}
	if got := rec.seqs("n3"); !reflect.DeepEqual(got, seqRange(0, 3)) {
		t.Fatalf("n3 (no rule) got %v, want all at once", got)
	}
	sched.Advance(99 * time.Millisecond)
	if got := rec.seqs("n2"); len(got) != 0 {
		t.Fatalf("n2 got %v 1ms early", got)
	}
	sched.Advance(time.Millisecond)
	if got := rec.seqs("n2"); !reflect.DeepEqual(got, seqRange(0, 3)) {
		t.Fatalf("n2 got %v after the delay, want 0..2 in order (no jitter)", got)
	}
}

func TestShimAnyPeerRuleAndSpecificOverride(t *testing.T) {
	s, _, _, rec := newTestShim(t, map[string]MsgRule{AnyPeer: {Drop: 1}, "n3": {}}, 1)
	s.Send(append(msgs("n2", 0, 10), msgs("n3", 0, 10)...))
	// "n3": {} is a zero rule, which SetRules drops; n3 then falls to "*".
	if got := rec.seqs("n2"); len(got) != 0 {
		t.Fatalf("n2 got %v under drop=1", got)
	}
	s2, _, _, rec2 := newTestShim(t, map[string]MsgRule{AnyPeer: {Drop: 1}, "n3": {Delay: 0, Dup: 0, Reorder: 0, Jitter: 0, ReorderWindow: time.Millisecond}}, 1)
	s2.Send(msgs("n3", 0, 4))
	if got := rec2.seqs("n3"); !reflect.DeepEqual(got, seqRange(0, 4)) {
		t.Fatalf("n3's own rule must override *: got %v", got)
	}
}

func TestShimDropCounts(t *testing.T) {
	s, m, _, rec := newTestShim(t, map[string]MsgRule{"n2": {Drop: 0.5}}, 42)
	s.Send(msgs("n2", 0, 1000))
	got := len(rec.seqs("n2"))
	c := m.State().Counts
	if int64(got)+c.Dropped != 1000 {
		t.Fatalf("%d delivered + %d dropped != 1000", got, c.Dropped)
	}
	if c.Dropped < 400 || c.Dropped > 600 {
		t.Fatalf("dropped %d of 1000 at p=0.5", c.Dropped)
	}
}

func TestShimDuplicates(t *testing.T) {
	s, m, sched, rec := newTestShim(t, map[string]MsgRule{"n2": {Dup: 1}}, 1)
	s.Send(msgs("n2", 0, 5))
	sched.Advance(time.Hour)
	got := rec.seqs("n2")
	count := map[int]int{}
	for _, q := range got {
		count[q]++
	}
	for q := 0; q < 5; q++ {
		if count[q] != 2 {
			t.Fatalf("message %d delivered %d times, want 2 (got %v)", q, count[q], got)
		}
	}
	if c := m.State().Counts; c.Duplicated != 5 {
		t.Fatalf("counts %+v", c)
	}
}

func TestShimDupDelaySeparatesCopies(t *testing.T) {
	s, _, sched, rec := newTestShim(t, map[string]MsgRule{"n2": {Dup: 1, DupDelay: 10 * time.Millisecond}}, 1)
	s.Send(msgs("n2", 0, 3))
	if got := rec.seqs("n2"); !reflect.DeepEqual(got, seqRange(0, 3)) {
		t.Fatalf("originals %v, want sent at once", got)
	}
	sched.Advance(10 * time.Millisecond)
	if got := rec.seqs("n2"); len(got) != 6 {
		t.Fatalf("after DupDelay got %v, want every copy", got)
	}
}

func TestShimReorderLetsLaterMessagesOvertake(t *testing.T) {
	s, m, sched, rec := newTestShim(t, map[string]MsgRule{"n2": {Reorder: 0.5, ReorderWindow: 50 * time.Millisecond}}, 7)
	s.Send(msgs("n2", 0, 200))
	held := 200 - len(rec.seqs("n2"))
	if held == 0 || held == 200 {
		t.Fatalf("%d of 200 held back at p=0.5", held)
	}
	s.Send(msgs("n2", 200, 10)) // sent later, overtake the held ones
	held = 210 - len(rec.seqs("n2"))
	sched.Advance(time.Second)
	got := rec.seqs("n2")
	if len(got) != 210 {
		t.Fatalf("%d delivered, want 210 (no loss)", len(got))
	}
	seen := map[int]bool{}
	for _, q := range got {
		seen[q] = true
	}
	if len(seen) != 210 {
		t.Fatal("a message was duplicated or lost")
	}
	if sort.IntsAreSorted(got) {
		t.Fatal("nothing was reordered")
	}
	if c := m.State().Counts; c.Reordered != int64(held) {
		t.Fatalf("reordered count %d, held %d", c.Reordered, held)
	}
}

func TestShimJitterReordersWithinWindow(t *testing.T) {
	s, _, sched, rec := newTestShim(t, map[string]MsgRule{"n2": {Delay: 20 * time.Millisecond, Jitter: 10 * time.Millisecond}}, 3)
	for i := 0; i < 50; i++ {
		s.Send(msgs("n2", i, 1))
		sched.Advance(time.Millisecond)
	}
	sched.Advance(30 * time.Millisecond) // past the last message's largest delay
	got := rec.seqs("n2")
	if len(got) != 50 {
		t.Fatalf("%d delivered by the largest delay, want 50", len(got))
	}
	if sort.IntsAreSorted(got) {
		t.Fatal("jitter of ±10ms on messages 1ms apart reordered nothing")
	}
}

func TestShimSameSeedSameFate(t *testing.T) {
	run := func() []int {
		s, _, sched, rec := newTestShim(t, map[string]MsgRule{"n2": {Drop: 0.3, Dup: 0.3, Reorder: 0.3}}, 99)
		s.Send(msgs("n2", 0, 100))
		sched.Advance(time.Second)
		return rec.seqs("n2")
	}
	a, b := run(), run()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed and messages gave different deliveries")
	}
}

func TestShimCloseDropsDelayed(t *testing.T) {
	s, _, sched, rec := newTestShim(t, map[string]MsgRule{"n2": {Delay: time.Millisecond}}, 1)
	s.Send(msgs("n2", 0, 3))
	s.Close()
	sched.Advance(time.Second)
	s.Send(msgs("n3", 0, 1))
	if len(rec.calls) != 0 {
		t.Fatalf("closed shim sent %v", rec.calls)
	}
}

func TestMsgRuleValidate(t *testing.T) {
	m := NewMessages(nil)
	for _, r := range []MsgRule{{Drop: -0.1}, {Dup: 1.5}, {Reorder: 2}, {Delay: -1}, {Jitter: -1}} {
		if err := m.SetRules(map[string]MsgRule{"n2": r}, 1); err == nil {
			t.Errorf("rule %+v accepted", r)
		}
	}
	if st := m.State(); len(st.Rules) != 0 {
		t.Fatalf("a rejected SetRules changed the rules: %+v", st.Rules)
	}
}

// With the real scheduler: a delayed message arrives, later; no timing
// assertion beyond "eventually".
func TestShimRealTimers(t *testing.T) {
	m := NewMessages(nil)
	m.SetRules(map[string]MsgRule{"n2": {Delay: time.Millisecond, Dup: 1}}, 1)
	got := make(chan testMsg, 4)
	s := NewShim(m, func(x testMsg) string { return x.to }, func(ms []testMsg) {
		for _, x := range ms {
			got <- x
		}
	})
	s.Send(msgs("n2", 0, 1))
	for i := 0; i < 2; i++ {
		select {
		case x := <-got:
			if x.seq != 0 {
				t.Fatalf("got %+v", x)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("delayed message never arrived")
		}
	}
}
