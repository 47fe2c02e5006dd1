package checker

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/faultline-io/faultline/history"
)

const (
	// DefaultBankAccounts is BankOptions.Accounts when zero (the bank
	// workload's workloads.BankAccounts).
	DefaultBankAccounts = 8
	// DefaultBankInitialBalance is BankOptions.InitialBalance when zero
	// (workloads.BankInitialBalance).
	DefaultBankInitialBalance = 100
	// TargetStatsF is the f of the nemesis-process op in which a target
	// reports its own counters at the end of a run; for the bank its
	// Value is a JSON object from node id to BankNodeStats.
	TargetStatsF = "target-stats"
	// maxBankBadReads caps BankDetails.BadReads.
	maxBankBadReads = 20
)

// BankOptions configures CheckBank.
type BankOptions struct {
	// Accounts is how many accounts the bank has; zero means
	// DefaultBankAccounts.
	Accounts int
	// InitialBalance is every account's balance at the start; zero means
	// DefaultBankInitialBalance.
	InitialBalance int64
	// Timeout bounds the linearizability search; zero means
	// DefaultLinearizableTimeout. A search still running when it expires
	// makes the verdict Unknown (unless another check failed). Finding the
	// operation that cannot be linearized, on failure, gets a second
	// budget of the same size.
	Timeout time.Duration
	// MemoryBudget bounds, in bytes, the Go heap while the final state is
	// checked and the linearizability search runs (memory.go); zero or
	// less means DefaultMemoryBudget(). Once the heap passes it the search
	// stops and its verdict is Unknown, with the reason: running out of
	// memory never yields true or false, and never an out-of-memory kill.
	// The checks that do not search keep their verdicts. Finding the
	// operation that cannot be linearized, on failure, gets a second
	// budget of the same size.
	MemoryBudget int64
}

// BankDetails is Result.Details of CheckBank.
type BankDetails struct {
	Accounts       int   `json:"accounts"`
	InitialBalance int64 `json:"initial_balance"`
	// Total is Accounts*InitialBalance, what every read must sum to.
	Total     int64      `json:"total"`
	Reads     BankCounts `json:"reads"` // final reads included
	Transfers BankCounts `json:"transfers"`
	// BadReads are ok reads that are not Accounts non-negative integers
	// summing to Total, in history order, at most 20; BadReadCount counts
	// them all.
	BadReads     []BankBadRead  `json:"bad_reads,omitempty"`
	BadReadCount int            `json:"bad_read_count"`
	Final        BankFinal      `json:"final"`
	FinalState   BankFinalState `json:"final_state"`
	Linearizable BankLinear     `json:"linearizable"`
	// Target holds the target's own counters (the last TargetStatsF
	// nemesis op naming each node); nil when the history has none, and
	// TargetNote says why.
	Target     *BankTargetStats `json:"target,omitempty"`
	TargetNote string           `json:"target_note,omitempty"`
}

// BankCounts counts one kind of bank operation by outcome.
type BankCounts struct {
	OK      int `json:"ok"`
	Fail    int `json:"fail"`
	Info    int `json:"info"`
	Pending int `json:"pending"` // invoked, never completed: treated as info
	// FailErrors counts failed operations by their error ("insufficient",
	// "conflict", ...; "" when none was given).
	FailErrors map[string]int `json:"fail_errors,omitempty"`
}

// BankBadRead is an ok read whose balances cannot be a state of the bank.
type BankBadRead struct {
	// Reason says what is wrong: "returned 7 balances, want 8", "sums to
	// 790, want 800", "account 3 has balance -2", or that the value is not
	// an array of integers.
	Reason  string          `json:"reason"`
	Process string          `json:"process"`
	Node    string          `json:"node,omitempty"`
	Final   string          `json:"final,omitempty"`
	Value   json.RawMessage `json:"value"`
	// Sum is the sum of the balances, absent when Value is not an array
	// of integers.
	Sum           *int64 `json:"sum,omitempty"`
	InvokeIndex   int64  `json:"invoke_index"`
	Invoke        int64  `json:"invoke"` // history time, ns
	CompleteIndex int64  `json:"complete_index"`
	Complete      int64  `json:"complete"`
}

// BankFinal is the verdict on the final reads: the last ok final read of
// every node must be the same.
type BankFinal struct {
	// Checked is false when no final read completed ok.
	Checked bool `json:"checked"`
	Agree   bool `json:"agree"`
	// Balances holds each node's last ok final read, in canonical JSON.
	Balances map[string]json.RawMessage `json:"balances,omitempty"`
	// Missing are the nodes some final read asked for without an ok
	// answer; they are not compared.
	Missing []string `json:"missing,omitempty"`
}

// BankFinalState is the check of the last ok final read against the
// transfers: once every transfer has completed, the balances must be the
// initial ones plus every ok transfer plus some of the unknown (info or
// never completed) ones. It is a consequence of linearizability that
// needs no search, so it decides (and explains) a lost acknowledged
// transfer, or a failed one that took effect, however large the history.
type BankFinalState struct {
	// Checked is false when no ok final read qualifies (Why says why).
	Checked bool   `json:"checked"`
	Why     string `json:"why,omitempty"`
	// Explained: some subset of the unknown transfers makes up the
	// difference between Balances and Acknowledged.
	Explained bool    `json:"explained"`
	Node      string  `json:"node,omitempty"`
	Balances  []int64 `json:"balances,omitempty"`
	// Acknowledged is the initial balances plus every ok transfer.
	Acknowledged []int64 `json:"acknowledged,omitempty"`
	// Unknown counts the unknown transfers that could have taken effect
	// before the final read.
	Unknown int   `json:"unknown"`
	Invoke  int64 `json:"invoke,omitempty"` // the final read's, history time
}

