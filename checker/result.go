// Package checker decides whether a history kept its promises: linearizability
// through Porcupine, and (later) convergence, bank conservation and stats.
// Checkers never start or touch a cluster.
package checker

import (
	"encoding/json"
	"fmt"
)

// Valid is a three-valued verdict.
type Valid int

const (
	True Valid = iota
	Unknown
	False
)

func (v Valid) String() string {
	switch v {
	case True:
		return "true"
	case False:
		return "false"
	}
	return "unknown"
}

// MarshalJSON encodes true and false as JSON booleans and unknown as the
// string "unknown", as Jepsen does.
func (v Valid) MarshalJSON() ([]byte, error) {
	switch v {
	case True:
		return []byte("true"), nil
	case False:
		return []byte("false"), nil
	}
	return []byte(`"unknown"`), nil
}

// UnmarshalJSON is the inverse of MarshalJSON.
func (v *Valid) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true":
		*v = True
	case "false":
		*v = False
	case `"unknown"`:
		*v = Unknown
	default:
		return fmt.Errorf("valid must be true, false or \"unknown\", got %s", b)
	}
	return nil
}

// Merge composes verdicts: false over unknown over true. No verdicts is true.
func Merge(vs ...Valid) Valid {
	out := True
	for _, v := range vs {
		if v > out {
			out = v
		}
	}
	return out
}

// ExitCode maps a verdict to the CLI exit code: 0 valid, 1 anomaly, 2 unknown.
func (v Valid) ExitCode() int {
	switch v {
	case True:
		return 0
	case False:
		return 1
	}
	return 2
}

// Result is what one checker concluded.
type Result struct {
	Checker string `json:"checker"`
	Valid   Valid  `json:"valid"`
	// Summary is one line for humans.
	Summary string `json:"summary,omitempty"`
	// Details holds checker-specific data (per-key verdicts, counts...).
	Details json.RawMessage `json:"details,omitempty"`
	// Files names files the checker wrote into the run directory.
	Files []string `json:"files,omitempty"`
	// FirstAnomalyTime is the history time (ns) of the earliest operation
	// involved in an anomaly, when known.
	FirstAnomalyTime *int64 `json:"first_anomaly_time,omitempty"`
}

// Results composes several checkers' results.
type Results struct {
	Valid   Valid    `json:"valid"`
	Results []Result `json:"results"`
}

// Compose merges rs into one Results.
func Compose(rs ...Result) Results {
	out := Results{Valid: True, Results: rs}
	for _, r := range rs {
		out.Valid = Merge(out.Valid, r.Valid)
	}
	return out
}
