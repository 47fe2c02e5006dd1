package harness

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/store"
)

// stuckRuntime starts clusters whose nodes never serve: Start blocks until
// its context is cancelled when block is set, else returns nodes at an
// address nothing listens on, so the health wait never ends by itself.
type stuckRuntime struct {
	block     bool
	tornDown  *bool
	announced *string
}

func (stuckRuntime) Name() string { return "stuck" }

func (s stuckRuntime) Start(ctx context.Context, spec cluster.Spec) (cluster.Cluster, error) {
	if spec.OnRun != nil {
		spec.OnRun("abc123")
		*s.announced = "abc123"
	}
	if s.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	var nodes []cluster.Node
	for i := 1; i <= spec.Nodes; i++ {
		nodes = append(nodes, stuckNode{id: "n" + string(rune('0'+i))})
	}
	return &stuckCluster{nodes: nodes, tornDown: s.tornDown}, nil
}

type stuckCluster struct {
	nodes    []cluster.Node
	tornDown *bool
}

func (c *stuckCluster) Nodes() []cluster.Node { return c.nodes }
func (c *stuckCluster) Run() string           { return "abc123" }
func (c *stuckCluster) Teardown(context.Context) error {
	*c.tornDown = true
	return nil
}

type stuckNode struct{ id string }

func (n stuckNode) ID() string                     { return n.id }
func (n stuckNode) Addr() string                   { return "127.0.0.1:1" }
func (n stuckNode) Kill(context.Context) error     { return nil }
func (n stuckNode) Start(context.Context) error    { return nil }
func (n stuckNode) Pause(context.Context) error    { return nil }
func (n stuckNode) Resume(context.Context) error   { return nil }
func (n stuckNode) NetNS() (netns.NsHandle, error) { return 0, cluster.ErrUnsupported }

// interruptAt runs cfg and cancels its context (as the first SIGINT does)
// from the OnPhase hook as the run enters aim; more, when set, is sent a
// second interrupt as the run enters second.
func interruptAt(t *testing.T, cfg store.Config, aim, second store.Phase) (*Outcome, []store.Phase) {
	t.Helper()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	more := make(chan os.Signal, 1)
	var seen []store.Phase
	out, err := Run(ctx, cfg, RunOptions{
		MoreInterrupts: more,
		OnPhase: func(p store.Phase) {
			seen = append(seen, p)
			if p == aim {
				cancel(InterruptCause{Signal: os.Interrupt})
			}
			if p == second {
				more <- syscall.SIGTERM
			}
		},
	})
	if err != nil {
		t.Fatalf("interrupted run failed: %v", err)
	}
	return out, seen
}

func checkInterrupted(t *testing.T, out *Outcome, want store.Phase) {
	t.Helper()
	if out.Interruption == nil || out.Interruption.Phase != want || out.Interruption.Signal != "interrupt" {
		t.Fatalf("interruption %+v, want phase %s, signal interrupt", out.Interruption, want)
	}
	if !out.Interrupted || out.Results.Valid != checker.Unknown {
		t.Errorf("interrupted %v, valid %v: want true, unknown", out.Interrupted, out.Results.Valid)
	}
	rr, err := store.ReadRunResults(out.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if rr.Interrupted == nil || rr.Interrupted.Phase != want || rr.Valid != checker.Unknown {
		t.Errorf("results.json: interrupted %+v, valid %v", rr.Interrupted, rr.Valid)
	}
	if _, err := history.ReadFile(filepath.Join(out.Dir, store.HistoryFile)); err != nil {
		t.Errorf("history unreadable: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out.Dir, store.RunningFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("running.json left after the run ended: %v", err)
	}
}

// TestInterruptDuringStartAndHealth interrupts runs whose cluster never
// comes up, from the phase hook: the run is not an error, results.json says
// where it was interrupted, the history exists, and what started is torn
// down.
func TestInterruptDuringStartAndHealth(t *testing.T) {
	for _, tc := range []struct {
		aim   store.Phase
		block bool
	}{{store.PhaseStart, true}, {store.PhaseHealth, false}} {
		t.Run(string(tc.aim), func(t *testing.T) {
			var tornDown bool
			var announced string
			name := "stuck-" + string(tc.aim)
			RegisterRuntime(name, RuntimeFactory{
				New:   func() (cluster.Runtime, error) { return stuckRuntime{tc.block, &tornDown, &announced}, nil },
				Probe: func(context.Context) error { return nil },
				Rank:  1000,
			})
			cfg := store.DefaultConfig()
			cfg.Runtime, cfg.Store, cfg.Name = name, t.TempDir(), "t"
			cfg.HealthTimeout = time.Hour // only the interrupt ends the wait
			out, seen := interruptAt(t, cfg, tc.aim, "")
			checkInterrupted(t, out, tc.aim)
			if !tc.block && !tornDown {
				t.Error("cluster not torn down")
			}
			b, err := os.ReadFile(filepath.Join(out.Dir, store.RuntimeFile))
			if err != nil || announced == "" {
				t.Errorf("runtime.json not written before start returned: %v %s", err, b)
			}
			t.Logf("phases: %v", seen)
			if seen[len(seen)-1] != store.PhaseCheck {
				t.Errorf("phases %v do not end with check", seen)
			}
		})
	}
}

// TestInterruptEveryPhase interrupts a real local-runtime run as it enters
// each phase after health, and once with a second interrupt in the final
// phase. It needs the faultline binary ($FAULTLINE_BIN, set by make test).
func TestInterruptEveryPhase(t *testing.T) {
	bin := os.Getenv("FAULTLINE_BIN")
	if bin == "" || testing.Short() {
		t.Skip("needs $FAULTLINE_BIN (make test) and not -short")
	}
	cases := []struct {
		name        string
		aim, second store.Phase
	}{
		{"run", store.PhaseRun, ""}, {"final", store.PhaseFinal, ""}, {"teardown", store.PhaseTeardown, ""},
		{"check", store.PhaseCheck, ""}, {"run-then-final", store.PhaseRun, store.PhaseFinal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := store.DefaultConfig()
			cfg.Runtime, cfg.Store, cfg.Binary = "local", t.TempDir(), bin
			cfg.Nemeses = []string{"kill"}
			cfg.TimeLimit = 2 * time.Second
			if tc.aim == store.PhaseRun {
				cfg.TimeLimit = time.Hour // only the interrupt ends it
			}
			out, seen := interruptAt(t, cfg, tc.aim, tc.second)
			checkInterrupted(t, out, tc.aim)
			if got := out.Interruption.Forced; got != (tc.second != "") {
				t.Errorf("forced = %v", got)
			}
			if want := []store.Phase{store.PhaseStart, store.PhaseHealth, store.PhaseRun, store.PhaseFinal, store.PhaseTeardown, store.PhaseCheck}; len(seen) != len(want) {
				t.Errorf("phases %v, want %v", seen, want)
			}
			ops, _ := history.ReadFile(filepath.Join(out.Dir, store.HistoryFile))
			for _, op := range ops {
				if op.Process >= history.Process(cfg.Concurrency*1_000_000) && tc.aim != store.PhaseTeardown && tc.aim != store.PhaseCheck {
					t.Errorf("final read after an interrupt in %s: %+v", tc.aim, op)
				}
			}
		})
	}
}
