package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/faultline-io/faultline/checker"
)

// Phase is a stage of a run. A run passes through them in this order; an
// interrupt is recorded with the phase it arrived in.
type Phase string

const (
	// PhaseStart resolves the runtime, builds the node image and starts the
	// nodes.
	PhaseStart Phase = "start"
	// PhaseHealth checks the nemeses against the cluster and waits for it
	// to serve.
	PhaseHealth Phase = "health"
	// PhaseRun is the test proper: clients and the nemesis.
	PhaseRun Phase = "run"
	// PhaseFinal heals every fault, waits for health and reads every key.
	PhaseFinal Phase = "final"
	// PhaseTeardown removes the cluster.
	PhaseTeardown Phase = "teardown"
	// PhaseCheck checks the history.
	PhaseCheck Phase = "check"
	// PhaseReport is after Run returned: the CLI writes the report and
	// prints the outcome.
	PhaseReport Phase = "report"
)

// Phases lists the phases in the order a run passes through them.
var Phases = []Phase{PhaseStart, PhaseHealth, PhaseRun, PhaseFinal, PhaseTeardown, PhaseCheck, PhaseReport}

// Interruption records the first interrupt of a run: the phase it arrived
// in and what it was. An interrupted run's verdict is unknown, whatever its
// checkers found in the partial history.
type Interruption struct {
	Phase Phase `json:"phase"`
	// Signal is the signal's name ("interrupt", "terminated"), or the
	// context's error when the run was cancelled without a signal.
	Signal string    `json:"signal"`
	At     time.Time `json:"at"`
	// Forced is set when a later interrupt skipped the graceful parts of the
	// final phase (heals, node restarts); the cleanup itself always runs.
	Forced bool `json:"forced,omitempty"`
}

func (i *Interruption) String() string {
	s := fmt.Sprintf("interrupted (%s) during %s", i.Signal, i.Phase)
	if i.Forced {
		s += "; a second interrupt cut the graceful parts short"
	}
	return s
}

// InterruptCause is the cause a signal handler gives context.CancelCauseFunc
// so that the run records which signal stopped it.
type InterruptCause struct{ Signal os.Signal }

func (c InterruptCause) Error() string { return c.Signal.String() + " signal received" }

// RunResults is results.json of a run: the checkers' results and, when the
// run was interrupted, when and how. An interrupted run's Valid is unknown.
type RunResults struct {
	checker.Results
	Interrupted *Interruption `json:"interrupted,omitempty"`
	// Unfinished is set by 'faultline check' on a run whose harness died
	// (running.json was left): the phase it died in.
	Unfinished *RunningRecord `json:"unfinished,omitempty"`
}

// Incomplete says why the run's history is partial ("" when it is whole).
func (rr RunResults) Incomplete() string {
	switch {
	case rr.Interrupted != nil:
		return "run " + rr.Interrupted.String()
	case rr.Unfinished != nil:
		s := fmt.Sprintf("run did not finish: its harness (pid %d) stopped during %s", rr.Unfinished.PID, rr.Unfinished.Phase)
		if rr.Unfinished.Error != "" {
			s += ": " + rr.Unfinished.Error
		}
		return s
	}
	return ""
}

// ReadRunResults reads results.json from a run directory.
func ReadRunResults(dir string) (RunResults, error) { return readRunFile[RunResults](dir, ResultsFile) }

// WriteRunResults writes results.json into dir, atomically and fsynced.
func WriteRunResults(dir string, rr RunResults) error {
	if rr.Incomplete() != "" {
		rr.Valid = checker.Unknown
	}
	return writeJSONSync(filepath.Join(dir, ResultsFile), rr)
}

// RunningRecord is running.json, which a run keeps while it is under way
// and removes once results.json is written. Finding it in a run directory
// means the run is still going or its harness died (SIGKILL, a crash) in
// Phase, so its history is partial.
type RunningRecord struct {
	PID     int       `json:"pid"`
	Phase   Phase     `json:"phase"`
	Updated time.Time `json:"updated"`
	// Error is why the run stopped, when it failed rather than finished.
	Error string `json:"error,omitempty"`
}

