package checker

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-io/faultline/history"
)

// ConvergenceOptions configures CheckConvergence.
type ConvergenceOptions struct {
	// Model is the workload whose semantics explain the final state:
	// "counter", "set", "register" or "lww-register" (an LWW register) or
	// "mv-register".
	Model string
	// Quiet is the final phase's longest wait for agreement (for the
	// summary only).
	Quiet time.Duration
}

// ConvergenceDetails is Result.Details of CheckConvergence.
type ConvergenceDetails struct {
	Model string `json:"model"`
	// Keys counts the keys of the history (client ops and final reads).
	Keys int `json:"keys"`
	// Nodes are the nodes some final read asked for, sorted.
	Nodes []string `json:"nodes"`
	// FinalReads counts the ok final reads.
	FinalReads int `json:"final_reads"`
	// HealTime is the time (ns) of the last "heal-all" nemesis op; absent
	// when the history has none.
	HealTime *int64 `json:"heal_time,omitempty"`
	// FinalPhaseStart is HealTime, or without one the invoke time of the
	// earliest final read: what the convergence time counts from.
	FinalPhaseStart int64 `json:"final_phase_start"`
	// ConvergedAt is when the final phase showed every node's final state
	// of every key for good: per key and node, the completion of the
	// first ok final read from which on every ok final read of that key on
	// that node returned the agreed state; the latest of those. Absent
	// when some key's nodes disagree or there are no final reads.
	ConvergedAt *int64 `json:"converged_at,omitempty"`
	// ConvergenceNanos is ConvergedAt - FinalPhaseStart.
	ConvergenceNanos *int64 `json:"convergence_ns,omitempty"`
	// Quiet is ConvergenceOptions.Quiet, when set.
	Quiet string `json:"quiet,omitempty"`
	// FailingKeys counts the keys whose final state is wrong; Failures
	// describes the first 100 of them, earliest anomaly first.
	FailingKeys int                  `json:"failing_keys"`
	Failures    []ConvergenceFailure `json:"failures,omitempty"`
	// IncompleteKeys counts the keys without an ok final read on every
	// node (and nothing wrong otherwise); Incomplete lists the first 100
	// of them, in key order.
	IncompleteKeys int                     `json:"incomplete_keys"`
	Incomplete     []ConvergenceIncomplete `json:"incomplete,omitempty"`
}

const (
	maxConvFailures = 100 // keys in ConvergenceDetails.Failures and .Incomplete
	maxConvOps      = 20  // ops in ConvergenceProblem.Ops
)

// ConvergenceFailure is one key whose final state is wrong.
type ConvergenceFailure struct {
	Key string `json:"key"`
	// States holds each node's final state of the key (its last ok final
	// read), in canonical JSON.
	States map[string]json.RawMessage `json:"states"`
	// Problems says what is wrong, one entry per kind.
	Problems []ConvergenceProblem `json:"problems"`
}

// ConvergenceProblem is one thing wrong with a key's final state. Kind is
// one of:
//
//   - "disagreement": the nodes' final states differ;
//   - "out-of-bounds": a counter outside what the adds explain;
//   - "never-added": a set element no add (ok or info) added;
//   - "lost-element": a set element missing though its latest ok add was
//     invoked after every remove of it completed;
//   - "never-written": a register value no write (ok or info) wrote;
//   - "lost-all-writes": a register still unwritten (null, or [] for an MV
//     register) though some write completed ok;
//   - "superseded-value": a register value that a later ok write on the
//     same node had already seen, and so must have replaced;
//   - "lost-write": an MV register lost an ok write that no other write
//     could have superseded;
//   - "duplicate-value": an MV register holds a value twice;
//   - "impossible-read": a read during the test (not a final read) returned
//     what no replica could hold: a counter outside what the adds invoked
//     before the read completed could make, or a set element no add
//     invoked before it completed added. Any replica's state is made of
//     updates invoked before it is read, so this holds for every node, at
//     any moment: the anomaly shows at once, not only after the heal.
type ConvergenceProblem struct {
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
	// Ops are operations that explain the problem, at most 20;
	// OmittedOps counts those left out.
	Ops        []ConvergenceOp `json:"ops,omitempty"`
	OmittedOps int             `json:"omitted_ops,omitempty"`
}

