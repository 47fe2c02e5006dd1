package checker

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// longThenStale is a long, linearizable run of writes and reads by two
// processes on key k, then a stale read: a read that returns the value
// overwritten by a write that completed before it began.
func longThenStale(n int) h {
	var x h
	t := int64(0)
	for i := 1; i <= n; i++ {
		x = x.call(1, "write", "k", fmt.Sprint(i), ok, t, t+5)
		x = x.call(2, "read", "k", fmt.Sprint(i), ok, t+6, t+9)
		t += 10
	}
	x = x.call(1, "write", "k", fmt.Sprint(n+1), ok, t, t+5)
	x = x.call(2, "read", "k", fmt.Sprint(n), ok, t+6, t+9) // stale
	return x
}

func keyOps(t *testing.T, x h) []*regOp {
	t.Helper()
	byKey, _, err := convertRegister(x)
	if err != nil {
		t.Fatal(err)
	}
	return byKey["k"]
}

func TestSmallestWindowIsSmallAndFails(t *testing.T) {
	part := keyOps(t, longThenStale(500))
	w := smallestWindow(part, nil, 5*time.Second, DefaultMemoryBudget())
	if w == nil {
		t.Fatal("no window for a history that is not linearizable")
	}
	// The stale read needs only the write it missed and itself (the free
	// initial state stands for everything before).
	if len(w.Ops) > 3 {
		t.Errorf("window of %d ops, want at most 3: %+v", len(w.Ops), w.Ops)
	}
	var got []string
	for _, op := range w.Ops {
		got = append(got, op.Op)
	}
	s := strings.Join(got, "; ")
	if !strings.Contains(s, "write(501)") || !strings.Contains(s, "read() → 500") {
		t.Errorf("window %q lacks the write and the stale read", s)
	}
	if !windowIllegal(part, w.From, w.To, 5*time.Second, nil) {
		t.Error("the window found can be linearized")
	}
	if w.FirstIndex > w.LastIndex || w.LastIndex != int64(len(longThenStale(500))-1) {
		t.Errorf("indexes %d..%d", w.FirstIndex, w.LastIndex)
	}
}

// A linearizable key has no failing window, and a window never fails
// where the whole key would pass: the free initial state and edge ops only
// widen what is allowed.
func TestWindowOfLinearizableKeyPasses(t *testing.T) {
	var x h
	t0 := int64(0)
	for i := 1; i <= 50; i++ {
		// Concurrent writes and reads, every read seeing a possible value.
		x = x.call(1, "write", "k", fmt.Sprint(i), ok, t0, t0+10)
		x = x.call(2, "read", "k", fmt.Sprint(i), ok, t0+2, t0+12)
		x = x.call(3, "cas", "k", fmt.Sprintf("[%d,%d]", i, 1000+i), info, t0+3, t0+4)
		t0 += 20
	}
	part := keyOps(t, x)
	if w := smallestWindow(part, nil, 5*time.Second, DefaultMemoryBudget()); w != nil {
		t.Errorf("a linearizable key has a failing window: %+v", w)
	}
	for a := int64(0); a < t0; a += 37 {
		if windowIllegal(part, a, a+100, time.Second, nil) {
			t.Fatalf("window [%d, %d] fails in a linearizable key", a, a+100)
		}
	}
}

// An edge op is checked as unknown: a read inside the window of a value
// written by a write that began before the window passes.
func TestWindowEdgeWriteIsUnknown(t *testing.T) {
	var x h
	x = x.call(1, "write", "k", "1", ok, 0, 100) // straddles a = 50
	x = x.call(2, "read", "k", "1", ok, 60, 70)
	x = x.call(2, "read", "k", "null", ok, 80, 90) // fails in the whole key: 1 was already there
	part := keyOps(t, x)
	if windowIllegal(part, 50, 70, time.Second, nil) {
		t.Error("[50, 70]: the straddling write may have taken effect before the read")
	}
	if !windowIllegal(part, 55, 95, time.Second, nil) {
		t.Error("[55, 95]: read 1 then read null with no write between cannot be linearized")
	}
}

// The checker's verdict on a failing key names the smallest window in its
// summary and details.
func TestLinearizableReportsWindow(t *testing.T) {
	r := lin(t, longThenStale(300), LinearizableOptions{})
	if r.Valid != False {
		t.Fatalf("verdict %v, want false", r.Valid)
	}
	if !strings.Contains(r.Summary, "smallest failing window: 2 operations") {
		t.Errorf("summary lacks the window: %s", r.Summary)
	}
	d := details(t, r)
	if len(d.Failures) != 1 || d.Failures[0].Window == nil || len(d.Failures[0].Window.Ops) != 2 {
		t.Fatalf("details lack the window: %+v", d.Failures)
	}
}
