package checker

import (
	"encoding/json"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/faultline-io/faultline/history"
)

// Bank histories below use 3 accounts of 10 (a total of 30).
var smallBank = BankOptions{Accounts: 3, InitialBalance: 10, Timeout: 10 * time.Second}

func xfer(p history.Process, t int64, from, to, amount int) history.Op {
	return history.Op{Process: p, Type: history.Invoke, F: "transfer", Time: t,
		Value: history.MustValue(map[string]int{"from": from, "to": to, "amount": amount})}
}

func xferDone(p history.Process, t int64, typ history.Type, errText string) history.Op {
	return history.Op{Process: p, Type: typ, F: "transfer", Time: t, Error: errText}
}

func bankRead(p history.Process, t int64) history.Op {
	return history.Op{Process: p, Type: history.Invoke, F: "read", Time: t, Node: "n1"}
}

func bankReadOK(p history.Process, t int64, balances ...int64) history.Op {
	return history.Op{Process: p, Type: history.OK, F: "read", Time: t, Node: "n1", Value: history.MustValue(balances)}
}

// finalRead is an ok final read of node's state, invoked at t, done at t+5.
func finalRead(p history.Process, t int64, node string, balances ...int64) []history.Op {
	inv := bankRead(p, t)
	inv.Final, inv.Node = node, node
	ok := bankReadOK(p, t+5, balances...)
	ok.Final, ok.Node = node, node
	return []history.Op{inv, ok}
}

func targetStats(t int64, v string) history.Op {
	return history.Op{Process: history.Nemesis, Type: history.Info, F: TargetStatsF, Time: t, Value: json.RawMessage(v)}
}

// indexed concatenates groups of ops and numbers them.
func indexed(groups ...[]history.Op) []history.Op {
	var ops []history.Op
	for _, g := range groups {
		ops = append(ops, g...)
	}
	for i := range ops {
		ops[i].Index = int64(i)
	}
	return ops
}

func bankDetails(t *testing.T, r Result) BankDetails {
	t.Helper()
	var d BankDetails
	if err := json.Unmarshal(r.Details, &d); err != nil {
		t.Fatalf("details %s: %v", r.Details, err)
	}
	return d
}

