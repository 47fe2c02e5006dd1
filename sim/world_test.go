package sim

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/faultline-io/faultline/targets/seam"
)

// recorder is a cluster that records what it is handed.
type recorder struct {
	got    []string // "to:msg"
	starts int
}

func (r *recorder) Start(string) error          { r.starts++; return nil }
func (r *recorder) Stop(string, bool)           {}
func (r *recorder) Deliver(to string, msg any)  { r.got = append(r.got, to+":"+msg.(string)) }
func (r *recorder) Request(string, *Call)       {}
func (r *recorder) Role(string) (string, error) { return "", errors.New("none") }
func (r *recorder) SetEIO(string, bool)         {}
func newTestWorld(t *testing.T) (*World, *recorder) {
	t.Helper()
	w := NewWorld([]string{"a", "b"}, 1)
	rec := &recorder{}
	w.cluster = rec
	for _, id := range w.ids {
		if err := w.start(id); err != nil {
			t.Fatal(err)
		}
	}
	return w, rec
}

func (w *World) run(t *testing.T, d time.Duration) {
	t.Helper()
	if err := w.runUntil(w.now + d); err != nil {
		t.Fatal(err)
	}
}

func TestWorldNetwork(t *testing.T) {
	w, rec := newTestWorld(t)
	w.Send("a", "b", "1")
	w.run(t, time.Second)
	w.cut[[2]string{"a", "b"}]++ // a → b cut; b → a still works
	w.Send("a", "b", "2")
	w.Send("b", "a", "3")
	w.run(t, time.Second)
	delete(w.cut, [2]string{"a", "b"})
	// Paused: held, then delivered in order at resume.
	w.pause("b")
	w.Send("a", "b", "4")
	w.Send("a", "b", "5")
	w.run(t, time.Second)
	if len(rec.got) != 2 {
		t.Fatalf("delivered to a paused node: %v", rec.got)
	}
	w.resume("b")
	w.run(t, time.Millisecond)
	// In flight to a node that restarts before it arrives: lost.
	w.Send("a", "b", "6")
	w.stop("b", false)
	if err := w.start("b"); err != nil {
		t.Fatal(err)
	}
	w.run(t, time.Second)
	// Held back by the sender's shim: lost with the sender, delivered to
	// a receiver restarted meanwhile.
	if err := w.nodes["a"].msgs.SetRules(map[string]seam.MsgRule{seam.AnyPeer: {Delay: 100 * time.Millisecond}}, 1); err != nil {
		t.Fatal(err)
	}
	if d := w.Send("a", "b", "7"); d != 100*time.Millisecond {
		t.Fatalf("Send returned %v, want the shim's 100ms", d)
	}
	w.stop("b", false)
	if err := w.start("b"); err != nil {
		t.Fatal(err)
	}
	w.run(t, time.Second)
	w.Send("a", "b", "8")
	w.stop("a", false)
	w.run(t, time.Second)
	want := []string{"b:1", "a:3", "b:4", "b:5", "b:7"}
	if !reflect.DeepEqual(rec.got, want) {
		t.Fatalf("delivered %v, want %v", rec.got, want)
	}
}

// A crash point stops a node only while armed, after what it sent has
// left it, and restarts it after the fault's down time.
func TestWorldCrashPoint(t *testing.T) {
	w, rec := newTestWorld(t)
	if w.Point("a", "vote", 0) {
		t.Fatal("stopped at a point not armed")
	}
	w.nodes["a"].crashAt["vote"]++
	w.nodes["a"].crashDown["vote"] = 30 * time.Millisecond
	if w.Point("a", "vote", 10*time.Millisecond) {
		t.Fatal("stopped before its message left")
	}
	w.run(t, 20*time.Millisecond)
	if w.Up("a") {
		t.Fatal("still up after its message left")
	}
	starts := rec.starts
	w.run(t, 30*time.Millisecond)
	if !w.Up("a") || rec.starts != starts+1 {
		t.Fatalf("not restarted after the down time (up %v, starts %d)", w.Up("a"), rec.starts)
	}
	if !w.Point("a", "vote", 0) || w.Up("a") {
		t.Fatal("not stopped at once with nothing in the shim")
	}
}
