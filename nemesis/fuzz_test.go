package nemesis

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// scenarioErr is the shape of every ParseScenario error: it names the
// fault and field, or says the file is not a scenario (with YAML's line).
var scenarioErr = regexp.MustCompile(`^(faults(\[\d+\])?: |not a scenario file: )`)

// FuzzParseScenario: ParseScenario never panics; errors name the fault and
// field; a scenario that parses gives steps a runner can follow and record:
// known nemeses in time order, no overlap within a nemesis, positive holds
// that do not overflow, params that encode as JSON, and the same steps for
// the same seed.
func FuzzParseScenario(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join("..", "docs", "scenarios", "*.yaml"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no scenarios in docs/scenarios: %v", err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, int64(1))
	}
	for _, s := range []string{
		"faults:\n  - at: 5s\n    nemesis: partition-leader\n    hold: 10s\n  - at: 20s\n    nemesis: kill\n    select: all\n    hold: 3s\n" +
			"  - at: 23s\n    nemesis: loss\n    params: {p: 0.3}\n    seed: 42\n    hold: 1500ms\n",
		"faults: [{at: 1s, nemesis: partition-leader, hold: 10s}, {at: 2s, nemesis: clock-strobe, hold: 3s, params: {delta: -2s, period: 100}}, {at: 6s, nemesis: kill, hold: 1s}]",
		"faults: [{at: 1s, nemesis: partition, select: ring, hold: 1s}, {at: 1s, nemesis: msg-delay, hold: 2s, params: {delay: 30ms, jitter: 5}}]",
		"faults: [{at: 5s, nemesis: disk-eio, hold: 5s}, {at: 8s, nemesis: kill, hold: 1s}]",
		"faults: [{at: 1s, nemesis: kill, hold: 1s, colour: red}]",
	} {
		f.Add([]byte(s), int64(7))
	}
	f.Fuzz(func(t *testing.T, b []byte, seed int64) {
		steps, err := ParseScenario(b, seed)
		if err != nil {
			if !scenarioErr.MatchString(err.Error()) {
				t.Fatalf("error %q names no fault or field", err)
			}
			return
		}
		if len(steps) == 0 {
			t.Fatal("a scenario with no steps")
		}
		known := Names()
		healed := map[string]time.Duration{}
		for i, s := range steps {
			switch {
			case !contains(known, s.Fault.Nemesis):
				t.Fatalf("step %d: unknown nemesis %q", i, s.Fault.Nemesis)
			case s.At < 0 || s.Hold <= 0 || s.At+s.Hold < s.At:
				t.Fatalf("step %d: at %v hold %v", i, s.At, s.Hold)
			case i > 0 && s.At < steps[i-1].At:
				t.Fatalf("step %d at %v before step %d at %v", i, s.At, i-1, steps[i-1].At)
			case s.At < healed[s.Fault.Nemesis]:
				t.Fatalf("step %d overlaps the previous %s fault", i, s.Fault.Nemesis)
			case s.Quiet != s.At-healed[s.Fault.Nemesis]:
				t.Fatalf("step %d: quiet %v, want %v", i, s.Quiet, s.At-healed[s.Fault.Nemesis])
			}
			healed[s.Fault.Nemesis] = s.At + s.Hold
			if _, err := json.Marshal(s); err != nil {
				t.Fatalf("step %d does not encode for schedule.json: %v", i, err)
			}
			if ScenarioEnd(steps) < s.At+s.Hold {
				t.Fatalf("ScenarioEnd %v before step %d ends", ScenarioEnd(steps), i)
			}
		}
		again, err := ParseScenario(b, seed)
		if err != nil || fmt.Sprint(again) != fmt.Sprint(steps) {
			t.Fatalf("parsed again with the same seed: %v, %v\nfirst: %v", again, err, steps)
		}
	})
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// FuzzParams: the parameter readers never panic, take a value the way a
// scenario's YAML gives it (a number, an integer or a string), and either
// fail naming the parameter or return a value in range: a probability in
// 0..1, a duration not negative, a rate of at least 8 kbit/s, a finite
// number, and integers of milliseconds exactly.
func FuzzParams(f *testing.F) {
	for _, s := range []string{
		"{p: 0.3}", "{p: 30%}", "{p: 1}", "{p: .nan}", "{p: -0.1}",
		"{delta: 20s, period: 500ms}", "{delta: -5s}", "{delay: 30ms, jitter: 5}", "{window: 1.5}",
		"{rate: 512kbit}", "{rate: 8mbit}", "{rate: 1000000}", "{rate: 1e30gbit}",
		"{ppm: -250000}", "{ppm: '12.5'}", "{latency: 9223372036854775807}", "{spread: .inf}",
	} {
		f.Add(s)
	}
	paths, _ := filepath.Glob(filepath.Join("..", "docs", "scenarios", "*.yaml"))
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		for _, l := range strings.Split(string(b), "\n") {
			if _, v, ok := strings.Cut(l, "params:"); ok {
				f.Add(strings.TrimSpace(v))
			}
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		var params map[string]any
		if yaml.Unmarshal([]byte(in), &params) != nil {
			return
		}
		named := func(k string, err error) {
			if !strings.Contains(err.Error(), "param "+k+"=") {
				t.Fatalf("error %q does not name param %s", err, k)
			}
		}
		for k, v := range params {
			if p, err := paramProbability(params, k, 0.5); err != nil {
				named(k, err)
			} else if !(p >= 0 && p <= 1) {
				t.Fatalf("%s=%v: probability %v", k, v, p)
			}
			if d, err := paramDuration(params, k, 0); err != nil {
				named(k, err)
			} else if d < 0 {
				t.Fatalf("%s=%v: duration %v", k, v, d)
			} else if n, ok := v.(int); ok && d/time.Millisecond != time.Duration(n) {
				t.Fatalf("%s=%v: %v is not %d ms", k, v, d, n)
			}
			if d, _, err := paramSignedDuration(params, k); err != nil {
				named(k, err)
			} else if n, ok := v.(int); ok && d/time.Millisecond != time.Duration(n) {
				t.Fatalf("%s=%v: %v is not %d ms", k, v, d, n)
			}
			if r, err := paramRate(params, k, 0); err != nil {
				named(k, err)
			} else if r < 8000 || r == math.MaxUint64 {
				t.Fatalf("%s=%v: rate %d", k, v, r)
			}
			if x, _, err := paramFloat(params, k); err != nil {
				named(k, err)
			} else if math.IsNaN(x) || math.IsInf(x, 0) {
				t.Fatalf("%s=%v: number %v", k, v, x)
			}
		}
		// A scenario fault with these params parses, or fails naming them.
		b, err := yaml.Marshal(map[string]any{"faults": []any{map[string]any{"at": "1s", "nemesis": "loss", "hold": "1s", "params": params}}})
		if err != nil {
			return
		}
		if _, err := ParseScenario(b, 1); err != nil && !strings.HasPrefix(err.Error(), "faults[0]: params: ") {
			t.Fatalf("params %v: %v", params, err)
		}
	})
}