func TestCheckBank(t *testing.T) {
	ops := func(o ...history.Op) []history.Op { return o }
	cases := []struct {
		name    string
		ops     []history.Op
		want    Valid
		summary []string // substrings of the summary
		anomaly int64    // FirstAnomalyTime when want is False
		check   func(t *testing.T, d BankDetails)
	}{{
		name: "valid",
		ops: indexed(ops(
			xfer(0, 0, 0, 1, 5), xferDone(0, 10, history.OK, ""),
			bankRead(1, 20), bankReadOK(1, 30, 5, 15, 10),
			xfer(0, 31, 1, 2, 20), xferDone(0, 35, history.Fail, "insufficient"),
			xfer(2, 32, 2, 0, 3), xferDone(2, 36, history.Info, ""),
			bankRead(1, 40), bankReadOK(1, 45, 8, 15, 7),
		), finalRead(3, 50, "n1", 8, 15, 7), finalRead(4, 51, "n2", 8, 15, 7)),
		want: True,
		summary: []string{"4 ok reads conserve the total 30", "final reads agree on 2 nodes", "linearizable (6 operations)",
			"transfers 1 ok, 1 fail, 1 info", "no target stats"},
		check: func(t *testing.T, d BankDetails) {
			if d.Transfers.FailErrors["insufficient"] != 1 || d.Reads.OK != 4 || !d.Final.Agree {
				t.Errorf("details %+v", d)
			}
		},
	}, {
		name: "read not conserved",
		ops: indexed(ops(
			xfer(0, 0, 0, 1, 5), xferDone(0, 10, history.OK, ""),
			bankRead(1, 20), bankReadOK(1, 30, 5, 16, 10),
		)),
		want:    False,
		summary: []string{"1 of 1 ok reads impossible: the read at index 2 (node n1, time 20ns) returned [5,16,10]: sums to 31, want 30"},
		anomaly: 20,
		check: func(t *testing.T, d BankDetails) {
			if d.BadReadCount != 1 || *d.BadReads[0].Sum != 31 || d.BadReads[0].Node != "n1" || d.BadReads[0].InvokeIndex != 2 {
				t.Errorf("bad reads %+v", d.BadReads)
			}
		},
	}, {
		name: "negative balance",
		ops: indexed(ops(
			bankRead(1, 20), bankReadOK(1, 30, -1, 21, 10),
		)),
		want:    False,
		summary: []string{"account 0 has balance -1"},
		anomaly: 20,
	}, {
		name: "wrong number of balances",
		ops: indexed(ops(
			bankRead(1, 20), bankReadOK(1, 30, 10, 20),
		)),
		want:    False,
		summary: []string{"returned 2 balances, want 3"},
		anomaly: 20,
	}, {
		name: "not an array",
		ops: indexed(ops(
			bankRead(1, 20), history.Op{Process: 1, Type: history.OK, F: "read", Time: 30, Value: json.RawMessage(`{"0":10}`)},
		)),
		want:    False,
		summary: []string{"not an array of integers"},
		anomaly: 20,
	}, {
		// The info transfer may have applied between the two final reads,
		// which overlap, so the history is linearizable; the nodes still
		// disagree at the end.
		name: "final reads disagree",
		ops: indexed(ops(
			xfer(0, 0, 0, 1, 5), xferDone(0, 10, history.Info, ""),
		), finalRead(3, 40, "n1", 5, 15, 10), finalRead(4, 42, "n2", 10, 10, 10)),
		want:    False,
		summary: []string{"final reads disagree: n1=[5,15,10], n2=[10,10,10]", "linearizable (3 operations)"},
		anomaly: 40,
		check: func(t *testing.T, d BankDetails) {
			if d.Final.Agree || !d.Final.Checked || string(d.Final.Balances["n2"]) != "[10,10,10]" {
				t.Errorf("final %+v", d.Final)
			}
		},
	}, {
		name: "no final reads",
		ops: indexed(ops(
			xfer(0, 0, 0, 1, 5), xferDone(0, 10, history.OK, ""),
		)),
		want:    True,
		summary: []string{"final reads not checked: none completed ok"},
	}, {
		// Each read is conserved, but the second one undoes a transfer
		// the first one saw.
		name: "not linearizable",
		ops: indexed(ops(
			xfer(0, 0, 0, 1, 5), xferDone(0, 10, history.OK, ""),
			bankRead(1, 20), bankReadOK(1, 30, 5, 15, 10),
			bankRead(1, 40), bankReadOK(1, 50, 10, 10, 10),
		)),
		want:    False,
		summary: []string{"not linearizable: read() → [10,10,10] by process 1 (invoke at index 4) cannot be linearized"},
		anomaly: 40,
		check: func(t *testing.T, d BankDetails) {
			if d.BadReadCount != 0 || d.Linearizable.Valid != False || d.Linearizable.Stuck.CompletionIndex != 5 {
				t.Errorf("details %+v", d)
			}
		},
	}, {
		name: "read sees a transfer that failed",
		ops: indexed(ops(
			xfer(0, 0, 0, 1, 5), xferDone(0, 10, history.Fail, "conflict"),
			bankRead(1, 20), bankReadOK(1, 30, 5, 15, 10),
		)),
		want:    False,
		summary: []string{"not linearizable"},
		anomaly: 20,
	}, {
		name: "info transfer explains a read",
		ops: indexed(ops(
			xfer(0, 0, 0, 1, 5), xferDone(0, 10, history.Info, ""),
			bankRead(1, 20), bankReadOK(1, 30, 5, 15, 10),
			bankRead(1, 40), bankReadOK(1, 50, 5, 15, 10),
		)),
		want:    True,
		summary: []string{"linearizable (3 operations)", "transfers 0 ok, 0 fail, 1 info"},
	}, {
		name: "never-completed transfer explains a read",
		ops: indexed(ops(
			xfer(0, 0, 2, 1, 5),
			bankRead(1, 20), bankReadOK(1, 30, 10, 15, 5),
		)),
		want:    True,
		summary: []string{"transfers 0 ok, 0 fail, 0 info, 1 never completed"},
	}, {
		// Account 0 holds 10: an ok transfer of 15 cannot have happened.
		name: "ok transfer overdraws",
		ops: indexed(ops(
			xfer(0, 0, 0, 1, 15), xferDone(0, 10, history.OK, ""),
		)),
		want:    False,
		summary: []string{"not linearizable: transfer(0 → 1, 15) by process 0"},
		anomaly: 0,
	}, {
		// Two ok debits of 6 from 10 only fit if an info credit came first.
		name: "info transfer enables an ok transfer",
		ops: indexed(ops(
			xfer(2, 0, 2, 0, 4), xferDone(2, 5, history.Info, ""),
			xfer(0, 10, 0, 1, 6), xferDone(0, 20, history.OK, ""),
			xfer(0, 30, 0, 1, 6), xferDone(0, 40, history.OK, ""),
		)),
		want: True,
	}, {
		name: "unknown transfers nothing follows are left out",
		ops: indexed(ops(
			bankRead(1, 0), bankReadOK(1, 5, 10, 10, 10),
			xfer(0, 10, 0, 1, 5), xferDone(0, 20, history.Info, ""),
			xfer(2, 11, 1, 2, 5),
		)),
		want: True,
		check: func(t *testing.T, d BankDetails) {
			if d.Linearizable.Dropped != 2 || d.Linearizable.Ops != 1 {
				t.Errorf("linearizable %+v, want 2 dropped and 1 checked", d.Linearizable)
			}
		},
	}, {
		name: "target stats",
		ops: indexed(ops(
			xfer(0, 0, 0, 1, 5), xferDone(0, 10, history.OK, ""),
			targetStats(20, `{"n2": {"in_doubt": 2, "blocked_ns": [1000000000, 3000000000], "decided": 10},
				"n3": {"in_doubt": 9, "blocked_ns": [], "decided": 1}}`),
			// A later report of a node replaces the earlier one.
			targetStats(30, `{"n3": {"in_doubt": 1, "blocked_ns": [2000000000], "decided": 5}}`),
		)),
		want:    True,
		summary: []string{"participants blocked in doubt 3 times: p50 2.00s p99 3.00s max 3.00s (3 still in doubt at the end)"},
		check: func(t *testing.T, d BankDetails) {
			want := &BankTargetStats{InDoubt: 3, Decided: 15, BlockedCount: 3,
				Blocked: Latency{P50: 2e9, P99: 3e9, Max: 3e9},
				Nodes: map[string]BankNodeStats{
					"n2": {InDoubt: 2, BlockedNanos: []int64{1e9, 3e9}, Decided: 10},
					"n3": {InDoubt: 1, BlockedNanos: []int64{2e9}, Decided: 5},
				}}
			if !reflect.DeepEqual(d.Target, want) || d.TargetNote != "" {
				t.Errorf("target %+v (%q)\nwant %+v", d.Target, d.TargetNote, want)
			}
		},
	}, {
		name: "target stats without blocking",
		ops: indexed(ops(
			targetStats(20, `{"n2": {"in_doubt": 0, "blocked_ns": [], "decided": 4}}`),
		)),
		want:    True,
		summary: []string{"no participant blocked in doubt (0 still in doubt at the end)"},
	}, {
		name: "unreadable target stats",
		ops: indexed(ops(
			targetStats(20, `[1, 2]`),
		)),
		want:    True,
		summary: []string{"target stats at op index 0 unreadable"},
	}, {
		name:    "unpaired completion",
		ops:     indexed(ops(xferDone(0, 10, history.OK, ""))),
		want:    Unknown,
		summary: []string{"cannot check the history: op index 0: ok of process 0 has no outstanding invoke"},
	}, {
		name:    "transfer to itself",
		ops:     indexed(ops(xfer(0, 0, 1, 1, 5), xferDone(0, 10, history.OK, ""))),
		want:    Unknown,
		summary: []string{"op index 0: transfer of", "two distinct accounts in [0, 3)"},
	}, {
		name: "transfer value of the wrong shape",
		ops: indexed(ops(history.Op{Process: 0, Type: history.Invoke, F: "transfer", Value: json.RawMessage(`[0, 1, 5]`)},
			xferDone(0, 10, history.OK, ""))),
		want:    Unknown,
		summary: []string{`want {"from":a,"to":b,"amount":x}`},
	}, {
		name:    "foreign op",
		ops:     indexed(ops(history.Op{Process: 0, Type: history.Invoke, F: "write", Value: json.RawMessage(`1`)})),
		want:    Unknown,
		summary: []string{`f "write" is not a bank operation`},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := CheckBank(c.ops, smallBank)
			t.Log(r.Summary)
			if r.Checker != "bank" || r.Valid != c.want {
				t.Fatalf("%s %v: %s; want %v", r.Checker, r.Valid, r.Summary, c.want)
			}
			for _, s := range c.summary {
				if !strings.Contains(r.Summary, s) {
					t.Errorf("summary %q lacks %q", r.Summary, s)
				}
			}
			switch {
			case c.want == False && (r.FirstAnomalyTime == nil || *r.FirstAnomalyTime != c.anomaly):
				t.Errorf("first anomaly time %v, want %d", r.FirstAnomalyTime, c.anomaly)
			case c.want != False && r.FirstAnomalyTime != nil:
				t.Errorf("first anomaly time %d on a %v history", *r.FirstAnomalyTime, c.want)
			}
			if c.check != nil {
				c.check(t, bankDetails(t, r))
			}
		})
	}
}

