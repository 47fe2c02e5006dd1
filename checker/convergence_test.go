package checker

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultline-io/faultline/history"
)

// convH builds CRDT histories. Every operation gets its own process, so
// invokes and completions pair whatever their order.
type convH []history.Op

// op appends an invoke of f on key at t1 and, unless typ is "", its
// completion at t2 answered by node. For reads value is the result.
func (x convH) op(f, key, value string, typ history.Type, node string, t1, t2 int64) convH {
	return x.opFinal(f, key, value, typ, node, "", t1, t2)
}

func (x convH) opFinal(f, key, value string, typ history.Type, node, final string, t1, t2 int64) convH {
	p := history.Process(len(x))
	in := history.Op{Index: int64(len(x)), Process: p, Type: history.Invoke, F: f, Key: key, Time: t1, Final: final}
	if f != "read" {
		in.Value = json.RawMessage(value)
	}
	x = append(x, in)
	if typ != "" {
		out := history.Op{Index: int64(len(x)), Process: p, Type: typ, F: f, Key: key, Time: t2, Node: node, Final: final}
		if value != "" && (f != "read" || typ == ok) {
			out.Value = json.RawMessage(value)
		}
		x = append(x, out)
	}
	return x
}

// fin appends an ok final read of key on node returning value.
func (x convH) fin(key, node, value string, t1, t2 int64) convH {
	return x.opFinal("read", key, value, ok, node, node, t1, t2)
}

// fins appends ok final reads of key returning value on n1 and n2, at
// 1000-1010 and 1000-1020.
func (x convH) fins(key, value string) convH {
	return x.fin(key, "n1", value, 1000, 1010).fin(key, "n2", value, 1000, 1020)
}

func (x convH) heal(t int64) convH {
	return append(x, history.Op{Index: int64(len(x)), Process: history.Nemesis, Type: info, F: "heal-all", Time: t})
}

func convergence(t *testing.T, ops convH, model string) (Result, ConvergenceDetails) {
	t.Helper()
	r := CheckConvergence(ops, ConvergenceOptions{Model: model, Quiet: 10 * time.Second})
	if r.Checker != "convergence" {
		t.Errorf("Checker = %q", r.Checker)
	}
	var d ConvergenceDetails
	if len(r.Details) > 0 {
		if err := json.Unmarshal(r.Details, &d); err != nil {
			t.Fatalf("details %s: %v", r.Details, err)
		}
	}
	return r, d
}

type convCase struct {
	name  string
	model string
	ops   convH
	// want is the verdict; on False, kinds are the problem kinds of the
	// first failing key, and at is FirstAnomalyTime.
	want  Valid
	kinds []string
	at    int64
}

func runConvCases(t *testing.T, cases []convCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.model+"/"+c.name, func(t *testing.T) {
			r, d := convergence(t, c.ops, c.model)
			if r.Valid != c.want {
				t.Fatalf("Valid = %v, want %v: %s\n%s", r.Valid, c.want, r.Summary, r.Details)
			}
			t.Log(r.Summary)
			if c.want != False {
				if r.FirstAnomalyTime != nil || len(d.Failures) != 0 {
					t.Errorf("no failure expected, got anomaly time %v and %+v", r.FirstAnomalyTime, d.Failures)
				}
				return
			}
			if len(d.Failures) == 0 || d.FailingKeys != len(d.Failures) {
				t.Fatalf("failures = %+v (failing keys %d)", d.Failures, d.FailingKeys)
			}
			var kinds []string
			for _, p := range d.Failures[0].Problems {
				kinds = append(kinds, p.Kind)
				if p.Reason == "" || !strings.Contains(r.Summary, d.Failures[0].Problems[0].Reason) {
					t.Errorf("problem %+v: no reason, or summary %q lacks the first", p, r.Summary)
				}
				if len(p.Ops) == 0 {
					t.Errorf("problem %s cites no op", p.Kind)
				}
			}
			if !slices.Equal(kinds, c.kinds) {
				t.Errorf("kinds = %v, want %v", kinds, c.kinds)
			}
			if r.FirstAnomalyTime == nil || *r.FirstAnomalyTime != c.at {
				t.Errorf("FirstAnomalyTime = %v, want %d", r.FirstAnomalyTime, c.at)
			}
			if !strings.Contains(r.Summary, fmt.Sprintf("key %q", d.Failures[0].Key)) {
				t.Errorf("summary %q does not name key %q", r.Summary, d.Failures[0].Key)
			}
		})
	}
}