// BankLinear is the verdict of the linearizability check.
type BankLinear struct {
	Valid Valid `json:"valid"`
	// Ops counts the operations given to Porcupine: ok transfers and
	// reads, and info or never-completed transfers.
	Ops int `json:"ops"`
	// Settled counts the unknown transfers the search did not have to
	// place: those whose outcome the reads decided (settleSegments, or
	// appliedUnknown from the last read), or every one when a
	// linearization in which none took effect exists (checked first);
	// those that did not happen are in Dropped.
	Settled int `json:"settled,omitempty"`
	// Checkpoints counts the reads no ok transfer overlaps whose
	// balances settled the unknown transfers (settleSegments); zero when
	// they did not.
	Checkpoints int `json:"checkpoints,omitempty"`
	// Dropped counts the info or never-completed transfers left out
	// because no ok operation completed after their invoke: nothing could
	// observe them.
	Dropped int    `json:"dropped"`
	Timeout string `json:"timeout"`
	// MemoryBudget is the budget of the search (FormatMemorySize).
	MemoryBudget string `json:"memory_budget"`
	// Memory says why the search stopped when the heap passed the budget:
	// "memory budget 1GB exceeded (heap 1.02GB)"; Valid is then Unknown.
	Memory string `json:"memory,omitempty"`
	// PeakHeap is the largest heap sampled while the final state was
	// checked and the search ran, in bytes.
	PeakHeap uint64 `json:"peak_heap"`
	// Stuck is the first operation no linearization can include, when the
	// explaining pass found it.
	Stuck *StuckOp `json:"stuck,omitempty"`
}

// BankNodeStats is what one node of a bank target reports about its
// transactions, in the Value of a TargetStatsF op (an object from node id
// to this).
type BankNodeStats struct {
	// InDoubt counts the transactions the node voted yes on and had to
	// ask the coordinator about.
	InDoubt int `json:"in_doubt"`
	// BlockedNanos holds, per transaction in doubt, the time from the
	// node's yes vote to its learning the decision.
	BlockedNanos []int64 `json:"blocked_ns"`
	// Decided counts the transactions the node voted yes on and learnt
	// the decision of.
	Decided int `json:"decided"`
}

// BankTargetStats sums BankNodeStats over the nodes.
type BankTargetStats struct {
	InDoubt int `json:"in_doubt"`
	Decided int `json:"decided"`
	// Blocked are quantiles of every node's BlockedNanos together
	// (nearest rank), over BlockedCount values.
	Blocked      Latency                  `json:"blocked_ns"`
	BlockedCount int                      `json:"blocked_count"`
	Nodes        map[string]BankNodeStats `json:"nodes"`
}

