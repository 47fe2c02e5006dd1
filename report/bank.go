package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/faultline-io/faultline/checker"
)

const (
	// maxBankBadReads caps the bad reads the report lists (results.json
	// keeps up to 20).
	maxBankBadReads = 10
	// maxBankErrors caps the distinct errors listed per kind of operation.
	maxBankErrors = 10
)

// bankView is the bank checker's result as the page shows it: the totals,
// the final reads and state, the transfers, the linearizability verdict
// and how long participants blocked in doubt. Node names, read values and
// errors come from the history: the template escapes them.
type bankView struct {
	Accounts                int
	InitialBalance, Total   int64
	Reads, Transfers        bankCountsView
	BadReadCount, GoodReads int
	BadReads                []bankBadReadRow

	// The final reads: checked only when some completed ok.
	FinalChecked, FinalAgree bool
	Finals                   []bankFinalRow
	FinalMissing             string

	// The final state against the acknowledged transfers.
	StateChecked, StateExplained bool
	StateWhy, StateNode          string
	StateInvoke                  string
	StateUnknown                 int
	StateRows                    []bankStateRow

	LinValid, LinTimeout, LinStuck string
	LinOps, LinSettled, LinDropped int

	// Blocked is nil when the history has no target stats; TargetNote
	// then says why.
	Blocked    *bankBlockedView
	TargetNote string
}

type bankCountsView struct {
	OK, Fail, Info, Pending int
	// Errors are the fail errors, most frequent first, at most
	// maxBankErrors; MoreErrors counts the distinct ones left out.
	Errors     []bankErrorRow
	MoreErrors int
}

type bankErrorRow struct {
	Error string
	Count int
}

type bankBadReadRow struct {
	Reason, Node, Process, Value, Sum string
	Invoke, Complete, Index           string
}

type bankFinalRow struct {
	Node, Balances string
	Sum            string
	// Differs marks a node whose balances are not the most common ones.
	Differs bool
}

type bankStateRow struct {
	Account             int
	Final, Acknowledged int64
	Diff                string // final - acknowledged, "" when equal
}

// bankBlockedView is the target's blocking report: over all nodes, then
// per node.
type bankBlockedView struct {
	All   bankBlockedRow
	Nodes []bankBlockedRow
}

type bankBlockedRow struct {
	Node                    string
	InDoubt, Decided, Count int
	P50, P99, Max           string
}

