package report

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/faultline-io/faultline/history"
)

// The clock nemeses' names and what they record in a fault's Params
// (nemesis/clock.go, nemesis.ClockApplied, seam.ClockRequest and
// seam.ClockState), duplicated here so that the report does not import
// package nemesis and with it the runtimes; TestClockWireFormat checks
// that they agree.
const (
	clockJump   = "clock-jump"
	clockDrift  = "clock-drift"
	clockStrobe = "clock-strobe"
	clockReset  = "clock-reset"
	// clocksParam holds, per node, the request sent and the clock state
	// the node confirmed.
	clocksParam = "clocks"
	// deferredParam lists the nodes that were down: the fault reaches
	// them when they start.
	deferredParam = "deferred"

	healF    = "heal"     // a nemesis's heal; its value names the nemesis
	healAllF = "heal-all" // the harness's final heal of every nemesis
)

// clockRequest is seam.ClockRequest: Op is "jump" (by Delta), "drift"
// (PPM), "strobe" (Delta every Period) or "reset".
type clockRequest struct {
	Op     string  `json:"op"`
	Delta  int64   `json:"delta_ns"`
	PPM    float64 `json:"ppm"`
	Period int64   `json:"period_ns"`
}

// clockState is seam.ClockState: the skew a node's clock seam applied
// once it had the request. Offset includes the drift accumulated so far.
type clockState struct {
	Offset       int64   `json:"offset_ns"`
	DriftPPM     float64 `json:"drift_ppm"`
	StrobeDelta  int64   `json:"strobe_delta_ns"`
	StrobePeriod int64   `json:"strobe_period_ns"`
}

// clockApplied is nemesis.ClockApplied.
type clockApplied struct {
	Request clockRequest `json:"request"`
	State   *clockState  `json:"state"`
}

// clockSkew is what a node's clock seam adds to the real time from Start
// (test time, ns) until the node's next clockSkew:
//
//	Offset + (t - Start)·PPM/1e6 + strobe(t)
//
// where strobe(t) is StrobeDelta during the even StrobePeriods counted
// from StrobeSince and 0 during the odd ones (seam.Clock's reading). The
// zero value is no skew.
type clockSkew struct {
	Start        int64
	Offset       float64 // ns
	PPM          float64
	StrobeDelta  int64
	StrobePeriod int64
	StrobeSince  int64
}

func (s clockSkew) base(t int64) float64 { return s.Offset + float64(t-s.Start)*s.PPM/1e6 }

func (s clockSkew) strobing() bool { return s.StrobeDelta != 0 && s.StrobePeriod > 0 }

func (s clockSkew) strobe(t int64) float64 {
	if !s.strobing() {
		return 0
	}
	if k := (t - s.StrobeSince) / s.StrobePeriod; t < s.StrobeSince || k%2 == 0 {
		return float64(s.StrobeDelta)
	}
	return 0
}

// at is the skew at t (ns).
func (s clockSkew) at(t int64) float64 { return s.base(t) + s.strobe(t) }

func (s clockSkew) zero() bool { return s.Offset == 0 && s.PPM == 0 && !s.strobing() }

// nodeClock is one node's clock skew over the run: a step function (with
// ramps for drift and square waves for strobes), Skews in time order, the
// first from 0.
type nodeClock struct {
	Node  string
	Skews []clockSkew
}

// At is the node's clock offset from the real time at t, in ns.
func (c nodeClock) At(t int64) float64 {
	i, found := slices.BinarySearchFunc(c.Skews, t, func(s clockSkew, t int64) int {
		switch {
		case s.Start < t:
			return -1
		case s.Start > t:
			return 1
		}
		return 0
	})
	if !found {
		i--
	}
	// The last skew that starts at or before t (several may share a time).
	for i+1 < len(c.Skews) && c.Skews[i+1].Start <= t {
		i++
	}
	if i < 0 {
		return 0
	}
	return c.Skews[i].at(t)
}

// Extremes are the node's largest offsets ahead of (hi) and behind (lo)
// the host clock until end, in ns: 0 when it never was.
func (c nodeClock) Extremes(end int64) (lo, hi float64) {
	for j, s := range c.Skews {
		to := end
		if j+1 < len(c.Skews) {
			to = c.Skews[j+1].Start
		}
		if to < s.Start {
			continue
		}
		for _, v := range []float64{s.base(s.Start), s.base(to)} {
			lo, hi = min(lo, v), max(hi, v)
			if s.strobing() {
				lo, hi = min(lo, v+float64(s.StrobeDelta)), max(hi, v+float64(s.StrobeDelta))
			}
		}
	}
	return lo, hi
}

func (c *nodeClock) set(s clockSkew) {
	c.Skews = append(c.Skews, s)
}

func (c *nodeClock) current() clockSkew { return c.Skews[len(c.Skews)-1] }

// clockOffsets is every node's clock offset over a run, as the harness
// applied it through the clock seam.
type clockOffsets struct {
	// Faults counts the clock faults in the history; none means every
	// node's clock followed the host's.
	Faults int
	// Nodes are the nodes of the run (those the history names), sorted.
	Nodes []nodeClock
	// Notes say what the offsets leave out: faults not (fully) applied,
	// nodes that were down, heals that reported errors.
	Notes []string
}

