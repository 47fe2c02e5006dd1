package raft

import (
	"sync"
	"time"
)

// Clock is the node's only source of time: the core loop converts the time
// it reports into ticks (see Node.Run). It is a seam: a fault injector may
// wrap it to add an offset, a drift rate or a strobe, set per node through
// the admin endpoint, and the node will time elections, heartbeats and the
// check-quorum window by that clock. NodeMain passes a seam.Clock (package
// targets/seam). Safety never depends on it: reads are confirmed by quorum
// rounds, not leases (except under the lease-read bug).
type Clock interface {
	// Now returns the current wall-clock time. It may jump in either
	// direction; it must not block.
	Now() time.Time
}

// RealClock is the host's wall clock, without the monotonic reading, so
// that it behaves like the wall clock a fault injector would skew.
type RealClock struct{}

// Now returns time.Now().Round(0).
func (RealClock) Now() time.Time { return time.Now().Round(0) }

// ManualClock is a Clock that moves only when told to; tests use it. The
// zero value starts at the Unix epoch. It is safe for concurrent use.
type ManualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewManualClock returns a clock reading start.
func NewManualClock(start time.Time) *ManualClock { return &ManualClock{now: start} }

// Now returns the clock's current reading.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		c.now = time.Unix(0, 0)
	}
	return c.now
}

// Advance moves the clock by d, which may be negative (a backward jump).
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		c.now = time.Unix(0, 0)
	}
	c.now = c.now.Add(d)
}
