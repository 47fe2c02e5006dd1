package report

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/faultline-io/faultline/history"
)

// applied is one node's entry of a clock fault's Params "clocks", as
// nemesis.ClockApplied encodes it; a nil state leaves it out.
func applied(op string, delta, period int64, ppm float64, state *clockState) clockApplied {
	return clockApplied{Request: clockRequest{Op: op, Delta: delta, PPM: ppm, Period: period}, State: state}
}

// clockFault is the nemesis op of a clock fault as the harness records it.
func clockFault(t int64, name string, nodes []string, clocks map[string]clockApplied) history.Op {
	v := map[string]any{"nemesis": name, "select": "all", "seed": 1, "nodes": nodes,
		"params": map[string]any{"clocks": clocks}}
	return history.Op{Process: history.Nemesis, Type: history.Info, F: name, Value: history.MustValue(v), Time: t}
}

func healOp(t int64, name string) history.Op {
	return nemOp(t, "heal", `{"nemesis":"`+name+`"}`, "")
}

func clockOf(t *testing.T, oc clockOffsets, node string) nodeClock {
	t.Helper()
	for _, c := range oc.Nodes {
		if c.Node == node {
			return c
		}
	}
	t.Fatalf("no clock of %s in %+v", node, oc.Nodes)
	return nodeClock{}
}

// wantOffsets checks a node's offset (ns) at test times (ns).
func wantOffsets(t *testing.T, c nodeClock, want map[int64]float64) {
	t.Helper()
	for at, w := range want {
		if got := c.At(at); math.Abs(got-w) > 1 {
			t.Errorf("%s at %.3fs: offset %.0f ns, want %.0f", c.Node, float64(at)/1e9, got, w)
		}
	}
}

// A jump is a step that its heal takes back to 0; a node the history
// names but no fault touched stays at 0.
func TestClockOffsetsJumpThenHeal(t *testing.T) {
	ops := []history.Op{
		{Process: 0, Type: history.Invoke, F: "read", Time: 1e8},
		{Process: 0, Type: history.OK, F: "read", Time: 2e8, Node: "n2"},
		clockFault(1e9, clockJump, []string{"n1"}, map[string]clockApplied{
			"n1": applied("jump", 5e9, 0, 0, &clockState{Offset: 5e9})}),
		healOp(3e9, clockJump),
	}
	oc := clockOffsetsOf(ops)
	if oc.Faults != 1 || len(oc.Nodes) != 2 || len(oc.Notes) != 0 {
		t.Fatalf("offsets = %+v", oc)
	}
	wantOffsets(t, clockOf(t, oc, "n1"), map[int64]float64{0: 0, 0.999e9: 0, 1e9: 5e9, 2e9: 5e9, 2.999e9: 5e9, 3e9: 0, 10e9: 0})
	wantOffsets(t, clockOf(t, oc, "n2"), map[int64]float64{0: 0, 2e9: 0})
	if lo, hi := clockOf(t, oc, "n1").Extremes(10e9); lo != 0 || hi != 5e9 {
		t.Errorf("n1 extremes %v %v", lo, hi)
	}
}

// A drift is a ramp at its rate from the fault on; it is the same whether
// the node's confirmed state is recorded or only the request.
func TestClockOffsetsDrift(t *testing.T) {
	for _, state := range []*clockState{{DriftPPM: 1000}, nil} {
		ops := []history.Op{
			clockFault(1e9, clockDrift, []string{"n1"}, map[string]clockApplied{"n1": applied("drift", 0, 0, 1000, state)}),
			healOp(5e9, clockDrift),
		}
		c := clockOf(t, clockOffsetsOf(ops), "n1")
		// 1000 ppm: 1 ms per second.
		wantOffsets(t, c, map[int64]float64{0.5e9: 0, 1e9: 0, 2e9: 1e6, 3e9: 2e6, 4.5e9: 3.5e6, 5e9: 0, 6e9: 0})
		if lo, hi := c.Extremes(10e9); lo != 0 || hi != 4e6 {
			t.Errorf("extremes %v %v, want 0 and 4ms", lo, hi)
		}
	}
}

// Faults of several clock nemeses overlap on two nodes and compose as the
// seam composes them; the heal of one nemesis resets only the nodes it
// skewed (their whole clock), and heal-all resets the rest.
func TestClockOffsetsOverlapOnTwoNodes(t *testing.T) {
	ops := []history.Op{
		clockFault(1e9, clockJump, []string{"n1", "n2"}, map[string]clockApplied{
			"n1": applied("jump", 2e9, 0, 0, &clockState{Offset: 2e9}),
			"n2": applied("jump", -1e9, 0, 0, &clockState{Offset: -1e9})}),
		clockFault(2e9, clockDrift, []string{"n2"}, map[string]clockApplied{
			"n2": applied("drift", 0, 0, 500, &clockState{Offset: -1e9, DriftPPM: 500})}),
		// The strobe is recorded as a request only: applied on top of the jump.
		clockFault(3e9, clockStrobe, []string{"n1"}, map[string]clockApplied{
			"n1": applied("strobe", 1e9, 100e6, 0, nil)}),
		healOp(4e9, clockDrift),
		nemOp(6e9, "heal-all", "", ""),
	}
	oc := clockOffsetsOf(ops)
	if oc.Faults != 3 {
		t.Fatalf("%d clock faults, want 3", oc.Faults)
	}
	wantOffsets(t, clockOf(t, oc, "n1"), map[int64]float64{
		1.5e9: 2e9,
		// Ahead by the strobe's delta in even periods from 3 s, not in odd ones.
		3e9: 3e9, 3.05e9: 3e9, 3.1e9: 2e9, 3.15e9: 2e9, 3.2e9: 3e9, 5.05e9: 3e9, 5.15e9: 2e9,
		// The drift's heal leaves n1 alone; heal-all resets it.
		6e9: 0, 7e9: 0,
	})
	wantOffsets(t, clockOf(t, oc, "n2"), map[int64]float64{
		1.5e9: -1e9, 2e9: -1e9,
		3e9: -1e9 + 0.5e6, 3.5e9: -1e9 + 0.75e6,
		// The seam has one reset: the drift's heal undoes the jump too.
		4e9: 0, 5e9: 0, 7e9: 0,
	})
	if lo, hi := clockOf(t, oc, "n1").Extremes(10e9); lo != 0 || hi != 3e9 {
		t.Errorf("n1 extremes %v %v, want 0 and 3s", lo, hi)
	}
}

