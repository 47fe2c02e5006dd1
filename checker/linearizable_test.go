package checker

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultline-io/faultline/checker/internal/gen"
	"github.com/faultline-io/faultline/history"
)

// h builds histories: each call appends an invoke or a completion.
type h []history.Op

// o appends an op of process p. value "" means none.
func (x h) o(p history.Process, typ history.Type, f, key, value string, t int64) h {
	op := history.Op{Index: int64(len(x)), Process: p, Type: typ, F: f, Key: key, Time: t}
	if value != "" {
		op.Value = json.RawMessage(value)
	}
	return append(x, op)
}

// call appends an invoke at t1 and a completion at t2 (typ "" leaves the
// operation pending). For reads, value is the result and the invoke has none.
func (x h) call(p history.Process, f, key, value string, typ history.Type, t1, t2 int64) h {
	in := value
	if f == "read" {
		in = ""
	}
	x = x.o(p, history.Invoke, f, key, in, t1)
	if typ != "" {
		x = x.o(p, typ, f, key, value, t2)
	}
	return x
}

const (
	ok   = history.OK
	info = history.Info
	fail = history.Fail
)

func lin(t *testing.T, ops h, opts LinearizableOptions) Result {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = time.Minute
	}
	r := CheckLinearizable(ops, opts)
	if r.Checker != "linearizable" {
		t.Errorf("Checker = %q", r.Checker)
	}
	return r
}

func details(t *testing.T, r Result) LinearizableDetails {
	t.Helper()
	var d LinearizableDetails
	if err := json.Unmarshal(r.Details, &d); err != nil {
		t.Fatalf("details %s: %v", r.Details, err)
	}
	return d
}

func TestLinearizableValid(t *testing.T) {
	cases := map[string]h{
		"empty":          nil,
		"read unwritten": h{}.call(0, "read", "", "null", ok, 0, 10),
		"sequential": h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(1, "read", "", "1", ok, 20, 30).
			call(0, "cas", "", "[1,2]", ok, 40, 50).
			call(1, "read", "", "2", ok, 60, 70),
		"overlapping write and reads": h{}.
			o(0, history.Invoke, "write", "", "1", 0).
			call(1, "read", "", "null", ok, 10, 20). // before the write took effect
			call(2, "read", "", "1", ok, 30, 40).    // after
			o(0, ok, "write", "", "1", 100),
		"concurrent writes in either order": h{}.
			o(0, history.Invoke, "write", "", "1", 0).
			o(1, history.Invoke, "write", "", "2", 10).
			o(0, ok, "write", "", "1", 50).
			o(1, ok, "write", "", "2", 60).
			call(2, "read", "", "1", ok, 70, 80),
		"closed intervals touch": h{}.
			call(0, "write", "", "1", ok, 0, 20).
			call(1, "read", "", "null", ok, 20, 30),
		"info write took effect": h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(1, "write", "", "2", info, 20, 30).
			call(2, "read", "", "2", ok, 100, 110),
		"info write did not take effect": h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(1, "write", "", "2", info, 20, 30).
			call(2, "read", "", "1", ok, 100, 110),
		"info write took effect after the client gave up": h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(1, "write", "", "2", info, 20, 30).
			call(2, "read", "", "1", ok, 40, 50).
			call(2, "read", "", "2", ok, 60, 70),
		"info cas applied": h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(1, "cas", "", "[1,2]", info, 20, 30).
			call(2, "read", "", "2", ok, 40, 50),
		"info cas not applied": h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(1, "cas", "", "[1,2]", info, 20, 30).
			call(2, "read", "", "1", ok, 40, 50),
		"never completed write": h{}.
			call(0, "write", "", "5", "", 0, 0).
			call(1, "read", "", "5", ok, 10, 20),
		"failed write is left out": h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(1, "write", "", "2", fail, 20, 30).
			call(2, "read", "", "1", ok, 40, 50),
		"failed cas is left out": h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(1, "cas", "", "[3,4]", fail, 20, 30).
			call(2, "read", "", "1", ok, 40, 50),
		"chain of info ops": h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(1, "write", "", "5", info, 20, 30).
			call(2, "cas", "", "[5,6]", info, 40, 50).
			call(3, "read", "", "6", ok, 60, 70),
		"info read": h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(1, "read", "", "", info, 20, 30).
			call(2, "read", "", "1", ok, 40, 50),
		"nemesis ignored": h{}.
			o(history.Nemesis, info, "start-partition", "", `{"n1":["n2"]}`, 5).
			call(0, "write", "", "1", ok, 0, 10).
			o(history.Nemesis, history.Invoke, "kill", "", "", 15).
			call(1, "read", "", "1", ok, 20, 30),
		"keys are independent": h{}.
			call(0, "write", "a", "1", ok, 0, 10).
			call(1, "read", "b", "null", ok, 20, 30).
			call(1, "read", "a", "1", ok, 40, 50),
	}
	for name, ops := range cases {
		t.Run(name, func(t *testing.T) {
			r := lin(t, ops, LinearizableOptions{})
			if r.Valid != True {
				t.Errorf("Valid = %v, want true: %s", r.Valid, r.Summary)
			}
			if r.FirstAnomalyTime != nil || len(r.Files) != 0 {
				t.Errorf("a valid history has an anomaly time or files: %+v", r)
			}
		})
	}
}