func bankOf(r checker.Result) (bankView, error) {
	var d checker.BankDetails
	if err := json.Unmarshal(r.Details, &d); err != nil {
		return bankView{}, err
	}
	v := bankView{Accounts: d.Accounts, InitialBalance: d.InitialBalance, Total: d.Total,
		Reads: bankCounts(d.Reads), Transfers: bankCounts(d.Transfers),
		BadReadCount: d.BadReadCount, GoodReads: d.Reads.OK - d.BadReadCount}
	for _, b := range d.BadReads[:min(len(d.BadReads), maxBankBadReads)] {
		row := bankBadReadRow{Reason: b.Reason, Node: b.Node, Process: b.Process, Value: jsonText(b.Value), Sum: "-",
			Invoke: secs(b.Invoke), Complete: secs(b.Complete),
			Index: strconv.FormatInt(b.InvokeIndex, 10) + ", " + strconv.FormatInt(b.CompleteIndex, 10)}
		if b.Final != "" {
			row.Node = b.Final + " (final read)"
		}
		if b.Sum != nil {
			row.Sum = strconv.FormatInt(*b.Sum, 10)
		}
		v.BadReads = append(v.BadReads, row)
	}

	v.FinalChecked, v.FinalAgree = d.Final.Checked, d.Final.Agree
	common := mostCommon(d.Final.Balances)
	for _, n := range slices.Sorted(maps.Keys(d.Final.Balances)) {
		b := d.Final.Balances[n]
		row := bankFinalRow{Node: n, Balances: jsonText(b), Sum: "-", Differs: string(b) != common}
		var xs []int64
		if json.Unmarshal(b, &xs) == nil {
			var s int64
			for _, x := range xs {
				s += x
			}
			row.Sum = strconv.FormatInt(s, 10)
		}
		v.Finals = append(v.Finals, row)
	}
	v.FinalMissing = strings.Join(d.Final.Missing, " ")

	fs := d.FinalState
	v.StateChecked, v.StateExplained, v.StateWhy, v.StateNode, v.StateUnknown = fs.Checked, fs.Explained, fs.Why, fs.Node, fs.Unknown
	if fs.Checked {
		v.StateInvoke = secs(fs.Invoke)
		for i := range max(len(fs.Balances), len(fs.Acknowledged)) {
			row := bankStateRow{Account: i}
			if i < len(fs.Balances) {
				row.Final = fs.Balances[i]
			}
			if i < len(fs.Acknowledged) {
				row.Acknowledged = fs.Acknowledged[i]
			}
			if diff := row.Final - row.Acknowledged; diff != 0 {
				row.Diff = fmt.Sprintf("%+d", diff)
			}
			v.StateRows = append(v.StateRows, row)
		}
	}

	l := d.Linearizable
	v.LinValid, v.LinTimeout, v.LinOps, v.LinSettled, v.LinDropped = l.Valid.String(), l.Timeout, l.Ops, l.Settled, l.Dropped
	if l.Stuck != nil {
		v.LinStuck = stuckText(l.Stuck)
	}

	v.TargetNote = d.TargetNote
	if ts := d.Target; ts != nil {
		bv := &bankBlockedView{All: bankBlockedRow{Node: "all", InDoubt: ts.InDoubt, Decided: ts.Decided, Count: ts.BlockedCount}}
		bv.All.P50, bv.All.P99, bv.All.Max = blockedQuantiles(ts.BlockedCount, ts.Blocked)
		for _, n := range slices.Sorted(maps.Keys(ts.Nodes)) {
			st := ts.Nodes[n]
			row := bankBlockedRow{Node: n, InDoubt: st.InDoubt, Decided: st.Decided, Count: len(st.BlockedNanos)}
			row.P50, row.P99, row.Max = blockedQuantiles(len(st.BlockedNanos), nearestRank(st.BlockedNanos))
			bv.Nodes = append(bv.Nodes, row)
		}
		v.Blocked = bv
	}
	return v, nil
}

func bankCounts(c checker.BankCounts) bankCountsView {
	v := bankCountsView{OK: c.OK, Fail: c.Fail, Info: c.Info, Pending: c.Pending}
	for _, e := range slices.Sorted(maps.Keys(c.FailErrors)) {
		v.Errors = append(v.Errors, bankErrorRow{Error: cmp.Or(e, "(no error given)"), Count: c.FailErrors[e]})
	}
	slices.SortStableFunc(v.Errors, func(a, b bankErrorRow) int { return b.Count - a.Count })
	if len(v.Errors) > maxBankErrors {
		v.MoreErrors = len(v.Errors) - maxBankErrors
		v.Errors = v.Errors[:maxBankErrors]
	}
	return v
}

// mostCommon is the value most nodes hold (the smallest on a tie).
func mostCommon(m map[string]json.RawMessage) string {
	n := map[string]int{}
	for _, b := range m {
		n[string(b)]++
	}
	best := ""
	for _, s := range slices.Sorted(maps.Keys(n)) {
		if best == "" || n[s] > n[best] {
			best = s
		}
	}
	return best
}

func blockedQuantiles(count int, l checker.Latency) (p50, p99, maxv string) {
	if count == 0 {
		return "-", "-", "-"
	}
	return nanosText(l.P50), nanosText(l.P99), nanosText(l.Max)
}

// nanosText is a duration in ns as the checkers' summaries write it.
func nanosText(ns int64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.2fs", float64(ns)/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.2fms", float64(ns)/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1fµs", float64(ns)/1e3)
	}
	return fmt.Sprintf("%dns", ns)
}

// nearestRank is the p50, p99 and max of d by the nearest-rank method, as
// the checkers compute them (checker.CheckBank's Blocked over all nodes);
// d is left as it is.
func nearestRank(d []int64) checker.Latency {
	if len(d) == 0 {
		return checker.Latency{}
	}
	s := slices.Sorted(slices.Values(d))
	rank := func(permille int) int64 { // the value at 1-based rank ceil(q·n)
		r := (permille*len(s) + 999) / 1000
		return s[max(r, 1)-1]
	}
	return checker.Latency{P50: rank(500), P99: rank(990), Max: s[len(s)-1]}
}