func TestConvergenceCounter(t *testing.T) {
	base := convH{}.
		op("add", "c", "5", ok, "n1", 0, 10).
		op("add", "c", "-2", ok, "n2", 20, 30).
		op("add", "c", "100", fail, "n1", 40, 50).
		op("read", "c", "3", ok, "n2", 60, 70) // a read, not an add
	withInfo := func(v string) convH { return slices.Clone(base).op("add", "c", v, info, "n1", 80, 90) }
	pending := slices.Clone(base).op("add", "c", "4", "", "", 80, 0)
	cases := []convCase{
		{name: "ok adds only", model: "counter", ops: slices.Clone(base).fins("c", "3"), want: True},
		{name: "above bound", model: "counter", ops: slices.Clone(base).fins("c", "4"), want: False,
			kinds: []string{"out-of-bounds"}, at: 1000},
		{name: "above bound explained by info add", model: "counter", ops: withInfo("1").fins("c", "4"), want: True},
		{name: "info add not applied", model: "counter", ops: withInfo("1").fins("c", "3"), want: True},
		{name: "above bound even with info add", model: "counter", ops: withInfo("1").fins("c", "5"), want: False,
			kinds: []string{"out-of-bounds"}, at: 1000},
		{name: "below bound", model: "counter", ops: slices.Clone(base).fins("c", "2"), want: False,
			kinds: []string{"out-of-bounds"}, at: 1000},
		{name: "below bound explained by negative info add", model: "counter", ops: withInfo("-1").fins("c", "2"), want: True},
		{name: "a positive info add does not lower the bound", model: "counter", ops: withInfo("1").fins("c", "2"), want: False,
			kinds: []string{"out-of-bounds"}, at: 1000},
		{name: "pending add counts as info", model: "counter", ops: pending.fins("c", "7"), want: True},
		{name: "failed add never counts", model: "counter", ops: slices.Clone(base).fins("c", "103"), want: False,
			kinds: []string{"out-of-bounds"}, at: 1000},
		{name: "disagreement", model: "counter", ops: slices.Clone(base).fin("c", "n1", "3", 1000, 1010).fin("c", "n2", "5", 1000, 1020),
			want: False, kinds: []string{"disagreement"}, at: 1000},
		{name: "unwritten key reads 0", model: "counter", ops: convH{}.fins("z", "0"), want: True},
	}
	runConvCases(t, cases)
}