// ConvergenceOp is an operation cited by a ConvergenceProblem.
type ConvergenceOp struct {
	// Role says why it is cited ("observed", "superseding write", ...).
	Role    string          `json:"role"`
	F       string          `json:"f"`
	Type    string          `json:"type"` // ok, info, fail, or "pending" (never completed)
	Process string          `json:"process"`
	Node    string          `json:"node,omitempty"`
	Final   string          `json:"final,omitempty"`
	Value   json.RawMessage `json:"value,omitempty"`
	// InvokeIndex and Invoke are the invoke's index and time (ns);
	// CompleteIndex and Complete the completion's, -1 and absent when it
	// never completed.
	InvokeIndex   int64  `json:"invoke_index"`
	Invoke        int64  `json:"invoke"`
	CompleteIndex int64  `json:"complete_index"`
	Complete      *int64 `json:"complete,omitempty"`
}

// ConvergenceIncomplete is a key the check could not decide: some node
// has no ok final read of it.
type ConvergenceIncomplete struct {
	Key string `json:"key"`
	// Missing are the nodes without an ok final read of the key: every
	// node when the key has none.
	Missing []string `json:"missing"`
}

// CheckConvergence checks the history of a CRDT workload (o.Model): after
// the faults are healed every replica's final read is equal, and the
// acknowledged operations explain it. Its Result is named "convergence".
//
// Client ops are paired by process. A node's final state of a key is its
// last ok final read (history.Op.Final names the node). ok ops happened,
// fail ops did not, and info ops and invokes that never completed may have
// happened at any time after their invoke. Per key:
//
//   - agreement: every node's final state is the same value (arrays are
//     compared as sorted lists), else False;
//   - counter: the value lies between the sum of ok adds plus every
//     negative info add and the sum of ok adds plus every positive one;
//   - set: every element was added (ok or info), and every element whose
//     latest ok add was invoked after every remove of it completed ok (and
//     that has no info remove) is present;
//   - register (LWW): the value was written (ok or info), or is null and no
//     write completed ok; and no ok write of another value was invoked on a
//     node after an ok op there had completed that wrote or (non-final)
//     read the value: that write saw it, so its timestamp is larger;
//   - mv-register: each value was written, none twice, none seen as above
//     by an ok write of another value; the set is empty only if no write
//     completed ok; and each ok write missing from it has some other write
//     (ok, info or pending; any node) that had not completed when it was
//     invoked, which could have superseded it.
//
// The verdict is False if some key fails; else Unknown if some key lacks
// an ok final read on some node (a node being any that a final read asked
// for), if there are no final reads, or if the history cannot be read
// (unpaired completions, an f the model does not have, values of the
// wrong shape, with the op's index); else True. Details are a
// ConvergenceDetails, with the convergence time; Result.FirstAnomalyTime
// is the earliest time a failing key's anomaly shows: the invoke of the
// lost write or add, or of the write that should have superseded the
// surviving value, else of the key's first final read.
func CheckConvergence(ops []history.Op, o ConvergenceOptions) Result {
	const name = "convergence"
	res := Result{Checker: name, Valid: Unknown}
	model, ok := convModels[o.Model]
	if !ok {
		res.Summary = fmt.Sprintf("unknown model %q (known: %s)", o.Model, strings.Join(slices.Sorted(maps.Keys(convModels)), ", "))
		return res
	}
	h, err := collectConvergence(ops, o.Model, model)
	if err != nil {
		res.Summary = "cannot check the history: " + err.Error()
		return res
	}
	det := ConvergenceDetails{Model: o.Model, Keys: len(h.keys), Nodes: h.nodes, HealTime: h.heal}
	if o.Quiet > 0 {
		det.Quiet = o.Quiet.String()
	}
	if len(h.nodes) == 0 {
		res.Summary = fmt.Sprintf("no final reads (%s)", convCount(len(h.keys), "key"))
		res.Details, _ = json.Marshal(det)
		return res
	}
	det.FinalPhaseStart = h.firstFinal
	if h.heal != nil {
		det.FinalPhaseStart = *h.heal
	}

	type failing struct {
		f  ConvergenceFailure
		at int64
	}
	var fails []failing
	var convergedAt int64
	disagreed := false
	for _, key := range slices.Sorted(maps.Keys(h.keys)) {
		k := h.keys[key]
		states := make(map[string]*convOp, len(h.nodes))
		for _, r := range k.finals {
			if r.typ == history.OK {
				states[r.final] = r
				det.FinalReads++
			}
		}
		var missing []string
		for _, n := range h.nodes {
			if states[n] == nil {
				missing = append(missing, n)
			}
		}
		var agreed *convOp
		distinct := false
		for _, n := range h.nodes {
			if r := states[n]; r != nil {
				if agreed == nil {
					agreed = r
				} else if r.val.String() != agreed.val.String() {
					distinct = true
				}
			}
		}
		var problems []convProblem
		if model.reads != nil {
			problems = model.reads(k)
		}
		switch {
		case agreed == nil:
		case distinct:
			disagreed = true
			problems = append(problems, disagreement(k, h.nodes, states, o.Quiet))
		default:
			problems = append(problems, model.check(k, agreed.val)...)
			convergedAt = max(convergedAt, k.stableSince(agreed.val))
		}
		if len(problems) > 0 {
			f := ConvergenceFailure{Key: key, States: make(map[string]json.RawMessage, len(states))}
			for n, r := range states {
				f.States[n] = json.RawMessage(r.val.String())
			}
			at := int64(math.MaxInt64)
			for _, p := range problems {
				f.Problems = append(f.Problems, p.public())
				at = min(at, p.at)
			}
			fails = append(fails, failing{f, at})
			continue
		}
		if len(missing) > 0 {
			det.IncompleteKeys++
			if len(det.Incomplete) < maxConvFailures {
				det.Incomplete = append(det.Incomplete, ConvergenceIncomplete{Key: key, Missing: missing})
			}
		}
	}
	if !disagreed && det.FinalReads > 0 {
		det.ConvergedAt = &convergedAt
		d := convergedAt - det.FinalPhaseStart
		det.ConvergenceNanos = &d
	}
	slices.SortStableFunc(fails, func(a, b failing) int { return cmp.Compare(a.at, b.at) })
	det.FailingKeys = len(fails)
	for _, f := range fails[:min(len(fails), maxConvFailures)] {
		det.Failures = append(det.Failures, f.f)
	}

	switch {
	case len(fails) > 0:
		res.Valid = False
		at := fails[0].at
		res.FirstAnomalyTime = &at
		f := fails[0].f
		res.Summary = fmt.Sprintf("key %q: %s (%d of %s failed)", f.Key, f.Problems[0].Reason, len(fails), convCount(len(h.keys), "key"))
	case det.IncompleteKeys > 0:
		in := det.Incomplete[0]
		res.Summary = fmt.Sprintf("unknown: key %q has no ok final read on %s (%d of %s incomplete)",
			in.Key, strings.Join(in.Missing, ", "), det.IncompleteKeys, convCount(len(h.keys), "key"))
	default:
		res.Valid = True
		since := "heal"
		if h.heal == nil {
			since = "the first final read"
		}
		res.Summary = fmt.Sprintf("converged %s after %s; %s, %s",
			fmtNanos(*det.ConvergenceNanos), since, convCount(len(h.keys), "key"), convCount(len(h.nodes), "node"))
	}
	res.Details, _ = json.Marshal(det)
	return res
}

