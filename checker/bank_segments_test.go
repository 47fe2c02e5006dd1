package checker

import (
	"compress/gzip"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/faultline-io/faultline/history"
)

// bankLinear runs CheckBank's linearizability check alone.
func bankLinear(t *testing.T, ops []history.Op, o BankOptions) BankLinear {
	t.Helper()
	h, err := collectBank(ops, o.Accounts)
	if err != nil {
		t.Fatal(err)
	}
	watch := watchMemory(memoryBudget(0))
	defer watch.close()
	lin, _ := checkBankLinear(h, o, o.Timeout, watch)
	return lin
}

// unsettledBank is Porcupine's verdict on the history with every unknown
// transfer open to the end: no settling, no pass without them.
func unsettledBank(t *testing.T, ops []history.Op, o BankOptions) porcupine.CheckResult {
	t.Helper()
	h, err := collectBank(ops, o.Accounts)
	if err != nil {
		t.Fatal(err)
	}
	var all []*bankOp
	for _, r := range h.okReads {
		if r.state != "" {
			all = append(all, r)
		}
	}
	all = append(all, h.transfers...)
	return porcupine.CheckOperationsTimeout(bankModel(o.Accounts, o.InitialBalance), bankOperations(all), o.Timeout)
}

// settled is settleSegments on a history.
func settled(t *testing.T, ops []history.Op, o BankOptions) (bankSettlement, bool) {
	t.Helper()
	h, err := collectBank(ops, o.Accounts)
	if err != nil {
		t.Fatal(err)
	}
	var unknown []*bankOp
	for _, x := range h.transfers {
		if x.unknown {
			unknown = append(unknown, x)
		}
	}
	return settleSegments(h, unknown, o)
}

// read is an ok read by p from t to t+5.
func read(p history.Process, t int64, balances ...int64) []history.Op {
	return []history.Op{bankRead(p, t), bankReadOK(p, t+5, balances...)}
}

// transfer is a transfer by p from t to t+d, completing as typ ("" for
// never).
func transfer(p history.Process, t, d int64, from, to, amount int, typ history.Type) []history.Op {
	ops := []history.Op{xfer(p, t, from, to, amount)}
	if typ != "" {
		ops = append(ops, xferDone(p, t+d, typ, ""))
	}
	return ops
}