// CheckBank checks a history of the bank workload: transfers
// ({"from":a,"to":b,"amount":x}, moving x from account a to b, ok only if
// a held at least x) and reads of every balance (an ok read returns a JSON
// array of o.Accounts integers). Every account starts at o.InitialBalance.
// Its Result is named "bank". It checks that
//
//  1. every ok read, final or not, has exactly o.Accounts integers,
//     none negative, summing to o.Accounts*o.InitialBalance: money is
//     neither made nor lost, and no transfer is seen half-applied;
//  2. the last ok final read (history.Op.Final names the node) of every
//     node is the same; without ok final reads this is not checked, and
//     the summary says so;
//  3. the last ok final read is the initial balances plus every ok
//     transfer plus some subset of the unknown ones (BankFinalState):
//     no acknowledged transfer was lost and no failed one took effect —
//     decided without the search, when at most 36 unknown transfers could
//     have taken effect before it;
//  4. the transfers and reads are linearizable, checked by Porcupine
//     against a model of the whole bank (its state is every balance): an
//     ok transfer needs the balance it moves and applies it; an info or
//     never-completed transfer may take effect at any time after its
//     invoke, or never; fail transfers and reads that are not ok are left
//     out; an ok read must return the state.
//
// It also reports the transfers by outcome, and the target's own
// counters from the last TargetStatsF nemesis op (transactions in doubt,
// and how long participants blocked: p50, p99, max); those do not affect
// the verdict.
//
// The verdict is False if a check fails; else Unknown if the
// linearizability search timed out or the heap passed o.MemoryBudget
// (the summary says which), or if the history cannot be read
// (unpaired events, an f other than read and transfer, a transfer value of
// the wrong shape; the summary names the op's index); else True.
// Result.FirstAnomalyTime is the earliest invoke time among the bad reads,
// the compared final reads when they disagree, and the operation that
// cannot be linearized. Details are a BankDetails.
func CheckBank(ops []history.Op, o BankOptions) Result {
	const name = "bank"
	o.Accounts = cmp.Or(o.Accounts, DefaultBankAccounts)
	o.InitialBalance = cmp.Or(o.InitialBalance, DefaultBankInitialBalance)
	timeout := cmp.Or(o.Timeout, DefaultLinearizableTimeout)
	if timeout < 0 {
		timeout = 0
	}
	budget := memoryBudget(o.MemoryBudget)
	res := Result{Checker: name, Valid: Unknown}
	if o.Accounts < 0 || o.InitialBalance < 0 {
		res.Summary = fmt.Sprintf("bad options: %d accounts with initial balance %d", o.Accounts, o.InitialBalance)
		return res
	}
	h, err := collectBank(ops, o.Accounts)
	if err != nil {
		res.Summary = "cannot check the history: " + err.Error()
		return res
	}
	det := BankDetails{Accounts: o.Accounts, InitialBalance: o.InitialBalance,
		Total: int64(o.Accounts) * o.InitialBalance, Reads: h.reads, Transfers: h.xfers,
		Target: h.target, TargetNote: h.targetNote}
	var anomalies []int64 // invoke times of what failed

	// 1. Every ok read is a possible state.
	for _, r := range h.okReads {
		reason, sum := checkBankRead(r, o.Accounts, det.Total)
		if reason == "" {
			continue
		}
		det.BadReadCount++
		anomalies = append(anomalies, r.call)
		if len(det.BadReads) < maxBankBadReads {
			det.BadReads = append(det.BadReads, BankBadRead{Reason: reason, Process: r.process.String(),
				Node: r.node, Final: r.final, Value: r.raw, Sum: sum, InvokeIndex: r.invIndex,
				Invoke: r.call, CompleteIndex: r.doneIndex, Complete: r.ret})
		}
	}

	// 2. The final reads agree.
	last := make(map[string]*bankOp)
	asked := make(map[string]bool)
	for _, r := range h.finals { // in completion order
		asked[r.final] = true
		if r.status == history.OK {
			last[r.final] = r
		}
	}
	det.Final.Checked = len(last) > 0
	if det.Final.Checked {
		det.Final.Agree = true
		det.Final.Balances = make(map[string]json.RawMessage, len(last))
		var first string
		firstFinal := int64(0)
		for i, n := range slices.Sorted(maps.Keys(last)) {
			s := last[n].canonical()
			det.Final.Balances[n] = json.RawMessage(s)
			if i == 0 {
				first, firstFinal = s, last[n].call
			}
			firstFinal = min(firstFinal, last[n].call)
			if s != first {
				det.Final.Agree = false
			}
		}
		if !det.Final.Agree {
			anomalies = append(anomalies, firstFinal)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(asked)) {
		if last[n] == nil {
			det.Final.Missing = append(det.Final.Missing, n)
		}
	}

	// 3 and 4 under one memory watch. The final state's enumeration is
	// bounded (maxSettle) and exact, so it is not stopped and its verdict
	// stands; the heap it holds counts against the search's budget.
	watch := watchMemory(budget)

	// 3. The final state is what the acknowledged transfers make.
	det.FinalState = checkBankFinalState(h, o)
	if fs := det.FinalState; fs.Checked && !fs.Explained {
		anomalies = append(anomalies, fs.Invoke)
	}

	// 4. Linearizability.
	lin, refuted := checkBankLinear(h, o, timeout, watch)
	watch.close()
	lin.MemoryBudget, lin.PeakHeap = FormatMemorySize(budget), watch.peak.Load()
	if lin.Valid == Unknown && watch.exceeded() {
		lin.Memory = watch.reason()
	}
	if refuted != nil {
		lin.Stuck = refuted.explain(budget)
		if lin.Stuck != nil {
			anomalies = append(anomalies, lin.Stuck.Time)
		}
	}
	det.Linearizable = lin

	res.Valid = True
	switch {
	case det.BadReadCount > 0 || !det.Final.Agree && det.Final.Checked || lin.Valid == False ||
		det.FinalState.Checked && !det.FinalState.Explained:
		res.Valid = False
	case lin.Valid == Unknown:
		res.Valid = Unknown
	}
	if len(anomalies) > 0 {
		t := slices.Min(anomalies)
		res.FirstAnomalyTime = &t
	}
	res.Summary = bankSummary(&det)
	res.Details, _ = json.Marshal(det)
	return res
}

// bankSummary is the one-line summary: what failed first, then the
// transfers and the target's stats.
func bankSummary(det *BankDetails) string {
	var parts []string
	if det.BadReadCount > 0 {
		b := det.BadReads[0]
		node := b.Node
		if b.Final != "" {
			node = b.Final + " (final)"
		}
		parts = append(parts, fmt.Sprintf("%d of %d ok reads impossible: the read at index %d (node %s, time %s) returned %s: %s",
			det.BadReadCount, det.Reads.OK, b.InvokeIndex, cmp.Or(node, "?"), fmtNanos(b.Invoke), shortJSON(b.Value), b.Reason))
	} else {
		parts = append(parts, fmt.Sprintf("%d ok reads conserve the total %d", det.Reads.OK, det.Total))
	}
	switch {
	case !det.Final.Checked:
		parts = append(parts, "final reads not checked: none completed ok")
	case !det.Final.Agree:
		var ns []string
		for _, n := range slices.Sorted(maps.Keys(det.Final.Balances)) {
			ns = append(ns, n+"="+string(det.Final.Balances[n]))
		}
		parts = append(parts, "final reads disagree: "+strings.Join(ns, ", "))
	default:
		s := fmt.Sprintf("final reads agree on %d nodes", len(det.Final.Balances))
		if len(det.Final.Missing) > 0 {
			s += fmt.Sprintf(" (none ok on %s)", strings.Join(det.Final.Missing, ", "))
		}
		parts = append(parts, s)
	}
	if fs := det.FinalState; fs.Checked && !fs.Explained {
		parts = append(parts, fmt.Sprintf("final balances %s (node %s) are not the initial ones plus the %d ok transfers (%s) plus any subset of the %d unknown transfers: an acknowledged transfer was lost, or a failed one took effect",
			int64sJSON(fs.Balances), fs.Node, det.Transfers.OK, int64sJSON(fs.Acknowledged), fs.Unknown))
	}
	switch l := det.Linearizable; l.Valid {
	case False:
		s := "not linearizable"
		if l.Stuck != nil {
			s += fmt.Sprintf(": %s by process %s (invoke at index %d) cannot be linearized", l.Stuck.Op, l.Stuck.Process, l.Stuck.InvokeIndex)
		}
		parts = append(parts, s)
	case Unknown:
		if l.Memory != "" {
			parts = append(parts, "linearizability unknown: "+l.Memory)
		} else {
			parts = append(parts, fmt.Sprintf("linearizability unknown: timed out after %s", l.Timeout))
		}
	default:
		parts = append(parts, fmt.Sprintf("linearizable (%d operations)", l.Ops))
	}
	t := det.Transfers
	s := fmt.Sprintf("transfers %d ok, %d fail, %d info", t.OK, t.Fail, t.Info)
	if t.Pending > 0 {
		s += fmt.Sprintf(", %d never completed", t.Pending)
	}
	parts = append(parts, s)
	switch ts := det.Target; {
	case ts == nil:
		parts = append(parts, det.TargetNote)
	case ts.BlockedCount == 0:
		parts = append(parts, fmt.Sprintf("no participant blocked in doubt (%d still in doubt at the end)", ts.InDoubt))
	default:
		parts = append(parts, fmt.Sprintf("participants blocked in doubt %d times: p50 %s p99 %s max %s (%d still in doubt at the end)",
			ts.BlockedCount, fmtNanos(ts.Blocked.P50), fmtNanos(ts.Blocked.P99), fmtNanos(ts.Blocked.Max), ts.InDoubt))
	}
	return strings.Join(parts, "; ")
}

// checkBankFinalState checks the last ok final read (see BankFinalState).
func checkBankFinalState(h *bankHistory, o BankOptions) BankFinalState {
	var last *bankOp
	for _, r := range h.finals {
		if r.status == history.OK && r.state != "" && (last == nil || r.call > last.call) {
			last = r
		}
	}
	if last == nil {
		return BankFinalState{Why: "no ok final read"}
	}
	fs := BankFinalState{Node: last.final, Balances: last.balances, Invoke: last.call}
	ack := make([]int64, o.Accounts)
	for i := range ack {
		ack[i] = o.InitialBalance
	}
	var unknown []*bankOp
	for _, t := range h.transfers {
		switch {
		case t.unknown && t.call < last.ret:
			unknown = append(unknown, t)
		case t.unknown:
		case t.ret >= last.call:
			fs.Why = fmt.Sprintf("a transfer (invoke at index %d) completed after the final read began", t.invIndex)
			return fs
		default:
			ack[t.from] -= t.amount
			ack[t.to] += t.amount
		}
	}
	fs.Acknowledged, fs.Unknown = ack, len(unknown)
	if len(unknown) > maxSettle {
		fs.Why = fmt.Sprintf("%d unknown transfers, more than the %d whose subsets it tries", len(unknown), maxSettle)
		return fs
	}
	need := make([]int64, o.Accounts)
	for i := range need {
		need[i] = last.balances[i] - ack[i]
	}
	solutions, _, _ := unknownSubsets(unknown, need, o.Accounts)
	fs.Checked, fs.Explained = true, solutions > 0
	return fs
}

func int64sJSON(v []int64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// checkBankRead says what is wrong with an ok read, or "" when nothing
// is, and the sum of its balances when they are integers.
func checkBankRead(r *bankOp, accounts int, total int64) (reason string, sum *int64) {
	if r.balances == nil {
		return "not an array of integers", nil
	}
	var s int64
	var reasons []string
	for i, b := range r.balances {
		s += b
		if b < 0 && len(reasons) == 0 {
			reasons = append(reasons, fmt.Sprintf("account %d has balance %d", i, b))
		}
	}
	if len(r.balances) != accounts {
		reasons = append([]string{fmt.Sprintf("returned %d balances, want %d", len(r.balances), accounts)}, reasons...)
	}
	if s != total {
		reasons = append(reasons, fmt.Sprintf("sums to %d, want %d", s, total))
	}
	return strings.Join(reasons, ", "), &s
}

// bankOp is one client operation of the bank, invoke and completion
// paired. As a Porcupine operation's Input it carries the outcome too;
// the Output is unused.
type bankOp struct {
	transfer bool
	from, to int
	amount   int64

	balances []int64 // ok read: the balances returned; nil if not integers
	state    string  // ok read of the right length: balances as a bankState
	raw      json.RawMessage

	status  history.Type // ok, fail, info; "" when never completed
	unknown bool         // info or never completed: the outcome is unknown

	process     history.Process
	node, final string
	call, ret   int64
	invIndex    int64
	doneIndex   int64 // -1 when never completed
}

// canonical is an ok read's value in canonical JSON.
func (op *bankOp) canonical() string {
	if op.balances == nil {
		var b bytes.Buffer
		if json.Compact(&b, op.raw) != nil {
			return string(op.raw)
		}
		return b.String()
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, v := range op.balances {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(v, 10))
	}
	b.WriteByte(']')
	return b.String()
}

func (op *bankOp) String() string {
	var s string
	if op.transfer {
		s = fmt.Sprintf("transfer(%d → %d, %d)", op.from, op.to, op.amount)
	} else {
		s = "read() → " + op.canonical()
	}
	switch op.status { // a settled unknown transfer (settleSegments) keeps its status
	case "":
		s += " (never completed)"
	case history.Info:
		s += " (info)"
	}
	return s
}

// bankHistory is a bank history, paired and decoded.
type bankHistory struct {
	okReads   []*bankOp // in completion order, final reads included
	finals    []*bankOp // final reads of any outcome, in completion order
	transfers []*bankOp // ok and unknown transfers: completed in completion order, then never completed
	reads     BankCounts
	xfers     BankCounts
	maxTime   int64

	target     *BankTargetStats
	targetNote string
}

// collectBank pairs the client ops of ops by process and decodes them; it
// also gathers the target's stats. A history that does not pair, or whose
// transfers are not {"from":a,"to":b,"amount":x} with distinct accounts in
// range and a positive amount, is a *historyError naming the op's index.
func collectBank(ops []history.Op, accounts int) (*bankHistory, error) {
	h := &bankHistory{}
	open := make(map[history.Process]int)
	targets := make(map[string]BankNodeStats)
	sawTarget := false
	for i := range ops {
		op := &ops[i]
		h.maxTime = max(h.maxTime, op.Time)
		if op.IsNemesis() {
			if op.F == TargetStatsF && len(op.Value) > 0 {
				var m map[string]BankNodeStats
				if err := json.Unmarshal(op.Value, &m); err != nil {
					h.targetNote = fmt.Sprintf("target stats at op index %d unreadable: %v", op.Index, err)
					continue
				}
				sawTarget = true
				maps.Copy(targets, m)
			}
			continue
		}
		switch op.Type {
		case history.Invoke:
			if op.F != "read" && op.F != "transfer" {
				return nil, badOp(op, "f %q is not a bank operation (read or transfer)", op.F)
			}
			if j, ok := open[op.Process]; ok {
				return nil, badOp(op, "process %s invokes while its invoke at op index %d is outstanding", op.Process, ops[j].Index)
			}
			open[op.Process] = i
		case history.OK, history.Fail, history.Info:
			j, ok := open[op.Process]
			if !ok {
				return nil, badOp(op, "%s of process %s has no outstanding invoke", op.Type, op.Process)
			}
			delete(open, op.Process)
			if ops[j].F != op.F {
				return nil, badOp(op, "%s has f %q but its invoke (op index %d) has f %q", op.Type, op.F, ops[j].Index, ops[j].F)
			}
			if op.Time < ops[j].Time {
				return nil, badOp(op, "completes at time %d, before its invoke (op index %d) at time %d", op.Time, ops[j].Index, ops[j].Time)
			}
			if err := h.add(&ops[j], op, accounts); err != nil {
				return nil, err
			}
		default:
			return nil, badOp(op, "type %q is not invoke, ok, fail or info", op.Type)
		}
	}
	rest := slices.Sorted(maps.Values(open))
	for _, j := range rest {
		if err := h.add(&ops[j], nil, accounts); err != nil {
			return nil, err
		}
	}
	// Unknown transfers return after every event, in a deterministic order.
	seq := int64(0)
	for _, t := range h.transfers {
		if t.unknown {
			seq++
			t.ret = h.maxTime + seq
		}
	}
	switch {
	case sawTarget:
		ts := &BankTargetStats{Nodes: targets}
		var blocked []int64
		for _, n := range targets {
			ts.InDoubt += n.InDoubt
			ts.Decided += n.Decided
			blocked = append(blocked, n.BlockedNanos...)
		}
		ts.BlockedCount = len(blocked)
		ts.Blocked = quantiles(blocked)
		h.target, h.targetNote = ts, ""
	case h.targetNote == "":
		h.targetNote = "no target stats"
	}
	return h, nil
}

// add records one client operation: inv and its completion done (nil when
// it never completed).
func (h *bankHistory) add(inv, done *history.Op, accounts int) error {
	op := &bankOp{transfer: inv.F == "transfer", process: inv.Process, node: inv.Node, call: inv.Time,
		invIndex: inv.Index, doneIndex: -1, unknown: true}
	if done != nil {
		op.status, op.doneIndex, op.ret = done.Type, done.Index, done.Time
		op.unknown = done.Type == history.Info
		op.node = cmp.Or(done.Node, op.node)
	}
	counts := &h.reads
	if op.transfer {
		counts = &h.xfers
	}
	switch op.status {
	case history.OK:
		counts.OK++
	case history.Fail:
		counts.Fail++
		if counts.FailErrors == nil {
			counts.FailErrors = make(map[string]int)
		}
		counts.FailErrors[done.Error]++
	case history.Info:
		counts.Info++
	default:
		counts.Pending++
	}

	if op.transfer {
		op.raw = inv.Value
		var t struct {
			From, To *int
			Amount   *int64
		}
		d := json.NewDecoder(bytes.NewReader(inv.Value))
		d.DisallowUnknownFields()
		if err := d.Decode(&t); err != nil || t.From == nil || t.To == nil || t.Amount == nil {
			return badOp(inv, "transfer of %s; want {\"from\":a,\"to\":b,\"amount\":x} with integers", shortJSON(inv.Value))
		}
		op.from, op.to, op.amount = *t.From, *t.To, *t.Amount
		if op.from < 0 || op.from >= accounts || op.to < 0 || op.to >= accounts || op.from == op.to || op.amount <= 0 {
			return badOp(inv, "transfer of %s; want two distinct accounts in [0, %d) and a positive amount", shortJSON(inv.Value), accounts)
		}
		if op.status != history.Fail {
			h.transfers = append(h.transfers, op)
		}
		return nil
	}

	if done != nil {
		op.final = cmp.Or(done.Final, inv.Final)
	} else {
		op.final = inv.Final
	}
	if op.final != "" {
		h.finals = append(h.finals, op)
	}
	if op.status != history.OK {
		return nil
	}
	op.raw = done.Value
	op.balances = parseBalances(done.Value)
	if op.balances != nil && len(op.balances) == accounts {
		op.state = bankState(op.balances)
	}
	h.okReads = append(h.okReads, op)
	return nil
}

// parseBalances decodes a JSON array of integers; nil if v is not one.
func parseBalances(v json.RawMessage) []int64 {
	var elems []json.RawMessage
	if json.Unmarshal(v, &elems) != nil || elems == nil {
		return nil
	}
	out := make([]int64, len(elems))
	for i, e := range elems {
		null, n, ok := parseIntOrNull(e)
		if !ok || null {
			return nil
		}
		out[i] = n
	}
	return out
}

// A bank's state, in the Porcupine model, is a string of 8 bytes per
// account (the balance, little-endian): comparable with ==, hashable, and
// one allocation per transfer applied.
func bankState(balances []int64) string {
	b := make([]byte, 8*len(balances))
	for i, v := range balances {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return string(b)
}

func bankBalance(state string, account int) int64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(state[8*account+i])
	}
	return int64(v)
}

// bankStep is the bank's sequential specification. An ok transfer needs
// the balance it moves. An unknown transfer applies when the balance
// allows and is otherwise a no-op: Porcupine may place it anywhere after
// its invoke, including after everything, where it changes nothing
// observable, so this covers both "happened" and "did not". An ok read
// must return the state.
func bankStep(state, input, _ any) (bool, any) {
	s, op := state.(string), input.(*bankOp)
	if !op.transfer {
		return s == op.state, s
	}
	from := bankBalance(s, op.from)
	if from < op.amount {
		return op.unknown, s
	}
	b := []byte(s)
	binary.LittleEndian.PutUint64(b[8*op.from:], uint64(from-op.amount))
	binary.LittleEndian.PutUint64(b[8*op.to:], uint64(bankBalance(s, op.to)+op.amount))
	return true, string(b)
}

// bankHash is FNV-1a over the state.
func bankHash(state any) uint64 {
	s := state.(string)
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

func describeBankState(state any) string {
	s := state.(string)
	var b strings.Builder
	b.WriteByte('[')
	for i := 0; i < len(s)/8; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(bankBalance(s, i), 10))
	}
	b.WriteByte(']')
	return b.String()
}

