package peer

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/faultline-io/faultline/cluster"
)

type msg struct {
	To   string `json:"to"`
	Body string `json:"body"`
}

// TestHTTPSenderDeliversWithDeadline: messages reach the peer's path in
// JSON batches, with the sender and a deadline one timeout ahead.
func TestHTTPSenderDeliversWithDeadline(t *testing.T) {
	got := make(chan *http.Request, 16)
	bodies := make(chan []msg, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ms []msg
		if r.URL.Path != "/m" || json.NewDecoder(r.Body).Decode(&ms) != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		got <- r
		bodies <- ms
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	s := NewHTTPSender("n1", []cluster.Peer{{ID: "n1", Addr: "127.0.0.1:1"}, {ID: "n2", Addr: addr}},
		func(m msg) string { return m.To }, nil, Options{Path: "/m", Timeout: 2 * time.Second})
	defer s.Close()
	before := time.Now()
	s.Send([]msg{{To: "n2", Body: "a"}, {To: "n3", Body: "unknown peer"}})
	select {
	case r := <-got:
		if from := r.Header.Get("X-Faultline-From"); from != "n1" {
			t.Errorf("from header %q", from)
		}
		if Expired(r, before.Add(time.Second)) {
			t.Error("expired one second into a two-second deadline")
		}
		if !Expired(r, time.Now().Add(3*time.Second)) {
			t.Error("not expired three seconds later")
		}
		if ms := <-bodies; len(ms) != 1 || ms[0].Body != "a" {
			t.Errorf("delivered %+v", ms)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing delivered in 10 s")
	}
}

// TestExpiredWithoutHeader: a request that names no deadline never
// expires.
func TestExpiredWithoutHeader(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/m", nil)
	if Expired(r, time.Now().Add(time.Hour)) {
		t.Error("a request without a deadline expired")
	}
}