func TestLinearizableInvalid(t *testing.T) {
	cases := []struct {
		name  string
		ops   h
		stuck int64 // invoke index of the op that cannot be linearized
		time  int64
	}{
		{"stale read after a completed write", h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(0, "write", "", "2", ok, 20, 30).
			call(1, "read", "", "1", ok, 40, 50), 4, 40},
		{"lost write", h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(1, "read", "", "null", ok, 20, 30), 2, 20},
		{"null is not 0", h{}.
			call(0, "write", "", "0", ok, 0, 10).
			call(1, "read", "", "null", ok, 20, 30), 2, 20},
		{"0 is not null", h{}.
			call(1, "read", "", "0", ok, 20, 30), 0, 20},
		{"cas succeeded without a match", h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(1, "cas", "", "[2,3]", ok, 20, 30), 2, 20},
		{"info cas cannot apply to another value", h{}.
			call(0, "write", "", "3", ok, 0, 10).
			call(1, "cas", "", "[1,2]", info, 20, 30).
			call(2, "read", "", "2", ok, 40, 50), 4, 40},
		{"failed write observed", h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(1, "write", "", "2", fail, 20, 30).
			call(2, "read", "", "2", ok, 40, 50), 4, 40},
		{"read a value never written", h{}.
			call(0, "write", "", "1", ok, 0, 10).
			call(1, "read", "", "7", ok, 20, 30), 2, 20},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := lin(t, c.ops, LinearizableOptions{})
			if r.Valid != False {
				t.Fatalf("Valid = %v, want false: %s", r.Valid, r.Summary)
			}
			if r.FirstAnomalyTime == nil || *r.FirstAnomalyTime != c.time {
				t.Errorf("FirstAnomalyTime = %v, want %d", r.FirstAnomalyTime, c.time)
			}
			d := details(t, r)
			if len(d.Failures) != 1 || d.Failures[0].Stuck == nil || d.Failures[0].Stuck.InvokeIndex != c.stuck {
				t.Errorf("failures = %+v, want the op invoked at index %d stuck", d.Failures, c.stuck)
			}
			if !strings.Contains(r.Summary, "not linearizable") {
				t.Errorf("summary %q", r.Summary)
			}
			if len(r.Files) != 0 {
				t.Errorf("Files = %v with no OutDir", r.Files)
			}
			t.Log(r.Summary)
		})
	}
}