// convOp is one client operation of a CRDT workload, invoke and completion
// paired.
type convOp struct {
	f       string
	key     string
	process history.Process
	node    string // the node that answered (the completion's, else the invoke's)
	final   string // final reads: the node whose state was read
	typ     history.Type
	raw     json.RawMessage // updates: the argument; reads: the result
	val     convValue       // raw decoded: updates always, reads when ok
	inv     int64
	done    int64 // math.MaxInt64 when never completed
	invIdx  int64
	doneIdx int64 // -1 when never completed
}

func (c *convOp) ok() bool { return c.typ == history.OK }

// mayHaveHappened: ok, info or never completed.
func (c *convOp) mayHaveHappened() bool { return c.typ != history.Fail }

// uncertain: info or never completed.
func (c *convOp) uncertain() bool { return c.typ != history.OK && c.typ != history.Fail }

// convValue is a decoded value: null, an integer, or a sorted array.
type convValue struct {
	null  bool
	array bool
	n     int64
	elems []int64 // arrays, sorted ascending
}

// String is the canonical JSON encoding.
func (v convValue) String() string {
	switch {
	case v.null:
		return "null"
	case v.array:
		var b strings.Builder
		b.WriteByte('[')
		for i, e := range v.elems {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatInt(e, 10))
		}
		b.WriteByte(']')
		return b.String()
	}
	return strconv.FormatInt(v.n, 10)
}

