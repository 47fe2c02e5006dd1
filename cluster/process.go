package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Process is a node running as a child process of the harness. It is shared by
// the local and netns runtimes. The zero value is not usable; use NewProcess.
//
// Node output (stdout and stderr) is appended to LogPath across restarts, so a
// kill never loses what a node printed.
type Process struct {
	Binary  string
	Args    []string
	LogPath string
	// Fork, when set, starts the command; the netns runtime uses it to fork
	// from a thread inside the node's namespace. Nil means cmd.Start.
	Fork func(cmd *exec.Cmd) error

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	paused bool
}

// NewProcess returns a process description; nothing runs until Start.
func NewProcess(binary string, args []string, logPath string) *Process {
	return &Process{Binary: binary, Args: args, LogPath: logPath}
}

// Running reports whether the process is alive (possibly paused).
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runningLocked()
}

func (p *Process) runningLocked() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Pid returns the process id, or 0 when not running.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.runningLocked() {
		return 0
	}
	return p.cmd.Process.Pid
}

// Start launches the process unless it is already running.
func (p *Process) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.runningLocked() {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p.LogPath), 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open node log: %w", err)
	}
	fmt.Fprintf(logf, "--- faultline: starting %s at %s\n", p.Binary, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.Binary, p.Args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Own process group, so a Ctrl-C to the harness does not reach nodes
	// before the harness heals and tears down; Pdeathsig so a killed harness
	// does not leave nodes running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	start := cmd.Start
	if p.Fork != nil {
		start = func() error { return p.Fork(cmd) }
	}
	if err := start(); err != nil {
		logf.Close()
		return fmt.Errorf("start node: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	p.cmd, p.done, p.paused = cmd, done, false
	return nil
}

// Kill sends SIGKILL and waits until the process is gone. Killing a stopped
// process is a no-op.
func (p *Process) Kill(ctx context.Context) error {
	p.mu.Lock()
	if !p.runningLocked() {
		p.mu.Unlock()
		return nil
	}
	cmd, done := p.cmd, p.done
	p.paused = false
	p.mu.Unlock()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGKILL: %w", err)
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for killed node: %w", ctx.Err())
	}
}

// Pause sends SIGSTOP.
func (p *Process) Pause(ctx context.Context) error { return p.signal(syscall.SIGSTOP, true) }

// Resume sends SIGCONT.
func (p *Process) Resume(ctx context.Context) error { return p.signal(syscall.SIGCONT, false) }

func (p *Process) signal(sig syscall.Signal, paused bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.runningLocked() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%v: %w", sig, err)
	}
	p.paused = paused
	return nil
}

// Paused reports whether the last signal was SIGSTOP.
func (p *Process) Paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused && p.runningLocked()
}