// clockOffsetsOf computes each node's clock offset from the nemesis ops of
// a history, in history order:
//
//   - a clock-jump, clock-drift or clock-strobe fault sets each node's
//     skew to the state the node confirmed (Params "clocks"): a jump is a
//     step, a drift a ramp at its rate, a strobe a square wave of its
//     delta and period; on top of what the node already had, as the seam
//     composes them. Without a confirmed state the request is applied to
//     the skew so far.
//   - a clock-reset sets the nodes it names back to 0.
//   - the heal of clock-jump, -drift or -strobe resets every node that
//     nemesis skewed since its last heal, whatever else skewed them (the
//     seam has a single reset); "heal-all" resets every node.
//
// Times are those of the nemesis ops: the harness records a fault once
// the nodes confirmed it, so each step is drawn a moment after the node
// took it.
func clockOffsetsOf(ops []history.Op) clockOffsets {
	var out clockOffsets
	clocks := map[string]*nodeClock{}
	node := func(n string) *nodeClock {
		c := clocks[n]
		if c == nil {
			c = &nodeClock{Node: n, Skews: []clockSkew{{}}}
			clocks[n] = c
		}
		return c
	}
	affected := map[string]map[string]bool{} // nemesis -> nodes to reset at its heal
	reset := func(n string, t int64) {
		if c := node(n); !c.current().zero() {
			c.set(clockSkew{Start: t})
		}
	}
	for _, op := range ops {
		if !op.IsNemesis() {
			if op.Node != "" {
				node(op.Node)
			}
			if op.Final != "" {
				node(op.Final)
			}
			continue
		}
		var v struct {
			Nemesis string                     `json:"nemesis"`
			Nodes   []string                   `json:"nodes"`
			Params  map[string]json.RawMessage `json:"params"`
		}
		if op.F == "target-stats" {
			continue
		}
		_ = json.Unmarshal(op.Value, &v) // other shapes (imports) are no clock faults
		for _, n := range v.Nodes {
			node(n)
		}
		switch {
		case op.F == healAllF:
			for n := range clocks {
				reset(n, op.Time)
			}
			clear(affected)
			continue
		case op.F == healF:
			set := affected[v.Nemesis]
			for _, n := range slices.Sorted(maps.Keys(set)) {
				reset(n, op.Time)
			}
			delete(affected, v.Nemesis)
			if op.Error != "" && len(set) > 0 {
				out.Notes = append(out.Notes, fmt.Sprintf("the heal of %s at %s reported an error (drawn as healed): %s", v.Nemesis, secs(op.Time), op.Error))
			}
			continue
		}
		name := v.Nemesis
		if name == "" {
			name = op.F
		}
		if name != clockJump && name != clockDrift && name != clockStrobe && name != clockReset {
			continue
		}
		out.Faults++
		var applied map[string]clockApplied
		var deferred []string
		_ = json.Unmarshal(v.Params[clocksParam], &applied)
		_ = json.Unmarshal(v.Params[deferredParam], &deferred)
		if name != clockReset {
			if affected[name] == nil {
				affected[name] = map[string]bool{}
			}
			for _, n := range v.Nodes {
				affected[name][n] = true
			}
		}
		for _, n := range slices.Sorted(maps.Keys(applied)) {
			a := applied[n]
			c := node(n)
			if name == clockReset || a.Request.Op == "reset" {
				reset(n, op.Time)
				continue
			}
			c.set(nextSkew(c.current(), a, op.Time))
		}
		if len(deferred) > 0 {
			out.Notes = append(out.Notes, fmt.Sprintf("%s at %s: %s down, skewed when it started (not drawn)", name, secs(op.Time), strings.Join(deferred, " ")))
		}
		var missed []string
		for _, n := range v.Nodes {
			if _, ok := applied[n]; !ok && !slices.Contains(deferred, n) {
				missed = append(missed, n)
			}
		}
		switch {
		case op.Error != "" && len(missed) > 0:
			out.Notes = append(out.Notes, fmt.Sprintf("%s at %s not applied on %s: %s", name, secs(op.Time), strings.Join(missed, " "), op.Error))
		case op.Error != "":
			out.Notes = append(out.Notes, fmt.Sprintf("%s at %s reported an error: %s", name, secs(op.Time), op.Error))
		case len(missed) > 0:
			out.Notes = append(out.Notes, fmt.Sprintf("%s at %s recorded no clock state for %s (not drawn)", name, secs(op.Time), strings.Join(missed, " ")))
		}
	}
	for _, n := range slices.Sorted(maps.Keys(clocks)) {
		out.Nodes = append(out.Nodes, *clocks[n])
	}
	return out
}

// nextSkew is a node's skew from t, after a clock fault: the state the
// node confirmed, else the request applied to cur as the seam applies it.
func nextSkew(cur clockSkew, a clockApplied, t int64) clockSkew {
	if st := a.State; st != nil {
		s := clockSkew{Start: t, Offset: float64(st.Offset), PPM: st.DriftPPM,
			StrobeDelta: st.StrobeDelta, StrobePeriod: st.StrobePeriod, StrobeSince: t}
		if a.Request.Op != "strobe" && cur.StrobeDelta == st.StrobeDelta && cur.StrobePeriod == st.StrobePeriod {
			s.StrobeSince = cur.StrobeSince // the strobe runs on
		}
		return s
	}
	s := cur
	s.Start, s.Offset = t, cur.base(t)
	switch r := a.Request; r.Op {
	case "jump":
		s.Offset += float64(r.Delta)
	case "drift":
		s.PPM = r.PPM
	case "strobe":
		s.StrobeDelta, s.StrobePeriod, s.StrobeSince = r.Delta, r.Period, t
		if r.Delta == 0 || r.Period <= 0 {
			s.StrobeDelta, s.StrobePeriod = 0, 0
		}
	}
	return s
}