// short is String cut to a length fit for a summary.
func (v convValue) short() string {
	s := v.String()
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// convKey is one key's operations.
type convKey struct {
	ops    []*convOp // client ops other than final reads, in invoke order
	finals []*convOp // final reads, in completion order
}

// stableSince is the latest, over nodes, completion time of the first ok
// final read of k on that node from which on every ok final read there
// returned v.
func (k *convKey) stableSince(v convValue) int64 {
	want := v.String()
	since := make(map[string]int64)
	for _, r := range k.finals {
		if !r.ok() {
			continue
		}
		if r.val.String() != want {
			since[r.final] = -1
		} else if s, ok := since[r.final]; !ok || s < 0 {
			since[r.final] = r.done
		}
	}
	var out int64
	for _, s := range since {
		out = max(out, s)
	}
	return out
}

// convHistory is a history grouped by key.
type convHistory struct {
	keys       map[string]*convKey
	nodes      []string // every node a final read asked for, sorted
	heal       *int64   // time of the last heal-all
	firstFinal int64    // invoke time of the earliest final read
}

// convModel is one workload's semantics.
type convModel struct {
	updates []string // its fs other than read
	// reads return arrays (else integers); nullable: they may return null
	array, nullable bool
	check           func(k *convKey, final convValue) []convProblem
	// reads, when set, checks the reads made during the test.
	reads func(k *convKey) []convProblem
}

var convModels = map[string]convModel{
	"counter":  {updates: []string{"add"}, check: checkCounter, reads: counterReads},
	"set":      {updates: []string{"add", "remove"}, array: true, check: checkSet, reads: setReads},
	"register": {updates: []string{"write"}, nullable: true, check: checkLWW},
	// lww-register is register checked for convergence alone.
	"lww-register": {updates: []string{"write"}, nullable: true, check: checkLWW},
	"mv-register":  {updates: []string{"write"}, array: true, check: checkMV},
}

// collectConvergence pairs the client ops of ops by process, decodes their
// values and groups them by key.
func collectConvergence(ops []history.Op, name string, m convModel) (*convHistory, error) {
	h := &convHistory{keys: make(map[string]*convKey), firstFinal: math.MaxInt64}
	open := make(map[history.Process]*convOp)
	var all []*convOp
	nodes := make(map[string]bool)
	for i := range ops {
		op := &ops[i]
		if op.IsNemesis() {
			if op.F == "heal-all" && (h.heal == nil || op.Time >= *h.heal) {
				t := op.Time
				h.heal = &t
			}
			continue
		}
		if op.Type == history.Invoke {
			if op.F != "read" && !slices.Contains(m.updates, op.F) {
				return nil, badOp(op, "f %q is not an operation of the %s workload", op.F, name)
			}
			c := &convOp{f: op.F, key: op.Key, process: op.Process, node: op.Node, final: op.Final,
				raw: op.Value, inv: op.Time, invIdx: op.Index, done: math.MaxInt64, doneIdx: -1}
			if op.F != "read" {
				c.final = "" // only reads read a node's final state
			}
			open[op.Process] = c // an invoke it replaces stays pending
			all = append(all, c)
			continue
		}
		if !op.Type.Valid() {
			return nil, badOp(op, "unknown type %q", op.Type)
		}
		c := open[op.Process]
		if c == nil {
			return nil, badOp(op, "%s completion with no outstanding invoke of process %s", op.Type, op.Process)
		}
		delete(open, op.Process)
		c.typ, c.done, c.doneIdx = op.Type, op.Time, op.Index
		if op.Node != "" {
			c.node = op.Node
		}
		if op.Final != "" && c.f == "read" {
			c.final = op.Final
		}
		if c.f == "read" || len(c.raw) == 0 {
			c.raw = op.Value
		}
	}
	for _, c := range all {
		var err error
		switch {
		case c.f != "read":
			c.val, err = parseConvValue(c.raw, false, false)
		case c.ok():
			c.val, err = parseConvValue(c.raw, m.array, m.nullable)
		}
		if err != nil {
			idx := c.invIdx
			if c.f == "read" {
				idx = c.doneIdx
			}
			return nil, &historyError{fmt.Sprintf("op index %d: %s %s: %v", idx, c.typ, c.f, err)}
		}
		k := h.keys[c.key]
		if k == nil {
			k = &convKey{}
			h.keys[c.key] = k
		}
		if c.final != "" {
			k.finals = append(k.finals, c)
			nodes[c.final] = true
			h.firstFinal = min(h.firstFinal, c.inv)
		} else {
			k.ops = append(k.ops, c)
		}
	}
	for _, k := range h.keys {
		slices.SortStableFunc(k.ops, func(a, b *convOp) int { return cmp.Compare(a.inv, b.inv) })
		slices.SortStableFunc(k.finals, func(a, b *convOp) int { return cmp.Compare(a.doneIdx, b.doneIdx) })
	}
	h.nodes = slices.Sorted(maps.Keys(nodes))
	return h, nil
}

// parseConvValue decodes an integer, or with array a JSON array of
// integers (sorted on return), or with nullable also null.
func parseConvValue(raw json.RawMessage, array, nullable bool) (convValue, error) {
	s := strings.TrimSpace(string(raw))
	if s == "null" || s == "" {
		if nullable && s == "null" {
			return convValue{null: true}, nil
		}
		return convValue{}, fmt.Errorf("value %s, want %s", shortJSON(raw), convShape(array))
	}
	if !array {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return convValue{}, fmt.Errorf("value %s, want %s", shortJSON(raw), convShape(array))
		}
		return convValue{n: n}, nil
	}
	var elems []int64
	if !strings.HasPrefix(s, "[") || json.Unmarshal(raw, &elems) != nil {
		return convValue{}, fmt.Errorf("value %s, want %s", shortJSON(raw), convShape(array))
	}
	if elems == nil {
		elems = []int64{}
	}
	slices.Sort(elems)
	return convValue{array: true, elems: elems}, nil
}

