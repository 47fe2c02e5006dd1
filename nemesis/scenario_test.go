package nemesis

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseScenarioTurnsTimesIntoSteps(t *testing.T) {
	file := `
faults:
  - at: 5s
    nemesis: partition-leader
    hold: 10s
  - at: 20s
    nemesis: kill
    select: all
    hold: 3s
  - at: 23s
    nemesis: loss
    params: {p: 0.3}
    seed: 42
    hold: 1500ms
`
	steps, err := ParseScenario([]byte(file), 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 3 {
		t.Fatalf("%d steps, want 3", len(steps))
	}
	want := []struct {
		at, hold time.Duration
		nemesis  string
	}{{5 * time.Second, 10 * time.Second, "partition-leader"}, {20 * time.Second, 3 * time.Second, "kill"}, {23 * time.Second, 1500 * time.Millisecond, "loss"}}
	for i, w := range want {
		if s := steps[i]; s.At != w.at || s.Hold != w.hold || s.Fault.Nemesis != w.nemesis {
			t.Errorf("step %d = %+v, want %+v", i, s, w)
		}
	}
	if steps[2].Fault.Seed != 42 || steps[2].Fault.Params["p"] != 0.3 || steps[1].Fault.Select != "all" {
		t.Errorf("fault fields lost: %+v", steps)
	}
	again, _ := ParseScenario([]byte(file), 7)
	other, _ := ParseScenario([]byte(file), 8)
	if !reflect.DeepEqual(steps, again) || steps[0].Fault.Seed == other[0].Fault.Seed {
		t.Error("fault seeds are not a function of the run seed")
	}
	if ScenarioEnd(steps) != 24500*time.Millisecond || strings.Join(ScenarioNemeses(steps), ",") != "partition-leader,kill,loss" {
		t.Errorf("end %v, nemeses %v", ScenarioEnd(steps), ScenarioNemeses(steps))
	}
}

func TestParseScenarioErrorsNameTheFault(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"faults: []", "faults: none"},
		{"fault: []", "field fault not found"},
		{"faults: [{at: 1s, hold: 1s}]", "faults[0]: nemesis: missing"},
		{"faults: [{at: 1s, nemesis: explode, hold: 1s}]", `faults[0]: nemesis: unknown nemesis "explode"`},
		{"faults: [{at: 1s, nemesis: kill}]", "faults[0]: hold"},
		{"faults: [{at: soon, nemesis: kill, hold: 1s}]", "not a scenario file"},
		{"faults: [{at: 5s, nemesis: kill, hold: 5s}, {at: 8s, nemesis: kill, hold: 1s}]", "faults[1]: at: 8s is before the previous kill fault is healed (10s)"},
		{"faults: [{at: 5s, nemesis: kill, hold: 5s}, {at: 4s, nemesis: pause, hold: 1s}]", "faults[1]: at: 4s is before the previous fault's 5s"},
		{"faults: [{at: 5s, nemesis: disk-eio, hold: 5s}, {at: 8s, nemesis: kill, hold: 1s}]", "faults[1]: at: kill at 8s overlaps faults[0] (disk-eio until 10s)"},
		{"faults: [{at: 5s, nemesis: kill, hold: 5s}, {at: 6s, nemesis: disk-eio, hold: 1s}]", "overlaps faults[0] (kill until 10s)"},
		{"faults: [{at: 1s, nemesis: kill, select: halves, hold: 1s}]", `faults[0]: select: "halves": kill takes one, leader`},
		{"faults: [{at: 1s, nemesis: partition-leader, select: one, hold: 1s}]", "takes no selection"},
		{"faults: [{at: 1s, nemesis: kill, hold: 1s, colour: red}]", "colour"},
	} {
		_, err := ParseScenario([]byte(tc.file), 1)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.file, err, tc.want)
		}
	}
	if _, err := ParseScenario([]byte("faults: [{at: 1s, nemesis: partition, select: ring, hold: 1s}]"), 1); err != nil {
		t.Errorf("partition shapes are selections: %v", err)
	}
	// Different nemeses may overlap, unless a restart would drop the other.
	overlap := "faults: [{at: 1s, nemesis: partition-leader, hold: 10s}, {at: 2s, nemesis: disk-eio, hold: 3s}, {at: 3s, nemesis: kill, hold: 1s}]"
	if _, err := ParseScenario([]byte(overlap), 1); err == nil || !strings.Contains(err.Error(), "faults[2]") {
		t.Errorf("kill during disk-eio: %v", err)
	}
	if _, err := ParseScenario([]byte("faults: [{at: 1s, nemesis: clock-jump, hold: 5s}, {at: 2s, nemesis: kill, hold: 1s}]"), 1); err != nil {
		t.Errorf("kill during a clock jump (re-applied at restart): %v", err)
	}
	steps, err := ParseScenario([]byte("faults: [{at: 1s, nemesis: partition-leader, hold: 10s}, {at: 2s, nemesis: clock-strobe, hold: 3s}, {at: 6s, nemesis: kill, hold: 1s}]"), 1)
	if err != nil {
		t.Fatalf("overlapping partition and clock faults: %v", err)
	}
	if ScenarioEnd(steps) != 11*time.Second || steps[2].Quiet != 6*time.Second {
		t.Errorf("end %v, steps %+v", ScenarioEnd(steps), steps)
	}
}

// The scenarios shipped in docs/ stay valid.
func TestDocsScenariosParse(t *testing.T) {
	files, err := filepath.Glob("../docs/scenarios/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios found in docs/scenarios: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseScenario(b, 1); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestOverlappingScheduleRunsEachNemesisOnItsOwn(t *testing.T) {
	o := ScheduleOptions{Nemeses: []string{"partition-leader", "clock-strobe"}, Interval: 3 * time.Second,
		Until: 60 * time.Second, Seed: 5, Selects: map[string][]string{"clock-strobe": {"leader", "all"}}}
	steps, err := OverlappingSchedule(o)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := OverlappingSchedule(o)
	if !reflect.DeepEqual(steps, again) {
		t.Fatal("not a function of its options")
	}
	end := map[string]time.Duration{}
	overlaps := 0
	for i, s := range steps {
		if i > 0 && s.At < steps[i-1].At {
			t.Fatalf("steps not in time order at %d", i)
		}
		if s.At < end[s.Fault.Nemesis] {
			t.Errorf("step %d: %s overlaps its own previous fault", i, s.Fault.Nemesis)
		}
		for name, e := range end {
			if name != s.Fault.Nemesis && s.At < e {
				overlaps++
			}
		}
		if s.At+s.Hold > o.Until {
			t.Errorf("step %d ends at %v, after %v", i, s.At+s.Hold, o.Until)
		}
		end[s.Fault.Nemesis] = s.At + s.Hold
	}
	if len(end) != 2 || overlaps == 0 {
		t.Errorf("%d nemeses scheduled, %d overlaps; want both, overlapping", len(end), overlaps)
	}
	if err := CheckOverlap([]string{"kill", "disk-eio"}); err == nil {
		t.Error("kill with disk-eio may not overlap")
	}
	if err := CheckOverlap([]string{"kill", "clock-jump", "msg-delay", "partition"}); err != nil {
		t.Errorf("clock and message faults survive restarts: %v", err)
	}
}