func bankModel(accounts int, initial int64) porcupine.Model {
	init := make([]int64, accounts)
	for i := range init {
		init[i] = initial
	}
	s := bankState(init)
	return porcupine.Model{
		Init:              func() any { return s },
		Step:              bankStep,
		Equal:             func(a, b any) bool { return a.(string) == b.(string) },
		Hash:              bankHash,
		DescribeOperation: func(input, _ any) string { return input.(*bankOp).String() },
		DescribeState:     describeBankState,
	}
}

// checkBankLinear checks with Porcupine the ok reads of the right length,
// the ok transfers, and the unknown transfers that some ok operation may
// follow, every search stopped once watch's budget is exceeded (Valid is
// then Unknown: the caller says why). On False it also returns what
// explaining the failure needs.
//
// An unknown transfer invoked after every ok operation completed is left
// out, exactly: it can be linearized after all of them, where it is
// unobservable, and nothing needs it earlier.
//
// Cost. An unknown transfer stays open until the end of the history, and
// Porcupine tries it at every later point; one that did not happen is
// tried everywhere, and each such transfer open at once doubles the ways
// to reach the next read. Valid histories without them check fast (20,000
// operations of 10 clients over 8 accounts: about a second), but in that
// simulated history about 20 info transfers that did not happen out of 6,000
// operations already kept the search from finishing in 10 seconds: the
// verdict is then Unknown, never true. Its cache of states grows as fast,
// which is what the memory budget bounds. So the reads settle the unknown
// transfers first when they can (settleSegments): the checkpoints between
// which ok transfers and reads alternate say how many of each kind took
// effect in each segment, and a settled transfer is placed within its
// segment or left out.
func checkBankLinear(h *bankHistory, o BankOptions, timeout time.Duration, watch *memoryWatch) (BankLinear, *bankRefutation) {
	lin := BankLinear{Valid: Unknown, Timeout: timeout.String()}
	var all []*bankOp
	latest := int64(-1) << 62
	for _, r := range h.okReads {
		if r.state != "" {
			all = append(all, r)
			latest = max(latest, r.ret)
		}
	}
	var unknown []*bankOp
	for _, t := range h.transfers {
		if t.unknown {
			unknown = append(unknown, t)
		} else {
			all = append(all, t)
			latest = max(latest, t.ret)
		}
	}
	var kept []*bankOp
	for _, t := range unknown {
		if t.call > latest {
			lin.Dropped++
			continue
		}
		kept = append(kept, t)
	}
	model := bankModel(o.Accounts, o.InitialBalance)
	seg, segOK := settleSegments(h, kept, o)
	switch {
	case segOK && seg.Unique:
		// Exact: the search decides the history either way.
		lin.Checkpoints = seg.Checkpoints
		lin.Dropped += seg.Dropped
		lin.Settled = seg.Dropped + len(seg.Definite)
		all = append(all, seg.Definite...)
		kept = seg.Open
	case segOK && timeout > 0:
		// Several assignments fit: one that makes the history
		// linearizable decides it, else the search below does.
		start := time.Now()
		if checkWithin(model, bankOperations(append(slices.Clone(all), seg.Definite...)), timeout/4, watch) == porcupine.Ok {
			lin.Valid, lin.Ops, lin.Checkpoints = True, len(all)+len(seg.Definite), seg.Checkpoints
			lin.Dropped += len(kept) - len(seg.Definite)
			lin.Settled = len(kept)
			return lin, nil
		}
		timeout -= time.Since(start)
		fallthrough
	default:
		if applied, settled, ok := appliedUnknown(h, kept, o); ok {
			lin.Dropped += len(kept) - len(applied)
			lin.Settled = settled
			kept = applied
		}
	}
	if timeout <= 0 {
		lin.Ops = len(all) + len(kept)
		return lin, nil // expired: undecided
	}
	// First the cheap question: is there a linearization in which no
	// unknown transfer took effect? Its yes is a yes for the history (an
	// unknown transfer may never happen), and histories of a correct
	// system answer it fast: their unknown transfers mostly aborted. Only
	// a no, or running out of a quarter of the budget, pays for the full
	// search, where each unknown transfer stays open to the end.
	if len(kept) > 0 {
		start := time.Now()
		if checkWithin(model, bankOperations(all), timeout/4, watch) == porcupine.Ok {
			lin.Valid, lin.Ops = True, len(all)
			lin.Dropped += len(kept)
			lin.Settled += len(kept)
			return lin, nil
		}
		timeout -= time.Since(start)
	}
	all = append(all, kept...)
	slices.SortStableFunc(all, func(a, b *bankOp) int { return cmp.Compare(a.call, b.call) })
	lin.Ops = len(all)
	if timeout <= 0 || watch.exceeded() {
		return lin, nil
	}
	pops := bankOperations(all)
	switch checkWithin(model, pops, timeout, watch) {
	case porcupine.Ok:
		lin.Valid = True
		return lin, nil
	case porcupine.Unknown:
		return lin, nil
	}
	lin.Valid = False
	return lin, &bankRefutation{model: model, ops: all, pops: pops, timeout: timeout}
}