func convShape(array bool) string {
	if array {
		return "an array of integers"
	}
	return "an integer"
}

// convProblem is a ConvergenceProblem before it is made public.
type convProblem struct {
	kind, reason string
	at           int64 // when the anomaly shows
	ops          []convCited
}

type convCited struct {
	role string
	op   *convOp
}

func (p convProblem) public() ConvergenceProblem {
	out := ConvergenceProblem{Kind: p.kind, Reason: p.reason}
	for _, c := range p.ops {
		if len(out.Ops) == maxConvOps {
			out.OmittedOps++
			continue
		}
		o := c.op
		typ := string(o.typ)
		if o.doneIdx < 0 {
			typ = "pending"
		}
		co := ConvergenceOp{Role: c.role, F: o.f, Type: typ, Process: o.process.String(), Node: o.node, Final: o.final,
			InvokeIndex: o.invIdx, Invoke: o.inv, CompleteIndex: o.doneIdx}
		if len(o.raw) > 0 {
			co.Value = o.raw
		}
		if o.doneIdx >= 0 {
			t := o.done
			co.Complete = &t
		}
		out.Ops = append(out.Ops, co)
	}
	return out
}

// firstFinalInvoke is the invoke time of k's earliest final read.
func (k *convKey) firstFinalInvoke() int64 {
	t := int64(math.MaxInt64)
	for _, r := range k.finals {
		t = min(t, r.inv)
	}
	return t
}

// stateReads cites every node's final state of k: its last ok final read.
func (k *convKey) stateReads() []convCited {
	last := make(map[string]*convOp)
	for _, r := range k.finals {
		if r.ok() {
			last[r.final] = r
		}
	}
	var out []convCited
	for _, n := range slices.Sorted(maps.Keys(last)) {
		out = append(out, convCited{"final state", last[n]})
	}
	return out
}

func disagreement(k *convKey, nodes []string, states map[string]*convOp, quiet time.Duration) convProblem {
	var parts []string
	for _, n := range nodes {
		if r := states[n]; r != nil {
			parts = append(parts, n+"="+r.val.short())
		}
	}
	after := "after the final phase"
	if quiet > 0 {
		after = fmt.Sprintf("after the final phase (quiet %s)", quiet)
	}
	return convProblem{
		kind:   "disagreement",
		reason: fmt.Sprintf("nodes disagree %s: %s", after, strings.Join(parts, ", ")),
		at:     k.firstFinalInvoke(),
		ops:    k.stateReads(),
	}
}

