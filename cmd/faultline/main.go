// Command faultline is a chaos-testing harness and fault injector for
// distributed systems. It is also the node binary of the bundled targets
// (the hidden `faultline node <target>` command).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/faultline-io/faultline/harness"
)

// Exit codes, as Jepsen uses them (DESIGN.md §8).
const (
	exitValid    = 0
	exitAnomaly  = 1
	exitUnknown  = 2
	exitBadInput = 254
	exitInternal = 255
)

// exitError carries the exit code a command wants; a nil err with a code is
// a verdict, not a failure.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// badInput marks err as bad arguments or input (exit 254).
func badInput(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: exitBadInput, err: err}
}

// badInputf formats a bad-input error.
func badInputf(format string, args ...any) error {
	return badInput(fmt.Errorf(format, args...))
}

// verdict returns an error that only sets the exit code.
func verdict(code int) error {
	if code == 0 {
		return nil
	}
	return &exitError{code: code}
}

// exitCode maps an error returned by a command to the process exit code.
func exitCode(err error) int {
	if err == nil {
		return exitValid
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitInternal
}

// moreKey is the context key of the channel of interrupts after the first.
type moreKey struct{}

// interruptContext returns a context that the first SIGINT or SIGTERM
// cancels with a harness.InterruptCause; later ones go to the channel that
// moreInterrupts finds in it (dropped when nobody listens). stop restores
// the default signal handling.
func interruptContext(parent context.Context) (ctx context.Context, stop func()) {
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancelCause(parent)
	more := make(chan os.Signal, 4)
	done := make(chan struct{})
	go func() {
		first := true
		for {
			select {
			case <-done:
				return
			case s := <-sigc:
				if first {
					first = false
					cancel(harness.InterruptCause{Signal: s})
					continue
				}
				select {
				case more <- s:
				default:
				}
			}
		}
	}()
	ctx = context.WithValue(ctx, moreKey{}, (<-chan os.Signal)(more))
	return ctx, func() {
		signal.Stop(sigc)
		close(done)
		cancel(nil)
	}
}

// moreInterrupts returns the interrupts after the first, or nil.
func moreInterrupts(ctx context.Context) <-chan os.Signal {
	c, _ := ctx.Value(moreKey{}).(<-chan os.Signal)
	return c
}

// interruptSignal names the signal that cancelled ctx, or "" if none did.
func interruptSignal(ctx context.Context) string {
	var ic harness.InterruptCause
	if errors.As(context.Cause(ctx), &ic) {
		return ic.Signal.String()
	}
	return ""
}

func main() {
	ctx, stop := interruptContext(context.Background())
	defer stop()
	root := newRootCommand()
	err := root.ExecuteContext(ctx)
	code := exitCode(err)
	var ee *exitError
	if err != nil && (!errors.As(err, &ee) || ee.err != nil) {
		fmt.Fprintln(os.Stderr, "faultline:", err)
	}
	stop()
	os.Exit(code)
}
