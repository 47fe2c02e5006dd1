package byo

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/history"
)

// fakeNode is a cluster.Node at an address; it cannot be faulted.
type fakeNode struct{ id, addr string }

func (n fakeNode) ID() string                     { return n.id }
func (n fakeNode) Addr() string                   { return n.addr }
func (n fakeNode) Kill(context.Context) error     { return nil }
func (n fakeNode) Start(context.Context) error    { return nil }
func (n fakeNode) Pause(context.Context) error    { return nil }
func (n fakeNode) Resume(context.Context) error   { return nil }
func (n fakeNode) NetNS() (netns.NsHandle, error) { return netns.None(), cluster.ErrUnsupported }

// request is what a fake server received.
type request struct{ method, path, body string }

// server answers every request with status and body, recording them.
func server(t *testing.T, status int, body string) (cluster.Node, <-chan request) {
	t.Helper()
	got := make(chan request, 16)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- request{r.Method, r.URL.EscapedPath(), string(b)}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return fakeNode{"n1", s.Listener.Addr().String()}, got
}

func op(f string, value any) history.Op {
	o := history.Op{Type: history.Invoke, F: f, Key: "k1"}
	if value != nil {
		o.Value = history.MustValue(value)
	}
	return o
}

func invoke(t *testing.T, nodes []cluster.Node, o history.Op) history.Op {
	t.Helper()
	c, err := NewClient(nodes, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.Invoke(context.Background(), o)
}

func TestClientRequests(t *testing.T) {
	for _, c := range []struct {
		op   history.Op
		want request
	}{
		{op("read", nil), request{"GET", "/kv/k1", ""}},
		{op("write", 5), request{"PUT", "/kv/k1", `{"value":5}`}},
		{op("cas", [2]int{3, 4}), request{"POST", "/kv/k1/cas", `{"expect":3,"value":4}`}},
	} {
		n, got := server(t, http.StatusOK, `{"value": 1}`)
		invoke(t, []cluster.Node{n}, c.op)
		if r := <-got; r != c.want {
			t.Errorf("%s sent %+v, want %+v", c.op.F, r, c.want)
		}
	}
	// A key is one path segment, escaped.
	n, got := server(t, http.StatusNotFound, "")
	o := op("read", nil)
	o.Key = "a/b c"
	invoke(t, []cluster.Node{n}, o)
	if r := <-got; r.path != "/kv/a%2Fb%20c" {
		t.Errorf("path %q", r.path)
	}
}

func TestClientClassifiesAnswers(t *testing.T) {
	for _, c := range []struct {
		name   string
		op     history.Op
		status int
		body   string
		typ    history.Type
		value  string // for ok reads
		errHas string
	}{
		{"read value", op("read", nil), 200, `{"value": 7}`, history.OK, "7", ""},
		{"read absent", op("read", nil), 404, "not found", history.OK, "null", ""},
		{"read null", op("read", nil), 200, `{"value": null}`, history.OK, "null", ""},
		{"read garbage", op("read", nil), 200, `seven`, history.Fail, "", "undecodable"},
		{"read fraction", op("read", nil), 200, `{"value": 1.5}`, history.Fail, "", "not an integer"},
		{"read 500", op("read", nil), 500, "oops", history.Fail, "", "500 Internal Server Error: oops"},
		{"read 503", op("read", nil), 503, "", history.Fail, "", "503"},
		{"write 200", op("write", 5), 200, "", history.OK, "", ""},
		{"write 204", op("write", 5), 204, "", history.OK, "", ""},
		{"write 400", op("write", 5), 400, "bad", history.Fail, "", "400 Bad Request: bad"},
		{"write 421", op("write", 5), 421, "", history.Fail, "", "421"},
		{"write redirect", op("write", 5), 307, "", history.Fail, "", "307"},
		{"write 500", op("write", 5), 500, "", history.Info, "", "500"},
		{"write 503", op("write", 5), 503, "", history.Info, "", "503"},
		{"cas 200", op("cas", [2]int{1, 2}), 200, "", history.OK, "", ""},
		{"cas mismatch", op("cas", [2]int{1, 2}), 409, "differs", history.Fail, "", ErrCASMismatch},
		{"cas 404", op("cas", [2]int{1, 2}), 404, "", history.Fail, "", "404"},
		{"cas 502", op("cas", [2]int{1, 2}), 502, "", history.Info, "", "502"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, _ := server(t, c.status, c.body)
			got := invoke(t, []cluster.Node{n}, c.op)
			if got.Type != c.typ || !strings.Contains(got.Error, c.errHas) {
				t.Errorf("got %s %q, want %s with %q", got.Type, got.Error, c.typ, c.errHas)
			}
			if c.typ == history.OK && c.op.F == "read" && string(got.Value) != c.value {
				t.Errorf("value %s, want %s", got.Value, c.value)
			}
			if c.typ == history.OK && c.op.F != "read" && string(got.Value) != string(c.op.Value) {
				t.Errorf("a write's value changed: %s", got.Value)
			}
			if got.Node != "n1" {
				t.Errorf("node %q", got.Node)
			}
		})
	}
	// A cas's answered error is what the target declares answered.
	if a := AnsweredErrors(); len(a) != 1 || a[0] != ErrCASMismatch {
		t.Errorf("AnsweredErrors %v", a)
	}
}