// ReadRunningRecord reads running.json from a run directory; an error
// wrapping fs.ErrNotExist means the run finished (or never started).
func ReadRunningRecord(dir string) (RunningRecord, error) {
	return readRunFile[RunningRecord](dir, RunningFile)
}

// interrupts tracks the interrupts of one run: the first one's phase and
// signal, and whether a later one asked to skip the graceful parts.
type interrupts struct {
	mu       sync.Mutex
	first    *Interruption
	fired    chan struct{} // closed at the first interrupt
	forced   chan struct{} // closed at the second
	phase    Phase
	onPhase  func(Phase)
	log      *zap.Logger
	dir      string
	pid      int
	writeErr error
}

func newInterrupts(dir string, onPhase func(Phase)) *interrupts {
	return &interrupts{fired: make(chan struct{}), forced: make(chan struct{}), dir: dir, onPhase: onPhase, pid: os.Getpid()}
}

// enter moves the run to phase p and records it in running.json.
func (in *interrupts) enter(p Phase) {
	in.mu.Lock()
	in.phase = p
	in.writeRunning("")
	in.mu.Unlock()
	if in.log != nil {
		in.log.Debug("phase", zap.String("phase", string(p)))
	}
	if in.onPhase != nil {
		in.onPhase(p)
	}
}

// failed records in running.json why the run stopped.
func (in *interrupts) failed(err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.writeRunning(err.Error())
}

func (in *interrupts) writeRunning(errText string) {
	if in.dir == "" {
		return
	}
	rec := RunningRecord{PID: in.pid, Phase: in.phase, Updated: time.Now().UTC(), Error: errText}
	if err := writeJSONSync(filepath.Join(in.dir, RunningFile), rec); err != nil && in.writeErr == nil {
		in.writeErr = err
	}
}

// finished removes running.json: results.json now tells the outcome.
func (in *interrupts) finished() {
	if in.dir != "" {
		_ = os.Remove(filepath.Join(in.dir, RunningFile))
	}
}

// note records the first interrupt, if none is yet; unlike interrupt it
// never counts as a second one.
func (in *interrupts) note(signal string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.first == nil {
		in.first = &Interruption{Phase: in.phase, Signal: signal, At: time.Now().UTC()}
		close(in.fired)
	}
}

// interrupt records an interrupt: the first one fixes the phase and signal,
// the second closes forced.
func (in *interrupts) interrupt(signal string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.first == nil {
		in.first = &Interruption{Phase: in.phase, Signal: signal, At: time.Now().UTC()}
		close(in.fired)
		return
	}
	if !in.first.Forced {
		in.first.Forced = true
		close(in.forced)
	}
}

// get returns a copy of the first interrupt, or nil.
func (in *interrupts) get() *Interruption {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.first == nil {
		return nil
	}
	c := *in.first
	return &c
}

// watch turns ctx's cancellation into the first interrupt and every value
// from more into a further one, until stop is called. stop is idempotent;
// once it returns, every value sent on more before it was called has been
// counted.
func (in *interrupts) watch(ctx context.Context, more <-chan os.Signal) (stop func()) {
	stopAfter := context.AfterFunc(ctx, func() { in.note(causeName(ctx)) })
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-done:
				for {
					select {
					case s := <-more:
						in.interrupt(s.String())
					default:
						return
					}
				}
			case s := <-more: // never ready when more is nil
				in.interrupt(s.String())
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			stopAfter()
			close(done)
			<-exited
		})
	}
}

// graceful returns a context for a graceful step of the final phase: not
// cancelled by the first interrupt, cancelled by the second, and bounded by
// timeout.
func (in *interrupts) graceful(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	go func() {
		select {
		case <-in.forced:
			cancel()
		case <-gctx.Done():
		}
	}()
	return gctx, cancel
}

func causeName(ctx context.Context) string {
	var ic InterruptCause
	if errors.As(context.Cause(ctx), &ic) {
		return ic.Signal.String()
	}
	if err := context.Cause(ctx); err != nil {
		return err.Error()
	}
	return "cancelled"
}

// writeJSONSync writes v as indented JSON to path through a fsynced
// temporary file and a rename.
func writeJSONSync(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // a no-op after the rename
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
