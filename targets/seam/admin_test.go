package seam

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startNode serves s's admin handler the way a node does: on its one mux,
// beside its own endpoints.
func startNode(t *testing.T, s Seams) *AdminClient {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) })
	mux.Handle(AdminPrefix, AdminHandler(s))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return NewAdminClient(strings.TrimPrefix(srv.URL, "http://"))
}

func TestAdminRoundTrip(t *testing.T) {
	ctx := context.Background()
	ft := newFakeTime()
	s := Seams{Node: "n1", Clock: NewClock(ft.Now), Disk: NewDisk(), Msg: NewMessages(nil)}
	c := startNode(t, s)

	st, err := c.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Node != "n1" || st.Clock == nil || st.Disk == nil || st.Msg == nil {
		t.Fatalf("state %+v", st)
	}

	cs, err := c.Clock(ctx, ClockRequest{Op: ClockJump, Delta: -3 * time.Second})
	if err != nil || cs.Skew != -3*time.Second {
		t.Fatalf("jump: %+v, %v", cs, err)
	}
	if got := s.Clock.Now().Sub(ft.Now()); got != -3*time.Second {
		t.Fatalf("node clock skew %v after jump", got)
	}
	if cs, err = c.Clock(ctx, ClockRequest{Op: ClockDrift, PPM: 500}); err != nil || cs.DriftPPM != 500 {
		t.Fatalf("drift: %+v, %v", cs, err)
	}
	if cs, err = c.Clock(ctx, ClockRequest{Op: ClockStrobe, Delta: time.Second, Period: time.Second}); err != nil || cs.StrobePeriod != time.Second {
		t.Fatalf("strobe: %+v, %v", cs, err)
	}
	for _, bad := range []ClockRequest{{Op: "warp"}, {Op: ClockStrobe, Delta: time.Second}, {Op: ClockDrift, PPM: 5e6}} {
		if _, err := c.Clock(ctx, bad); err == nil || errors.Is(err, ErrNotBundled) {
			t.Errorf("clock request %+v: err %v, want a plain rejection", bad, err)
		}
	}
	if cs, err = c.Clock(ctx, ClockRequest{Op: ClockReset}); err != nil || cs.Skew != 0 || cs.DriftPPM != 0 {
		t.Fatalf("reset: %+v, %v", cs, err)
	}

	on := true
	ds, err := c.Disk(ctx, DiskRequest{LoseUnsynced: &on})
	if err != nil || !ds.LoseUnsynced || ds.EIO {
		t.Fatalf("disk: %+v, %v", ds, err)
	}
	if ds, err = c.Disk(ctx, DiskRequest{EIO: &on}); err != nil || !ds.EIO || !ds.LoseUnsynced {
		t.Fatalf("disk eio (lose_unsynced must stay): %+v, %v", ds, err)
	}

	ms, err := c.Msg(ctx, MsgRequest{Rules: map[string]MsgRule{"n2": {Dup: 0.5}}, Seed: 9})
	if err != nil || ms.Rules["n2"].Dup != 0.5 || ms.Seed != 9 {
		t.Fatalf("msg: %+v, %v", ms, err)
	}
	if _, err := c.Msg(ctx, MsgRequest{Rules: map[string]MsgRule{"n2": {Dup: 2}}}); err == nil {
		t.Fatal("bad rule accepted")
	}

	st, err = c.Reset(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Disk.EIO || st.Disk.LoseUnsynced || len(st.Msg.Rules) != 0 || st.Clock.Skew != 0 {
		t.Fatalf("state after reset %+v", st)
	}
}

func TestAdminMissingSeam(t *testing.T) {
	c := startNode(t, Seams{Node: "n1", Clock: NewClock(nil)})
	ctx := context.Background()
	if _, err := c.State(ctx); err != nil {
		t.Fatal(err)
	}
	on := true
	if _, err := c.Disk(ctx, DiskRequest{EIO: &on}); !errors.Is(err, ErrNoSeam) {
		t.Fatalf("disk request on a node without a disk seam: %v, want ErrNoSeam", err)
	}
	if _, err := c.Msg(ctx, MsgRequest{}); !errors.Is(err, ErrNoSeam) {
		t.Fatalf("msg request on a node without a shim: %v, want ErrNoSeam", err)
	}
}

func TestAdminClientRefusesForeignNodes(t *testing.T) {
	ctx := context.Background()
	// A foreign HTTP server: 404 pages in its own format.
	foreign := httptest.NewServer(http.NotFoundHandler())
	defer foreign.Close()
	c := NewAdminClient(strings.TrimPrefix(foreign.URL, "http://"))
	if _, err := c.State(ctx); !errors.Is(err, ErrNotBundled) {
		t.Fatalf("foreign server state: %v, want ErrNotBundled", err)
	}
	if _, err := c.Clock(ctx, ClockRequest{Op: ClockJump, Delta: 1}); !errors.Is(err, ErrNotBundled) {
		t.Fatalf("foreign server clock: %v, want ErrNotBundled", err)
	}
	// A server answering 200 with JSON of another shape.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"hello":1}`)) }))
	defer other.Close()
	if _, err := NewAdminClient(strings.TrimPrefix(other.URL, "http://")).State(ctx); !errors.Is(err, ErrNotBundled) {
		t.Fatalf("server without seam_version: %v, want ErrNotBundled", err)
	}
	// Nobody listening.
	dead := httptest.NewServer(http.NotFoundHandler())
	addr := strings.TrimPrefix(dead.URL, "http://")
	dead.Close()
	if _, err := NewAdminClient(addr).State(ctx); err == nil {
		t.Fatal("a dead node answered")
	}
}

// The disk seam end to end through the admin protocol: lose-unsynced on,
// a write, a "kill", and only the synced part is in the file.
func TestAdminDiskLoseUnsyncedEndToEnd(t *testing.T) {
	d := NewDisk()
	path := filepath.Join(t.TempDir(), "log")
	osf, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer osf.Close()
	f := d.Wrap(path, osf)
	c := startNode(t, Seams{Node: "n1", Disk: d})
	on := true
	if _, err := c.Disk(context.Background(), DiskRequest{LoseUnsynced: &on}); err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("acked-and-synced;"))
	f.Sync()
	f.Write([]byte("acked-not-synced"))
	st, err := c.State(context.Background())
	if err != nil || st.Disk.UnsyncedBytes != int64(len("acked-not-synced")) {
		t.Fatalf("state %+v, %v", st.Disk, err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "acked-and-synced;" {
		t.Fatalf("file after kill: %q", b)
	}
}
