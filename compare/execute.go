package compare

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/faultline-io/faultline/store"
)

// RunFunc runs one test of a comparison: cfg has passed the harness's
// validation. It returns the run directory ("" when none was made) and an
// error only when the run failed: a run that found anomalies, or was
// interrupted, returns nil (its results.json says so).
type RunFunc func(ctx context.Context, i int, cfg store.Config) (dir string, err error)

// Outcome is what became of one planned run.
type Outcome struct {
	Target string
	// Dir is the run directory, "" when the run made none.
	Dir string
	// Err is the run's failure (RunFunc's error).
	Err error
	// NotRun is set when the run was never started: the comparison was
	// interrupted, or Options.Stop stopped it, first.
	NotRun   bool
	Started  time.Time
	Finished time.Time
}

// Options shape Execute.
type Options struct {
	// Parallel is how many runs go at once; less than 1 is 1.
	Parallel int
	// Stop, when it reports true for a run's error, starts no more runs
	// (e.g. a nemesis the runtime cannot apply fails every run alike).
	Stop func(err error) bool
	// OnStart and OnFinish, when set, are called as each run starts and
	// ends, from the goroutine that runs it.
	OnStart  func(i int, target string)
	OnFinish func(i int, o Outcome)
}

// Execute runs the runs of configs (one per planned target, in plan
// order) with run, at most o.Parallel at once, starting them in order,
// and returns their outcomes in plan order. Once ctx is done, or o.Stop
// has asked so, runs not yet started stay NotRun; runs under way finish
// (ctx reaches them: an interrupted run still returns its directory).
func Execute(ctx context.Context, configs []store.Config, run RunFunc, o Options) []Outcome {
	outs := make([]Outcome, len(configs))
	for i, c := range configs {
		outs[i] = Outcome{Target: c.Target, NotRun: true}
	}
	slots := make(chan struct{}, max(o.Parallel, 1))
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		stopped bool
	)
	for i, cfg := range configs {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		mu.Lock()
		halt := stopped || ctx.Err() != nil
		mu.Unlock()
		if halt {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if o.OnStart != nil {
				o.OnStart(i, cfg.Target)
			}
			out := Outcome{Target: cfg.Target, Started: time.Now()}
			out.Dir, out.Err = run(ctx, i, cfg)
			out.Finished = time.Now()
			mu.Lock()
			outs[i] = out
			if out.Err != nil && o.Stop != nil && o.Stop(out.Err) {
				stopped = true
			}
			mu.Unlock()
			if o.OnFinish != nil {
				o.OnFinish(i, out)
			}
		}()
	}
	wg.Wait()
	return outs
}

// NewDir creates the comparison directory <st>/<name>/<YYYYMMDDTHHMMSS>[-N]
// for a comparison started at now, never reusing one (as store.NewRunDir,
// but store/latest keeps pointing at the newest run).
func NewDir(st, name string, now time.Time) (string, error) {
	base := filepath.Join(st, name, now.Format("20060102T150405"))
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return "", fmt.Errorf("create store: %w", err)
	}
	dir := base
	for i := 2; ; i++ {
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("create comparison directory: %w", err)
		}
		dir = fmt.Sprintf("%s-%d", base, i)
	}
}
