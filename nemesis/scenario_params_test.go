package nemesis

import (
	"strings"
	"testing"
)

// TestParseScenarioChecksParams: a bad parameter fails when the scenario is
// parsed, naming the fault and the parameter, not when the fault is applied.
func TestParseScenarioChecksParams(t *testing.T) {
	for _, tc := range []struct{ params, want string }{
		{"{p: 2}", "faults[0]: params: param p=2 is outside 0..1"},
		{"{p: .nan}", "param p=NaN is outside 0..1"},
		{"{delay: -3}", "param delay=-3 is negative"},
		{"{latency: 1e300}", "param latency=1e+300 is out of range"},
		{"{window: 9223372036854775807}", "param window=9223372036854775807 is out of range"},
		{"{rate: 1e30gbit}", "param rate=1e30gbit is too large"},
		{"{rate: .nan}", "param rate=NaN is below 8kbit"},
		{"{ppm: .inf}", "param ppm=+Inf is not a finite number"},
		{"{delta: soon}", `param delta="soon"`},
		{"{note: {1: 2}}", "param note=map[1:2] cannot be recorded"},
	} {
		_, err := ParseScenario([]byte("faults: [{at: 1s, nemesis: loss, hold: 1s, params: "+tc.params+"}]"), 1)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.params, err, tc.want)
		}
	}
	for _, ok := range []string{"{p: 0.3}", "{p: 30%}", "{delta: -20s, period: 500ms}", "{delay: 30, jitter: 5ms}", "{rate: 8mbit}", "{ppm: '-12.5'}", "{note: [a, 1]}"} {
		if _, err := ParseScenario([]byte("faults: [{at: 1s, nemesis: loss, hold: 1s, params: "+ok+"}]"), 1); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	// A hold that runs past the end of time is refused.
	_, err := ParseScenario([]byte("faults: [{at: 2562047h, nemesis: kill, hold: 1h}]"), 1)
	if err == nil || !strings.Contains(err.Error(), "faults[0]: hold") {
		t.Errorf("overflowing hold: %v", err)
	}
}
