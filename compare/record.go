package compare

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/faultline-io/faultline/store"
)

// File names inside a comparison directory.
const (
	// RecordFile is compare.json, a Record; its presence is what makes a
	// directory a comparison ('faultline replay' tells them by it).
	RecordFile = "compare.json"
	// HTMLFile is compare.html, the comparison's page.
	HTMLFile = "compare.html"
)

// Exit codes of a comparison (DESIGN.md §8, as 'compare' reads them: an
// anomaly a run found is a finding of the comparison, not its failure).
const (
	ExitComplete   = 0   // every run completed and was checked, whatever its verdict
	ExitIncomplete = 2   // some run's verdict is unknown, or a run was not checked or not run
	ExitRunError   = 255 // some run failed with a harness error
)

// Record is compare.json: what was compared and how (enough to run the
// comparison again: Config, and the Schedule that it gives), each
// target's run directory and numbers, and the schedule check.
type Record struct {
	Name        string    `json:"name"`
	Config      Config    `json:"config"`
	CommandLine []string  `json:"command_line,omitempty"`
	Version     string    `json:"version,omitempty"`
	GitRevision string    `json:"git_revision,omitempty"`
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished"`
	// ReplayOf is the comparison directory this one replayed.
	ReplayOf string `json:"replay_of,omitempty"`
	// Interrupted is set when an interrupt stopped the comparison.
	Interrupted bool `json:"interrupted,omitempty"`
	// Schedule is the plan's role-neutral schedule.
	Schedule      []Fault       `json:"schedule"`
	Runs          []RunRecord   `json:"runs"`
	ScheduleCheck ScheduleCheck `json:"schedule_check"`
}

// RunRecord is one target's entry in compare.json: its summary, how it
// took the comparison's nemeses, and its scenario file (relative to the
// comparison directory; "" when the schedule had no fault).
type RunRecord struct {
	Summary
	Nemeses  []string       `json:"nemeses"`
	Aims     map[string]Aim `json:"aims,omitempty"`
	Scenario string         `json:"scenario,omitempty"`
}

// Collect summarizes the outcomes of plan p's runs (in plan order) under
// the comparison directory dir, checks the schedules they recorded, and
// returns the record with the fields only the caller knows (command line,
// version, times) left for it. answered returns a target's answered
// errors (Summarize).
func Collect(dir string, p Plan, outs []Outcome, scenarios []string, answered func(target string) []string) Record {
	rec := Record{Name: p.Config.Name(), Config: p.Config, Schedule: p.Faults}
	recorded := map[string][]Entry{}
	for i, r := range p.Runs {
		var o Outcome
		if i < len(outs) {
			o = outs[i]
		} else {
			o = Outcome{Target: r.Target, NotRun: true}
		}
		var ans []string
		if answered != nil {
			ans = answered(r.Target)
		}
		rr := RunRecord{Summary: Summarize(dir, r, o, ans), Nemeses: r.Nemeses, Aims: r.Aims}
		if i < len(scenarios) && scenarios[i] != "" {
			rr.Scenario = relTo(dir, scenarios[i])
		}
		rec.Runs = append(rec.Runs, rr)
		if o.Dir == "" {
			continue
		}
		if es, err := ReadSchedule(o.Dir); err == nil {
			recorded[r.Target] = es
		}
	}
	rec.ScheduleCheck = CheckSchedules(p, recorded)
	return rec
}

// ExitCode is the comparison's exit code: ExitRunError when a run failed
// with a harness error; else ExitIncomplete when some run has no definite
// verdict (unknown, not checked, not run); else ExitComplete.
func (r Record) ExitCode() int {
	code := ExitComplete
	for _, run := range r.Runs {
		switch run.Verdict {
		case VerdictError:
			return ExitRunError
		case VerdictValid, VerdictInvalid:
		default:
			code = ExitIncomplete
		}
	}
	return code
}

// Write writes r to dir/compare.json (store.WriteJSON: whole or not at
// all).
func (r Record) Write(dir string) error {
	return store.WriteJSON(filepath.Join(dir, RecordFile), r)
}

// ReadRecord reads compare.json from a comparison directory. A missing
// file returns the os error (wrapping fs.ErrNotExist); a bad one names the
// path.
func ReadRecord(dir string) (Record, error) {
	path := filepath.Join(dir, RecordFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return Record{}, err
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// IsDir reports whether dir is a comparison directory (holds
// compare.json).
func IsDir(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, RecordFile))
	return !errors.Is(err, fs.ErrNotExist) && err == nil
}