func TestConvergenceSet(t *testing.T) {
	// 1 added; 2 added and removed; 3 added, removed and added again.
	base := convH{}.
		op("add", "s", "1", ok, "n1", 0, 10).
		op("add", "s", "2", ok, "n1", 0, 10).
		op("remove", "s", "2", ok, "n2", 20, 30).
		op("add", "s", "3", ok, "n1", 0, 10).
		op("remove", "s", "3", ok, "n2", 20, 30).
		op("add", "s", "3", ok, "n3", 40, 50)
	with := func(x convH) convH { return append(slices.Clone(base), x...) }
	cases := []convCase{
		{name: "valid", model: "set", ops: with(nil).fins("s", "[1,3]"), want: True},
		{name: "removed element survives a concurrent remove", model: "set", ops: with(nil).fins("s", "[1,2,3]"), want: True},
		{name: "lost re-add", model: "set", ops: with(nil).fins("s", "[1]"), want: False,
			kinds: []string{"lost-element"}, at: 40},
		{name: "lost add never removed", model: "set", ops: with(nil).fins("s", "[3]"), want: False,
			kinds: []string{"lost-element"}, at: 0},
		{name: "re-add concurrent with the remove may lose", model: "set",
			ops: with(convH{}.op("add", "s", "2", ok, "n1", 25, 35)).fins("s", "[1,3]"), want: True},
		{name: "re-add after the remove completed must stay", model: "set",
			ops: with(convH{}.op("add", "s", "2", ok, "n1", 31, 35)).fins("s", "[1,3]"), want: False,
			kinds: []string{"lost-element"}, at: 31},
		{name: "info remove may remove a later add", model: "set",
			ops: with(convH{}.op("remove", "s", "3", info, "n2", 60, 70)).fins("s", "[1]"), want: True},
		{name: "failed remove removes nothing", model: "set",
			ops: with(convH{}.op("remove", "s", "3", fail, "n2", 60, 70)).fins("s", "[1]"), want: False,
			kinds: []string{"lost-element"}, at: 40},
		{name: "element never added", model: "set", ops: with(nil).fins("s", "[1,3,7]"), want: False,
			kinds: []string{"never-added"}, at: 1000},
		{name: "info add explains an element", model: "set",
			ops: with(convH{}.op("add", "s", "7", info, "n1", 60, 70)).fins("s", "[1,3,7]"), want: True},
		{name: "failed add explains nothing", model: "set",
			ops: with(convH{}.op("add", "s", "7", fail, "n1", 60, 70)).fins("s", "[1,3,7]"), want: False,
			kinds: []string{"never-added"}, at: 1000},
		{name: "both lost and never added", model: "set", ops: with(nil).fins("s", "[3,7]"), want: False,
			kinds: []string{"never-added", "lost-element"}, at: 0},
		{name: "disagreement", model: "set", ops: with(nil).fin("s", "n1", "[1,3]", 1000, 1010).fin("s", "n2", "[1]", 1000, 1020),
			want: False, kinds: []string{"disagreement"}, at: 1000},
	}
	runConvCases(t, cases)
}

func TestConvergenceLWW(t *testing.T) {
	concurrent := convH{}.
		op("write", "r", "1", ok, "n1", 0, 10).
		op("write", "r", "2", ok, "n2", 5, 15)
	sequentialSameNode := convH{}.
		op("write", "r", "1", ok, "n1", 0, 10).
		op("write", "r", "2", ok, "n1", 20, 30)
	// n2 reads 1 over [5,25]; a write on n2 invoked at t saw 1 iff t > 25.
	readThenWrite := func(t int64) convH {
		return convH{}.
			op("write", "r", "1", ok, "n1", 0, 10).
			op("read", "r", "1", ok, "n2", 5, 25).
			op("write", "r", "2", ok, "n2", t, t+10)
	}
	cases := []convCase{
		{name: "concurrent writes, first wins", model: "register", ops: slices.Clone(concurrent).fins("r", "1"), want: True},
		{name: "concurrent writes, second wins", model: "register", ops: slices.Clone(concurrent).fins("r", "2"), want: True},
		{name: "later write on another node may lose", model: "register",
			ops: convH{}.op("write", "r", "1", ok, "n1", 0, 10).op("write", "r", "2", ok, "n2", 20, 30).fins("r", "1"), want: True},
		{name: "observed then lost: own write", model: "register", ops: slices.Clone(sequentialSameNode).fins("r", "1"), want: False,
			kinds: []string{"superseded-value"}, at: 20},
		{name: "later write on the same node wins", model: "register", ops: slices.Clone(sequentialSameNode).fins("r", "2"), want: True},
		{name: "observed then lost: read", model: "register", ops: readThenWrite(26).fins("r", "1"), want: False,
			kinds: []string{"superseded-value"}, at: 26},
		{name: "read still running when the write began", model: "register", ops: readThenWrite(20).fins("r", "1"), want: True},
		{name: "an info write observes nothing", model: "register",
			ops: convH{}.op("write", "r", "1", ok, "n1", 0, 10).op("write", "r", "2", info, "n1", 20, 30).fins("r", "1"), want: True},
		{name: "final reads observe nothing", model: "register",
			ops: convH{}.op("write", "r", "1", ok, "n1", 0, 10).fin("r", "n2", "1", 11, 12).
				op("write", "r", "2", ok, "n2", 20, 30).fins("r", "1"), want: True},
		{name: "a write's Final field is ignored", model: "register",
			ops: convH{}.op("write", "r", "1", ok, "n1", 0, 10).opFinal("write", "r", "2", ok, "n2", "n2", 20, 30).fins("r", "2"), want: True},
		{name: "info write wins", model: "register",
			ops: convH{}.op("write", "r", "1", ok, "n1", 0, 10).op("write", "r", "2", info, "n1", 20, 30).fins("r", "2"), want: True},
		{name: "never written", model: "register", ops: slices.Clone(concurrent).fins("r", "3"), want: False,
			kinds: []string{"never-written"}, at: 1000},
		{name: "failed write never written", model: "register",
			ops: slices.Clone(concurrent).op("write", "r", "3", fail, "n1", 40, 50).fins("r", "3"), want: False,
			kinds: []string{"never-written"}, at: 1000},
		{name: "null after ok writes", model: "register", ops: slices.Clone(concurrent).fins("r", "null"), want: False,
			kinds: []string{"lost-all-writes"}, at: 0},
		{name: "null after info writes only", model: "register",
			ops: convH{}.op("write", "r", "1", info, "n1", 0, 10).fins("r", "null"), want: True},
		{name: "disagreement", model: "register", ops: slices.Clone(concurrent).fin("r", "n1", "1", 1000, 1010).fin("r", "n2", "2", 1000, 1020),
			want: False, kinds: []string{"disagreement"}, at: 1000},
	}
	runConvCases(t, cases)
}