// A long valid history: workers transferring and reading in turn, every
// fifth transfer info; it stays linearizable and conserved.
func TestCheckBankLongValid(t *testing.T) {
	bal := []int64{10, 10, 10}
	var ops []history.Op
	tm := int64(0)
	for i := range 2000 {
		p := history.Process(i % 5)
		tm += 10
		if i%2 == 0 {
			ops = append(ops, bankRead(p, tm), bankReadOK(p, tm+5, bal...))
			continue
		}
		from, to := i%3, (i+1)%3
		ops = append(ops, xfer(p, tm, from, to, 1+i%5))
		switch {
		case bal[from] < int64(1+i%5):
			ops = append(ops, xferDone(p, tm+5, history.Fail, "insufficient"))
		case i%5 == 0:
			// Applied, but the client timed out: info.
			bal[from] -= int64(1 + i%5)
			bal[to] += int64(1 + i%5)
			ops = append(ops, xferDone(p, tm+5, history.Info, ""))
		default:
			bal[from] -= int64(1 + i%5)
			bal[to] += int64(1 + i%5)
			ops = append(ops, xferDone(p, tm+5, history.OK, ""))
		}
	}
	ops = indexed(ops)
	r := CheckBank(ops, smallBank)
	if r.Valid != True {
		t.Fatalf("%v: %s", r.Valid, r.Summary)
	}
}

