package byo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/targets/peer"
)

// ErrCASMismatch is the error of a cas the node answered with 409: the
// key's value was not the expected one. It is a definite failure.
const ErrCASMismatch = "cas-mismatch"

// Client speaks http-register (docs/byo.md) for one worker of the register
// workload: read is GET /kv/KEY, write PUT /kv/KEY {"value": N}, cas POST
// /kv/KEY/cas {"expect": N, "value": M}. It is not safe for concurrent use.
//
// Outcomes:
//   - read: ok on 200 {"value": N} (N) or 404 (absent: null); fail on
//     anything else, since a read changes nothing.
//   - write, cas: ok on any 2xx; fail on 409 for a cas (ErrCASMismatch) and
//     on any other 3xx or 4xx (the node answered that it did not apply
//     it), and when the request was never completely sent (no
//     connection); info on 5xx, a timeout or a connection lost after the
//     request was sent: it may have been applied.
//
// The client asks one node until a request to it fails without an answer
// (or with a 5xx), then moves to the next; successive clients start at
// successive nodes.
type Client struct {
	nodes   []cluster.Node
	cur     int
	timeout time.Duration
	tr      *http.Transport
	hc      *http.Client
}

var clientSeq atomic.Uint64

// NewClient returns a client over nodes. timeout, when positive, caps each
// request (else the operation's own timeout alone bounds it).
func NewClient(nodes []cluster.Node, timeout time.Duration) (*Client, error) {
	if len(nodes) == 0 {
		return nil, errors.New("http-register client: no nodes")
	}
	tr := peer.ClientTransport(len(nodes))
	return &Client{
		nodes:   append([]cluster.Node(nil), nodes...),
		cur:     int(clientSeq.Add(1) % uint64(len(nodes))),
		timeout: timeout,
		tr:      tr,
		// A redirect is an answer: the node did not apply the request.
		hc: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}, nil
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.tr.CloseIdleConnections()
	return nil
}

// Invoke implements targets.Client. It returns by ctx's deadline.
func (c *Client) Invoke(ctx context.Context, op history.Op) history.Op {
	res := op
	res.Error = ""
	var method, path string
	var body any
	key := "/kv/" + url.PathEscape(op.Key)
	switch op.F {
	case "read":
		method, path = http.MethodGet, key
	case "write":
		var v int64
		if err := json.Unmarshal(op.Value, &v); err != nil {
			return outcome(res, history.Fail, fmt.Sprintf("bad write value %s: %v", op.Value, err))
		}
		method, path, body = http.MethodPut, key, map[string]int64{"value": v}
	case "cas":
		var v [2]int64
		if err := json.Unmarshal(op.Value, &v); err != nil {
			return outcome(res, history.Fail, fmt.Sprintf("bad cas value %s (want [from, to]): %v", op.Value, err))
		}
		method, path, body = http.MethodPost, key+"/cas", map[string]int64{"expect": v[0], "value": v[1]}
	default:
		return outcome(res, history.Fail, fmt.Sprintf("unknown f %q", op.F))
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	n := c.nodes[c.cur]
	res.Node = n.ID()
	status, answer, sent, err := c.do(ctx, method, "http://"+n.Addr()+path, body)
	if err != nil {
		c.rotate()
		switch {
		case op.F == "read":
			return outcome(res, history.Fail, "read failed: "+err.Error())
		case !sent:
			return outcome(res, history.Fail, "no connection: "+err.Error())
		default:
			return outcome(res, history.Info, err.Error())
		}
	}
	if status/100 == 5 {
		c.rotate()
	}
	if op.F == "read" {
		switch status {
		case http.StatusOK:
			v, err := decodeValue(answer)
			if err != nil {
				return outcome(res, history.Fail, fmt.Sprintf("200 with %s", err))
			}
			res.Type, res.Value = history.OK, v
			return res
		case http.StatusNotFound:
			res.Type, res.Value = history.OK, json.RawMessage("null")
			return res
		}
		return outcome(res, history.Fail, answered(status, answer))
	}
	switch {
	case status/100 == 2:
		res.Type = history.OK
		return res
	case op.F == "cas" && status == http.StatusConflict:
		return outcome(res, history.Fail, ErrCASMismatch)
	case status/100 == 3 || status/100 == 4:
		return outcome(res, history.Fail, answered(status, answer))
	default:
		return outcome(res, history.Info, answered(status, answer))
	}
}

func (c *Client) rotate() { c.cur = (c.cur + 1) % len(c.nodes) }

// do sends one request with body (JSON; nil for none) and returns the
// answer's status and body. sent reports whether the whole request was
// written to a connection, after which the node may have acted on it.
func (c *Client) do(ctx context.Context, method, u string, body any) (status int, answer []byte, sent bool, err error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, false, err
		}
		rd = bytes.NewReader(b)
	}
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(w httptrace.WroteRequestInfo) {
			if w.Err == nil {
				wrote.Store(true)
			}
		},
	})
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, false, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, wrote.Load(), err
	}
	defer resp.Body.Close()
	answer, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		// The status came: the node acted (or refused), whatever the
		// rest of its answer.
		return resp.StatusCode, nil, true, nil
	}
	return resp.StatusCode, answer, true, nil
}

// decodeValue reads {"value": N} with N an integer (or null) into a
// history value.
func decodeValue(b []byte) (json.RawMessage, error) {
	var a struct {
		Value *json.Number `json:"value"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("an undecodable body %.200q (want {\"value\": N})", b)
	}
	if a.Value == nil {
		return json.RawMessage("null"), nil
	}
	v, err := strconv.ParseInt(a.Value.String(), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("value %s, not an integer", a.Value)
	}
	return history.MustValue(v), nil
}

// answered describes an answer that is not a success.
func answered(status int, body []byte) string {
	s := strconv.Itoa(status) + " " + http.StatusText(status)
	if b := bytes.TrimSpace(body); len(b) > 0 {
		s += fmt.Sprintf(": %.200s", b)
	}
	return s
}

func outcome(op history.Op, typ history.Type, why string) history.Op {
	op.Type, op.Error = typ, why
	return op
}