func TestConvergenceMV(t *testing.T) {
	concurrent := convH{}.
		op("write", "m", "1", ok, "n1", 0, 10).
		op("write", "m", "2", ok, "n2", 5, 15)
	sequential := convH{}.
		op("write", "m", "1", ok, "n1", 0, 10).
		op("write", "m", "2", ok, "n2", 20, 30)
	dominated := convH{}.
		op("write", "m", "1", ok, "n1", 0, 10).
		op("read", "m", "[1]", ok, "n2", 15, 20).
		op("write", "m", "2", ok, "n2", 30, 40)
	cases := []convCase{
		{name: "concurrent writes both kept", model: "mv-register", ops: slices.Clone(concurrent).fins("m", "[1,2]"), want: True},
		{name: "overlapping writes, either may supersede", model: "mv-register", ops: slices.Clone(concurrent).fins("m", "[1]"), want: True},
		{name: "overlapping writes, the other way", model: "mv-register", ops: slices.Clone(concurrent).fins("m", "[2]"), want: True},
		{name: "sequential writes on different nodes may both stay", model: "mv-register",
			ops: slices.Clone(sequential).fins("m", "[1,2]"), want: True},
		{name: "later write supersedes", model: "mv-register", ops: slices.Clone(sequential).fins("m", "[2]"), want: True},
		{name: "lost maximal write", model: "mv-register", ops: slices.Clone(sequential).fins("m", "[1]"), want: False,
			kinds: []string{"lost-write"}, at: 20},
		{name: "an info write may supersede", model: "mv-register",
			ops: slices.Clone(sequential).op("write", "m", "3", info, "n1", 40, 50).fins("m", "[1]"), want: True},
		{name: "a failed write supersedes nothing", model: "mv-register",
			ops: slices.Clone(sequential).op("write", "m", "3", fail, "n1", 40, 50).fins("m", "[1]"), want: False,
			kinds: []string{"lost-write"}, at: 20},
		{name: "dominated value survives", model: "mv-register", ops: slices.Clone(dominated).fins("m", "[1,2]"), want: False,
			kinds: []string{"superseded-value"}, at: 30},
		{name: "dominating write alone", model: "mv-register", ops: slices.Clone(dominated).fins("m", "[2]"), want: True},
		{name: "never written", model: "mv-register", ops: slices.Clone(concurrent).fins("m", "[1,2,9]"), want: False,
			kinds: []string{"never-written"}, at: 1000},
		{name: "duplicate value", model: "mv-register", ops: slices.Clone(concurrent).fins("m", "[1,1,2]"), want: False,
			kinds: []string{"duplicate-value"}, at: 1000},
		{name: "empty after ok writes", model: "mv-register", ops: slices.Clone(concurrent).fins("m", "[]"), want: False,
			kinds: []string{"lost-all-writes"}, at: 0},
		{name: "empty after info writes only", model: "mv-register",
			ops: convH{}.op("write", "m", "1", info, "n1", 0, 10).fins("m", "[]"), want: True},
		{name: "order of the read does not matter", model: "mv-register",
			ops: slices.Clone(concurrent).fin("m", "n1", "[2,1]", 1000, 1010).fin("m", "n2", "[1,2]", 1000, 1020), want: True},
		{name: "disagreement", model: "mv-register", ops: slices.Clone(concurrent).fin("m", "n1", "[1,2]", 1000, 1010).fin("m", "n2", "[2]", 1000, 1020),
			want: False, kinds: []string{"disagreement"}, at: 1000},
	}
	runConvCases(t, cases)
}

