package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/history"
)

// Client performs register operations through the official etcd client
// (go.etcd.io/etcd/client/v3) for one worker: read is a Range (Get), write
// a Put and cas a Txn that compares the key's value with the expected one
// and puts the new one if it matches. Keys hold decimal strings.
//
// Outcomes, as etcd documents its errors: a read that fails is fail (it
// changed nothing); a Txn whose compare failed is a definite cas miss
// (fail, ErrCodeCASMismatch); a write or cas refused before it was
// proposed (invalid argument, no space, too many requests, permission:
// codes InvalidArgument, FailedPrecondition, ResourceExhausted,
// PermissionDenied, Unauthenticated, OutOfRange) is fail; every other error
// of a write or cas (a deadline, Unavailable, leader changed, a dropped
// connection) is info: it may have been applied.
type Client struct {
	cli  *clientv3.Client
	opts Options
	node string // the node asked first (the only one for a one-node client)
}

var clientSeq atomic.Uint64

// NewClient returns a client over nodes. A client of several nodes
// balances over all of them, starting at a different one per client; a
// client given one node talks only to it.
func NewClient(nodes []cluster.Node, opts Options) (*Client, error) {
	if len(nodes) == 0 {
		return nil, errors.New("etcd client: no nodes")
	}
	start := int(clientSeq.Add(1) % uint64(len(nodes)))
	var eps []string
	for i := range nodes {
		eps = append(eps, "http://"+nodes[(start+i)%len(nodes)].Addr())
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   eps,
		DialTimeout: opts.DialTimeout,
		// Keepalives notice a cut-off member within about two seconds, so
		// the balancer stops sending to it.
		DialKeepAliveTime:    time.Second,
		DialKeepAliveTimeout: time.Second,
		Logger:               zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	return &Client{cli: cli, opts: opts, node: nodes[start].ID()}, nil
}

// Close closes the client's connections.
func (c *Client) Close() error { return c.cli.Close() }

// Invoke implements targets.Client.
func (c *Client) Invoke(ctx context.Context, op history.Op) history.Op {
	res := op
	res.Error = ""
	res.Node = c.node
	if c.opts.RequestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.RequestTimeout)
		defer cancel()
	}
	switch op.F {
	case "read":
		var ro []clientv3.OpOption
		if c.opts.ReadConsistency == "serializable" {
			ro = append(ro, clientv3.WithSerializable())
		}
		resp, err := c.cli.Get(ctx, op.Key, ro...)
		if err != nil {
			return outcome(res, history.Fail, "read failed: "+err.Error())
		}
		res.Type, res.Value = history.OK, json.RawMessage("null")
		if len(resp.Kvs) > 0 {
			v, err := strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64)
			if err != nil {
				return outcome(res, history.Fail, fmt.Sprintf("key %s holds %q, not a number", op.Key, resp.Kvs[0].Value))
			}
			res.Value = history.MustValue(v)
		}
		return res
	case "write":
		var v int64
		if err := json.Unmarshal(op.Value, &v); err != nil {
			return outcome(res, history.Fail, fmt.Sprintf("bad write value %s: %v", op.Value, err))
		}
		if _, err := c.cli.Put(ctx, op.Key, strconv.FormatInt(v, 10)); err != nil {
			return outcome(res, classify(err), err.Error())
		}
		res.Type = history.OK
		return res
	case "cas":
		var v [2]int64
		if err := json.Unmarshal(op.Value, &v); err != nil {
			return outcome(res, history.Fail, fmt.Sprintf("bad cas value %s (want [from, to]): %v", op.Value, err))
		}
		resp, err := c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.Value(op.Key), "=", strconv.FormatInt(v[0], 10))).
			Then(clientv3.OpPut(op.Key, strconv.FormatInt(v[1], 10))).
			Commit()
		if err != nil {
			return outcome(res, classify(err), err.Error())
		}
		if !resp.Succeeded {
			return outcome(res, history.Fail, ErrCodeCASMismatch)
		}
		res.Type = history.OK
		return res
	default:
		return outcome(res, history.Fail, fmt.Sprintf("unknown f %q", op.F))
	}
}

// classify returns fail for the errors with which etcd refuses a write
// before proposing it, and info for every other (see Client).
func classify(err error) history.Type {
	if errors.Is(err, rpctypes.ErrEmptyKey) {
		return history.Fail
	}
	s, ok := status.FromError(err)
	if !ok {
		if ee, ok := err.(rpctypes.EtcdError); ok {
			s = status.New(ee.Code(), ee.Error())
		} else {
			return history.Info
		}
	}
	switch s.Code() {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.ResourceExhausted, codes.PermissionDenied,
		codes.Unauthenticated, codes.OutOfRange:
		return history.Fail
	}
	return history.Info
}

func outcome(op history.Op, typ history.Type, why string) history.Op {
	op.Type, op.Error = typ, why
	return op
}

// memberStatus is what Status says of one member.
type memberStatus struct{ Member, Leader uint64 }

// statuses asks every node for its maintenance Status, at once; it returns
// what answered, and an error naming the first node that did not.
func statuses(ctx context.Context, nodes []cluster.Node, opts Options) (map[string]memberStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		out   = map[string]memberStatus{}
		first error
	)
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := status1(ctx, n, opts)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = fmt.Errorf("status of %s: %w", n.ID(), err)
				}
				return
			}
			out[n.ID()] = s
		}()
	}
	wg.Wait()
	return out, first
}

func status1(ctx context.Context, n cluster.Node, opts Options) (memberStatus, error) {
	ep := "http://" + n.Addr()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: min(opts.DialTimeout, time.Second),
		Logger: zap.NewNop()})
	if err != nil {
		return memberStatus{}, err
	}
	defer cli.Close()
	st, err := cli.Status(ctx, ep)
	if err != nil {
		return memberStatus{}, err
	}
	return memberStatus{Member: st.Header.MemberId, Leader: st.Leader}, nil
}
