package seam

import (
	"fmt"
	"sync"
	"time"
)

// ClockState is the skew a Clock applies, as set through its methods.
type ClockState struct {
	// Offset is added to every reading. It accumulates jumps and the
	// drift of earlier drift settings.
	Offset time.Duration `json:"offset_ns"`
	// DriftPPM is the current drift: the reading gains DriftPPM
	// microseconds per second of real time since DriftSince.
	DriftPPM float64 `json:"drift_ppm"`
	// StrobeDelta and StrobePeriod describe the strobe: from the moment it
	// was set, the reading is StrobeDelta ahead during even periods and
	// unshifted during odd ones. Zero means no strobe.
	StrobeDelta  time.Duration `json:"strobe_delta_ns,omitempty"`
	StrobePeriod time.Duration `json:"strobe_period_ns,omitempty"`
	// Skew is Now minus the real time, when the state was taken.
	Skew time.Duration `json:"skew_ns"`
}

// Clock is a wall clock with an injectable offset, drift and strobe. The
// zero value is not usable; use NewClock. It is safe for concurrent use.
//
// A reading is
//
//	real + Offset + (real - driftSince)·DriftPPM/1e6 + strobe(real)
//
// where strobe(real) is StrobeDelta during the even periods counted from
// the moment the strobe was set, and 0 during the odd ones. Changing the
// drift folds the drift accumulated so far into Offset, so a drift change
// never jumps the reading.
type Clock struct {
	source func() time.Time

	mu          sync.Mutex
	offset      time.Duration
	ppm         float64
	driftSince  time.Time
	strobeDelta time.Duration
	strobeEvery time.Duration
	strobeSince time.Time
}

// NewClock returns a clock reading source (time.Now when nil) without
// skew. Tests pass a fake source.
func NewClock(source func() time.Time) *Clock {
	if source == nil {
		source = time.Now
	}
	return &Clock{source: source}
}

// Now returns the skewed wall-clock time, without a monotonic reading, so
// that differences between readings include every jump. It never blocks.
func (c *Clock) Now() time.Time {
	real := c.source()
	c.mu.Lock()
	defer c.mu.Unlock()
	return real.Round(0).Add(c.skewLocked(real))
}

// Since returns Now().Sub(t): the time elapsed since t by this clock, which
// is negative when the clock jumped back past t.
func (c *Clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// skewLocked is the reading minus real at real.
func (c *Clock) skewLocked(real time.Time) time.Duration {
	s := c.offset + c.driftLocked(real)
	if c.strobeEvery > 0 {
		k := real.Sub(c.strobeSince) / c.strobeEvery
		if k < 0 || k%2 == 0 {
			s += c.strobeDelta
		}
	}
	return s
}

func (c *Clock) driftLocked(real time.Time) time.Duration {
	if c.ppm == 0 {
		return 0
	}
	return time.Duration(float64(real.Sub(c.driftSince)) * c.ppm / 1e6)
}

func (c *Clock) stateLocked(real time.Time) ClockState {
	return ClockState{Offset: c.offset + c.driftLocked(real), DriftPPM: c.ppm,
		StrobeDelta: c.strobeDelta, StrobePeriod: c.strobeEvery, Skew: c.skewLocked(real)}
}

// State returns the current skew settings; Offset includes the drift
// accumulated so far.
func (c *Clock) State() ClockState {
	real := c.source()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stateLocked(real)
}

// Jump moves the clock by d (negative: back) at once, on top of any drift
// and strobe, and returns the new state.
func (c *Clock) Jump(d time.Duration) ClockState {
	real := c.source()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
	return c.stateLocked(real)
}

// SetDrift makes the clock gain ppm microseconds per second from now on
// (negative: lose), keeping the skew accumulated so far. |ppm| must be
// below 1e6, so that the clock never runs backwards.
func (c *Clock) SetDrift(ppm float64) (ClockState, error) {
	if ppm <= -1e6 || ppm >= 1e6 || ppm != ppm {
		return c.State(), fmt.Errorf("drift %v ppm is out of range (-1e6, 1e6)", ppm)
	}
	real := c.source()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += c.driftLocked(real)
	c.ppm, c.driftSince = ppm, real
	return c.stateLocked(real), nil
}

// SetStrobe starts a strobe from now: the clock jumps ahead by delta at
// once, back by delta after period, ahead again after another period, and
// so on. A zero delta or period stops the strobe (the reading drops back by
// delta if it was ahead). A negative delta strobes backwards.
func (c *Clock) SetStrobe(delta, period time.Duration) (ClockState, error) {
	if period < 0 {
		return c.State(), fmt.Errorf("strobe period %v is negative", period)
	}
	real := c.source()
	c.mu.Lock()
	defer c.mu.Unlock()
	if delta == 0 || period == 0 {
		delta, period = 0, 0
	}
	c.strobeDelta, c.strobeEvery, c.strobeSince = delta, period, real
	return c.stateLocked(real), nil
}

// Reset removes offset, drift and strobe: the clock reads real time again.
func (c *Clock) Reset() ClockState {
	real := c.source()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset, c.ppm, c.strobeDelta, c.strobeEvery = 0, 0, 0, 0
	return c.stateLocked(real)
}

// Apply carries out req (the body of POST /admin/clock) and returns the
// new state, or an error naming what is wrong with req.
func (c *Clock) Apply(req ClockRequest) (ClockState, error) {
	switch req.Op {
	case ClockJump:
		return c.Jump(req.Delta), nil
	case ClockDrift:
		return c.SetDrift(req.PPM)
	case ClockStrobe:
		if req.Delta == 0 || req.Period <= 0 {
			return c.State(), fmt.Errorf("strobe needs a non-zero delta_ns and a positive period_ns, got %v and %v", req.Delta, req.Period)
		}
		return c.SetStrobe(req.Delta, req.Period)
	case ClockReset:
		return c.Reset(), nil
	default:
		return c.State(), fmt.Errorf("unknown clock op %q (want jump, drift, strobe or reset)", req.Op)
	}
}
