package crdt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/history"
)

// Client is one worker's client of a CRDT cluster. Every node accepts
// reads and writes, so a client sends each operation to the next node in
// turn (successive clients start at successive nodes), as clients of a
// leaderless store spread over its replicas: one worker's remove on one
// node and re-add on another is what an observed-remove set must get
// right. An answer the node gave is final: ok, or a definite error
// (fail); a request that may have reached the node without an answer
// (timeout, reset) is info, except a read, which changes nothing and so
// fails.
type Client struct {
	kind  string
	nodes []cluster.Node
	cur   int
	tr    *http.Transport
	hc    *http.Client
}

var clientSeq atomic.Uint64

// NewClient returns a client of workload (counter, set, register,
// lww-register or mv-register) over nodes.
func NewClient(nodes []cluster.Node, workload string) (*Client, error) {
	if len(nodes) == 0 {
		return nil, errors.New("crdt client: no nodes")
	}
	kind, ok := workloadKinds[workload]
	if !ok {
		return nil, fmt.Errorf("crdt client: no CRDT serves workload %q", workload)
	}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 500 * time.Millisecond, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 2,
		MaxConnsPerHost:     4,
		IdleConnTimeout:     60 * time.Second,
		DisableCompression:  true,
	}
	return &Client{
		kind:  kind,
		nodes: append([]cluster.Node(nil), nodes...),
		cur:   int(clientSeq.Add(1) % uint64(len(nodes))),
		tr:    tr,
		hc:    &http.Client{Transport: tr},
	}, nil
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.tr.CloseIdleConnections()
	return nil
}

// Invoke implements targets.Client.
func (c *Client) Invoke(ctx context.Context, op history.Op) history.Op {
	res := op
	res.Error = ""
	node := c.nodes[c.cur]
	c.cur = (c.cur + 1) % len(c.nodes)
	res.Node = node.ID()
	req := Request{Kind: c.kind, F: op.F, Key: op.Key}
	if op.F != "read" {
		req.Value = op.Value
	}
	resp, sent, err := c.post(ctx, node.Addr(), req)
	if err != nil {
		res.Error = err.Error()
		switch {
		case !sent, op.F == "read":
			res.Type = history.Fail
		default:
			res.Type = history.Info
		}
		return res
	}
	switch {
	case resp.OK:
		res.Type = history.OK
		if op.F == "read" {
			res.Value = resp.Value
			if len(res.Value) == 0 {
				res.Value = json.RawMessage("null")
			}
		}
	case resp.Definite || op.F == "read":
		res.Type, res.Error = history.Fail, resp.Error
	default:
		res.Type, res.Error = history.Info, resp.Error
	}
	return res
}

// post sends req to addr. sent is false when the request certainly never
// reached the node (no connection).
func (c *Client) post(ctx context.Context, addr string, req Request) (resp Response, sent bool, err error) {
	body, err := json.Marshal(req)
	if err != nil {
		return resp, false, err
	}
	// Once the whole request has been written to a connection, the node
	// may act on it; before that it cannot have a decodable request.
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(w httptrace.WroteRequestInfo) {
			if w.Err == nil {
				wrote.Store(true)
			}
		},
	})
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+OpPath, bytes.NewReader(body))
	if err != nil {
		return resp, false, err
	}
	hr.Header.Set("Content-Type", "application/json")
	r, err := c.hc.Do(hr)
	if err != nil {
		return resp, wrote.Load(), err
	}
	defer r.Body.Close()
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		return resp, true, err
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return resp, true, fmt.Errorf("%s: %s", r.Status, bytes.TrimSpace(b[:min(len(b), 200)]))
	}
	if !resp.OK && resp.Error == "" {
		return resp, true, errors.New(r.Status + " without an error code")
	}
	return resp, true, nil
}