// TestSettleSegments: hand-built histories over 3 accounts of 10. The
// settlement must be the only one where it says so, and the verdict that
// of the unsettled search.
func TestSettleSegments(t *testing.T) {
	o := smallBank
	cases := []struct {
		name string
		ops  []history.Op
		want Valid
		// settle: settleSegments finds an assignment; unique: the only
		// one; definite and dropped: how it rewrites.
		settle, unique    bool
		definite, dropped int
	}{{
		// An info transfer invoked at 0 takes effect between the reads
		// at 60 and 100, long after its info at 10, with ok transfers
		// and reads around it.
		name: "info transfer takes effect much later",
		ops: indexed(
			transfer(0, 0, 10, 0, 1, 5, history.Info),
			read(1, 20, 10, 10, 10),
			transfer(2, 30, 10, 2, 0, 3, history.OK),
			read(1, 60, 13, 10, 7),
			read(1, 100, 8, 15, 7),
			transfer(2, 110, 10, 1, 2, 1, history.OK),
			read(1, 130, 8, 14, 8),
		),
		want: True, settle: true, unique: true, definite: 1,
	}, {
		name: "info transfer never takes effect",
		ops: indexed(
			transfer(0, 0, 10, 0, 1, 5, history.Info),
			read(1, 20, 10, 10, 10),
			transfer(2, 30, 10, 2, 0, 3, history.OK),
			read(1, 60, 13, 10, 7),
			read(1, 100, 13, 10, 7),
		),
		want: True, settle: true, unique: true, dropped: 1,
	}, {
		// Account 0 holds 10: the second info transfer of 8 out of it
		// is refused after the first took effect, and changes nothing.
		name: "info transfer refused for a short balance",
		ops: indexed(
			transfer(0, 0, 10, 0, 1, 8, history.Info),
			transfer(3, 1, 10, 0, 1, 8, history.Info),
			read(1, 20, 2, 18, 10),
			read(1, 40, 2, 18, 10),
		),
		want: True, settle: true, unique: true, definite: 1, dropped: 1,
	}, {
		// After the last checkpoint an ok transfer needs the info
		// transfer's credit: it stays open, invoked at that checkpoint.
		name: "info transfer needed after the last checkpoint",
		ops: indexed(
			transfer(0, 0, 10, 2, 0, 5, history.Info),
			read(1, 20, 10, 10, 10),
			transfer(2, 30, 10, 0, 1, 15, history.OK),
		),
		want: True, settle: true, unique: true,
	}, {
		// The info transfer of 2 is invoked while the checkpoint at 10
		// runs, and takes effect before it reads; the two of 1 take
		// effect later, one seen by a read that overlaps an ok
		// transfer. The checkpoints alone also fit the two of 1 first.
		name: "info transfer invoked during a checkpoint",
		ops: indexed(
			transfer(0, 0, 5, 0, 1, 1, history.Info),
			transfer(4, 1, 5, 0, 1, 1, history.Info),
			[]history.Op{bankRead(1, 10)},
			transfer(5, 15, 1, 0, 1, 2, history.Info),
			[]history.Op{bankReadOK(1, 20, 8, 12, 10)},
			transfer(2, 30, 20, 2, 0, 1, history.OK),
			read(3, 35, 7, 13, 10),
			read(1, 60, 7, 14, 9),
		),
		want: True, settle: true, definite: 3,
	}, {
		// The info transfer takes effect while the checkpoint at 10
		// runs, after a read that overlaps it began and before either
		// read.
		name: "info transfer takes effect during a checkpoint",
		ops: indexed(
			transfer(0, 0, 5, 0, 1, 2, history.Info),
			[]history.Op{bankRead(1, 10), bankRead(3, 12), bankReadOK(1, 20, 8, 12, 10)},
			[]history.Op{xfer(2, 22, 2, 0, 1), bankReadOK(3, 25, 10, 10, 10), xferDone(2, 30, history.OK, "")},
			read(1, 40, 9, 12, 9),
		),
		want: True, settle: true, unique: true, definite: 1,
	}, {
		// The last checkpoint (at 10) does not see the info transfer;
		// a read that overlaps it, and an ok transfer before it, does.
		name: "info transfer seen by a read overlapping the last checkpoint",
		ops: indexed(
			[]history.Op{xfer(2, 0, 2, 0, 1), xfer(0, 1, 0, 1, 2), xferDone(0, 5, history.Info, ""), xferDone(2, 6, history.OK, "")},
			[]history.Op{bankRead(3, 5), bankRead(1, 10), bankReadOK(3, 19, 9, 12, 9), bankReadOK(1, 20, 11, 10, 9)},
		),
		want: True, settle: true, unique: true,
	}, {
		// Only info transfers of 2 out of account 0; the read needs 3.
		name: "read no assignment explains",
		ops: indexed(
			transfer(0, 0, 10, 0, 1, 2, history.Info),
			transfer(3, 1, 10, 0, 1, 2, history.Info),
			read(1, 20, 7, 13, 10),
		),
		want: False,
	}, {
		// The ok transfer of 4 is lost; an info transfer of 3 the other
		// way cannot stand in for it.
		name: "ok transfer lost",
		ops: indexed(
			transfer(0, 0, 10, 1, 0, 3, history.Info),
			transfer(2, 20, 10, 0, 1, 4, history.OK),
			read(1, 40, 10, 10, 10),
			read(1, 60, 10, 10, 10),
		),
		want: False,
	}, {
		// The checkpoints say the info transfer did not take effect by
		// the read at 50; a read overlapping an ok transfer (not a
		// checkpoint) saw it applied: it would have to be undone.
		name: "read between checkpoints sees what they rule out",
		ops: indexed(
			transfer(0, 0, 5, 0, 1, 5, history.Info),
			read(1, 10, 10, 10, 10),
			transfer(2, 20, 20, 1, 2, 3, history.OK),
			read(3, 25, 5, 15, 10),
			read(1, 50, 10, 7, 13),
		),
		want: False, settle: true, unique: true, dropped: 1,
	}, {
		// Two info transfers that cancel out both took effect between
		// the checkpoints, seen by a read that overlaps an ok transfer:
		// none and both fit the checkpoints, so the settlement is not
		// unique, the first (none) fails, and the full search finds it.
		name: "two assignments, the full search decides",
		ops: indexed(
			read(1, 0, 10, 10, 10),
			transfer(0, 10, 5, 0, 1, 2, history.Info),
			transfer(4, 11, 5, 1, 0, 2, history.Info),
			transfer(2, 20, 20, 2, 1, 1, history.OK),
			read(3, 25, 8, 12, 10),
			read(1, 50, 10, 11, 9),
		),
		want: True, settle: true, dropped: 2,
	}, {
		// As above, but the read shows a state no order makes.
		name: "two assignments, neither linearizable",
		ops: indexed(
			read(1, 0, 10, 10, 10),
			transfer(0, 10, 5, 0, 1, 2, history.Info),
			transfer(4, 11, 5, 1, 0, 2, history.Info),
			transfer(2, 20, 20, 2, 1, 1, history.OK),
			read(3, 25, 8, 13, 9),
			read(3, 31, 10, 10, 10),
			read(1, 50, 10, 11, 9),
		),
		want: False, settle: true, dropped: 2,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, ok := settled(t, c.ops, o)
			if ok != c.settle || ok && (s.Unique != c.unique || len(s.Definite) != c.definite || s.Dropped != c.dropped) {
				t.Errorf("settled %v: unique %v, %d definite, %d dropped, %d open; want %v: unique %v, %d definite, %d dropped",
					ok, s.Unique, len(s.Definite), s.Dropped, len(s.Open), c.settle, c.unique, c.definite, c.dropped)
			}
			for _, d := range s.Definite {
				if d.unknown || d.ret < d.call {
					t.Errorf("definite %s: unknown %v, call %d, return %d", d, d.unknown, d.call, d.ret)
				}
			}
			lin := bankLinear(t, c.ops, o)
			if lin.Valid != c.want {
				t.Errorf("linearizable %v, want %v (%+v)", lin.Valid, c.want, lin)
			}
			if u := unsettledBank(t, c.ops, o); u != map[Valid]porcupine.CheckResult{True: porcupine.Ok, False: porcupine.Illegal}[c.want] {
				t.Errorf("the unsettled search says %v: the case is wrong", u)
			}
			if r := CheckBank(c.ops, o); c.want == True && r.Valid != True || c.want == False && r.Valid != False {
				t.Errorf("CheckBank %v: %s", r.Valid, r.Summary)
			}
		})
	}
}