func TestLinearizablePerKeyAndVisualization(t *testing.T) {
	ops := h{}
	// Key a is fine and busy; key b has a stale read.
	for i := range 20 {
		t0 := int64(i) * 100
		ops = ops.call(0, "write", "a", "1", ok, t0, t0+10).call(1, "read", "a", "1", ok, t0+20, t0+30)
	}
	ops = ops.
		call(2, "write", "b", "1", ok, 0, 10).
		call(2, "write", "b", "2", ok, 20, 30).
		call(3, "read", "b", "1", ok, 500, 510)
	dir := t.TempDir()
	r := lin(t, ops, LinearizableOptions{OutDir: dir})
	if r.Valid != False {
		t.Fatalf("Valid = %v, want false: %s", r.Valid, r.Summary)
	}
	d := details(t, r)
	if len(d.Keys) != 2 || d.Keys[0] != "a" || d.Keys[1] != "b" {
		t.Errorf("keys = %v, want [a b]", d.Keys)
	}
	if len(d.Failures) != 1 || d.Failures[0].Key != "b" || d.Failures[0].Ops != 3 || !d.Failures[0].Visualized || d.Failures[0].Model != "plain" {
		t.Errorf("failures = %+v, want key b only, 3 ops, visualized", d.Failures)
	}
	if d.Ops.OK != 43 {
		t.Errorf("ok count = %d, want 43", d.Ops.OK)
	}
	if len(r.Files) != 1 || r.Files[0] != VisualizationFile {
		t.Fatalf("Files = %v, want [%s]", r.Files, VisualizationFile)
	}
	html, err := os.ReadFile(filepath.Join(dir, VisualizationFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), "<html") || !strings.Contains(string(html), "read() → 1") {
		t.Errorf("visualization does not look like Porcupine's drawing of key b (%d bytes)", len(html))
	}
	if strings.Contains(string(html), "key \\\"a\\\"") {
		t.Errorf("visualization draws key a, which is linearizable")
	}
	if !strings.Contains(r.Summary, `"b"`) || !strings.Contains(r.Summary, VisualizationFile) {
		t.Errorf("summary %q should name key b and the file", r.Summary)
	}
}

func TestLinearizableVisualizationCap(t *testing.T) {
	stale := func(key string, pad int) h {
		ops := h{}.call(0, "write", key, "1", ok, 0, 10).call(0, "write", key, "2", ok, 20, 30)
		for i := range pad {
			t0 := 40 + int64(i)*10
			ops = ops.call(1, "read", key, "2", ok, t0, t0+5)
		}
		return ops.call(2, "read", key, "1", ok, 10000, 10010)
	}
	// Two failing keys of 4 and 8 operations; a cap of 5 draws only the
	// smaller.
	ops := append(stale("big", 5), stale("small", 1)...)
	for i := range ops {
		ops[i].Index = int64(i)
	}
	dir := t.TempDir()
	r := lin(t, ops, LinearizableOptions{OutDir: dir, MaxVisualizedOps: 5})
	d := details(t, r)
	if r.Valid != False || len(d.Failures) != 2 {
		t.Fatalf("Valid %v, failures %+v; want both keys failing", r.Valid, d.Failures)
	}
	for _, f := range d.Failures {
		if f.Visualized != (f.Key == "small") {
			t.Errorf("key %s visualized = %v", f.Key, f.Visualized)
		}
	}
	if len(r.Files) != 1 {
		t.Errorf("Files = %v", r.Files)
	}

	// A cap below the smallest failing key draws a prefix, if the prefix
	// still fails; here the violation is the last op, so nothing is drawn.
	dir = t.TempDir()
	r = lin(t, stale("k", 20), LinearizableOptions{OutDir: dir, MaxVisualizedOps: 10})
	d = details(t, r)
	if r.Valid != False || len(r.Files) != 0 || !strings.Contains(d.Visualization, "not written") {
		t.Errorf("Valid %v, Files %v, visualization %q; want false, no file, a reason", r.Valid, r.Files, d.Visualization)
	}
	if _, err := os.Stat(filepath.Join(dir, VisualizationFile)); !os.IsNotExist(err) {
		t.Errorf("visualization written anyway: %v", err)
	}
	// ... and when the violation is early, the prefix is drawn.
	early := h{}.call(0, "write", "k", "1", ok, 0, 10).call(2, "read", "k", "null", ok, 20, 30)
	for i := range 20 {
		t0 := 40 + int64(i)*10
		early = early.call(1, "read", "k", "1", ok, t0, t0+5)
	}
	r = lin(t, early, LinearizableOptions{OutDir: dir, MaxVisualizedOps: 10})
	d = details(t, r)
	if r.Valid != False || len(r.Files) != 1 || !strings.Contains(d.Visualization, "first 10 of 22") {
		t.Errorf("Valid %v, Files %v, visualization %q; want a drawn prefix", r.Valid, r.Files, d.Visualization)
	}
}