// TestClientWithoutAnswer: a request the node got but never answered may
// have been applied (info), unless it is a read (fail); one that never
// reached a node certainly was not (fail).
func TestClientWithoutAnswer(t *testing.T) {
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		<-r.Context().Done()
	}))
	defer hang.Close()
	drop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer drop.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := l.Addr().String()
	l.Close()
	for _, c := range []struct {
		name, addr string
		op         history.Op
		typ        history.Type
		errHas     string
	}{
		{"write timeout", hang.Listener.Addr().String(), op("write", 1), history.Info, "deadline"},
		{"cas timeout", hang.Listener.Addr().String(), op("cas", [2]int{1, 2}), history.Info, "deadline"},
		{"read timeout", hang.Listener.Addr().String(), op("read", nil), history.Fail, "read failed"},
		{"write dropped", drop.Listener.Addr().String(), op("write", 1), history.Info, "EOF"},
		{"read dropped", drop.Listener.Addr().String(), op("read", nil), history.Fail, "read failed"},
		{"write refused", refused, op("write", 1), history.Fail, "no connection"},
		{"cas refused", refused, op("cas", [2]int{1, 2}), history.Fail, "no connection"},
		{"read refused", refused, op("read", nil), history.Fail, "read failed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			got := invoke(t, []cluster.Node{fakeNode{"n1", c.addr}}, c.op)
			if got.Type != c.typ || !strings.Contains(got.Error, c.errHas) {
				t.Errorf("got %s %q, want %s with %q", got.Type, got.Error, c.typ, c.errHas)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v; the file's timeout is 300ms", d)
			}
		})
	}
}

// TestClientMovesOnAfterNoAnswer: after a node fails to answer, the client
// asks the next; a node that answers keeps it.
func TestClientMovesOnAfterNoAnswer(t *testing.T) {
	a, _ := server(t, http.StatusServiceUnavailable, "")
	b, _ := server(t, http.StatusOK, `{"value": 3}`)
	nodes := []cluster.Node{fakeNode{"a", a.Addr()}, fakeNode{"b", b.Addr()}}
	c, err := NewClient(nodes, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.cur = 0
	first := c.Invoke(context.Background(), op("write", 1))
	second := c.Invoke(context.Background(), op("read", nil))
	third := c.Invoke(context.Background(), op("read", nil))
	if first.Node != "a" || first.Type != history.Info || second.Node != "b" || third.Node != "b" {
		t.Errorf("got %s@%s, %s@%s, %s@%s", first.Type, first.Node, second.Type, second.Node, third.Type, third.Node)
	}
	var v int
	if err := json.Unmarshal(second.Value, &v); err != nil || v != 3 {
		t.Errorf("read %s", second.Value)
	}
}
