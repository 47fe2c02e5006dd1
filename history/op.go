// Package history defines the operations a test records, the JSONL recorder that
// appends them durably, the reader that loads them back, and importers for
// histories written by other tools (Jepsen).
//
// A history is one JSON object per line (see ../shared/DESIGN.md §4). Every
// client operation appears twice: an invoke, then exactly one completion of
// type ok, fail or info. Nemesis events are ops of the process "nemesis".
package history

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Type is the kind of an event in a history.
type Type string

const (
	// Invoke marks the start of an operation.
	Invoke Type = "invoke"
	// OK means the operation certainly happened.
	OK Type = "ok"
	// Fail means the operation certainly did not happen.
	Fail Type = "fail"
	// Info means the operation may or may not have happened (timeouts,
	// crashes, connection resets). An info op is never dropped and never
	// treated as failed; its process never issues again.
	Info Type = "info"
)

// Valid reports whether t is one of the four known types.
func (t Type) Valid() bool {
	switch t {
	case Invoke, OK, Fail, Info:
		return true
	}
	return false
}

// Process identifies who issued an op: a client process number (>= 0) or the
// nemesis. It encodes as a JSON number, or as the string "nemesis".
type Process int

// Nemesis is the process of fault events.
const Nemesis Process = -1

// MarshalJSON encodes the nemesis as "nemesis" and clients as numbers.
func (p Process) MarshalJSON() ([]byte, error) {
	if p == Nemesis {
		return []byte(`"nemesis"`), nil
	}
	return strconv.AppendInt(nil, int64(p), 10), nil
}

// UnmarshalJSON accepts a non-negative number or the string "nemesis".
func (p *Process) UnmarshalJSON(b []byte) error {
	if string(b) == `"nemesis"` || string(b) == `":nemesis"` {
		*p = Nemesis
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("process must be a non-negative integer or \"nemesis\", got %s", b)
	}
	*p = Process(n)
	return nil
}

func (p Process) String() string {
	if p == Nemesis {
		return "nemesis"
	}
	return strconv.Itoa(int(p))
}

// Op is one event of a history.
//
// Value holds the op's argument or result as raw JSON: for the register
// workload an integer (write, and read once completed), null (read of an
// unwritten key, or a read not yet completed) or [from, to] (cas). Nemesis
// events carry a description of the fault as it was applied.
type Op struct {
	Index   int64           `json:"index"`
	Process Process         `json:"process"`
	Type    Type            `json:"type"`
	F       string          `json:"f"`
	Key     string          `json:"key,omitempty"`
	Value   json.RawMessage `json:"value,omitempty"`
	Time    int64           `json:"time"` // nanoseconds since the test started (monotonic)
	Node    string          `json:"node,omitempty"`
	Error   string          `json:"error,omitempty"`
	// Final, on a read of the final phase (after every fault was healed),
	// names the node whose state the read asked for: that node's final
	// read. Empty on every other op.
	Final string `json:"final,omitempty"`
}

// IsNemesis reports whether op is a fault event rather than a client op.
func (o Op) IsNemesis() bool { return o.Process == Nemesis }

// MustValue encodes v as JSON for Op.Value; it panics only on values that
// encoding/json cannot encode, which is a programming error.
func MustValue(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("history: cannot encode value %#v: %v", v, err))
	}
	return b
}