// randomBank is a seeded bank history of 3 accounts of 10 with
// processes doing reads and transfers one after another: each takes
// effect at a random point within its interval, except info transfers,
// which may take effect any time after their invoke (long after, too) or
// never; some never complete. bug makes it invalid, mostly: a read is
// perturbed, an ok transfer does not take effect, or a failed one does.
func randomBank(seed uint64, bug bool) []history.Op {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	type op struct {
		p           history.Process
		read        bool
		from, to    int
		amount      int64
		call, ret   int64
		at          int64 // when it takes effect; -1 for never
		info, never bool
		lost        bool // reports ok without taking effect (a bug)
		ghost       bool // fails but takes effect (a bug)
		status      history.Type
		balances    []int64
	}
	var ops []*op
	procs := 2 + rng.IntN(3)
	// Times are multiples of 5, so that many events tie.
	for p := range procs {
		tm := 5 * int64(rng.IntN(4))
		for range 4 + rng.IntN(6) {
			o := &op{p: history.Process(p), read: rng.IntN(5) < 2, call: tm}
			o.ret = tm + 5*int64(rng.IntN(6))
			o.at = o.call + rng.Int64N(o.ret-o.call+1)
			if !o.read {
				o.from = rng.IntN(3)
				o.to = (o.from + 1 + rng.IntN(2)) % 3
				o.amount = 1 + rng.Int64N(6)
				if rng.IntN(3) == 0 {
					o.info = true
					switch rng.IntN(3) {
					case 0:
						o.at = -1
					case 1:
						o.at = o.call + rng.Int64N(300) // maybe long after
					}
					o.never = rng.IntN(4) == 0
				}
			}
			ops = append(ops, o)
			if o.never {
				break
			}
			tm = o.ret + 5*int64(1+rng.IntN(4))
			if rng.IntN(4) == 0 {
				tm += 40 // a quiet gap
			}
		}
	}
	if bug {
		var xs []*op
		for _, o := range ops {
			if !o.read && !o.info {
				xs = append(xs, o)
			}
		}
		if len(xs) > 0 && rng.IntN(2) == 0 {
			x := xs[rng.IntN(len(xs))]
			x.lost = true
			x.ghost = true // whichever applies once the outcome is known
		} else {
			bug = true // perturb a read below
		}
	}
	byPoint := slices.Clone(ops)
	slices.SortStableFunc(byPoint, func(a, b *op) int {
		return int(a.at - b.at)
	})
	bal := []int64{10, 10, 10}
	for _, o := range byPoint {
		switch {
		case o.at < 0:
		case o.read:
			o.balances = slices.Clone(bal)
		case bal[o.from] < o.amount:
			o.status = history.Fail
			if o.ghost && !o.info {
				bal[o.from] -= o.amount // may go negative: a bug
				bal[o.to] += o.amount
			}
		case o.lost && !o.info:
			o.status = history.OK
		default:
			o.status = history.OK
			bal[o.from] -= o.amount
			bal[o.to] += o.amount
		}
	}
	var reads []*op
	for _, o := range ops {
		if o.read {
			reads = append(reads, o)
		}
	}
	if bug && len(reads) > 0 && !slices.ContainsFunc(ops, func(o *op) bool { return o.lost || o.ghost }) {
		r := reads[rng.IntN(len(reads))]
		a := rng.IntN(3)
		r.balances[a]--
		r.balances[(a+1)%3]++
	}
	type ev struct {
		t   int64
		seq int
		op  history.Op
	}
	var evs []ev
	for i, o := range ops {
		if o.read {
			evs = append(evs, ev{o.call, 2 * i, bankRead(o.p, o.call)}, ev{o.ret, 2*i + 1, bankReadOK(o.p, o.ret, o.balances...)})
			continue
		}
		evs = append(evs, ev{o.call, 2 * i, xfer(o.p, o.call, o.from, o.to, int(o.amount))})
		switch {
		case o.never:
		case o.info:
			evs = append(evs, ev{o.ret, 2*i + 1, xferDone(o.p, o.ret, history.Info, "")})
		case o.status == history.Fail:
			evs = append(evs, ev{o.ret, 2*i + 1, xferDone(o.p, o.ret, history.Fail, "insufficient")})
		default:
			evs = append(evs, ev{o.ret, 2*i + 1, xferDone(o.p, o.ret, history.OK, "")})
		}
	}
	slices.SortStableFunc(evs, func(a, b ev) int {
		if a.t != b.t {
			return int(a.t - b.t)
		}
		return a.seq - b.seq
	})
	out := make([]history.Op, len(evs))
	for i, e := range evs {
		out[i] = e.op
	}
	return indexed(out)
}

