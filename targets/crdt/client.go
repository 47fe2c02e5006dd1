package crdt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/targets/peer"
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
	tr := peer.ClientTransport(len(nodes))
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
// reached the node.
func (c *Client) post(ctx context.Context, addr string, req Request) (resp Response, sent bool, err error) {
	sent, status, err := peer.PostJSON(ctx, c.hc, "http://"+addr+OpPath, req, &resp)
	if err == nil && !resp.OK && resp.Error == "" {
		err = errors.New(status + " without an error code")
	}
	return resp, sent, err
}
