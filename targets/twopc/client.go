package twopc

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/targets/peer"
)

// APIResponse is the body of every answer to POST OpPath: the machine's
// Response, and where the coordinator listens when this node is not it.
type APIResponse struct {
	Response
	CoordinatorAddr string `json:"coordinator_addr,omitempty"`
}

// Client is one worker's client. Only the coordinator runs transactions: a
// participant answers not-coordinator with the coordinator's address, and
// the client asks there (successive clients start at successive nodes, and
// a client keeps using the coordinator once it knows it). An answer is
// final: ok, or a definite error (fail). A read without one fails (it
// changes nothing). A transfer, write or cas that may have reached the
// coordinator without an answer is resolved: the client asks the
// coordinator for the request's outcome (Request "outcome" with the
// request's id) every ResolveRetry for up to ResolveFor, past the op's
// own timeout, and records what the coordinator says — ok, or the
// definite abort it answers for a request that did not commit (and then
// never will). Only a request still unresolved after that is info.
type Client struct {
	workload string
	nodes    []cluster.Node
	cur      int
	tr       *http.Transport
	hc       *http.Client
	name     string // prefix of the request ids
	sent     uint64
}

// How long, and how often, a client asks for the outcome of a request
// that got no definite answer.
const (
	ResolveFor   = 10 * time.Second
	ResolveRetry = 200 * time.Millisecond
)

var clientSeq atomic.Uint64

// NewClient returns a client of workload (bank or register) over nodes.
func NewClient(nodes []cluster.Node, workload string) (*Client, error) {
	if len(nodes) == 0 {
		return nil, errors.New("twopc client: no nodes")
	}
	if workload != "bank" && workload != "register" {
		return nil, fmt.Errorf("twopc client: no workload %q (bank, register)", workload)
	}
	tr := peer.ClientTransport(len(nodes))
	seq := clientSeq.Add(1)
	return &Client{workload: workload, nodes: append([]cluster.Node(nil), nodes...),
		cur: int(seq % uint64(len(nodes))), tr: tr, hc: &http.Client{Transport: tr},
		name: fmt.Sprintf("c%d-%x", seq, time.Now().UnixNano()&0xffffff)}, nil
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.tr.CloseIdleConnections()
	return nil
}

// request turns a workload op into the API's request.
func (c *Client) request(op history.Op) (Request, error) {
	switch {
	case c.workload == "bank" && op.F == "read":
		return Request{F: FRead}, nil
	case c.workload == "bank" && op.F == "transfer":
		var t struct{ From, To, Amount int64 }
		if err := json.Unmarshal(op.Value, &t); err != nil {
			return Request{}, fmt.Errorf("bad transfer %s: %v", op.Value, err)
		}
		return Request{F: FTransfer, From: t.From, To: t.To, Amount: t.Amount}, nil
	case c.workload == "register" && op.F == "read":
		return Request{F: FReadKey, Key: op.Key}, nil
	case c.workload == "register" && (op.F == "write" || op.F == "cas"):
		return Request{F: op.F, Key: op.Key, Value: op.Value}, nil
	}
	return Request{}, fmt.Errorf("workload %s has no op %q", c.workload, op.F)
}

// Invoke implements targets.Client.
func (c *Client) Invoke(ctx context.Context, op history.Op) history.Op {
	res := op
	res.Error = ""
	req, err := c.request(op)
	if err != nil {
		res.Type, res.Error = history.Fail, err.Error()
		return res
	}
	read := op.F == "read"
	if !read {
		c.sent++
		req.ID = fmt.Sprintf("%s-%d", c.name, c.sent)
	}
	id, addr := c.nodes[c.cur].ID(), c.nodes[c.cur].Addr()
	for hop := 0; ; hop++ {
		res.Node = id
		var ar APIResponse
		sent, status, err := peer.PostJSON(ctx, c.hc, "http://"+addr+OpPath, req, &ar)
		if err == nil && !ar.OK && ar.Error == "" {
			err = errors.New(status + " without an error code")
		}
		if err != nil {
			at := c.cur
			c.cur = (c.cur + 1) % len(c.nodes)
			res.Error = err.Error()
			switch {
			case !sent || read:
				res.Type = history.Fail
			default:
				res.Type, res.Error = c.resolve(ctx, req.ID, at, res.Error)
			}
			return res
		}
		switch {
		case ar.OK:
			res.Type = history.OK
			if read {
				res.Value = ar.Value
				if len(res.Value) == 0 {
					res.Value = json.RawMessage("null")
				}
			}
			return res
		case ar.Error == ErrNotCoordinator && ar.CoordinatorAddr != "" && hop < 2:
			for i, n := range c.nodes {
				if n.ID() == ar.Coordinator {
					c.cur = i
				}
			}
			id, addr = ar.Coordinator, ar.CoordinatorAddr
			continue
		case ar.Definite || read:
			res.Type, res.Error = history.Fail, ar.Error
		default:
			res.Type, res.Error = c.resolve(ctx, req.ID, c.cur, ar.Error)
		}
		return res
	}
}

// resolve asks node at (then wherever it points) for the outcome of
// request id, which ended with error cause, until an answer is definite or
// ResolveFor passes; it runs past ctx's deadline (the op's timeout) but
// stops when ctx is cancelled (the run stops). It returns ok, fail with
// the coordinator's error, or info with cause and the last error.
func (c *Client) resolve(ctx context.Context, id string, at int, cause string) (history.Type, string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ResolveFor)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			cancel()
		}
	})
	defer stop()
	last := ""
	for {
		var ar APIResponse
		_, status, err := peer.PostJSON(rctx, c.hc, "http://"+c.nodes[at].Addr()+OpPath, Request{F: FOutcome, ID: id}, &ar)
		switch {
		case err != nil:
			last = err.Error()
		case ar.OK:
			c.cur = at
			return history.OK, ""
		case ar.Error == ErrNotCoordinator && ar.Coordinator != "":
			for i, n := range c.nodes {
				if n.ID() == ar.Coordinator {
					at = i
				}
			}
			last = ar.Error
			continue // no wait: the next ask goes to the coordinator
		case ar.Definite:
			c.cur = at
			return history.Fail, fmt.Sprintf("%s (outcome asked after %s)", ar.Error, cause)
		default:
			last = cmp.Or(ar.Error, status)
		}
		select {
		case <-rctx.Done():
			return history.Info, fmt.Sprintf("%s; outcome unknown after %s: %s", cause, ResolveFor, last)
		case <-time.After(ResolveRetry):
		}
	}
}
