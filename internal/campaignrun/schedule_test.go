package campaignrun

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a manual clock for Execute and Progress.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func outcomes(recs []Record) string {
	var s []string
	for _, r := range recs {
		s = append(s, string(r.Outcome))
	}
	return strings.Join(s, ",")
}

// Sequential: every run starts, in order, and each record has its run,
// outcome, default problem and duration by the given clock.
func TestExecuteInOrder(t *testing.T) {
	runs := plan(2, 2)
	runs[3].Expect = ExpectAnomaly
	clk := newClock()
	var order []int
	recs, stopped := Execute(context.Background(), runs, Options{Now: clk.Now}, func(_ context.Context, r Run) Record {
		order = append(order, r.Index)
		clk.Advance(time.Duration(r.Index+1) * time.Second)
		return Record{Verdict: VerdictValid, Dir: "d"}
	})
	if stopped != "" || len(recs) != 4 {
		t.Fatalf("stopped %q, %d records", stopped, len(recs))
	}
	if got := outcomes(recs); got != "as-expected,as-expected,as-expected,not-as-expected" {
		t.Errorf("outcomes %s", got)
	}
	for i, r := range recs {
		if r.Index != i || order[i] != i || r.Duration != time.Duration(i+1)*time.Second {
			t.Errorf("record %d: index %d, started %d-th, duration %v", i, r.Index, order[i], r.Duration)
		}
	}
	if recs[3].Problem != "no anomaly found: the seeded bug was not caught" {
		t.Errorf("problem %q", recs[3].Problem)
	}
}

// With --fail-fast and two at a time: run 0 is not as expected while run 1
// is in flight; run 1 finishes, no later run starts.
func TestExecuteFailFastLetsRunsInFlightFinish(t *testing.T) {
	runs := plan(1, 5)
	run1Started := make(chan struct{})
	run0Done := make(chan struct{})
	var mu sync.Mutex
	var started []int
	recs, stopped := Execute(context.Background(), runs, Options{Parallel: 2, FailFast: true},
		func(_ context.Context, r Run) Record {
			mu.Lock()
			started = append(started, r.Index)
			mu.Unlock()
			switch r.Index {
			case 0:
				<-run1Started
				defer close(run0Done)
				return Record{Verdict: VerdictAnomaly}
			case 1:
				close(run1Started)
				<-run0Done
				return Record{Verdict: VerdictValid}
			}
			return Record{Verdict: VerdictValid}
		})
	if got := outcomes(recs); got != "not-as-expected,as-expected,not-started,not-started,not-started" {
		t.Errorf("outcomes %s (started %v)", got, started)
	}
	if !strings.Contains(stopped, "fail-fast") || !strings.Contains(stopped, "t0 seed 1") || recs[2].Problem != stopped {
		t.Errorf("stopped %q, run 2's problem %q", stopped, recs[2].Problem)
	}
	if ExitCode(recs) != ExitAnomaly {
		t.Errorf("exit %d", ExitCode(recs))
	}
}

// Unknown and failed runs stop a fail-fast campaign too; without
// fail-fast nothing stops.
func TestExecuteFailFastOnUnknown(t *testing.T) {
	do := func(_ context.Context, r Run) Record {
		if r.Index == 1 {
			return Record{Verdict: VerdictUnknown}
		}
		return Record{Verdict: VerdictValid}
	}
	recs, _ := Execute(context.Background(), plan(1, 4), Options{FailFast: true}, do)
	if got := outcomes(recs); got != "as-expected,unknown,not-started,not-started" {
		t.Errorf("fail-fast: %s", got)
	}
	recs, stopped := Execute(context.Background(), plan(1, 4), Options{}, do)
	if got := outcomes(recs); got != "as-expected,unknown,as-expected,as-expected" || stopped != "" {
		t.Errorf("no fail-fast: %s, stopped %q", got, stopped)
	}
}