// bankRefutation is a history the search found not linearizable: the
// operations it searched, in order, as given to Porcupine.
type bankRefutation struct {
	model   porcupine.Model
	ops     []*bankOp
	pops    []porcupine.Operation
	timeout time.Duration
}

// explain searches again, with Porcupine's Verbose variant, under its own
// memory watch of budget bytes, for the operation, not unknown, that
// returns first among those the longest partial linearization leaves out;
// nil when it finds none or the watch stops it.
func (r *bankRefutation) explain(budget int64) *StuckOp {
	watch := watchMemory(budget)
	result, info := porcupine.CheckOperationsVerbose(stoppable(r.model, new(atomic.Bool), watch), r.pops, r.timeout)
	watch.close()
	if result != porcupine.Illegal || watch.exceeded() {
		// Failing steps cut the partial linearizations short.
		return nil
	}
	partials := info.PartialLinearizations()
	if len(partials) != 1 {
		return nil
	}
	var longest []int
	for _, l := range partials[0] {
		if len(l) > len(longest) {
			longest = l
		}
	}
	in := make([]bool, len(r.ops))
	for _, id := range longest {
		in[id] = true
	}
	var stuck *bankOp
	for id, op := range r.ops {
		if !in[id] && !op.unknown && (stuck == nil || op.ret < stuck.ret || op.ret == stuck.ret && op.call < stuck.call) {
			stuck = op
		}
	}
	if stuck == nil {
		return nil
	}
	return &StuckOp{Op: stuck.String(), Process: stuck.process.String(),
		InvokeIndex: stuck.invIndex, CompletionIndex: stuck.doneIndex, Time: stuck.call}
}