func TestLinearizableTimeoutIsNeverTrue(t *testing.T) {
	ops := gen.Register(gen.Config{Ops: 4000, Keys: 3, Processes: 8, InfoRate: 0.02, Seed: 1})
	r := CheckLinearizable(ops, LinearizableOptions{Timeout: time.Nanosecond})
	if r.Valid == True {
		t.Fatalf("a 1 ns timeout gave true: %s", r.Summary)
	}
	d := details(t, r)
	if r.Valid != Unknown || len(d.UnknownKeys) == 0 {
		t.Errorf("Valid %v, unknown keys %v; want unknown with undecided keys", r.Valid, d.UnknownKeys)
	}
	t.Log(r.Summary)
	// The same history with time to spare is linearizable.
	if r := CheckLinearizable(ops, LinearizableOptions{Timeout: time.Minute}); r.Valid != True {
		t.Errorf("with a minute: %v %s", r.Valid, r.Summary)
	}
}

func TestLinearizableBadHistories(t *testing.T) {
	cases := map[string]struct {
		ops   h
		index string
	}{
		"write without an integer":  {h{}.call(0, "write", "", `"x"`, ok, 0, 10), "op index 0"},
		"write of null":             {h{}.call(0, "write", "", `null`, ok, 0, 10), "op index 0"},
		"write without a value":     {h{}.call(0, "write", "", ``, ok, 0, 10), "op index 0"},
		"cas of one value":          {h{}.call(0, "write", "", "1", ok, 0, 10).call(0, "cas", "", `[1]`, ok, 20, 30), "op index 2"},
		"read of a string":          {h{}.call(0, "read", "", `"a"`, ok, 0, 10), "op index 1"},
		"not a register":            {h{}.call(0, "add", "", `1`, ok, 0, 10), "op index 0"},
		"completion without invoke": {h{}.o(0, ok, "read", "", "1", 5), "op index 0"},
		"double invoke":             {h{}.o(0, history.Invoke, "read", "", "", 0).o(0, history.Invoke, "read", "", "", 1), "op index 1"},
		"completion before invoke":  {h{}.call(0, "write", "", "1", ok, 10, 5), "op index 1"},
		"f mismatch":                {h{}.o(0, history.Invoke, "read", "", "", 0).o(0, ok, "write", "", "1", 1), "op index 1"},
	}
	for name, c := range cases {
		r := lin(t, c.ops, LinearizableOptions{})
		if r.Valid != Unknown || !strings.Contains(r.Summary, c.index) {
			t.Errorf("%s: Valid %v, summary %q; want unknown naming %q", name, r.Valid, r.Summary, c.index)
		}
	}
}