func TestConvergenceFailureDetails(t *testing.T) {
	ops := convH{}.
		op("write", "r", "1", ok, "n1", 0, 10).  // index 0, 1
		op("write", "r", "2", ok, "n1", 20, 30). // index 2, 3
		fins("r", "1").
		op("write", "a", "5", ok, "n1", 0, 10).
		fin("a", "n1", "5", 1000, 1010).fin("a", "n2", "6", 1000, 1020)
	r, d := convergence(t, ops, "register")
	if r.Valid != False {
		t.Fatalf("Valid = %v: %s", r.Valid, r.Summary)
	}
	if d.FailingKeys != 2 || len(d.Failures) != 2 {
		t.Fatalf("failures = %+v", d.Failures)
	}
	// Earliest anomaly first: r's superseding write at 20, then a's final reads at 1000.
	f := d.Failures[0]
	if f.Key != "r" || string(f.States["n1"]) != "1" || string(f.States["n2"]) != "1" {
		t.Errorf("first failure = %+v", f)
	}
	p := f.Problems[0]
	if len(p.Ops) != 2 || p.Ops[0].Role != "observed" || p.Ops[0].InvokeIndex != 0 || p.Ops[0].CompleteIndex != 1 ||
		p.Ops[1].Role != "superseding write" || p.Ops[1].InvokeIndex != 2 || string(p.Ops[1].Value) != "2" ||
		p.Ops[1].Node != "n1" || p.Ops[1].Complete == nil || *p.Ops[1].Complete != 30 {
		t.Errorf("ops = %+v", p.Ops)
	}
	if !strings.Contains(r.Summary, `key "r"`) || !strings.Contains(r.Summary, "2 of 2 keys failed") {
		t.Errorf("summary = %q", r.Summary)
	}
	g := d.Failures[1]
	if g.Key != "a" || g.Problems[0].Kind != "disagreement" || string(g.States["n2"]) != "6" ||
		!strings.Contains(g.Problems[0].Reason, "n1=5, n2=6") || !strings.Contains(g.Problems[0].Reason, "quiet 10s") {
		t.Errorf("second failure = %+v", g)
	}
	if d.ConvergedAt != nil || d.ConvergenceNanos != nil {
		t.Errorf("a disagreeing history has a convergence time: %v", d.ConvergedAt)
	}
}

