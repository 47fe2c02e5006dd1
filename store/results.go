package store

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/faultline-io/faultline/checker"
)

// Phase is a stage of a run. A run passes through them in this order; an
// interrupt is recorded with the phase it arrived in (Interruption), and a
// run under way keeps its phase in running.json (RunningRecord).
type Phase string

const (
	// PhaseStart resolves the runtime, builds the node image and starts the
	// nodes.
	PhaseStart Phase = "start"
	// PhaseHealth checks the nemeses against the cluster and waits for it
	// to serve.
	PhaseHealth Phase = "health"
	// PhaseRun is the test proper: clients and the nemesis.
	PhaseRun Phase = "run"
	// PhaseFinal heals every fault, waits for health and reads every key.
	PhaseFinal Phase = "final"
	// PhaseTeardown removes the cluster.
	PhaseTeardown Phase = "teardown"
	// PhaseCheck checks the history.
	PhaseCheck Phase = "check"
	// PhaseReport is after harness.Run returned: the CLI writes the report
	// and prints the outcome.
	PhaseReport Phase = "report"
)

// Phases lists the phases in the order a run passes through them.
var Phases = []Phase{PhaseStart, PhaseHealth, PhaseRun, PhaseFinal, PhaseTeardown, PhaseCheck, PhaseReport}

// Interruption records the first interrupt of a run: the phase it arrived
// in and what it was. An interrupted run's verdict is unknown, whatever its
// checkers found in the partial history.
type Interruption struct {
	Phase Phase `json:"phase"`
	// Signal is the signal's name ("interrupt", "terminated"), or the
	// context's error when the run was cancelled without a signal.
	Signal string    `json:"signal"`
	At     time.Time `json:"at"`
	// Forced is set when a later interrupt skipped the graceful parts of the
	// final phase (heals, node restarts); the cleanup itself always runs.
	Forced bool `json:"forced,omitempty"`
}

func (i *Interruption) String() string {
	s := fmt.Sprintf("interrupted (%s) during %s", i.Signal, i.Phase)
	if i.Forced {
		s += "; a second interrupt cut the graceful parts short"
	}
	return s
}

// RunResults is results.json of a run: the checkers' results and, when the
// run was interrupted, when and how. An interrupted run's Valid is unknown.
type RunResults struct {
	checker.Results
	Interrupted *Interruption `json:"interrupted,omitempty"`
	// Unfinished is set by 'faultline check' on a run whose harness died
	// (running.json was left): the phase it died in.
	Unfinished *RunningRecord `json:"unfinished,omitempty"`
}

// Incomplete says why the run's history is partial ("" when it is whole).
func (rr RunResults) Incomplete() string {
	switch {
	case rr.Interrupted != nil:
		return "run " + rr.Interrupted.String()
	case rr.Unfinished != nil:
		s := fmt.Sprintf("run did not finish: its harness (pid %d) stopped during %s", rr.Unfinished.PID, rr.Unfinished.Phase)
		if rr.Unfinished.Error != "" {
			s += ": " + rr.Unfinished.Error
		}
		return s
	}
	return ""
}

// ReadRunResults reads results.json from a run directory.
func ReadRunResults(dir string) (RunResults, error) { return readRunFile[RunResults](dir, ResultsFile) }

// WriteRunResults writes results.json into dir, atomically and fsynced. A
// run whose history is partial (Incomplete) is written with Valid unknown.
func WriteRunResults(dir string, rr RunResults) error {
	if rr.Incomplete() != "" {
		rr.Valid = checker.Unknown
	}
	return WriteJSONSync(filepath.Join(dir, ResultsFile), rr)
}

// RunningRecord is running.json, which a run keeps while it is under way
// and removes once results.json is written. Finding it in a run directory
// means the run is still going or its harness died (SIGKILL, a crash) in
// Phase, so its history is partial.
type RunningRecord struct {
	PID     int       `json:"pid"`
	Phase   Phase     `json:"phase"`
	Updated time.Time `json:"updated"`
	// Error is why the run stopped, when it failed rather than finished.
	Error string `json:"error,omitempty"`
}

// ReadRunningRecord reads running.json from a run directory; an error
// wrapping fs.ErrNotExist means the run finished (or never started).
func ReadRunningRecord(dir string) (RunningRecord, error) {
	return readRunFile[RunningRecord](dir, RunningFile)
}

// WriteRunningRecord writes running.json into dir, atomically and fsynced.
func WriteRunningRecord(dir string, rec RunningRecord) error {
	return WriteJSONSync(filepath.Join(dir, RunningFile), rec)
}
