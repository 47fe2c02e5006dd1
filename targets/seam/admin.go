package seam

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Version is the admin protocol version a node reports in State.
const Version = 1

// Admin paths, served under AdminPrefix.
const (
	AdminPrefix = "/admin/"
	StatePath   = "/admin/state"
	ClockPath   = "/admin/clock"
	DiskPath    = "/admin/disk"
	MsgPath     = "/admin/msg"
	ResetPath   = "/admin/reset"
)

// Clock operations of a ClockRequest.
const (
	ClockJump   = "jump"
	ClockDrift  = "drift"
	ClockStrobe = "strobe"
	ClockReset  = "reset"
)

// Seams are the seams of one node; nil fields are seams the node lacks.
type Seams struct {
	// Node is the node's id, reported in State.
	Node  string
	Clock *Clock
	Disk  *Disk
	Msg   *Messages
}

// State is the answer to GET /admin/state and POST /admin/reset.
type State struct {
	Version int         `json:"seam_version"`
	Node    string      `json:"node"`
	Clock   *ClockState `json:"clock,omitempty"`
	Disk    *DiskState  `json:"disk,omitempty"`
	Msg     *MsgState   `json:"msg,omitempty"`
}

// ClockRequest is the body of POST /admin/clock. Op is one of ClockJump
// (by Delta), ClockDrift (PPM), ClockStrobe (Delta every Period) and
// ClockReset.
type ClockRequest struct {
	Op     string        `json:"op"`
	Delta  time.Duration `json:"delta_ns,omitempty"`
	PPM    float64       `json:"ppm,omitempty"`
	Period time.Duration `json:"period_ns,omitempty"`
}

// DiskRequest is the body of POST /admin/disk; nil fields stay unchanged.
type DiskRequest struct {
	LoseUnsynced *bool `json:"lose_unsynced,omitempty"`
	EIO          *bool `json:"eio,omitempty"`
}

// MsgRequest is the body of POST /admin/msg: it replaces every rule.
type MsgRequest struct {
	Rules map[string]MsgRule `json:"rules,omitempty"`
	Seed  int64              `json:"seed"`
}

type errorBody struct {
	Error string `json:"error"`
}

// AdminHandler serves the admin protocol (see the package doc) for s. Mount
// it on the node's mux at AdminPrefix; it expects full request paths.
func AdminHandler(s Seams) http.Handler {
	mux := http.NewServeMux()
	state := func() State {
		st := State{Version: Version, Node: s.Node}
		if s.Clock != nil {
			c := s.Clock.State()
			st.Clock = &c
		}
		if s.Disk != nil {
			d := s.Disk.State()
			st.Disk = &d
		}
		if s.Msg != nil {
			m := s.Msg.State()
			st.Msg = &m
		}
		return st
	}
	mux.HandleFunc("GET "+StatePath, func(w http.ResponseWriter, r *http.Request) {
		writeAdmin(w, http.StatusOK, state())
	})
	mux.HandleFunc("POST "+ClockPath, func(w http.ResponseWriter, r *http.Request) {
		if s.Clock == nil {
			writeAdmin(w, http.StatusNotFound, errorBody{"this node has no clock seam"})
			return
		}
		var req ClockRequest
		if !decodeAdmin(w, r, &req) {
			return
		}
		st, err := s.Clock.Apply(req)
		if err != nil {
			writeAdmin(w, http.StatusBadRequest, errorBody{err.Error()})
			return
		}
		writeAdmin(w, http.StatusOK, st)
	})
	mux.HandleFunc("POST "+DiskPath, func(w http.ResponseWriter, r *http.Request) {
		if s.Disk == nil {
			writeAdmin(w, http.StatusNotFound, errorBody{"this node has no disk seam"})
			return
		}
		var req DiskRequest
		if !decodeAdmin(w, r, &req) {
			return
		}
		if req.EIO != nil {
			s.Disk.SetEIO(*req.EIO)
		}
		if req.LoseUnsynced != nil {
			if err := s.Disk.SetLoseUnsynced(*req.LoseUnsynced); err != nil {
				writeAdmin(w, http.StatusInternalServerError, errorBody{"flushing unsynced writes: " + err.Error()})
				return
			}
		}
		writeAdmin(w, http.StatusOK, s.Disk.State())
	})
	mux.HandleFunc("POST "+MsgPath, func(w http.ResponseWriter, r *http.Request) {
		if s.Msg == nil {
			writeAdmin(w, http.StatusNotFound, errorBody{"this node has no message shim"})
			return
		}
		var req MsgRequest
		if !decodeAdmin(w, r, &req) {
			return
		}
		if err := s.Msg.SetRules(req.Rules, req.Seed); err != nil {
			writeAdmin(w, http.StatusBadRequest, errorBody{err.Error()})
			return
		}
		writeAdmin(w, http.StatusOK, s.Msg.State())
	})
	mux.HandleFunc("POST "+ResetPath, func(w http.ResponseWriter, r *http.Request) {
		var errs []error
		if s.Clock != nil {
			s.Clock.Reset()
		}
		if s.Disk != nil {
			s.Disk.SetEIO(false)
			errs = append(errs, s.Disk.SetLoseUnsynced(false))
		}
		if s.Msg != nil {
			s.Msg.Reset()
		}
		if err := errors.Join(errs...); err != nil {
			writeAdmin(w, http.StatusInternalServerError, errorBody{err.Error()})
			return
		}
		writeAdmin(w, http.StatusOK, state())
	})
	mux.HandleFunc(AdminPrefix, func(w http.ResponseWriter, r *http.Request) {
		writeAdmin(w, http.StatusNotFound, errorBody{fmt.Sprintf("no admin endpoint %s %s", r.Method, r.URL.Path)})
	})
	return mux
}