// bankOperations orders ops by invoke time as Porcupine operations.
func bankOperations(ops []*bankOp) []porcupine.Operation {
	ops = slices.Clone(ops)
	slices.SortStableFunc(ops, func(a, b *bankOp) int { return cmp.Compare(a.call, b.call) })
	pops := make([]porcupine.Operation, len(ops))
	for i, op := range ops {
		pops[i] = porcupine.Operation{Input: op, Call: op.call, Return: op.ret}
	}
	return pops
}

// maxSettle bounds how many unknown transfers appliedUnknown considers:
// it enumerates about 2^(n/2) count vectors twice.
const maxSettle = 36

// appliedUnknown decides, when it can, which unknown (info or never
// completed) transfers took effect, from the history's last read: when
// every ok transfer completed before that read began, its balances are the
// initial ones plus every ok transfer plus the unknown transfers that
// happened before it. If exactly one choice of how many of each kind of
// unknown transfer (same accounts, same amount) makes that sum, any
// linearization applies that many of each before the read (the others
// were no-ops, or come after the last read, where nothing observes them;
// every read that may linearize after it must have seen the same state),
// so the rest can be left out of the search, which is what makes a history
// with many info transfers checkable. ok is false when the last read does
// not qualify, no subset or several fit, or there are too many to try; the
// search then keeps every unknown transfer.
func appliedUnknown(h *bankHistory, unknown []*bankOp, o BankOptions) (applied []*bankOp, settled int, ok bool) {
	if len(unknown) == 0 || len(unknown) > maxSettle || o.Accounts > 64 {
		return nil, 0, false
	}
	var last *bankOp
	for _, r := range h.okReads {
		if r.state != "" && (last == nil || r.call > last.call) {
			last = r
		}
	}
	if last == nil {
		return nil, 0, false
	}
	for _, r := range h.okReads {
		if r != last && r.ret >= last.call && r.state != last.state {
			// Another read may linearize after it, and saw another state.
			return nil, 0, false
		}
	}
	need := make([]int64, o.Accounts) // what the unknown transfers must add up to
	for i, b := range last.balances {
		need[i] = b - o.InitialBalance
	}
	for _, t := range h.transfers {
		if t.unknown {
			continue
		}
		if t.ret >= last.call {
			return nil, 0, false // not quiescent before the last read
		}
		need[t.from] += t.amount
		need[t.to] -= t.amount
	}
	for _, t := range unknown {
		if t.call >= last.ret {
			return nil, 0, false
		}
	}
	solutions, groups, counts := unknownSubsets(unknown, need, o.Accounts)
	if solutions != 1 {
		return nil, 0, false
	}
	// A group none of which happened is left out; of the others every
	// member stays in the search (which of a partly applied group did is
	// for Porcupine to find).
	for i, g := range groups {
		if counts[i] > 0 {
			applied = append(applied, g.ops...)
		}
		if counts[i] == 0 || counts[i] == len(g.ops) {
			settled += len(g.ops)
		}
	}
	return applied, settled, true
}

