package raft

import (
	"strings"
	"testing"
	"time"
)

// TestClockConformance checks every Clock: readings carry no monotonic
// component (they behave like a wall clock that can be skewed) and do not
// go back on their own.
func TestClockConformance(t *testing.T) {
	for name, c := range map[string]Clock{
		"real":   RealClock{},
		"manual": NewManualClock(time.Unix(1e9, 0)),
		"zero":   &ManualClock{},
	} {
		t.Run(name, func(t *testing.T) {
			a := c.Now()
			time.Sleep(time.Millisecond)
			b := c.Now()
			if b.Before(a) {
				t.Errorf("went back: %v then %v", a, b)
			}
			if strings.Contains(a.String(), "m=") {
				t.Errorf("reading %v has a monotonic component", a)
			}
		})
	}
	m := NewManualClock(time.Unix(100, 0))
	m.Advance(-time.Second)
	if got := m.Now(); !got.Equal(time.Unix(99, 0)) {
		t.Errorf("after a jump back: %v", got)
	}
}
