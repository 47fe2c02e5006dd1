package checker

import (
	"testing"

	"github.com/faultline-io/faultline/history"
)

func nemOp(t int64, f string, value string, errText string) history.Op {
	return history.Op{Process: history.Nemesis, Type: history.Info, F: f, Value: []byte(value), Time: t, Error: errText}
}

func TestFaultsPairsEachFaultWithItsHeal(t *testing.T) {
	ops := []history.Op{
		nemOp(1e9, "kill", `{"nemesis":"kill","select":"leader","nodes":["n2"]}`, ""),
		{Process: 0, Type: history.Invoke, F: "read", Key: "k", Time: 15e8},
		nemOp(2e9, "heal", `{"nemesis":"kill"}`, ""),
		nemOp(3e9, "partition", `{"nemesis":"partition","nodes":["n1","n3"]}`, "n3: no namespace"),
		nemOp(4e9, "heal", `{"nemesis":"partition"}`, ""),
		nemOp(5e9, "start-partition", `"majorities-ring"`, ""), // Jepsen import: no nemesis field
		{Process: 0, Type: history.OK, F: "read", Key: "k", Time: 7e9},
	}
	got := FaultWindows(ops)
	if len(got) != 3 {
		t.Fatalf("%d windows, want 3: %+v", len(got), got)
	}
	if w := got[0]; w.Nemesis != "kill" || w.Start != 1e9 || w.End != 2e9 || !w.Healed || w.Select != "leader" || w.Nodes[0] != "n2" {
		t.Errorf("kill window = %+v", w)
	}
	if w := got[1]; w.Nemesis != "partition" || w.Error != "n3: no namespace" || w.End != 4e9 {
		t.Errorf("partition window = %+v", w)
	}
	if w := got[2]; w.Nemesis != "partition" || w.Healed || w.End != 7e9 {
		t.Errorf("unhealed window should end at the last op: %+v", w)
	}
}

// TestFaultsHealAllEndsEveryWindow: the harness's final heal closes every
// window still open, and neither it nor the target-stats record is a
// fault of its own.
func TestFaultsHealAllEndsEveryWindow(t *testing.T) {
	ops := []history.Op{
		nemOp(1e9, "pause", `{"nemesis":"pause","nodes":["n1"]}`, ""),
		nemOp(2e9, "clock-jump", `{"nemesis":"clock-jump","nodes":["n2"]}`, ""),
		nemOp(3e9, "heal-all", ``, ""),
		{Process: 0, Type: history.Invoke, F: "read", Key: "k", Time: 4e9, Final: "n1"},
		nemOp(5e9, "target-stats", `{"n2":{"in_doubt":1}}`, ""),
		{Process: 0, Type: history.OK, F: "read", Key: "k", Time: 6e9, Final: "n1"},
	}
	got := FaultWindows(ops)
	if len(got) != 2 {
		t.Fatalf("%d windows, want the pause and the clock jump: %+v", len(got), got)
	}
	for _, w := range got {
		if !w.Healed || w.End != 3e9 {
			t.Errorf("window %+v not healed at the heal-all (3s)", w)
		}
	}
}