// unknownGroup is the unknown transfers with one effect: same accounts,
// same amount.
type unknownGroup struct {
	ops      []*bankOp
	from, to int
	amount   int64
}

// groupUnknown groups unknown transfers by their effect (same accounts,
// same amount), in order of each group's first member; each group keeps
// its members in the order given.
func groupUnknown(unknown []*bankOp) []*unknownGroup {
	var groups []*unknownGroup
	byKind := map[[3]int64]*unknownGroup{}
	for _, t := range unknown {
		k := [3]int64{int64(t.from), int64(t.to), t.amount}
		g := byKind[k]
		if g == nil {
			g = &unknownGroup{from: t.from, to: t.to, amount: t.amount}
			byKind[k] = g
			groups = append(groups, g)
		}
		g.ops = append(g.ops, t)
	}
	return groups
}

// unknownSubsets counts the ways (up to 2) that unknown transfers can add
// up to need, balance by balance; identical transfers (same accounts and
// amount) have the same effect, so a way is how many of each group. For
// one way it also returns the groups and how many of each.
func unknownSubsets(unknown []*bankOp, need []int64, accounts int) (solutions int, groups []*unknownGroup, counts []int) {
	// Identical transfers (same accounts and amount) have the same effect:
	// the sum can only tell how many of each group happened.
	groups = groupUnknown(unknown)
	// Meet in the middle: every count vector of the first half of the
	// groups, by the sum it makes; then each of the second half looks for
	// its complement.
	half := len(groups) / 2
	left, right := groups[:half], groups[half:]
	sums := func(gs []*unknownGroup, visit func(counts []int, v []int64)) {
		v := make([]int64, accounts)
		counts := make([]int, len(gs))
		var rec func(i int)
		rec = func(i int) {
			if i == len(gs) {
				visit(counts, v)
				return
			}
			g := gs[i]
			for c := 0; c <= len(g.ops); c++ {
				counts[i] = c
				rec(i + 1)
				v[g.from] -= g.amount
				v[g.to] += g.amount
			}
			n := int64(len(g.ops) + 1)
			v[g.from] += n * g.amount
			v[g.to] -= n * g.amount
		}
		rec(0)
	}
	type found struct {
		counts []int
		n      int
	}
	byValue := map[string]found{}
	sums(left, func(counts []int, v []int64) {
		k := bankState(v)
		f := byValue[k]
		byValue[k] = found{append([]int(nil), counts...), f.n + 1}
	})
	solutions = 0
	var leftCounts, rightCounts []int
	want := make([]int64, accounts)
	sums(right, func(counts []int, v []int64) {
		if solutions > 1 {
			return
		}
		for i := range want {
			want[i] = need[i] - v[i]
		}
		if f, ok := byValue[bankState(want)]; ok {
			solutions += f.n
			leftCounts, rightCounts = f.counts, append([]int(nil), counts...)
		}
	})
	if solutions == 1 {
		counts = append(leftCounts, rightCounts...)
	}
	return solutions, groups, counts
}