// Forty info transfers of an even amount out of account 0, then a read
// whose balances are conserved but need an odd amount moved: no subset
// explains it, and Porcupine cannot rule them all out before a tiny
// timeout. The verdict is Unknown, never true.
func TestCheckBankTimeout(t *testing.T) {
	var ops []history.Op
	for i := range 40 {
		p := history.Process(i)
		ops = append(ops, xfer(p, int64(i), 0, 1+i%2, 2), xferDone(p, int64(100+i), history.Info, ""))
	}
	ops = append(ops, bankRead(100, 200), bankReadOK(100, 210, 99, 101, 100))
	ops = indexed(ops)
	o := BankOptions{Accounts: 3, InitialBalance: 100, Timeout: 50 * time.Millisecond}
	r := CheckBank(ops, o)
	if r.Valid != Unknown || !strings.Contains(r.Summary, "linearizability unknown: timed out after 50ms") {
		t.Fatalf("%v: %s; want unknown after a timeout", r.Valid, r.Summary)
	}
	if r.FirstAnomalyTime != nil {
		t.Errorf("first anomaly time %d on an undecided history", *r.FirstAnomalyTime)
	}
	if d := bankDetails(t, r); d.Linearizable.Valid != Unknown || d.Linearizable.Ops != 41 {
		t.Errorf("linearizable %+v", d.Linearizable)
	}
	// A negative timeout has expired already.
	o.Timeout = -1
	if r := CheckBank(indexed(ops[80:]), o); r.Valid != Unknown {
		t.Errorf("expired timeout: %v: %s", r.Valid, r.Summary)
	}
}

