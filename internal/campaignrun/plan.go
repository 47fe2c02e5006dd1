// Package campaignrun is what 'faultline campaign' does with a parsed
// campaign besides running each test: the expanded list of runs and its
// split into shards, the scheduler that starts runs in parallel and stops
// starting them (fail-fast, a time limit, an interrupt), the progress line,
// the machine-readable campaign result file each campaign or shard writes,
// the merge of the result files of shards, and the JUnit cases and Markdown
// summary made from a result.
//
// It knows nothing of how a run is run: the caller passes a function that
// runs one and returns its verdict, so every part here is tested without a
// cluster. Time comes in through Options.Now and the times passed to
// Progress, never from the wall clock inside.
package campaignrun

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Expectations of a campaign test: what its verdict must be.
const (
	// ExpectValid: every checker valid (the default of a test without a
	// seeded bug).
	ExpectValid = "valid"
	// ExpectAnomaly: some checker found an anomaly (the default of a test
	// with a seeded bug: the bug must be caught).
	ExpectAnomaly = "anomaly"
	// ExpectAny: valid or anomaly.
	ExpectAny = "any"
)

// Run is one test of a campaign at one seed. A campaign file expands to
// its runs in a stable order: tests in file order, each test's seeds in the
// order the file lists them. Index is a run's place in that list, from 0;
// the same file always gives the same indices, which is what shards split
// and what a merge of shards matches.
type Run struct {
	Index  int    `json:"index"`
	Test   string `json:"test"`
	Seed   int64  `json:"seed"`
	Expect string `json:"expect"`
	// TimeLimit is the run's own time limit (its 'time-limit' key); the
	// progress estimate starts from it.
	TimeLimit time.Duration `json:"time_limit,omitempty"`
	// Command is the 'faultline run' arguments (without the program name)
	// that repeat this run from scratch, from the directory the campaign
	// ran in.
	Command []string `json:"command,omitempty"`
}

// Label names a run for people: "test seed N".
func (r Run) Label() string { return fmt.Sprintf("%s seed %d", r.Test, r.Seed) }

// Shard is the i-th of n parts of a campaign's runs (Index i, Count n,
// 1 ≤ i ≤ n). Run k belongs to shard (k mod n) + 1: round robin over the
// expanded list, so that each shard gets a share of every test rather than
// a block of slow ones, and shards 1/n..n/n hold every run exactly once.
// The zero Shard is the whole campaign.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// ParseShard parses "i/n" with 1 ≤ i ≤ n; errors say what is wanted.
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("%q: want i/n, the i-th of n shards (e.g. 2/3)", s)
	}
	if n < 1 || i < 1 || i > n {
		return Shard{}, fmt.Errorf("%q: want i/n with 1 ≤ i ≤ n (e.g. 2/3)", s)
	}
	return Shard{Index: i, Count: n}, nil
}

// Whole reports whether s is the whole campaign (the zero Shard, or 1/1).
func (s Shard) Whole() bool { return s.Count <= 1 }

