// Package byo is "bring your own system": a target described by a YAML
// target file (`faultline run --target-file FILE`) instead of compiled into
// faultline. The file names a program or a local Docker image that runs one
// node, the port it listens on, an HTTP health path and the client
// protocol; docs/byo.md is its reference and the protocol's.
//
// Such a target has no roles, no seeded bugs and no admin endpoint: the
// process nemeses (kill, pause) and the network nemeses apply to it, the
// clock, disk and message nemeses do not (RefuseNemesis). Its one client
// protocol, http-register (Client), serves the register workload.
package byo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/faultline-io/faultline/cluster"
	"github.com/faultline-io/faultline/nemesis"
	"github.com/faultline-io/faultline/targets"
	"github.com/faultline-io/faultline/targets/peer"
)

// Target is a system described by a target file (Parse). It implements
// targets.Target, targets.HealthChecker, targets.NodeProgrammer and
// targets.NemesisRefuser.
type Target struct {
	name    string
	binary  string   // the program, an absolute path (process form)
	image   string   // a local Docker image (image form)
	args    []string // arguments, placeholders unexpanded
	port    int
	health  string
	client  string
	timeout time.Duration
}

var (
	_ targets.Target         = (*Target)(nil)
	_ targets.HealthChecker  = (*Target)(nil)
	_ targets.NodeProgrammer = (*Target)(nil)
	_ targets.NemesisRefuser = (*Target)(nil)
)

// Name returns the file's name.
func (t *Target) Name() string { return t.name }

// Port returns the port nodes listen on where each node has its own
// address (DefaultPort unless the file sets one).
func (t *Target) Port() int { return t.port }

// NodeProgram implements targets.NodeProgrammer: the file's program (an
// absolute path) or its image.
func (t *Target) NodeProgram() (binary, image string) { return t.binary, t.image }

// NodeMain refuses: the nodes of a target file run its own program, never
// `faultline node`.
func (t *Target) NodeMain(context.Context, []string, io.Writer) error {
	return fmt.Errorf("target %s comes from a target file: its nodes run its own program, not `faultline node`", t.name)
}

// NodeCommand returns the file's command arguments (after the program, or
// all of them for an image) with the placeholders replaced for node self.
// Bugs and seed are not used: a foreign system has neither.
func (t *Target) NodeCommand(self cluster.Peer, peers []cluster.Peer, dataDir string, _ []string, _ uint64) []string {
	host, port, _ := net.SplitHostPort(self.Addr)
	ps := make([]string, len(peers))
	index := 0
	for i, p := range peers {
		ps[i] = p.ID + "=" + p.Addr
		if p.ID == self.ID {
			index = i + 1
		}
	}
	vals := map[string]string{
		"id": self.ID, "addr": self.Addr, "host": host, "port": port,
		"peers": strings.Join(ps, ","), "data": dataDir, "index": strconv.Itoa(index),
	}
	out := make([]string, len(t.args))
	for i, a := range t.args {
		out[i] = expand(a, vals)
	}
	return out
}

// NewClient returns an http-register client for one worker.
func (t *Target) NewClient(nodes []cluster.Node, workload string) (targets.Client, error) {
	if workload != "register" {
		return nil, fmt.Errorf("target %s serves the register workload, not %s", t.name, workload)
	}
	return NewClient(nodes, t.timeout)
}

// Workloads returns register (read, write, cas), checked for
// linearizability.
func (t *Target) Workloads() []targets.Workload {
	return []targets.Workload{
		{Name: "register", Ops: []string{"read", "write", "cas"}, Checkers: []string{"linearizable", "stats"}},
	}
}

// Bugs returns none.
func (t *Target) Bugs() []targets.Bug { return nil }

// Roles returns none: faultline cannot ask a foreign system who leads.
func (t *Target) Roles() []string { return nil }

// AnsweredErrors returns AnsweredErrors().
func (t *Target) AnsweredErrors() []string { return AnsweredErrors() }

// AnsweredErrors returns the errors with which the http-register protocol
// answers an operation (a cas whose expected value was not there, HTTP
// 409), which availability counts as served. They depend on the protocol
// alone, so a run directory's can be known without its target file.
func AnsweredErrors() []string { return []string{ErrCASMismatch} }

// RefuseNemesis implements targets.NemesisRefuser: the seam nemeses (clock,
// disk and message faults) act through the admin endpoint of faultline's
// bundled nodes, which a target file's program does not serve.
func (t *Target) RefuseNemesis(name string) error {
	return nemesis.RefuseSeam(name, "target "+t.name+" (a target file)")
}

// healthHTTP asks nodes for health: short timeouts, no proxies, no
// connection kept (a node restarted between checks is asked afresh).
var healthHTTP = &http.Client{
	Timeout: 2 * time.Second,
	Transport: &http.Transport{
		Proxy:             nil,
		DialContext:       (&net.Dialer{Timeout: 500 * time.Millisecond}).DialContext,
		DisableKeepAlives: true,
	},
}

// Healthy implements targets.HealthChecker: every node answers GET of the
// health path with a 2xx status or, when the file names no health path,
// accepts a TCP connection on its address.
func (t *Target) Healthy(ctx context.Context, nodes []cluster.Node) error {
	return peer.EachNode(nodes, func(n cluster.Node) error {
		if t.health == "" {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", n.Addr())
			if err != nil {
				return err
			}
			return c.Close()
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.Addr()+t.health, nil)
		if err != nil {
			return err
		}
		resp, err := healthHTTP.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
		if resp.StatusCode/100 != 2 {
			return errors.New("GET " + t.health + ": " + resp.Status)
		}
		return nil
	})
}