// checkCounter: the agreed value of a PN-counter lies within what ok adds
// (certainly applied) and info adds (maybe applied) explain.
func checkCounter(k *convKey, final convValue) []convProblem {
	var sumOK, neg, pos int64
	var okAdds, infoAdds int
	var uncertain []convCited
	for _, op := range k.ops {
		if op.f != "add" {
			continue
		}
		switch {
		case op.ok():
			sumOK += op.val.n
			okAdds++
		case op.uncertain():
			infoAdds++
			uncertain = append(uncertain, convCited{"info add", op})
			if op.val.n < 0 {
				neg += op.val.n
			} else {
				pos += op.val.n
			}
		}
	}
	lo, hi := sumOK+neg, sumOK+pos
	if final.n >= lo && final.n <= hi {
		return nil
	}
	side := fmt.Sprintf("below %d, the least", lo)
	if final.n > hi {
		side = fmt.Sprintf("above %d, the most", hi)
	}
	return []convProblem{{
		kind: "out-of-bounds",
		reason: fmt.Sprintf("final value %d is %s the adds explain (%d ok adds sum to %d; %d info adds could add %d to +%d)",
			final.n, side, okAdds, sumOK, infoAdds, neg, pos),
		at:  k.firstFinalInvoke(),
		ops: append(k.stateReads()[:1], uncertain...),
	}}
}

// checkSet: the agreed OR-set holds only added elements, and every
// element re-added after its removes.
func checkSet(k *convKey, final convValue) []convProblem {
	type elem struct {
		added        *convOp // some add that may have happened
		latestOKAdd  *convOp // by invoke time
		lastOKRemove *convOp // by completion time
		infoRemove   *convOp
	}
	elems := make(map[int64]*elem)
	get := func(e int64) *elem {
		x := elems[e]
		if x == nil {
			x = &elem{}
			elems[e] = x
		}
		return x
	}
	for _, op := range k.ops {
		if !op.mayHaveHappened() {
			continue
		}
		switch op.f {
		case "add":
			x := get(op.val.n)
			if x.added == nil || (op.ok() && !x.added.ok()) {
				x.added = op
			}
			if op.ok() && (x.latestOKAdd == nil || op.inv >= x.latestOKAdd.inv) {
				x.latestOKAdd = op
			}
		case "remove":
			x := get(op.val.n)
			switch {
			case op.uncertain():
				x.infoRemove = op
			case x.lastOKRemove == nil || op.done >= x.lastOKRemove.done:
				x.lastOKRemove = op
			}
		}
	}
	present := make(map[int64]bool, len(final.elems))
	var never []int64
	for _, e := range final.elems {
		present[e] = true
		if x := elems[e]; x == nil || x.added == nil {
			never = append(never, e)
		}
	}
	never = slices.Compact(never)
	var lost []int64
	var lostOps []convCited
	lostAt := int64(math.MaxInt64)
	for e, x := range elems {
		if present[e] || x.latestOKAdd == nil || x.infoRemove != nil {
			continue
		}
		if x.lastOKRemove != nil && x.latestOKAdd.inv <= x.lastOKRemove.done {
			continue
		}
		lost = append(lost, e)
		lostAt = min(lostAt, x.latestOKAdd.inv)
	}
	slices.Sort(lost)
	for _, e := range lost {
		x := elems[e]
		if x.lastOKRemove != nil {
			lostOps = append(lostOps, convCited{"remove", x.lastOKRemove})
		}
		lostOps = append(lostOps, convCited{"lost add", x.latestOKAdd})
	}
	var out []convProblem
	if len(never) > 0 {
		out = append(out, convProblem{
			kind:   "never-added",
			reason: fmt.Sprintf("final set holds %s, never added", elemList("element", never)),
			at:     k.firstFinalInvoke(),
			ops:    k.stateReads()[:1],
		})
	}
	if len(lost) > 0 {
		out = append(out, convProblem{
			kind:   "lost-element",
			reason: fmt.Sprintf("final set lacks %s, whose latest ok add came after every remove of it completed", elemList("element", lost)),
			at:     lostAt,
			ops:    lostOps,
		})
	}
	return out
}