func TestConvergenceOpsAreCapped(t *testing.T) {
	var ops convH
	for i := range 30 {
		ops = ops.op("add", "c", "1", info, "n1", int64(i), int64(i)+1)
	}
	ops = ops.fins("c", "31")
	r, d := convergence(t, ops, "counter")
	if r.Valid != False {
		t.Fatalf("Valid = %v: %s", r.Valid, r.Summary)
	}
	p := d.Failures[0].Problems[0]
	if len(p.Ops) != 20 || p.OmittedOps != 11 { // one final state and 30 info adds
		t.Errorf("%d ops, %d omitted", len(p.Ops), p.OmittedOps)
	}
	if !strings.Contains(p.Reason, "above 30") {
		t.Errorf("reason = %q", p.Reason)
	}
}

func TestConvergenceUnknown(t *testing.T) {
	w := convH{}.op("write", "a", "1", ok, "n1", 0, 10).op("write", "b", "2", ok, "n1", 0, 10)
	cases := []struct {
		name    string
		ops     convH
		model   string
		want    Valid
		summary string
		missing map[string][]string
	}{
		{name: "no final reads", ops: w, model: "register", want: Unknown, summary: "no final reads"},
		{name: "node missing a final read", model: "register",
			ops:  slices.Clone(w).fins("a", "1").fin("b", "n1", "2", 1000, 1010),
			want: Unknown, summary: `key "b" has no ok final read on n2`, missing: map[string][]string{"b": {"n2"}}},
		{name: "failed final read is missing", model: "register",
			ops: slices.Clone(w).fins("a", "1").fin("b", "n1", "2", 1000, 1010).
				opFinal("read", "b", "", fail, "n2", "n2", 1000, 1010),
			want: Unknown, summary: `key "b" has no ok final read on n2`, missing: map[string][]string{"b": {"n2"}}},
		{name: "key without final reads", model: "register", ops: slices.Clone(w).fins("a", "1"),
			want: Unknown, summary: `key "b" has no ok final read on n1, n2`, missing: map[string][]string{"b": {"n1", "n2"}}},
		{name: "a failure beats missing reads", model: "register", ops: slices.Clone(w).fins("a", "7"),
			want: False, summary: `key "a": final value 7 was never written`},
		{name: "unknown model", model: "g-counter", ops: slices.Clone(w).fins("a", "1"),
			want: Unknown, summary: `unknown model "g-counter" (known: counter, lww-register, mv-register, register, set)`},
		{name: "f of another workload", model: "counter", ops: slices.Clone(w).fins("a", "1"),
			want: Unknown, summary: `op index 0: f "write" is not an operation of the counter workload`},
		{name: "value of the wrong shape", model: "set", ops: convH{}.op("add", "s", "1", ok, "n1", 0, 10).fins("s", "1"),
			want: Unknown, summary: "op index 3: ok read: value 1, want an array of integers"},
		{name: "null counter", model: "counter", ops: convH{}.fins("c", "null"),
			want: Unknown, summary: "op index 1: ok read: value null, want an integer"},
		{name: "unpaired completion", model: "counter",
			ops:  convH{{Index: 0, Process: 3, Type: ok, F: "add", Key: "c", Value: json.RawMessage("1")}},
			want: Unknown, summary: "op index 0: ok completion with no outstanding invoke of process 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, d := convergence(t, c.ops, c.model)
			if r.Valid != c.want || !strings.Contains(r.Summary, c.summary) {
				t.Fatalf("got %v %q, want %v %q", r.Valid, r.Summary, c.want, c.summary)
			}
			if c.missing != nil {
				got := map[string][]string{}
				for _, in := range d.Incomplete {
					got[in.Key] = in.Missing
				}
				if fmt.Sprint(got) != fmt.Sprint(c.missing) || d.IncompleteKeys != len(c.missing) {
					t.Errorf("incomplete = %v (%d), want %v", got, d.IncompleteKeys, c.missing)
				}
			}
		})
	}
}

