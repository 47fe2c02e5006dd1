package seam

import (
	"sync"
	"testing"
	"time"
)

// fakeTime is a settable time source.
type fakeTime struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeTime() *fakeTime { return &fakeTime{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (f *fakeTime) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeTime) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func skew(c *Clock, ft *fakeTime) time.Duration { return c.Now().Sub(ft.Now()) }

func TestClockUnskewedByDefault(t *testing.T) {
	ft := newFakeTime()
	c := NewClock(ft.Now)
	if s := skew(c, ft); s != 0 {
		t.Fatalf("skew %v, want 0", s)
	}
	ft.Advance(time.Second)
	if s := skew(c, ft); s != 0 {
		t.Fatalf("skew after 1s %v, want 0", s)
	}
}

func TestClockJumpAccumulates(t *testing.T) {
	ft := newFakeTime()
	c := NewClock(ft.Now)
	st := c.Jump(5 * time.Second)
	if st.Offset != 5*time.Second || st.Skew != 5*time.Second {
		t.Fatalf("state after jump %+v", st)
	}
	c.Jump(-7 * time.Second)
	if s := skew(c, ft); s != -2*time.Second {
		t.Fatalf("skew %v, want -2s", s)
	}
	ft.Advance(time.Hour)
	if s := skew(c, ft); s != -2*time.Second {
		t.Fatalf("a jump must not drift: skew %v after an hour, want -2s", s)
	}
	if st := c.Reset(); st.Skew != 0 || st.Offset != 0 {
		t.Fatalf("reset state %+v", st)
	}
	if s := skew(c, ft); s != 0 {
		t.Fatalf("skew after reset %v", s)
	}
}

func TestClockDrift(t *testing.T) {
	ft := newFakeTime()
	c := NewClock(ft.Now)
	if _, err := c.SetDrift(1000); err != nil { // 1 ms per second
		t.Fatal(err)
	}
	ft.Advance(10 * time.Second)
	if s := skew(c, ft); s != 10*time.Millisecond {
		t.Fatalf("skew after 10s at 1000 ppm: %v, want 10ms", s)
	}
	// Changing the drift keeps what accumulated, without a jump.
	if _, err := c.SetDrift(-2000); err != nil {
		t.Fatal(err)
	}
	if s := skew(c, ft); s != 10*time.Millisecond {
		t.Fatalf("skew right after the drift change: %v, want 10ms", s)
	}
	ft.Advance(5 * time.Second)
	if s := skew(c, ft); s != 0 {
		t.Fatalf("skew after 5s at -2000 ppm: %v, want 0", s)
	}
	ft.Advance(5 * time.Second)
	if st := c.State(); st.Skew != -10*time.Millisecond || st.Offset != -10*time.Millisecond || st.DriftPPM != -2000 {
		t.Fatalf("state %+v", st)
	}
	for _, bad := range []float64{1e6, -1e6, 2e6} {
		if _, err := c.SetDrift(bad); err == nil {
			t.Errorf("SetDrift(%v) accepted", bad)
		}
	}
	c.Reset()
	ft.Advance(time.Hour)
	if s := skew(c, ft); s != 0 {
		t.Fatalf("reset must stop drift: skew %v", s)
	}
}

func TestClockStrobeAlternates(t *testing.T) {
	ft := newFakeTime()
	c := NewClock(ft.Now)
	c.Jump(time.Second) // strobe adds to the offset
	if _, err := c.SetStrobe(3*time.Second, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// Period k in [0, 6): ahead by 3s in even periods, not in odd ones.
	for k := 0; k < 6; k++ {
		want := time.Second
		if k%2 == 0 {
			want += 3 * time.Second
		}
		for _, step := range []time.Duration{0, 50 * time.Millisecond, 49 * time.Millisecond} {
			ft.Advance(step)
			if s := skew(c, ft); s != want {
				t.Fatalf("period %d: skew %v, want %v", k, s, want)
			}
		}
		ft.Advance(time.Millisecond)
	}
	// Readings move backwards across an odd boundary.
	ft2 := newFakeTime()
	c2 := NewClock(ft2.Now)
	c2.SetStrobe(time.Second, 10*time.Millisecond)
	ft2.Advance(9 * time.Millisecond)
	before := c2.Now()
	ft2.Advance(2 * time.Millisecond)
	after := c2.Now()
	if d := after.Sub(before); d != 2*time.Millisecond-time.Second {
		t.Fatalf("reading moved %v across the strobe edge, want -998ms", d)
	}
	if st, _ := c2.SetStrobe(0, 0); st.StrobeDelta != 0 || st.Skew != 0 {
		t.Fatalf("stopped strobe state %+v", st)
	}
	if _, err := c2.SetStrobe(time.Second, -time.Second); err == nil {
		t.Fatal("negative period accepted")
	}
}

func TestClockDropsMonotonicReading(t *testing.T) {
	c := NewClock(nil)
	c.Jump(-time.Hour)
	a := c.Now()
	if a.Round(0) != a {
		t.Fatal("Now kept a monotonic reading")
	}
	// With a monotonic reading, Sub would ignore the jump.
	if d := a.Sub(time.Now()); d > -59*time.Minute {
		t.Fatalf("seam reading minus real now = %v, want about -1h", d)
	}
	if d := c.Since(time.Now()); d > -59*time.Minute {
		t.Fatalf("Since = %v, want about -1h", d)
	}
}
