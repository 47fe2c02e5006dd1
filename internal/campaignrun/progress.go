package campaignrun

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Progress is the live state of a campaign, for its progress line: runs
// done of the total, the runs in flight and for how long, the time since
// the campaign began, and an estimate of the time left. It is safe for
// concurrent use; every time comes from the caller.
type Progress struct {
	mu       sync.Mutex
	name     string
	begin    time.Time
	parallel int
	total    int
	pending  map[int]Run       // not started yet
	running  map[int]runningAt // in flight
	done     int
	skipped  int // finished without being started
	bad      int // finished and Unexpected (skipped ones excluded)
	spent    time.Duration
	limits   time.Duration // time limits of the finished runs that ran
	ran      int
}

type runningAt struct {
	run   Run
	since time.Time
}

// NewProgress returns the progress of a campaign named name whose runs
// (this shard's) start at begin, parallel at a time.
func NewProgress(name string, runs []Run, parallel int, begin time.Time) *Progress {
	p := &Progress{name: name, begin: begin, parallel: max(parallel, 1), total: len(runs),
		pending: map[int]Run{}, running: map[int]runningAt{}}
	for _, r := range runs {
		p.pending[r.Index] = r
	}
	return p
}

// Start records that r started at t.
func (p *Progress) Start(r Run, t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.pending, r.Index)
	p.running[r.Index] = runningAt{r, t}
}

// Finish records a run's end (or that it will not start).
func (p *Progress) Finish(rec Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.pending, rec.Index)
	delete(p.running, rec.Index)
	p.done++
	if rec.Outcome == OutcomeNotStarted {
		p.skipped++
		return
	}
	if rec.Unexpected() {
		p.bad++
	}
	p.ran++
	p.spent += rec.Duration
	p.limits += rec.TimeLimit
}

// Line is the progress line at now, e.g.
//
//	campaign smoke: 3/9 runs done (1 not as expected), running: raft-kill seed 1 (12s), crdt seed 2 (4s); elapsed 1m2s, about 2m10s left
func (p *Progress) Line(now time.Time) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "campaign %s: %d/%d runs done", p.name, p.done, p.total)
	var notes []string
	if p.bad > 0 {
		notes = append(notes, fmt.Sprintf("%d not as expected", p.bad))
	}
	if p.skipped > 0 {
		notes = append(notes, fmt.Sprintf("%d not started", p.skipped))
	}
	if len(notes) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(notes, ", "))
	}
	if len(p.running) > 0 {
		idx := make([]int, 0, len(p.running))
		for i := range p.running {
			idx = append(idx, i)
		}
		sort.Ints(idx)
		parts := make([]string, len(idx))
		for k, i := range idx {
			ra := p.running[i]
			parts[k] = fmt.Sprintf("%s (%v)", ra.run.Label(), now.Sub(ra.since).Round(time.Second))
		}
		fmt.Fprintf(&b, ", running: %s", strings.Join(parts, ", "))
	}
	fmt.Fprintf(&b, "; elapsed %v", now.Sub(p.begin).Round(time.Second))
	if left, ok := p.left(now); ok {
		fmt.Fprintf(&b, ", about %v left", left.Round(time.Second))
	}
	return b.String()
}

// left estimates the time until the last run ends. Each run is expected
// to take its time limit times the ratio that the finished runs took of
// theirs (before any finished: its time limit plus a third, for start, final
// phase and check); a run in flight has that less its time so far (at least
// 0). The work is shared by parallel slots, at most one per run left. ok is
// false when nothing is left or nothing is known (no time limits).
func (p *Progress) left(now time.Time) (time.Duration, bool) {
	n := len(p.pending) + len(p.running)
	if n == 0 {
		return 0, false
	}
	ratio := 4.0 / 3
	mean := time.Duration(0)
	if p.ran > 0 {
		mean = p.spent / time.Duration(p.ran)
		if p.limits > 0 {
			ratio = float64(p.spent) / float64(p.limits)
		}
	}
	expect := func(r Run) time.Duration {
		if r.TimeLimit > 0 && (p.ran == 0 || p.limits > 0) {
			return time.Duration(float64(r.TimeLimit) * ratio)
		}
		return mean
	}
	var work time.Duration
	for _, r := range p.pending {
		work += expect(r)
	}
	for _, ra := range p.running {
		work += max(expect(ra.run)-now.Sub(ra.since), 0)
	}
	if work == 0 && p.ran == 0 {
		return 0, false
	}
	return work / time.Duration(min(p.parallel, n)), true
}
