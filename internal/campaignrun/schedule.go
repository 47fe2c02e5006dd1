package campaignrun

import (
	"context"
	"fmt"
	"time"
)

// Options are how Execute starts runs.
type Options struct {
	// Parallel is how many runs go at once; below 1 means 1.
	Parallel int
	// FailFast stops starting runs once a finished run is Unexpected; runs
	// in flight finish.
	FailFast bool
	// TimeLimit, when positive, is the campaign's budget: no run starts
	// once it has passed since Execute began; runs in flight finish.
	TimeLimit time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// OnStart is called as each run starts, OnFinish as each run ends or
	// is found not to be started. Both are called from Execute's own
	// goroutine, one at a time, never from a run's.
	OnStart  func(Run)
	OnFinish func(Record)
}

// Execute runs runs with do, at most opts.Parallel at once, starting them
// in the order given, and returns one Record per run in that order and why
// it stopped starting runs ("" when it started them all).
//
// do runs one run under ctx and returns its Verdict with Problem (required
// for VerdictError, else optional), Detail, Dir and Report; Execute fills
// in the Run, the Outcome (Classify), a default Problem and the Duration
// (by opts.Now). Before each start Execute takes in every run that has
// finished, then starts no more runs once ctx is done (an interrupt also
// reaches the runs in flight through ctx), once a run was Unexpected under
// FailFast, or once the TimeLimit has passed; each run not started gets a
// VerdictNotStarted record whose Problem says why. A do that panics gives
// a VerdictError record. Execute returns when every started run has
// returned.
func Execute(ctx context.Context, runs []Run, opts Options, do func(context.Context, Run) Record) ([]Record, string) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	parallel := max(opts.Parallel, 1)
	begin := now()
	recs := make([]Record, len(runs))
	type finished struct {
		i   int
		rec Record
	}
	done := make(chan finished, len(runs)) // never blocks a run
	starts := make([]time.Time, len(runs))
	running := 0
	var firstUnexpected *Record
	take := func(f finished) {
		running--
		r := runs[f.i]
		rec := f.rec
		rec.Run = r
		rec.Outcome = Classify(r.Expect, rec.Verdict)
		if rec.Problem == "" {
			rec.Problem = problemOf(r.Expect, rec.Verdict)
		}
		rec.Duration = now().Sub(starts[f.i])
		recs[f.i] = rec
		if rec.Unexpected() && firstUnexpected == nil {
			firstUnexpected = &recs[f.i]
		}
		if opts.OnFinish != nil {
			opts.OnFinish(rec)
		}
	}
	stopReason := func() string {
		switch {
		case ctx.Err() != nil:
			return "campaign interrupted before this run started"
		case opts.FailFast && firstUnexpected != nil:
			return fmt.Sprintf("fail-fast: not started after %s was %s", firstUnexpected.Label(), firstUnexpected.Outcome.Words())
		case opts.TimeLimit > 0 && now().Sub(begin) >= opts.TimeLimit:
			return fmt.Sprintf("campaign time limit %v reached (after %v)", opts.TimeLimit, now().Sub(begin).Round(time.Second))
		}
		return ""
	}
	stopped := ""
	for next := 0; next < len(runs); {
		if running == parallel {
			take(<-done)
			continue
		}
		for drained := false; !drained; {
			select {
			case f := <-done:
				take(f)
			default:
				drained = true
			}
		}
		if stopped = stopReason(); stopped != "" {
			for ; next < len(runs); next++ {
				recs[next] = Record{Run: runs[next], Verdict: VerdictNotStarted, Outcome: OutcomeNotStarted, Problem: stopped}
				if opts.OnFinish != nil {
					opts.OnFinish(recs[next])
				}
			}
			break
		}
		i := next
		next++
		starts[i] = now()
		running++
		if opts.OnStart != nil {
			opts.OnStart(runs[i])
		}
		go func() {
			rec := Record{Verdict: VerdictError, Problem: "run did not return"}
			defer func() {
				if p := recover(); p != nil {
					rec = Record{Verdict: VerdictError, Problem: fmt.Sprintf("internal error: %v", p)}
				}
				done <- finished{i, rec}
			}()
			rec = do(ctx, runs[i])
		}()
	}
	for running > 0 {
		take(<-done)
	}
	return recs, stopped
}
