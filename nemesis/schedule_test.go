package nemesis

import (
	"reflect"
	"testing"
	"time"
)

func TestScheduleIsDeterministicAndBounded(t *testing.T) {
	o := ScheduleOptions{
		Nemeses:  []string{"kill", "pause"},
		Selects:  map[string][]string{"kill": {"one", "leader"}, "pause": {"majority"}},
		Interval: 4 * time.Second,
		Until:    60 * time.Second,
		Seed:     7,
	}
	a, err := Schedule(o)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Schedule(o)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same options gave different schedules")
	}
	if len(a) < 4 {
		t.Fatalf("want several faults in 60s at 4s interval, got %d", len(a))
	}
	var total time.Duration
	seen := map[string]bool{}
	for _, s := range a {
		if s.Quiet < 2*time.Second || s.Quiet >= 6*time.Second || s.Hold < 2*time.Second || s.Hold >= 6*time.Second {
			t.Errorf("step outside [interval/2, 3*interval/2): %+v", s)
		}
		if s.Fault.Nemesis == "pause" && s.Fault.Select != "majority" {
			t.Errorf("pause got selection %q", s.Fault.Select)
		}
		seen[s.Fault.Nemesis] = true
		total += s.Quiet + s.Hold
	}
	if total > o.Until {
		t.Errorf("schedule runs until %v, past %v", total, o.Until)
	}
	if !seen["kill"] || !seen["pause"] {
		t.Errorf("both nemeses should appear: %v", seen)
	}
	o.Seed = 8
	c, _ := Schedule(o)
	if reflect.DeepEqual(a, c) {
		t.Error("different seeds gave the same schedule")
	}
}

func TestScheduleRejectsZeroInterval(t *testing.T) {
	if _, err := Schedule(ScheduleOptions{Nemeses: []string{"kill"}, Until: time.Minute}); err == nil {
		t.Fatal("want an error for a zero interval")
	}
}