func TestCheckBankDefaultsAndRun(t *testing.T) {
	ops := indexed([]history.Op{bankRead(0, 0), bankReadOK(0, 5, 100, 100, 100, 100, 100, 100, 100, 100)})
	rs, err := Run([]string{"bank"}, ops, Options{})
	if err != nil || rs.Valid != True {
		t.Fatalf("Run: %v %+v", err, rs)
	}
	d := bankDetails(t, rs.Results[0])
	if d.Accounts != DefaultBankAccounts || d.InitialBalance != DefaultBankInitialBalance || d.Total != 800 {
		t.Errorf("defaults: %+v", d)
	}
}

// settleHistory: 30 info transfers of 1, 2, 4, ... 2^29 from account 0 to
// 1, the odd-numbered ones applied, with reads between them showing
// exactly that, then final reads of the applied state on two nodes
// (overlapping, as the harness's rounds do). Only one subset of the info
// transfers sums to the final state.
func settleHistory(lie bool) []history.Op {
	const n = 30
	bal := []int64{1 << n, 1 << n}
	var ops []history.Op
	tm := int64(0)
	for i := range n {
		p := history.Process(i)
		tm += 10
		ops = append(ops, xfer(p, tm, 0, 1, 1<<i), xferDone(p, tm+5, history.Info, ""))
		if i%2 == 1 {
			bal[0] -= 1 << i
			bal[1] += 1 << i
		}
		tm += 10
		r := history.Process(1000 + i)
		ops = append(ops, bankRead(r, tm), bankReadOK(r, tm+5, bal...))
	}
	final := append([]int64(nil), bal...)
	if lie { // a final state no subset explains after what the reads saw
		final[0], final[1] = final[0]+1, final[1]-1
	}
	ops = append(ops, finalRead(5000, tm+100, "n1", final...)...)
	ops = append(ops, finalRead(5001, tm+101, "n2", final...)...)
	return indexed(ops)
}

// TestCheckBankSettlesInfoTransfers: the last reads decide which info
// transfers happened, so a history whose search would otherwise try 2^30
// placements is decided, both ways.
func TestCheckBankSettlesInfoTransfers(t *testing.T) {
	o := BankOptions{Accounts: 2, InitialBalance: 1 << 30, Timeout: 20 * time.Second}
	r := CheckBank(settleHistory(false), o)
	if r.Valid != True {
		t.Fatalf("%v: %s", r.Valid, r.Summary)
	}
	if d := bankDetails(t, r); d.Linearizable.Settled != 30 || d.Linearizable.Dropped != 15 {
		t.Errorf("settled %d, dropped %d; want 30 settled, the 15 not applied dropped", d.Linearizable.Settled, d.Linearizable.Dropped)
	}
	r = CheckBank(settleHistory(true), o)
	if r.Valid != False {
		t.Fatalf("a final state off by one: %v: %s", r.Valid, r.Summary)
	}
}

// TestCheckBankInfoTransfersThatDidNotHappen: sixty info transfers that
// never took effect (a correct 2PC coordinator killed mid-transaction
// presumes abort), among ok transfers and reads: the pass that leaves every
// unknown transfer out finds a linearization, so the verdict is true
// without the search over where each could have taken effect. Had one of
// them been needed, that pass fails and the full search decides (the
// settle and long-valid tests).
func TestCheckBankInfoTransfersThatDidNotHappen(t *testing.T) {
	bal := []int64{100, 100, 100}
	var ops []history.Op
	tm := int64(0)
	for i := range 300 {
		p := history.Process(i)
		tm += 10
		switch i % 5 {
		case 0, 2:
			ops = append(ops, xfer(p, tm, i%3, (i+1)%3, 1+i%7), xferDone(p, tm+5, history.Info, ""))
		case 1:
			from, to, amount := i%3, (i+2)%3, int64(1+i%4)
			bal[from] -= amount
			bal[to] += amount
			ops = append(ops, xfer(p, tm, from, to, int(amount)), xferDone(p, tm+5, history.OK, ""))
		default:
			ops = append(ops, bankRead(p, tm), bankReadOK(p, tm+5, bal...))
		}
	}
	o := BankOptions{Accounts: 3, InitialBalance: 100, Timeout: 4 * time.Second}
	r := CheckBank(indexed(ops), o)
	if r.Valid != True {
		t.Fatalf("%v: %s", r.Valid, r.Summary)
	}
	if d := bankDetails(t, r); d.Linearizable.Settled != 120 || d.Transfers.Info != 120 {
		t.Errorf("linearizable %+v, transfers %+v; want all 120 info transfers settled", d.Linearizable, d.Transfers)
	}
}

