package checker

import (
	"cmp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Settling unknown transfers by segments.
//
// An unknown (info or never-completed) transfer stays open to the end of
// the history, and every one open at once doubles the search. The reads
// pin down most of them: a checkpoint is an ok read that no ok transfer
// overlaps (each returned before the read was invoked, or was invoked
// after it returned). In any linearization the ok transfers before a
// checkpoint are then exactly those that returned before it began, so the
// difference between two consecutive checkpoints' balances, less the ok
// transfers between them, is what the unknown transfers that took effect
// between them moved. An unknown transfer can only take effect before a
// checkpoint if it was invoked before the checkpoint returned; it may take
// effect any time after that, or never (one refused for a short balance
// changes nothing, so it counts as never).
//
// Identical unknown transfers (same accounts, same amount) form a group;
// a linearization decides how many of each group take effect in each
// segment (an assignment), and the segments' differences constrain it.
// settleSegments enumerates the assignments that explain every segment
// (bounded: maxSegmentSteps and below) and rewrites the unknown transfers
// by the first one found, in each group's invoke order: the first ones a
// segment needs become definite transfers that must return by the time
// its checkpoint returns; the rest are left out when nothing after the
// last checkpoint could observe them (no ok transfer follows it, and every
// read that may follow it saw its state), and otherwise stay unknown but
// may not take effect before the last checkpoint was invoked.
//
// Soundness. Every linearization of the rewritten history is one of the
// original: a definite transfer is the unknown one taking effect within
// its interval; one left out is the unknown one placed after everything,
// where it changes nothing observable; a later invoke only constrains. So
// the rewritten history's true is always the history's true. When the
// assignment is the only one (the enumeration finished and found one),
// every linearization of the original follows it. Giving each group's
// effects, in linearization order, to its members in invoke order keeps
// it a linearization (the i-th effect comes after i members were invoked),
// so the first members take the segments' effects and the rest take
// effect after the last checkpoint, or not at all; those that do, with
// nothing after that checkpoint to observe them, can move to the end. The
// result is a linearization of the rewritten history, whose false is then
// the history's false too. With several assignments, only a true of the
// rewritten history is used.

// These bound the enumeration: steps of one segment's enumeration (whose
// unknown transfers are at most maxSettle), its solutions, and the states
// (segment, how many of each group took effect so far) of the whole
// beyond one per segment. A bound reached makes the assignment found, if
// any, not unique.
const (
	maxSegmentSteps     = 1 << 20
	maxSegmentSolutions = 64
	maxSegmentStates    = 1 << 16
)

// bankSettlement is settleSegments' rewrite of the unknown transfers.
type bankSettlement struct {
	// Definite are the unknown transfers the assignment has take effect
	// before a checkpoint: copies, not unknown, returning when that
	// checkpoint returns.
	Definite []*bankOp
	// Open are the unknown transfers the search still places: copies
	// invoked no earlier than the last checkpoint.
	Open []*bankOp
	// Dropped counts the unknown transfers left out.
	Dropped int
	// Unique: the enumeration finished and the assignment is the only
	// one, so the rewritten history is linearizable if and only if the
	// original is. Otherwise only its linearizability carries over.
	Unique bool
	// Checkpoints counts the checkpoint reads.
	Checkpoints int
}

// settleSegments rewrites unknown by the first assignment that explains
// every segment between checkpoints (see above); ok is false when there is
// no checkpoint, the enumeration found no assignment (none fits, or a
// bound stopped it first), or an account index does not fit.
func settleSegments(h *bankHistory, unknown []*bankOp, o BankOptions) (s bankSettlement, ok bool) {
	if len(unknown) == 0 || o.Accounts > 64 {
		return s, false
	}
	var okXfers []*bankOp
	for _, t := range h.transfers {
		if !t.unknown {
			okXfers = append(okXfers, t)
		}
	}
	cps := bankCheckpoints(h.okReads, okXfers)
	if len(cps) == 0 {
		return s, false
	}
	p := &segmentPlan{accounts: o.Accounts, cps: cps}

	// Each segment's difference: the checkpoint's balances less the
	// previous ones (the initial balances for the first) less the ok
	// transfers between them. An ok transfer after the last checkpoint
	// makes the tail observable.
	prev := make([]int64, o.Accounts)
	for i := range prev {
		prev[i] = o.InitialBalance
	}
	p.diffs = make([][]int64, len(cps))
	for k, c := range cps {
		d := make([]int64, o.Accounts)
		for i := range d {
			d[i] = c.balances[i] - prev[i]
		}
		p.diffs[k], prev = d, c.balances
	}
	tailQuiet := true
	for _, t := range okXfers {
		// The first checkpoint invoked after t returned; no checkpoint
		// overlaps t, so t follows the one before it.
		k := sort.Search(len(cps), func(k int) bool { return cps[k].call > t.ret })
		if k == len(cps) {
			tailQuiet = false
			continue
		}
		p.diffs[k][t.from] += t.amount
		p.diffs[k][t.to] -= t.amount
	}
	last := cps[len(cps)-1]
	for _, r := range h.okReads {
		if r.state != "" && r.ret >= last.call && r.state != last.state {
			tailQuiet = false // it may follow the last checkpoint, and saw another state
		}
	}

	// Groups of identical unknown transfers, each in invoke order; how
	// many of each were invoked before each checkpoint returned.
	p.groups = groupUnknown(unknown)
	for _, g := range p.groups {
		slices.SortStableFunc(g.ops, func(a, b *bankOp) int { return cmp.Compare(a.call, b.call) })
	}
	p.invoked = make([][]int, len(cps))
	for k, c := range cps {
		p.invoked[k] = make([]int, len(p.groups))
		for i, g := range p.groups {
			p.invoked[k][i] = sort.Search(len(g.ops), func(j int) bool { return g.ops[j].call > c.ret })
		}
	}

	p.memo = make(map[string]int)
	p.local = make(map[string][][]int)
	p.path = make([][]int, len(cps))
	n := p.count(0, make([]int, len(p.groups)))
	if n == 0 || p.first == nil {
		return s, false
	}
	s.Unique = n == 1 && !p.cut
	s.Checkpoints = len(cps)

	// Rewrite by the first assignment found.
	for i, g := range p.groups {
		next := 0
		for k, c := range cps {
			for range p.first[k][i] {
				t := *g.ops[next]
				t.unknown, t.ret = false, c.ret
				s.Definite = append(s.Definite, &t)
				next++
			}
		}
		for _, t := range g.ops[next:] {
			switch {
			case tailQuiet:
				s.Dropped++
			case t.call < last.call:
				c := *t
				c.call = last.call
				s.Open = append(s.Open, &c)
			default:
				s.Open = append(s.Open, t)
			}
		}
	}
	return s, true
}

// bankCheckpoints picks checkpoints among reads: ok reads of the right
// length that no transfer of xfers overlaps, as many as possible such that
// each returns before the next is invoked, in order.
func bankCheckpoints(reads, xfers []*bankOp) []*bankOp {
	xfers = slices.Clone(xfers)
	slices.SortFunc(xfers, func(a, b *bankOp) int { return cmp.Compare(a.call, b.call) })
	// latest[i] is the latest return among xfers[:i+1].
	latest := make([]int64, len(xfers))
	for i, t := range xfers {
		latest[i] = t.ret
		if i > 0 {
			latest[i] = max(latest[i], latest[i-1])
		}
	}
	var cands []*bankOp
	for _, r := range reads {
		if r.state == "" {
			continue
		}
		// The transfers invoked by the time r returned; one overlaps r
		// if it had not returned before r was invoked.
		n := sort.Search(len(xfers), func(i int) bool { return xfers[i].call > r.ret })
		if n > 0 && latest[n-1] >= r.call {
			continue
		}
		cands = append(cands, r)
	}
	// Earliest return first picks the most disjoint intervals.
	slices.SortStableFunc(cands, func(a, b *bankOp) int { return cmp.Or(cmp.Compare(a.ret, b.ret), cmp.Compare(a.call, b.call)) })
	var cps []*bankOp
	for _, r := range cands {
		if len(cps) == 0 || r.call > cps[len(cps)-1].ret {
			cps = append(cps, r)
		}
	}
	return cps
}

// segmentPlan is the enumeration of assignments over the segments ending
// at cps.
type segmentPlan struct {
	accounts int
	cps      []*bankOp
	diffs    [][]int64 // per segment: what its unknown transfers moved
	groups   []*unknownGroup
	invoked  [][]int // per segment and group: members invoked before its checkpoint returned

	memo  map[string]int     // (segment, taken effect so far) → assignments of the rest, at most 2
	local map[string][][]int // (caps, difference) → one segment's count vectors
	path  [][]int            // the counts chosen so far, by segment
	first [][]int            // the first whole assignment found
	cut   bool               // a bound stopped the enumeration: counts are lower bounds
}

// count is how many assignments (0, 1, or 2 for more) of segments k on
// explain them, given how many of each group took effect before.
func (p *segmentPlan) count(k int, applied []int) int {
	if k == len(p.cps) {
		if p.first == nil {
			p.first = make([][]int, len(p.path))
			for i, c := range p.path {
				p.first[i] = slices.Clone(c)
			}
		}
		return 1
	}
	key := strconv.Itoa(k) + ":" + intsKey(applied)
	if n, ok := p.memo[key]; ok {
		return n
	}
	if len(p.memo) >= len(p.cps)+maxSegmentStates {
		p.cut = true
		return 0
	}
	caps := make([]int, len(applied))
	for i := range caps {
		caps[i] = p.invoked[k][i] - applied[i]
	}
	total := 0
	for _, c := range p.segmentSolutions(caps, p.diffs[k]) {
		next := slices.Clone(applied)
		for i := range next {
			next[i] += c[i]
		}
		p.path[k] = c
		total += p.count(k+1, next)
		if total >= 2 {
			total = 2
			break
		}
	}
	p.memo[key] = total
	return total
}

// segmentSolutions lists the count vectors c, 0 ≤ c[i] ≤ caps[i], whose
// transfers move exactly d, fewest transfers first; a list cut short by a
// bound sets p.cut.
func (p *segmentPlan) segmentSolutions(caps []int, d []int64) [][]int {
	key := intsKey(caps) + "|" + bankState(d)
	if sols, ok := p.local[key]; ok {
		return sols
	}
	var idx []int // the groups that may take effect
	n := 0
	for i, c := range caps {
		if c > 0 {
			idx = append(idx, i)
			n += c
		}
	}
	var sols [][]int
	switch {
	case n > maxSettle:
		p.cut = true
	case len(idx) == 0:
		if isZero(d) {
			sols = [][]int{make([]int, len(caps))}
		}
	default:
		sols = p.enumerate(idx, caps, d)
	}
	slices.SortStableFunc(sols, func(a, b []int) int { return cmp.Compare(sum(a), sum(b)) })
	p.local[key] = sols
	return sols
}

// enumerate is segmentSolutions over the groups idx, depth first, pruned
// by the least and most each account can still change.
func (p *segmentPlan) enumerate(idx, caps []int, d []int64) [][]int {
	// lo[j][a], hi[j][a]: the range of account a's change from idx[j:].
	lo := make([][]int64, len(idx)+1)
	hi := make([][]int64, len(idx)+1)
	lo[len(idx)], hi[len(idx)] = make([]int64, p.accounts), make([]int64, p.accounts)
	for j := len(idx) - 1; j >= 0; j-- {
		lo[j], hi[j] = slices.Clone(lo[j+1]), slices.Clone(hi[j+1])
		g := p.groups[idx[j]]
		m := int64(caps[idx[j]]) * g.amount
		lo[j][g.from] -= m
		hi[j][g.to] += m
	}
	rest := slices.Clone(d) // what idx[j:] must still move
	counts := make([]int, len(caps))
	var sols [][]int
	steps := 0
	var rec func(j int)
	rec = func(j int) {
		if p.cut {
			return
		}
		if steps++; steps > maxSegmentSteps {
			p.cut = true
			return
		}
		for a, v := range rest {
			if v < lo[j][a] || v > hi[j][a] {
				return
			}
		}
		if j == len(idx) {
			if len(sols) == maxSegmentSolutions {
				p.cut = true
				return
			}
			sols = append(sols, slices.Clone(counts))
			return
		}
		i := idx[j]
		g := p.groups[i]
		for c := 0; c <= caps[i]; c++ {
			counts[i] = c
			rec(j + 1)
			rest[g.from] += g.amount
			rest[g.to] -= g.amount
		}
		counts[i] = 0
		n := int64(caps[i] + 1)
		rest[g.from] -= n * g.amount
		rest[g.to] += n * g.amount
	}
	rec(0)
	return sols
}

func intsKey(v []int) string {
	var b strings.Builder
	for i, x := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(x))
	}
	return b.String()
}

func isZero(v []int64) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

func sum(v []int) int {
	n := 0
	for _, x := range v {
		n += x
	}
	return n
}
