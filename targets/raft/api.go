package raft

import "encoding/json"

// Paths of the node's HTTP API (besides MessagePath).
const (
	KVPath     = "/kv"
	StatusPath = "/status"
	HealthPath = "/healthz"
)

// KVRequest is the body of POST /kv.
type KVRequest struct {
	// F is "read", "write" or "cas".
	F   string `json:"f"`
	Key string `json:"key"`
	// Value is an integer for write, [from, to] for cas, absent for read.
	Value json.RawMessage `json:"value,omitempty"`
	// TimeoutMS, if positive, shortens the node's request deadline so it
	// answers before the client gives up.
	TimeoutMS int `json:"timeout_ms,omitempty"`
}

// KVResponse is the body of every answer to POST /kv.
type KVResponse struct {
	// OK is true when the operation took effect (write, cas) or was served
	// linearizably (read).
	OK bool `json:"ok"`
	// Value is, for a successful read, the key's integer or null when the
	// key was never written; for a cas mismatch, the value found.
	Value json.RawMessage `json:"value,omitempty"`
	// Error is one of the ErrCode constants when OK is false.
	Error string `json:"error,omitempty"`
	// Definite is true when OK is false and the operation certainly did
	// not take effect; false means it may or may not have.
	Definite bool `json:"definite,omitempty"`
	// Leader and LeaderAddr hint where to retry after ErrCodeNotLeader;
	// empty when this node knows no leader.
	Leader     string `json:"leader,omitempty"`
	LeaderAddr string `json:"leader_addr,omitempty"`
}

// Error codes of KVResponse.Error, and whether each is definite.
const (
	// ErrCodeNotLeader (definite, HTTP 421): this node does not lead and
	// proposed nothing; retry at Leader.
	ErrCodeNotLeader = "not-leader"
	// ErrCodeCASMismatch (definite, 409): the cas was committed and found
	// another value (or none); it changed nothing.
	ErrCodeCASMismatch = "cas-mismatch"
	// ErrCodeOverwritten (definite, 409): the proposal was replaced in the
	// log by a later leader's entry, so it can never commit.
	ErrCodeOverwritten = "overwritten"
	// ErrCodeLeadershipLost (definite, 503; reads only): leadership was lost
	// before the read could be confirmed.
	ErrCodeLeadershipLost = "leadership-lost"
	// ErrCodeBusy (definite, 503): the request never reached the core.
	ErrCodeBusy = "busy"
	// ErrCodeBadRequest (definite, 400): malformed request.
	ErrCodeBadRequest = "bad-request"
	// ErrCodeTimeout (indefinite, 504): proposed but not known to be
	// committed by the deadline.
	ErrCodeTimeout = "timeout"
	// ErrCodeStopping (indefinite, 503): the node stopped while the
	// operation was in flight.
	ErrCodeStopping = "stopping"
)

// StatusResponse is the body of GET /status.
type StatusResponse struct {
	ID string `json:"id"`
	// State is "leader", "follower" or "candidate" (pre-candidates report
	// "candidate").
	State      string `json:"state"`
	Term       uint64 `json:"term"`
	Leader     string `json:"leader"`
	LeaderAddr string `json:"leader_addr,omitempty"`
	Commit     uint64 `json:"commit"`
	Applied    uint64 `json:"applied"`
	LastIndex  uint64 `json:"last_index"`
}