func TestConvergenceTime(t *testing.T) {
	ops := convH{}.
		op("add", "a", "3", ok, "n1", 0, 10).
		op("add", "b", "1", ok, "n2", 0, 10).
		heal(500).
		heal(1000). // the last heal counts
		// Round 1: a disagrees on n2, b agrees.
		fin("a", "n1", "3", 1100, 1150).fin("a", "n2", "0", 1100, 1200).
		fin("b", "n1", "1", 1100, 1170).fin("b", "n2", "1", 1100, 1180).
		// Round 2: n2 still behind on a; a failed read changes nothing.
		fin("a", "n1", "3", 1350, 1400).fin("a", "n2", "0", 1350, 1420).
		opFinal("read", "b", "", fail, "n1", "n1", 1350, 1450).
		// Round 3: everyone agrees.
		fin("a", "n1", "3", 1600, 1610).fin("a", "n2", "3", 1600, 1650).
		fin("b", "n1", "1", 1600, 1620).fin("b", "n2", "1", 1600, 1630)
	r, d := convergence(t, ops, "counter")
	if r.Valid != True {
		t.Fatalf("Valid = %v: %s", r.Valid, r.Summary)
	}
	if d.HealTime == nil || *d.HealTime != 1000 || d.FinalPhaseStart != 1000 {
		t.Errorf("heal time = %v, final phase start %d", d.HealTime, d.FinalPhaseStart)
	}
	if d.ConvergedAt == nil || *d.ConvergedAt != 1650 || d.ConvergenceNanos == nil || *d.ConvergenceNanos != 650 {
		t.Errorf("converged at %v after %v, want 1650 after 650", d.ConvergedAt, d.ConvergenceNanos)
	}
	if want := "converged 650ns after heal; 2 keys, 2 nodes"; r.Summary != want {
		t.Errorf("summary = %q, want %q", r.Summary, want)
	}
	if d.FinalReads != 10 || d.Keys != 2 || !slices.Equal(d.Nodes, []string{"n1", "n2"}) {
		t.Errorf("details = %+v", d)
	}

	// A node that showed the final state, lost it and showed it again
	// converged only the second time.
	flip := convH{}.
		op("add", "a", "3", ok, "n1", 0, 10).
		fin("a", "n1", "3", 2000, 2010).fin("a", "n2", "3", 2000, 2020).
		fin("a", "n1", "0", 2300, 2310).fin("a", "n2", "3", 2300, 2320).
		fin("a", "n1", "3", 2600, 2700).fin("a", "n2", "3", 2600, 2620)
	r, d = convergence(t, flip, "counter")
	if r.Valid != True || d.ConvergedAt == nil || *d.ConvergedAt != 2700 {
		t.Errorf("flip: %v %s, converged at %v, want 2700", r.Valid, r.Summary, d.ConvergedAt)
	}
	// Without a heal, time counts from the first final read's invoke.
	if d.HealTime != nil || d.FinalPhaseStart != 2000 || *d.ConvergenceNanos != 700 ||
		!strings.Contains(r.Summary, "converged 700ns after the first final read") {
		t.Errorf("no heal: %s, %+v", r.Summary, d)
	}
}