// The time limit stops new runs; the run in flight when it passes
// finishes.
func TestExecuteTimeLimit(t *testing.T) {
	clk := newClock()
	recs, stopped := Execute(context.Background(), plan(1, 4), Options{TimeLimit: 15 * time.Minute, Now: clk.Now},
		func(_ context.Context, r Run) Record {
			clk.Advance(10 * time.Minute) // run 1 starts at 10m, ends at 20m
			return Record{Verdict: VerdictValid}
		})
	if got := outcomes(recs); got != "as-expected,as-expected,not-started,not-started" {
		t.Errorf("outcomes %s", got)
	}
	if !strings.Contains(stopped, "time limit 15m0s") || !strings.Contains(recs[3].Problem, "time limit") {
		t.Errorf("stopped %q, problem %q", stopped, recs[3].Problem)
	}
	if ExitCode(recs) != ExitUnknown {
		t.Errorf("exit %d, want 2: not every run ran", ExitCode(recs))
	}
}

// An interrupt reaches the run in flight through ctx; the rest are not
// started.
func TestExecuteInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	recs, stopped := Execute(ctx, plan(1, 3), Options{}, func(ctx context.Context, r Run) Record {
		cancel()
		<-ctx.Done()
		return Record{Verdict: VerdictUnknown, Problem: "interrupted (interrupt) during run"}
	})
	if got := outcomes(recs); got != "unknown,not-started,not-started" || !strings.Contains(stopped, "interrupted") {
		t.Errorf("outcomes %s, stopped %q", got, stopped)
	}
	if recs[0].Problem != "interrupted (interrupt) during run" {
		t.Errorf("the run's own problem was replaced: %q", recs[0].Problem)
	}
}

// At most Parallel runs are in flight; all of them run.
func TestExecuteParallelBound(t *testing.T) {
	var mu sync.Mutex
	in, peak := 0, 0
	release := make(chan struct{})
	runs := plan(1, 9)
	go func() {
		for range runs {
			release <- struct{}{}
		}
	}()
	recs, _ := Execute(context.Background(), runs, Options{Parallel: 3}, func(_ context.Context, r Run) Record {
		mu.Lock()
		in++
		peak = max(peak, in)
		mu.Unlock()
		<-release
		mu.Lock()
		in--
		mu.Unlock()
		return Record{Verdict: VerdictValid}
	})
	if peak > 3 || len(recs) != 9 || ExitCode(recs) != 0 {
		t.Errorf("peak %d in flight, %d records, exit %d", peak, len(recs), ExitCode(recs))
	}
}

func TestExecutePanickingRunIsAnError(t *testing.T) {
	recs, _ := Execute(context.Background(), plan(1, 2), Options{}, func(_ context.Context, r Run) Record {
		if r.Index == 0 {
			panic("boom")
		}
		return Record{Verdict: VerdictValid}
	})
	if got := outcomes(recs); got != "error,as-expected" || !strings.Contains(recs[0].Problem, "boom") {
		t.Errorf("outcomes %s, problem %q", got, recs[0].Problem)
	}
}

func TestProgressLine(t *testing.T) {
	clk := newClock()
	runs := plan(2, 2)
	for i := range runs {
		runs[i].TimeLimit = 30 * time.Second
	}
	p := NewProgress("smoke", runs, 2, clk.Now())
	if got := p.Line(clk.Now()); got != "campaign smoke: 0/4 runs done; elapsed 0s, about 1m20s left" {
		t.Errorf("at start: %q", got) // 4 × 40 s (time limit and a third) over 2 slots
	}
	p.Start(runs[0], clk.Now())
	p.Start(runs[1], clk.Now())
	clk.Advance(45 * time.Second)
	p.Finish(Record{Run: runs[0], Outcome: OutcomeNotAsExpected, Duration: 45 * time.Second})
	// Runs take 1.5 times their limit: 45 s each; run 1 has 0 s left, runs
	// 2 and 3 45 s each, over 2 slots.
	want := "campaign smoke: 1/4 runs done (1 not as expected), running: t0 seed 2 (45s); elapsed 45s, about 45s left"
	if got := p.Line(clk.Now()); got != want {
		t.Errorf("midway:\n got %q\nwant %q", got, want)
	}
	p.Finish(Record{Run: runs[1], Outcome: OutcomeAsExpected, Duration: 45 * time.Second})
	p.Finish(Record{Run: runs[2], Outcome: OutcomeNotStarted})
	p.Finish(Record{Run: runs[3], Outcome: OutcomeNotStarted})
	if got := p.Line(clk.Now()); got != "campaign smoke: 4/4 runs done (1 not as expected, 2 not started); elapsed 45s" {
		t.Errorf("at the end: %q", got)
	}
}