// String returns "i/n", or "all" for the whole campaign.
func (s Shard) String() string {
	if s.Whole() {
		return "all"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Set implements pflag.Value (ParseShard).
func (s *Shard) Set(v string) error {
	p, err := ParseShard(v)
	if err != nil {
		return err
	}
	*s = p
	return nil
}

// Type implements pflag.Value.
func (s *Shard) Type() string { return "i/n" }

// Holds reports whether the run at index is in shard s.
func (s Shard) Holds(index int) bool { return s.Whole() || index%s.Count == s.Index-1 }

// ShardOf returns the shard of count shards that holds the run at index.
func ShardOf(index, count int) Shard {
	if count <= 1 {
		return Shard{}
	}
	return Shard{Index: index%count + 1, Count: count}
}

// Select returns the runs of plan in shard s, in plan order.
func Select(plan []Run, s Shard) []Run {
	var out []Run
	for _, r := range plan {
		if s.Holds(r.Index) {
			out = append(out, r)
		}
	}
	return out
}

// Verdict is what a run found, or that it found nothing.
type Verdict string

const (
	// VerdictValid: every checker valid.
	VerdictValid Verdict = "valid"
	// VerdictAnomaly: some checker found an anomaly.
	VerdictAnomaly Verdict = "anomaly"
	// VerdictUnknown: no checker found an anomaly but some could not rule,
	// or the run was interrupted.
	VerdictUnknown Verdict = "unknown"
	// VerdictError: the run failed to run (no verdict).
	VerdictError Verdict = "error"
	// VerdictNotStarted: the run was never started (fail-fast, the
	// campaign's time limit, an interrupt, or, in a merge, no shard held
	// it).
	VerdictNotStarted Verdict = "not-started"
)

// Outcome is a verdict held against the run's expectation.
type Outcome string

const (
	OutcomeAsExpected    Outcome = "as-expected"
	OutcomeNotAsExpected Outcome = "not-as-expected"
	OutcomeUnknown       Outcome = "unknown"
	OutcomeError         Outcome = "error"
	OutcomeNotStarted    Outcome = "not-started"
)

// Classify holds verdict v against expectation expect. An unknown verdict
// is unknown whatever the expectation, also "any".
func Classify(expect string, v Verdict) Outcome {
	switch v {
	case VerdictValid, VerdictAnomaly:
		if expect == ExpectAny || expect == string(v) {
			return OutcomeAsExpected
		}
		return OutcomeNotAsExpected
	case VerdictUnknown:
		return OutcomeUnknown
	case VerdictNotStarted:
		return OutcomeNotStarted
	}
	return OutcomeError
}

// Words is the outcome in a sentence: "not as expected", "unknown",
// "a failure to run".
func (o Outcome) Words() string {
	if o == OutcomeError {
		return "a failure to run"
	}
	return strings.ReplaceAll(string(o), "-", " ")
}

// Record is a run's result, as a campaign result file keeps it.
type Record struct {
	Run
	Verdict Verdict `json:"verdict"`
	Outcome Outcome `json:"outcome"`
	// Problem says in one line why the outcome is not as expected: the
	// mismatch, the interruption, the error, or why the run was not
	// started. Empty for a run as expected.
	Problem string `json:"problem,omitempty"`
	// Detail is the checkers' one-line summaries, one per line.
	Detail string `json:"detail,omitempty"`
	// Dir is the run directory as the campaign wrote it ("" when the run
	// failed before it had one), and Report its report.html.
	Dir    string `json:"dir,omitempty"`
	Report string `json:"report,omitempty"`
	// DirInStore is Dir relative to the directory of the result file, when
	// Dir is inside it: a merge finds the run there after the store was
	// moved (a CI artifact downloaded elsewhere).
	DirInStore string        `json:"dir_in_store,omitempty"`
	Duration   time.Duration `json:"duration_ns"`
}

// Unexpected reports whether the record stops a fail-fast campaign and
// gets a reproduce section in the summary: any outcome but as expected.
func (r Record) Unexpected() bool { return r.Outcome != OutcomeAsExpected }

// problemOf is the default Problem of a run whose verdict is v.
func problemOf(expect string, v Verdict) string {
	switch Classify(expect, v) {
	case OutcomeNotAsExpected:
		if expect == ExpectAnomaly {
			return "no anomaly found: the seeded bug was not caught"
		}
		return "anomaly found; expected valid"
	case OutcomeUnknown:
		return "verdict unknown (expected " + expect + ")"
	case OutcomeError:
		return "run failed"
	case OutcomeNotStarted:
		return "not started"
	}
	return ""
}

// Exit codes of a campaign, as for a single run (DESIGN.md §8).
const (
	ExitValid    = 0
	ExitAnomaly  = 1
	ExitUnknown  = 2
	ExitInternal = 255
)

// ExitCode is the worst outcome of recs as an exit code: 1 when some run
// was not as expected; else 2 when some verdict is unknown or some run was
// not started; else 255 when some run failed to run; else 0.
func ExitCode(recs []Record) int {
	var unknown, errored bool
	for _, r := range recs {
		switch r.Outcome {
		case OutcomeNotAsExpected:
			return ExitAnomaly
		case OutcomeUnknown, OutcomeNotStarted:
			unknown = true
		case OutcomeError:
			errored = true
		}
	}
	switch {
	case unknown:
		return ExitUnknown
	case errored:
		return ExitInternal
	}
	return ExitValid
}