// convCount is "1 key", "2 keys".
func convCount(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// elemList names up to 10 of es after noun, made plural when needed.
func elemList(noun string, es []int64) string {
	var parts []string
	for _, e := range es[:min(len(es), 10)] {
		parts = append(parts, strconv.FormatInt(e, 10))
	}
	s := strings.Join(parts, ", ")
	if len(es) > 10 {
		s += fmt.Sprintf(" and %d more", len(es)-10)
	}
	if len(es) == 1 {
		return noun + " " + s
	}
	return noun + "s " + s
}

// observations maps each value of want to, per node, the earliest-completed
// ok op (other than a final read) on that node that wrote the value or
// read it: after it completed, the node's state held the value, and a
// later write there supersedes it.
func observations(k *convKey, want map[int64]bool) map[int64]map[string]*convOp {
	out := make(map[int64]map[string]*convOp)
	see := func(v int64, op *convOp) {
		if !want[v] || op.node == "" {
			return
		}
		m := out[v]
		if m == nil {
			m = make(map[string]*convOp)
			out[v] = m
		}
		if prev := m[op.node]; prev == nil || op.done < prev.done {
			m[op.node] = op
		}
	}
	for _, op := range k.ops {
		if !op.ok() {
			continue
		}
		switch {
		case op.f == "write":
			see(op.val.n, op)
		case op.f == "read" && op.val.array:
			for _, e := range op.val.elems {
				see(e, op)
			}
		case op.f == "read" && !op.val.null:
			see(op.val.n, op)
		}
	}
	return out
}

// superseded finds the ok writes of a value other than v invoked on a node
// after an ok op there had completed that wrote or read v.
// what names v in the reason ("final value").
func superseded(k *convKey, what string, v int64, obs map[string]*convOp) (p convProblem, found bool) {
	for _, w := range k.ops {
		if w.f != "write" || !w.ok() || w.val.n == v {
			continue
		}
		seen := obs[w.node]
		if seen == nil || seen.done >= w.inv {
			continue
		}
		if !found {
			p = convProblem{
				kind: "superseded-value",
				reason: fmt.Sprintf("%s %d survived, yet node %s held it (ok %s at index %d) before write %d was invoked there (index %d, ok)",
					what, v, w.node, seen.f, seen.doneIdx, w.val.n, w.invIdx),
				at:  w.inv,
				ops: []convCited{{"observed", seen}},
			}
			found = true
		}
		p.ops = append(p.ops, convCited{"superseding write", w})
	}
	return p, found
}

// writers maps each value written to a write of it that may have happened,
// preferring an ok one.
func writers(k *convKey) map[int64]*convOp {
	out := make(map[int64]*convOp)
	for _, op := range k.ops {
		if op.f != "write" || !op.mayHaveHappened() {
			continue
		}
		if prev := out[op.val.n]; prev == nil || (op.ok() && !prev.ok()) {
			out[op.val.n] = op
		}
	}
	return out
}

// okWrites cites k's ok writes, latest completion first.
func okWrites(k *convKey) []convCited {
	var out []convCited
	for _, op := range k.ops {
		if op.f == "write" && op.ok() {
			out = append(out, convCited{"ok write", op})
		}
	}
	slices.SortStableFunc(out, func(a, b convCited) int { return cmp.Compare(b.op.done, a.op.done) })
	return out
}

// checkLWW: the agreed LWW register value was written, and was not seen by
// a later ok write.
func checkLWW(k *convKey, final convValue) []convProblem {
	if final.null {
		if w := okWrites(k); len(w) > 0 {
			return []convProblem{{
				kind:   "lost-all-writes",
				reason: fmt.Sprintf("final value is null, yet %d writes completed ok", len(w)),
				at:     w[len(w)-1].op.inv,
				ops:    w,
			}}
		}
		return nil
	}
	if writers(k)[final.n] == nil {
		return []convProblem{{
			kind:   "never-written",
			reason: fmt.Sprintf("final value %d was never written", final.n),
			at:     k.firstFinalInvoke(),
			ops:    k.stateReads()[:1],
		}}
	}
	obs := observations(k, map[int64]bool{final.n: true})
	if p, found := superseded(k, "final value", final.n, obs[final.n]); found {
		return []convProblem{p}
	}
	return nil
}

// checkMV: the agreed MV register's values were written, once each, none
// was seen by a later ok write, and no ok write that nothing could have
// superseded is missing.
func checkMV(k *convKey, final convValue) []convProblem {
	var out []convProblem
	vals := final.elems
	if d := slices.Compact(slices.Clone(vals)); len(d) != len(vals) {
		out = append(out, convProblem{
			kind:   "duplicate-value",
			reason: fmt.Sprintf("final value %s holds a value twice", final.short()),
			at:     k.firstFinalInvoke(),
			ops:    k.stateReads()[:1],
		})
		vals = d
	}
	wr := writers(k)
	var never []int64
	in := make(map[int64]bool, len(vals))
	for _, v := range vals {
		in[v] = true
		if wr[v] == nil {
			never = append(never, v)
		}
	}
	if len(never) > 0 {
		out = append(out, convProblem{
			kind:   "never-written",
			reason: fmt.Sprintf("final value %s holds %s, never written", final.short(), elemList("value", never)),
			at:     k.firstFinalInvoke(),
			ops:    k.stateReads()[:1],
		})
	}
	all := okWrites(k)
	if len(vals) == 0 && len(all) > 0 {
		out = append(out, convProblem{
			kind:   "lost-all-writes",
			reason: fmt.Sprintf("final value is [], yet %d writes completed ok", len(all)),
			at:     all[len(all)-1].op.inv,
			ops:    all,
		})
	}
	obs := observations(k, in)
	for _, v := range vals {
		if p, found := superseded(k, "value", v, obs[v]); found {
			out = append(out, p)
			break // one is enough to explain; the others are alike
		}
	}

	// A write W is superseded only by a write that ran after it on a node
	// that had W, so one that had not completed when W was invoked. The
	// two latest such "done" times (info and pending writes count as never
	// done) answer for every W.
	var first, second *convOp
	eff := func(op *convOp) int64 {
		if op.ok() {
			return op.done
		}
		return math.MaxInt64
	}
	for _, op := range k.ops {
		if op.f != "write" || !op.mayHaveHappened() {
			continue
		}
		switch {
		case first == nil || eff(op) > eff(first):
			first, second = op, first
		case second == nil || eff(op) > eff(second):
			second = op
		}
	}
	var lost []convCited
	lostAt := int64(math.MaxInt64)
	var lostVals []int64
	if len(vals) > 0 {
		for _, c := range all {
			w := c.op
			if in[w.val.n] {
				continue
			}
			other := first
			if other == w {
				other = second
			}
			if other != nil && eff(other) > w.inv {
				continue
			}
			lost = append(lost, convCited{"lost write", w})
			lostVals = append(lostVals, w.val.n)
			lostAt = min(lostAt, w.inv)
		}
	}
	if len(lost) > 0 {
		slices.Sort(lostVals)
		out = append(out, convProblem{
			kind: "lost-write",
			reason: fmt.Sprintf("final value %s lacks %s, written ok with no other write running after it",
				final.short(), elemList("value", lostVals)),
			at:  lostAt,
			ops: lost,
		})
	}
	return out
}

// counterReads: every ok read during the test lies between the sum of the
// negative and the sum of the positive amounts of the adds (that may have
// happened) invoked before the read completed. It cites the first read out
// of bounds.
func counterReads(k *convKey) []convProblem {
	type step struct {
		inv      int64
		neg, pos int64 // prefix sums through this add
	}
	var adds []step
	var neg, pos int64
	for _, op := range k.ops { // in invoke order
		if op.f != "add" || !op.mayHaveHappened() {
			continue
		}
		if op.val.n < 0 {
			neg += op.val.n
		} else {
			pos += op.val.n
		}
		adds = append(adds, step{op.inv, neg, pos})
	}
	var bad *convOp
	var lo, hi int64
	for _, op := range k.ops {
		if op.f != "read" || !op.ok() {
			continue
		}
		// Adds invoked before the read completed: a prefix of adds.
		i, _ := slices.BinarySearchFunc(adds, op.done, func(s step, t int64) int { return cmp.Compare(s.inv, t) })
		var l, h int64
		if i > 0 {
			l, h = adds[i-1].neg, adds[i-1].pos
		}
		if (op.val.n < l || op.val.n > h) && (bad == nil || op.inv < bad.inv) {
			bad, lo, hi = op, l, h
		}
	}
	if bad == nil {
		return nil
	}
	return []convProblem{{
		kind: "impossible-read",
		reason: fmt.Sprintf("a read on %s returned %d, outside [%d, %d], what the adds invoked before it completed could make",
			bad.node, bad.val.n, lo, hi),
		at:  bad.inv,
		ops: []convCited{{"read", bad}},
	}}
}

// setReads: every element an ok read returned during the test was added
// by an add (that may have happened) invoked before the read completed. It
// cites the first read that breaks this.
func setReads(k *convKey) []convProblem {
	firstAdd := make(map[int64]*convOp)
	for _, op := range k.ops { // in invoke order
		if op.f == "add" && op.mayHaveHappened() && firstAdd[op.val.n] == nil {
			firstAdd[op.val.n] = op
		}
	}
	for _, op := range k.ops {
		if op.f != "read" || !op.ok() {
			continue
		}
		for _, e := range op.val.elems {
			if a := firstAdd[e]; a == nil || a.inv >= op.done {
				return []convProblem{{
					kind:   "impossible-read",
					reason: fmt.Sprintf("a read on %s returned element %d before any add of it was invoked", op.node, e),
					at:     op.inv,
					ops:    []convCited{{"read", op}},
				}}
			}
		}
	}
	return nil
}