// TestConvergenceLargeSet checks a long, correct, sequential OR-set history
// with many keys, re-adds and removes in little time.
func TestConvergenceLargeSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const keys, opsPerKey = 500, 100
	var ops convH
	state := make([]map[int64]bool, keys)
	now := int64(0)
	nodes := []string{"n1", "n2", "n3"}
	for i := range keys * opsPerKey {
		k := i % keys
		if state[k] == nil {
			state[k] = map[int64]bool{}
		}
		key := fmt.Sprint("k", k)
		e := int64(rng.IntN(20))
		node := nodes[rng.IntN(len(nodes))]
		now += 10
		switch {
		case rng.IntN(3) == 0:
			ops = ops.op("remove", key, fmt.Sprint(e), ok, node, now, now+5)
			delete(state[k], e)
		case rng.IntN(10) == 0:
			ops = ops.op("add", key, fmt.Sprint(e), info, node, now, now+5) // never took effect
		default:
			ops = ops.op("add", key, fmt.Sprint(e), ok, node, now, now+5)
			state[k][e] = true
		}
	}
	ops = ops.heal(now + 100)
	for k := range keys {
		var es []int64
		for e := range state[k] {
			es = append(es, e)
		}
		slices.Sort(es)
		v, _ := json.Marshal(es)
		if es == nil {
			v = []byte("[]")
		}
		for _, n := range nodes {
			ops = ops.fin(fmt.Sprint("k", k), n, string(v), now+200, now+300)
		}
	}
	start := time.Now()
	r, _ := convergence(t, ops, "set")
	t.Logf("%d ops in %s: %s", len(ops), time.Since(start), r.Summary)
	if r.Valid != True {
		t.Fatalf("Valid = %v: %s", r.Valid, r.Summary)
	}
	// Dropping one element that was added last makes it lost.
	last := ops[len(ops)-1]
	var es []int64
	_ = json.Unmarshal(last.Value, &es)
	if len(es) == 0 {
		t.Skip("last key ended empty")
	}
	for i := len(ops) - 3*2; i < len(ops); i++ {
		if ops[i].Type == ok {
			v, _ := json.Marshal(es[1:])
			ops[i].Value = v
		}
	}
	if r, _ := convergence(t, ops, "set"); r.Valid != False || !strings.Contains(r.Summary, "lost-element") && !strings.Contains(r.Summary, "lacks") {
		t.Errorf("after dropping an element: %v %s", r.Valid, r.Summary)
	}
}

func TestConvergenceImpossibleReads(t *testing.T) {
	adds := convH{}.
		op("add", "c", "5", ok, "n1", 0, 10).
		op("add", "c", "-2", ok, "n2", 20, 30).
		op("add", "c", "4", info, "n1", 40, 50)
	sets := convH{}.
		op("add", "s", "1", ok, "n1", 0, 10).
		op("add", "s", "2", info, "n2", 50, 60)
	cases := []convCase{
		// The read completes at 45, after the info add was invoked (40):
		// it may count it.
		{name: "read counts an add still in flight", model: "counter",
			ops: slices.Clone(adds).op("read", "c", "7", ok, "n1", 35, 45).fins("c", "7"), want: True},
		{name: "read above every add invoked before it", model: "counter",
			ops: slices.Clone(adds).op("read", "c", "8", ok, "n2", 35, 38).fins("c", "7"), want: False,
			kinds: []string{"impossible-read"}, at: 35},
		{name: "read below every add invoked before it", model: "counter",
			ops: slices.Clone(adds).op("read", "c", "-3", ok, "n2", 35, 38).fins("c", "7"), want: False,
			kinds: []string{"impossible-read"}, at: 35},
		{name: "stale read is fine", model: "counter",
			ops: slices.Clone(adds).op("read", "c", "0", ok, "n2", 60, 70).fins("c", "7"), want: True},
		{name: "failed read is not checked", model: "counter",
			ops: slices.Clone(adds).op("read", "c", "99", fail, "n2", 60, 70).fins("c", "7"), want: True},
		{name: "impossible read and out-of-bounds final", model: "counter",
			ops: slices.Clone(adds).op("read", "c", "100", ok, "n2", 60, 70).fins("c", "100"), want: False,
			kinds: []string{"impossible-read", "out-of-bounds"}, at: 60},
		{name: "set read of an element in flight", model: "set",
			ops: slices.Clone(sets).op("read", "s", "[1,2]", ok, "n2", 55, 58).fins("s", "[1,2]"), want: True},
		{name: "set read of an element before its add", model: "set",
			ops: slices.Clone(sets).op("read", "s", "[1,2]", ok, "n2", 30, 40).fins("s", "[1,2]"), want: False,
			kinds: []string{"impossible-read"}, at: 30},
		{name: "set read of an element never added", model: "set",
			ops: slices.Clone(sets).op("read", "s", "[1,7]", ok, "n2", 30, 40).fins("s", "[1]"), want: False,
			kinds: []string{"impossible-read"}, at: 30},
	}
	runConvCases(t, cases)
}
