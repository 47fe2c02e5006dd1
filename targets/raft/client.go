package raft

import (
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

// Client performs register operations (read, write, cas) against a Raft
// cluster for one worker. It implements targets.Client and is not safe for
// concurrent use.
//
// Outcomes: ok when the node says so; fail when the operation certainly did
// not happen (the request was never completely sent, not-leader, cas mismatch, or any
// other error the node marks definite) and, for reads, on any error at all,
// since a read changes nothing; info for writes and cas whose request may
// have reached a node but whose outcome is unknown (timeouts, resets,
// indefinite errors). After not-leader the client follows the hint, within
// the same operation when time allows, and keeps using the leader; after an
// indefinite outcome or a connection error it moves on to the next node.
// Every readProbeEvery-th read goes to another node (see there).
type Client struct {
	nodes []cluster.Node
	index map[string]int
	cur   int
	// reads and probes count reads and probes, for readProbeEvery.
	reads, probes int
	tr            *http.Transport
	hc            *http.Client
}

var clientSeq atomic.Uint64

// NewClient returns a client over nodes. Successive clients start at
// successive nodes, so workers spread out until they learn the leader.
func NewClient(nodes []cluster.Node) (*Client, error) {
	if len(nodes) == 0 {
		return nil, errNoNodes
	}
	tr := peer.ClientTransport(len(nodes))
	c := &Client{
		nodes: append([]cluster.Node(nil), nodes...),
		index: map[string]int{},
		cur:   int(clientSeq.Add(1) % uint64(len(nodes))),
		tr:    tr,
		hc:    &http.Client{Transport: tr},
	}
	for i, n := range nodes {
		c.index[n.ID()] = i
	}
	return c, nil
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.tr.CloseIdleConnections()
	return nil
}

// maxHops bounds how many not-leader redirects one operation follows.
const maxHops = 2

// readProbeEvery sends every n-th read of a client to another node than
// the one it uses (the nodes other than the current one take turns). A
// client that only ever followed leader hints would never again talk to a
// leader that was cut off from its peers, so nothing could observe what
// such a node answers; probing keeps every node visited, as clients that
// do not know better would. A probed follower redirects to the leader, so
// correct reads cost one extra hop.
const readProbeEvery = 4

// Invoke implements targets.Client. It returns by ctx's deadline.
func (c *Client) Invoke(ctx context.Context, op history.Op) history.Op {
	res := op
	res.Error = ""
	req := KVRequest{F: op.F, Key: op.Key}
	switch op.F {
	case "read":
	case "write":
		var v int64
		if err := json.Unmarshal(op.Value, &v); err != nil {
			return fail(res, fmt.Sprintf("bad write value %s: %v", op.Value, err))
		}
		req.Value = op.Value
	case "cas":
		var v [2]int64
		if err := json.Unmarshal(op.Value, &v); err != nil {
			return fail(res, fmt.Sprintf("bad cas value %s (want [from, to]): %v", op.Value, err))
		}
		req.Value = op.Value
	default:
		return fail(res, fmt.Sprintf("unknown f %q", op.F))
	}
	idx := c.cur
	if op.F == "read" && len(c.nodes) > 1 {
		if c.reads++; c.reads%readProbeEvery == 0 {
			// Probe: send this read to another node, in turn.
			idx = (c.cur + 1 + c.probes%(len(c.nodes)-1)) % len(c.nodes)
			c.probes++
		}
	}
	// away moves the client off a node that failed it, unless that node
	// was only probed.
	away := func() {
		if idx == c.cur {
			c.rotate()
		}
	}
	// id and addr are the node asked; a hint naming a leader outside the
	// client's nodes (a client pinned to one node) is followed by address.
	id, addr := c.nodes[idx].ID(), c.nodes[idx].Addr()
	for hop := 0; ; hop++ {
		res.Node = id
		kr, sent, err := c.post(ctx, addr, req)
		if err != nil {
			away()
			switch {
			case !sent:
				return fail(res, "no connection: "+err.Error())
			case op.F == "read":
				return fail(res, "read failed: "+err.Error())
			default:
				return info(res, err.Error())
			}
		}
		switch {
		case kr.OK:
			res.Type = history.OK
			if op.F == "read" {
				res.Value = kr.Value
				if len(res.Value) == 0 {
					res.Value = json.RawMessage("null")
				}
			}
			return res
		case kr.Error == ErrCodeNotLeader:
			i, known := c.index[kr.Leader]
			timeLeft := func() bool {
				dl, ok := ctx.Deadline()
				return hop < maxHops && (!ok || time.Until(dl) > 100*time.Millisecond)
			}
			if known && i != idx {
				c.cur, idx = i, i
				id, addr = c.nodes[i].ID(), c.nodes[i].Addr()
				if timeLeft() {
					continue
				}
			} else if !known && kr.Leader != "" && kr.LeaderAddr != "" && kr.Leader != id {
				id, addr = kr.Leader, kr.LeaderAddr
				if timeLeft() {
					continue
				}
			} else {
				// No leader known (an election is running): try
				// elsewhere, after a pause that keeps a worker from
				// spinning.
				away()
				pause(ctx, 20*time.Millisecond)
			}
			msg := "not-leader"
			if kr.Leader != "" {
				msg += " (leader " + kr.Leader + ")"
			}
			return fail(res, msg)
		case kr.Definite, op.F == "read":
			if !kr.Definite {
				away()
			}
			return fail(res, kr.Error)
		default:
			away()
			return info(res, kr.Error)
		}
	}
}

func (c *Client) rotate() { c.cur = (c.cur + 1) % len(c.nodes) }

// post sends req to addr. sent reports whether the request was completely
// written to a connection, after which the node may have received it.
func (c *Client) post(ctx context.Context, addr string, req KVRequest) (kr KVResponse, sent bool, err error) {
	if dl, ok := ctx.Deadline(); ok {
		// Ask the node to answer a little before we give up on it.
		req.TimeoutMS = max(int(time.Until(dl)/time.Millisecond)-50, 10)
	}
	sent, status, err := peer.PostJSON(ctx, c.hc, "http://"+addr+KVPath, req, &kr)
	if err == nil && !kr.OK && kr.Error == "" {
		err = errors.New(status + " without an error code")
	}
	return kr, sent, err
}

func fail(op history.Op, why string) history.Op {
	op.Type, op.Error = history.Fail, why
	return op
}

func info(op history.Op, why string) history.Op {
	op.Type, op.Error = history.Info, why
	return op
}

func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