// TestCheckBankFinalState: the last final read must be the initial
// balances plus every ok transfer plus a subset of the unknown ones. That
// decides a lost acknowledged transfer (and a failed one that took
// effect) without the search: the linearizability budget here is too
// small to decide anything.
func TestCheckBankFinalState(t *testing.T) {
	o := BankOptions{Accounts: 3, InitialBalance: 10, Timeout: time.Nanosecond}
	base := func(typ history.Type) []history.Op {
		return []history.Op{
			xfer(0, 0, 0, 1, 4), xferDone(0, 10, typ, ""),
			xfer(1, 20, 1, 2, 3), xferDone(1, 30, history.Info, ""),
			xfer(2, 40, 2, 0, 5), xferDone(2, 50, history.Info, ""),
		}
	}
	for _, c := range []struct {
		name      string
		typ       history.Type
		final     []int64
		explained bool
	}{
		{"ok applied, one info applied", history.OK, []int64{6, 11, 13}, true},
		{"ok applied, both info applied", history.OK, []int64{11, 11, 8}, true},
		{"ok transfer lost", history.OK, []int64{10, 10, 10}, false},
		{"ok lost, an info in its place", history.OK, []int64{10, 7, 13}, false},
		{"failed transfer took effect", history.Fail, []int64{6, 14, 10}, false},
		{"failed transfer did not", history.Fail, []int64{15, 10, 5}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			ops := indexed(base(c.typ), finalRead(10, 100, "n1", c.final...), finalRead(11, 101, "n2", c.final...))
			r := CheckBank(ops, o)
			fs := bankDetails(t, r).FinalState
			if !fs.Checked || fs.Explained != c.explained || fs.Unknown != 2 || fs.Node != "n2" {
				t.Fatalf("final state %+v, want checked, explained %v", fs, c.explained)
			}
			switch {
			case c.explained && r.Valid == False:
				t.Fatalf("%v: %s", r.Valid, r.Summary)
			case !c.explained && (r.Valid != False || !strings.Contains(r.Summary, "an acknowledged transfer was lost") ||
				r.FirstAnomalyTime == nil || *r.FirstAnomalyTime != 101):
				t.Fatalf("%v: %s", r.Valid, r.Summary)
			}
		})
	}
	// A transfer still running when the final read began: not checked.
	ops := indexed([]history.Op{xfer(0, 0, 0, 1, 4)}, finalRead(10, 100, "n1", 10, 10, 10), []history.Op{xferDone(0, 200, history.OK, "")})
	if fs := bankDetails(t, CheckBank(ops, o)).FinalState; fs.Checked || !strings.Contains(fs.Why, "after the final read began") {
		t.Fatalf("final state %+v", fs)
	}
}

// unsettledInfoTransfers: n info transfers of 2 out of account 0 of 3
// accounts of 100, then a read whose balances are conserved but need an
// odd amount moved (TestCheckBankTimeout's history): no subset explains
// it, so the search tries every placement of every transfer, and its cache
// grows by tens of megabytes a second.
func unsettledInfoTransfers(n int) []history.Op {
	var ops []history.Op
	for i := range n {
		p := history.Process(i)
		ops = append(ops, xfer(p, int64(i), 0, 1+i%2, 2), xferDone(p, int64(100+i), history.Info, ""))
	}
	ops = append(ops, bankRead(1000, 200), bankReadOK(1000, 210, 99, 101, 100))
	return indexed(ops)
}