func decodeAdmin(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeAdmin(w, http.StatusBadRequest, errorBody{"bad request body: " + err.Error()})
		return false
	}
	return true
}

func writeAdmin(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// ErrNotBundled is wrapped by AdminClient errors when the node answers HTTP
// but not the seam admin protocol: it is not a bundled faultline node.
var ErrNotBundled = errors.New("not a bundled faultline node (no seam admin endpoint)")

// ErrNoSeam is wrapped when a bundled node lacks the seam asked for.
var ErrNoSeam = errors.New("the node lacks this seam")

// AdminClient talks to one node's admin endpoint. It is safe for concurrent
// use. Every call returns an error, never a guess, when the node does not
// answer, answers with an error, or is not a bundled node.
type AdminClient struct {
	addr string
	hc   *http.Client
}

// adminHTTP is shared by every AdminClient: short timeouts, no proxies.
var adminHTTP = &http.Client{
	Timeout: 3 * time.Second,
	Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
	},
}

// NewAdminClient returns a client for the node serving on addr (host:port,
// the node's one HTTP listener).
func NewAdminClient(addr string) *AdminClient { return &AdminClient{addr: addr, hc: adminHTTP} }

// Addr returns the node address the client talks to.
func (c *AdminClient) Addr() string { return c.addr }

// State returns GET /admin/state. It fails with ErrNotBundled when the node
// does not speak the protocol.
func (c *AdminClient) State(ctx context.Context) (State, error) {
	var st State
	if err := c.do(ctx, http.MethodGet, StatePath, nil, &st); err != nil {
		return st, err
	}
	if st.Version != Version {
		return st, fmt.Errorf("%s: seam protocol version %d, want %d: %w", c.addr, st.Version, Version, ErrNotBundled)
	}
	return st, nil
}

// Clock applies req (POST /admin/clock) and returns the clock's new state.
func (c *AdminClient) Clock(ctx context.Context, req ClockRequest) (ClockState, error) {
	var st ClockState
	return st, c.do(ctx, http.MethodPost, ClockPath, req, &st)
}

// Disk applies req (POST /admin/disk) and returns the disk's new state.
func (c *AdminClient) Disk(ctx context.Context, req DiskRequest) (DiskState, error) {
	var st DiskState
	return st, c.do(ctx, http.MethodPost, DiskPath, req, &st)
}

// Msg replaces the node's message rules (POST /admin/msg).
func (c *AdminClient) Msg(ctx context.Context, req MsgRequest) (MsgState, error) {
	var st MsgState
	return st, c.do(ctx, http.MethodPost, MsgPath, req, &st)
}

// Reset clears every seam fault of the node (POST /admin/reset).
func (c *AdminClient) Reset(ctx context.Context) (State, error) {
	var st State
	return st, c.do(ctx, http.MethodPost, ResetPath, struct{}{}, &st)
}

func (c *AdminClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.addr+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin endpoint of %s does not answer: %w", c.addr, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s %s: reading answer: %w", method, c.addr, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var eb errorBody
		if json.Unmarshal(raw, &eb) != nil || eb.Error == "" {
			// Not our protocol's error shape: someone else's server.
			return fmt.Errorf("%s %s%s: %s: %w", method, c.addr, path, resp.Status, ErrNotBundled)
		}
		if resp.StatusCode == http.StatusNotFound {
			return fmt.Errorf("%s %s%s: %s: %w", method, c.addr, path, eb.Error, ErrNoSeam)
		}
		return fmt.Errorf("%s %s%s: %s: %s", method, c.addr, path, resp.Status, eb.Error)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s%s: answer is not seam JSON (%v): %w", method, c.addr, path, err, ErrNotBundled)
	}
	return nil
}
