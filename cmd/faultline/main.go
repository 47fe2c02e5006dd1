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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
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