// TestCheckBankMemoryBudgetTiny: a 1 MB budget is passed before the search
// starts: the verdict is Unknown with the reason, at once, never false.
func TestCheckBankMemoryBudgetTiny(t *testing.T) {
	start := time.Now()
	r := CheckBank(unsettledInfoTransfers(40), BankOptions{Accounts: 3, InitialBalance: 100, Timeout: time.Minute, MemoryBudget: 1e6})
	d := bankDetails(t, r)
	if r.Valid != Unknown || !strings.Contains(r.Summary, "linearizability unknown: memory budget 1MB exceeded (heap ") {
		t.Fatalf("%v: %s; want unknown with the memory reason", r.Valid, r.Summary)
	}
	if l := d.Linearizable; l.Valid != Unknown || !strings.HasPrefix(l.Memory, "memory budget 1MB exceeded") || l.MemoryBudget != "1MB" ||
		l.Ops != 41 || l.PeakHeap == 0 {
		t.Errorf("linearizable %+v", l)
	}
	if r.FirstAnomalyTime != nil {
		t.Errorf("first anomaly time %d on an undecided history", *r.FirstAnomalyTime)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("took %v", el)
	}
}

// TestCheckBankMemoryBudgetStopsRunningSearch: room for the history and a
// start, not for the search over forty info transfers: the budget, not the
// minute's timeout, ends it.
func TestCheckBankMemoryBudgetStopsRunningSearch(t *testing.T) {
	ops := unsettledInfoTransfers(40)
	runtime.GC()
	budget := int64(readHeap()) + 48<<20
	start := time.Now()
	r := CheckBank(ops, BankOptions{Accounts: 3, InitialBalance: 100, Timeout: time.Minute, MemoryBudget: budget})
	el := time.Since(start)
	l := bankDetails(t, r).Linearizable
	if r.Valid != Unknown || l.Memory == "" || !strings.Contains(r.Summary, "linearizability unknown: "+l.Memory) {
		t.Fatalf("%v: %s; want unknown with the memory reason", r.Valid, r.Summary)
	}
	if el > 20*time.Second {
		t.Errorf("took %v; want the budget, not the timeout, to stop the search", el)
	}
	if l.PeakHeap > uint64(budget)+64<<20 {
		t.Errorf("peak heap %d, budget %d", l.PeakHeap, budget)
	}
	t.Logf("%v: %s (peak heap %s)", el, r.Summary, FormatMemorySize(int64(l.PeakHeap)))
}

// TestCheckBankMemoryBudgetKeepsOtherVerdicts: the checks that do not
// search keep their verdicts when the budget stops the search: a read that
// loses money, or a lost acknowledged transfer, is still false (30 info
// transfers: few enough for the final state's enumeration).
func TestCheckBankMemoryBudgetKeepsOtherVerdicts(t *testing.T) {
	o := BankOptions{Accounts: 3, InitialBalance: 100, Timeout: time.Minute, MemoryBudget: 1e6}
	infos := unsettledInfoTransfers(30)[:60]
	lost := []history.Op{xfer(500, 300, 1, 2, 7), xferDone(500, 310, history.OK, "")}
	for _, c := range []struct {
		name string
		ops  []history.Op
		want string
	}{
		{"money lost", indexed(infos, []history.Op{bankRead(1000, 200), bankReadOK(1000, 210, 99, 100, 100)}),
			"1 of 1 ok reads impossible"},
		{"acknowledged transfer lost", indexed(infos, lost, finalRead(1001, 400, "n1", 100, 100, 100)),
			"an acknowledged transfer was lost"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := CheckBank(c.ops, o)
			if r.Valid != False || !strings.Contains(r.Summary, c.want) || !strings.Contains(r.Summary, "linearizability unknown: memory budget 1MB exceeded") {
				t.Fatalf("%v: %s; want false for %q, the search stopped by the budget", r.Valid, r.Summary, c.want)
			}
		})
	}
}
