package raft

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/targets/raft/core"
)

// TestTransportConformance checks that every Transport delivers messages to
// their peer without blocking the sender, and drops messages to unknown or
// unreachable peers.
func TestTransportConformance(t *testing.T) {
	type impl struct {
		name string
		// setup returns n1's transport, wired so that n2 receives through got.
		setup func(t *testing.T, got func([]core.Message)) Transport
	}
	impls := []impl{
		{"http", func(t *testing.T, got func([]core.Message)) Transport {
			mux := http.NewServeMux()
			mux.HandleFunc("POST "+MessagePath, func(w http.ResponseWriter, r *http.Request) {
				var msgs []core.Message
				if err := jsonDecode(r, &msgs); err != nil {
					http.Error(w, err.Error(), 400)
					return
				}
				got(msgs)
				w.WriteHeader(http.StatusNoContent)
			})
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)
			dead := freePorts(t, 1)[0]
			tr := NewHTTPTransport("n1", []cluster.Peer{
				{ID: "n1", Addr: "127.0.0.1:1"}, {ID: "n2", Addr: srv.Listener.Addr().String()}, {ID: "n3", Addr: dead},
			}, nil, HTTPTransportOptions{Timeout: 200 * time.Millisecond})
			return tr
		}},
		{"mem", func(t *testing.T, got func([]core.Message)) Transport {
			net := NewMemNetwork()
			net.Attach("n2", got)
			return net.Transport("n1")
		}},
	}
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			var mu sync.Mutex
			var recv []core.Message
			done := make(chan struct{})
			tr := im.setup(t, func(ms []core.Message) {
				mu.Lock()
				defer mu.Unlock()
				recv = append(recv, ms...)
				if len(recv) == 100 {
					close(done)
				}
			})
			defer tr.Close()
			start := time.Now()
			for i := range 100 {
				tr.Send([]core.Message{
					{Type: core.MsgHeartbeat, From: "n1", To: "n2", Term: uint64(i + 1)},
					{Type: core.MsgHeartbeat, From: "n1", To: "n3", Term: uint64(i + 1)}, // unreachable
					{Type: core.MsgHeartbeat, From: "n1", To: "n9", Term: uint64(i + 1)}, // unknown
				})
			}
			// A liveness bound, not a speed target: n3 never answers, so a
			// Send that waited for delivery would take 100 connection
			// timeouts here.
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("Send blocked for %v", d)
			}
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatalf("only %d of 100 messages arrived", len(recv))
			}
			mu.Lock()
			defer mu.Unlock()
			for i, m := range recv {
				if m.To != "n2" || m.Term != uint64(i+1) {
					t.Fatalf("message %d: %v (want in-order delivery to n2)", i, m)
				}
			}
		})
	}
}

func TestMemNetworkCut(t *testing.T) {
	net := NewMemNetwork()
	got := make(chan core.Message, 10)
	net.Attach("n2", func(ms []core.Message) {
		for _, m := range ms {
			got <- m
		}
	})
	tr := net.Transport("n1")
	net.Cut("n1", "n2")
	tr.Send([]core.Message{{To: "n2", Term: 1}})
	net.Heal()
	tr.Send([]core.Message{{To: "n2", Term: 2}})
	select {
	case m := <-got:
		if m.Term != 2 {
			t.Fatalf("got %v through a cut link", m)
		}
	case <-time.After(time.Second):
		t.Fatal("nothing delivered after heal")
	}
}