// clock-reset takes the nodes it names back to 0; a node that was down,
// one the fault missed and a heal that failed are noted.
func TestClockOffsetsResetAndNotes(t *testing.T) {
	jump := clockFault(1e9, clockJump, []string{"n1", "n2", "n3"}, map[string]clockApplied{
		"n1": applied("jump", 1e9, 0, 0, &clockState{Offset: 1e9})})
	var v map[string]any
	if err := json.Unmarshal(jump.Value, &v); err != nil {
		t.Fatal(err)
	}
	v["params"].(map[string]any)["deferred"] = []string{"n3"}
	jump.Value, jump.Error = history.MustValue(v), "clock-jump: [n2: refused]"
	heal := healOp(5e9, clockJump)
	heal.Error = "heal clock-jump: n2: <b>refused</b>"
	ops := []history.Op{
		jump,
		clockFault(2e9, clockReset, []string{"n1", "n2", "n3"}, map[string]clockApplied{
			"n1": applied("reset", 0, 0, 0, &clockState{}), "n2": applied("reset", 0, 0, 0, &clockState{}),
			"n3": applied("reset", 0, 0, 0, &clockState{})}),
		heal,
	}
	oc := clockOffsetsOf(ops)
	wantOffsets(t, clockOf(t, oc, "n1"), map[int64]float64{1.5e9: 1e9, 2e9: 0, 3e9: 0})
	notes := strings.Join(oc.Notes, "\n")
	for _, want := range []string{"clock-jump at 1.000s: n3 down", "clock-jump at 1.000s not applied on n2: clock-jump: [n2: refused]",
		"the heal of clock-jump at 5.000s reported an error"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
}

// The report plots the offsets of a run with clock faults, with a table
// per node; a run without says so in one line instead of a plot.
func TestReportShowsClockOffsets(t *testing.T) {
	client := []history.Op{
		{Process: 0, Type: history.Invoke, F: "read", Time: 1e8},
		{Process: 0, Type: history.OK, F: "read", Time: 2e8, Node: "<script>alert(1)</script>"},
	}
	render := func(ops []history.Op) string {
		var buf bytes.Buffer
		if err := Render(&buf, Run{Dir: "d", Ops: ops}); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	const none = "<p>no clock faults: every node's clock followed the host's</p>"
	out := render(client)
	mustContain(t, out, `<h2 id="clocks">Clock offsets</h2>`, none)
	if strings.Contains(out, "clock offset from the host clock over test time") {
		t.Error("a run without clock faults has a clock plot")
	}

	ops := append(client,
		clockFault(1e9, clockJump, []string{"n1"}, map[string]clockApplied{"n1": applied("jump", 5e9, 0, 0, &clockState{Offset: 5e9})}),
		// A strobe too fast for the plot: drawn as a band, and noted.
		clockFault(1.5e9, clockStrobe, []string{"n2"}, map[string]clockApplied{"n2": applied("strobe", -2e9, 10e6, 0, &clockState{StrobeDelta: -2e9, StrobePeriod: 10e6})}),
		healOp(3e9, clockJump), healOp(3e9, clockStrobe),
		history.Op{Process: 1, Type: history.Invoke, F: "read", Time: 4e9},
		history.Op{Process: 1, Type: history.OK, F: "read", Time: 4.1e9, Node: "n1"},
	)
	out = render(ops)
	if strings.Contains(out, none) {
		t.Error("a run with clock faults says it had none")
	}
	if strings.Contains(out, "<script>alert") {
		t.Error("report contains an unescaped script tag")
	}
	mustContain(t, out,
		`<img alt="each node's clock offset from the host clock over test time, as the clock nemeses applied it, fault windows shaded" src="data:image/svg`,
		`<tr><td>n1</td><td class="n">&#43;5.000s</td><td class="n">-</td><td class="n">2</td></tr>`,
		`<tr><td>n2</td><td class="n">-</td><td class="n">-2.000s</td><td class="n">2</td></tr>`,
		`<tr><td>&lt;script&gt;alert(1)&lt;/script&gt;</td><td class="n">-</td><td class="n">-</td><td class="n">0</td></tr>`,
		"<p>Clock faults in the run: 2.",
		"strobes too fast to draw are bands from the offset to the offset plus the strobe&#39;s delta: n2 -2s every 10ms from 1.500s")
}
