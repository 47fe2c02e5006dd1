package sim

import (
	"slices"
	"sort"
	"time"

	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/nemesis"
)

// activeFault is a fault in effect and how to undo it.
type activeFault struct {
	seq  int // order of application, so undos run in a fixed order
	undo func()
}

func (r *run) activeFaults() []*activeFault {
	var out []*activeFault
	for f := range r.active {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// schedule lays the fault steps out on the virtual timeline as the real
// runner does: each chain of steps (all of them, or each nemesis's own
// when Concurrent) waits Quiet after the previous heal, or until the
// step's At; a fault is held for Hold and healed, and no fault starts at
// or after end, whose arrival heals the one in effect.
func (r *run) schedule(end time.Duration) {
	var chains [][]nemesis.Step
	if r.cfg.Concurrent {
		idx := map[string]int{}
		for _, s := range r.cfg.Steps {
			i, ok := idx[s.Fault.Nemesis]
			if !ok {
				i = len(chains)
				idx[s.Fault.Nemesis] = i
				chains = append(chains, nil)
			}
			chains[i] = append(chains[i], s)
		}
	} else if len(r.cfg.Steps) > 0 {
		chains = [][]nemesis.Step{r.cfg.Steps}
	}
	for _, chain := range chains {
		r.chain(chain, end)
	}
}

// chain runs steps one after another from now.
func (r *run) chain(steps []nemesis.Step, end time.Duration) {
	if len(steps) == 0 {
		return
	}
	s := steps[0]
	due := r.w.now + s.Quiet
	if s.At > 0 {
		due = max(r.start+s.At, r.w.now)
	}
	if due >= end {
		return
	}
	r.w.at(due-r.w.now, func() {
		r.apply(s, end, func() { r.chain(steps[1:], end) })
	})
}

// apply applies s's fault now, heals it after its hold (or at end), and
// then calls next.
func (r *run) apply(s nemesis.Step, end time.Duration, next func()) {
	w := r.w
	entry := Applied{Fault: s.Fault}
	eff, err := nemesis.ResolveForSim(s.Fault, r.cfg.IDs, r.cl.Role)
	if err == nil {
		entry.Fault = eff.Fault
	}
	finishApply := func(undo func()) {
		entry.Start = r.now()
		entry.Applied = err == nil
		op := history.Op{Process: history.Nemesis, Type: history.Info, F: s.Fault.Nemesis,
			Value: entry.Fault.MarshalValue(), Time: entry.Start}
		if err != nil {
			entry.Error, op.Error = err.Error(), err.Error()
		}
		r.record(op)
		r.res.Fault++
		r.faults++
		af := &activeFault{seq: r.faults}
		healed := false
		af.undo = func() {
			if healed {
				return
			}
			healed = true
			delete(r.active, af)
			if undo != nil {
				undo()
			}
			entry.Healed = r.now()
			r.record(history.Op{Process: history.Nemesis, Type: history.Info, F: "heal",
				Value: history.MustValue(map[string]string{"nemesis": s.Fault.Nemesis}), Time: entry.Healed})
			r.res.Schedule = append(r.res.Schedule, entry)
		}
		r.active[af] = true
		heal := min(w.now+s.Hold, max(end, w.now))
		w.at(heal-w.now, func() {
			af.undo()
			if w.now < end {
				next()
			}
		})
	}
	if err != nil {
		finishApply(nil)
		return
	}
	if eff.Kind == nemesis.SimLoseUnsynced {
		// The writes pile up for the window, then the crash loses them.
		w.at(eff.Window, func() {
			for _, id := range eff.Nodes {
				w.stop(id, true)
			}
			finishApply(func() { r.startAll(eff.Nodes) })
		})
		return
	}
	finishApply(r.effect(eff))
}

func (r *run) startAll(ids []string) {
	for _, id := range ids {
		if err := r.w.start(id); err != nil && r.err == nil {
			r.err = err
		}
	}
}

// effect carries out eff and returns its undo.
func (r *run) effect(eff nemesis.SimEffect) func() {
	w := r.w
	switch eff.Kind {
	case nemesis.SimCrash:
		for _, id := range eff.Nodes {
			w.stop(id, false)
		}
		return func() { r.startAll(eff.Nodes) }
	case nemesis.SimPause:
		for _, id := range eff.Nodes {
			w.pause(id)
		}
		return func() {
			for _, id := range eff.Nodes {
				w.resume(id)
			}
		}
	case nemesis.SimPartition:
		var links [][2]string
		for to, froms := range eff.Grudge {
			for _, from := range froms {
				links = append(links, [2]string{from, to})
			}
		}
		for _, l := range links {
			w.cut[l]++
		}
		return func() {
			for _, l := range links {
				if w.cut[l]--; w.cut[l] <= 0 {
					delete(w.cut, l)
				}
			}
		}
	case nemesis.SimClock:
		for _, id := range eff.Nodes {
			_, _ = w.nodes[id].clock.Apply(eff.Clocks[id])
		}
		if eff.Fault.Nemesis == "clock-reset" {
			return nil
		}
		return func() {
			for _, id := range eff.Nodes {
				w.nodes[id].clock.Reset()
			}
		}
	case nemesis.SimMessages:
		var touched []string
		for id := range eff.Msg {
			touched = append(touched, id)
		}
		slices.Sort(touched)
		for i, id := range touched {
			_ = w.nodes[id].msgs.SetRules(eff.Msg[id], eff.Fault.Seed+int64(i))
		}
		return func() {
			for _, id := range touched {
				w.nodes[id].msgs.Reset()
			}
		}
	case nemesis.SimCrashPoint:
		for _, id := range eff.Nodes {
			w.nodes[id].crashAt[eff.Point]++
			w.nodes[id].crashDown[eff.Point] = eff.Window
		}
		return func() {
			for _, id := range eff.Nodes {
				w.nodes[id].crashAt[eff.Point]--
			}
		}
	case nemesis.SimEIO:
		for _, id := range eff.Nodes {
			w.nodes[id].eio = true
			if w.nodes[id].up {
				r.cl.SetEIO(id, true)
			}
		}
		return func() {
			for _, id := range eff.Nodes {
				w.nodes[id].eio = false
				r.cl.SetEIO(id, false) // its disk outlives a crash-stop
			}
			r.startAll(eff.Nodes)
		}
	}
	return nil
}