// TestLinearizableGenerated checks generated histories of a correct
// register, which must pass, and the same histories with one read
// corrupted, which must not.
func TestLinearizableGenerated(t *testing.T) {
	configs := []struct {
		gen.Config
		// hard: few values, long latencies or many processes, and many info
		// ops per key. Proving such a history invalid can mean exploring
		// every way the open info ops could have applied, which may not
		// finish; so here the corrupted history must only not be true.
		hard bool
	}{
		{Config: gen.Config{Ops: 2000, Keys: 1, Processes: 5, InfoRate: 0.02, FailRate: 0.05}},
		{Config: gen.Config{Ops: 2000, Keys: 1, Processes: 10, Values: 3, InfoRate: 0.05, FailRate: 0.05, MeanLatency: 5_000_000}, hard: true},
		{Config: gen.Config{Ops: 5000, Keys: 10, Processes: 10, InfoRate: 0.01, FailRate: 0.02, NemesisEvery: 5_000_000}},
		{Config: gen.Config{Ops: 3000, Keys: 4, Processes: 20, Values: 10, InfoRate: 0.1}, hard: true},
		{Config: gen.Config{Ops: 3000, Keys: 2, Processes: 10, Values: 1000, InfoRate: 0.1, MeanLatency: 3_000_000}},
	}
	for ci, c := range configs {
		seeds := uint64(5)
		if c.hard {
			seeds = 2
		}
		for seed := range seeds {
			cfg := c.Config
			cfg.Seed = seed
			ops := gen.Register(cfg)
			if len(ops) != cfg.Ops {
				t.Fatalf("config %d seed %d: generated %d ops, want %d", ci, seed, len(ops), cfg.Ops)
			}
			if err := history.Validate(ops); err != nil {
				t.Fatalf("config %d seed %d: generator made an ill-paired history: %v", ci, seed, err)
			}
			r := CheckLinearizable(ops, LinearizableOptions{Timeout: time.Minute})
			if r.Valid != True {
				t.Fatalf("config %d seed %d: %v: %s", ci, seed, r.Valid, r.Summary)
			}
			d := details(t, r)
			if cfg.InfoRate > 0 && d.Ops.Info == 0 {
				t.Errorf("config %d seed %d: no info ops generated", ci, seed)
			}

			// Corrupt the last ok read that returned a value: make it
			// return one no write ever wrote.
			bad := append(h(nil), ops...)
			for i := len(bad) - 1; i >= 0; i-- {
				if bad[i].F == "read" && bad[i].Type == history.OK {
					bad[i].Value = json.RawMessage("-1")
					break
				}
			}
			timeout := time.Minute
			if c.hard {
				timeout = time.Second
			}
			r = CheckLinearizable(bad, LinearizableOptions{Timeout: timeout})
			if r.Valid == True || !c.hard && r.Valid != False {
				t.Fatalf("config %d seed %d: corrupted history: %v: %s", ci, seed, r.Valid, r.Summary)
			}
			if seed == 0 {
				t.Logf("config %d: %s; corrupted: %v", ci, d.Ops.String(), r.Valid)
			}
		}
	}
}

// TestLinearizableJepsenEtcd checks Jepsen's etcd histories, imported from
// jepsen.log files, against the verdicts Porcupine's own tests expect.
func TestLinearizableJepsenEtcd(t *testing.T) {
	want := map[string]Valid{
		"etcd_000.log": False, "etcd_001.log": False, "etcd_003.log": False,
		"etcd_002.log": True, "etcd_005.log": True, "etcd_007.log": True, "etcd_018.log": True, "etcd_025.log": True,
	}
	for file, v := range want {
		ops, err := history.ReadJepsenFile(filepath.Join("testdata", "jepsen", file))
		if err != nil {
			t.Fatal(err)
		}
		r := CheckLinearizable(ops, LinearizableOptions{Timeout: time.Minute})
		if r.Valid != v {
			t.Errorf("%s: %v, want %v: %s", file, r.Valid, v, r.Summary)
		}
	}
}

func TestLinearizableDropsUnobservedInfo(t *testing.T) {
	ops := h{}.
		call(0, "write", "", "1", ok, 0, 10).
		call(1, "write", "", "7", info, 20, 30). // nobody reads 7: left out
		call(2, "write", "", "8", info, 20, 30). // read below, but before: left out
		call(3, "read", "", "8", ok, 0, 15).
		call(4, "cas", "", "[1,9]", info, 20, 30). // 9 is read: kept
		call(5, "read", "", "9", ok, 40, 50)
	r := lin(t, ops, LinearizableOptions{})
	d := details(t, r)
	if d.Ops.Unobserved != 2 {
		t.Errorf("unobserved = %d, want 2", d.Ops.Unobserved)
	}
	// Reading 8 before the write of 8 was invoked is still a violation.
	if r.Valid != False {
		t.Errorf("Valid = %v, want false: %s", r.Valid, r.Summary)
	}
}
