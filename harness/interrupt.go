package harness

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/faultline-io/faultline/store"
)

// InterruptCause is the cause a signal handler gives context.CancelCauseFunc
// so that the run records which signal stopped it.
type InterruptCause struct{ Signal os.Signal }

func (c InterruptCause) Error() string { return c.Signal.String() + " signal received" }

// interrupts tracks the interrupts of one run: the first one's phase and
// signal, and whether a later one asked to skip the graceful parts.
type interrupts struct {
	mu       sync.Mutex
	first    *store.Interruption
	fired    chan struct{} // closed at the first interrupt
	forced   chan struct{} // closed at the second
	phase    store.Phase
	onPhase  func(store.Phase)
	log      *zap.Logger
	dir      string
	pid      int
	writeErr error
}

func newInterrupts(dir string, onPhase func(store.Phase)) *interrupts {
	return &interrupts{fired: make(chan struct{}), forced: make(chan struct{}), dir: dir, onPhase: onPhase, pid: os.Getpid()}
}

// enter moves the run to phase p and records it in running.json.
func (in *interrupts) enter(p store.Phase) {
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
	rec := store.RunningRecord{PID: in.pid, Phase: in.phase, Updated: time.Now().UTC(), Error: errText}
	if err := store.WriteRunningRecord(in.dir, rec); err != nil && in.writeErr == nil {
		in.writeErr = err
	}
}

// finished removes running.json: results.json now tells the outcome.
func (in *interrupts) finished() {
	if in.dir != "" {
		_ = os.Remove(filepath.Join(in.dir, store.RunningFile))
	}
}

// note records the first interrupt, if none is yet; unlike interrupt it
// never counts as a second one.
func (in *interrupts) note(signal string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.first == nil {
		in.first = &store.Interruption{Phase: in.phase, Signal: signal, At: time.Now().UTC()}
		close(in.fired)
	}
}

// interrupt records an interrupt: the first one fixes the phase and signal,
// the second closes forced.
func (in *interrupts) interrupt(signal string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.first == nil {
		in.first = &store.Interruption{Phase: in.phase, Signal: signal, At: time.Now().UTC()}
		close(in.fired)
		return
	}
	if !in.first.Forced {
		in.first.Forced = true
		close(in.forced)
	}
}

// get returns a copy of the first interrupt, or nil.
func (in *interrupts) get() *store.Interruption {
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