// TestSettleSegmentsRandom: on random histories, valid and not, the
// verdict with settling is the unsettled search's wherever that decides,
// and settling is used on many of them.
func TestSettleSegmentsRandom(t *testing.T) {
	o := BankOptions{Accounts: 3, InitialBalance: 10, Timeout: 5 * time.Second}
	var decided, used, unique, invalid int
	for seed := range uint64(2000) {
		ops := randomBank(seed, seed%2 == 1)
		u := unsettledBank(t, ops, o)
		if u == porcupine.Unknown {
			continue
		}
		decided++
		want := True
		if u == porcupine.Illegal {
			want = False
			invalid++
		}
		if s, ok := settled(t, ops, o); ok {
			used++
			if s.Unique {
				unique++
			}
		}
		if lin := bankLinear(t, ops, o); lin.Valid != want {
			t.Fatalf("seed %d: linearizable %v with settling, %v without (%+v)", seed, lin.Valid, want, lin)
		}
	}
	t.Logf("%d decided (%d not linearizable); settled %d, %d uniquely", decided, invalid, used, unique)
	if decided < 1800 || invalid < 400 || unique < 400 || used-unique < 30 {
		t.Errorf("%d decided (%d not linearizable); settled %d, %d uniquely: too few to tell", decided, invalid, used, unique)
	}
}

// TestCheckBankSeed70: a 60 s simulated 2PC bank history of a correct
// build (8 accounts of 100) with 15 info transfers in four clusters
// among 3,488 ok transfers and 3,485 ok reads. Without settling its
// search timed out after a minute at a peak heap of 5.9 GB.
func TestCheckBankSeed70(t *testing.T) {
	f, err := os.Open("testdata/bank-seed70.jsonl.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := history.Read(z)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := CheckBank(ops, BankOptions{Timeout: 20 * time.Second})
	l := bankDetails(t, r).Linearizable
	t.Logf("%v in %v: %s; %+v", r.Valid, time.Since(start), r.Summary, l)
	if r.Valid != True || l.Checkpoints == 0 {
		t.Fatalf("%v: %s; want true, settled by checkpoints", r.Valid, r.Summary)
	}
}
