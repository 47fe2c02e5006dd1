// Package store is the layout of a run directory (DESIGN.md §9): the names
// of its files, the records they hold (test.json with the run's Config,
// results.json, running.json) and how they are read and written, and the
// making of a new run directory under a store. It is what reads a run after
// the fact — the report, 'faultline check' of a run directory, a comparison
// of runs — so it depends on no runtime, nemesis or target: only on the
// history, checker and workloads packages.
//
// A store holds store/<test-name>/<YYYYMMDDTHHMMSS>[-N]/ per run and a
// link store/latest to the newest. The JSON shapes here are a file format:
// run directories written by earlier versions must keep reading.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// File names inside a run directory (DESIGN.md §9).
const (
	// TestFile is test.json, a TestRecord.
	TestFile = "test.json"
	// HistoryFile is the history, one history.Op per line.
	HistoryFile = "history.jsonl"
	// ScheduleFile is the fault timeline as it happened.
	ScheduleFile = "schedule.json"
	// ResultsFile is results.json, a RunResults; it is also
	// checker.ResultsFile, which reads its checker.Results part.
	ResultsFile = "results.json"
	// RuntimeFile names the runtime and the per-run id of what it created
	// (container, network and namespace names carry it).
	RuntimeFile = "runtime.json"
	// ScenarioFile is a copy of the scenario file a run used, if any.
	ScenarioFile = "scenario.yaml"
	// TargetFileCopy is a copy of the target file a run used, if any
	// (Config.TargetFile).
	TargetFileCopy = "target.yaml"
	// RunningFile is the RunningRecord of a run under way; see
	// ReadRunningRecord.
	RunningFile = "running.json"
)

// LatestLink is the name, inside a store, of the link to the newest run
// directory.
const LatestLink = "latest"

// TestRecord is test.json: everything needed to reproduce a run.
type TestRecord struct {
	Config      Config    `json:"config"`
	Runtime     string    `json:"runtime"` // the runtime actually used
	Checkers    []string  `json:"checkers"`
	CommandLine []string  `json:"command_line,omitempty"`
	Version     string    `json:"version"`
	GitRevision string    `json:"git_revision"`
	GoVersion   string    `json:"go_version"`
	Started     time.Time `json:"started"`
	Host        string    `json:"host,omitempty"`
	// ReplayOf is the run directory this run replayed ('faultline replay').
	ReplayOf string `json:"replay_of,omitempty"`
}

// NewRunDir creates store/<name>/<YYYYMMDDTHHMMSS>[-N] for a run started
// at now, never reusing a directory (a second run in the same second gets
// -2, and so on), and points store/latest at it. Runs sharing a store may
// call it at once: each gets its own directory, and latest ends pointing
// at one of them.
func NewRunDir(store, name string, now time.Time) (string, error) {
	base := filepath.Join(store, name, now.Format("20060102T150405"))
	dir := base
	for i := 2; ; i++ {
		err := os.MkdirAll(filepath.Dir(dir), 0o755)
		if err != nil {
			return "", fmt.Errorf("create store: %w", err)
		}
		err = os.Mkdir(dir, 0o755)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("create run directory: %w", err)
		}
		dir = fmt.Sprintf("%s-%d", base, i)
	}
	rel, err := filepath.Rel(store, dir)
	if err != nil {
		return "", err
	}
	latest := filepath.Join(store, LatestLink)
	// A name of this process's own: runs sharing a store may link at once
	// (the last rename wins, and each is whole).
	tmp := fmt.Sprintf("%s.tmp.%d.%d", latest, os.Getpid(), time.Now().UnixNano())
	_ = os.Remove(tmp)
	if err := os.Symlink(rel, tmp); err != nil {
		return "", fmt.Errorf("link store/latest: %w", err)
	}
	if err := os.Rename(tmp, latest); err != nil {
		return "", fmt.Errorf("link store/latest: %w", err)
	}
	return dir, nil
}

// WriteTestRecord writes test.json into dir (WriteJSON).
func WriteTestRecord(dir string, tr TestRecord) error {
	return WriteJSON(filepath.Join(dir, TestFile), tr)
}

// ReadTestRecord loads test.json from a run directory. A missing file
// returns the os error (wrapping fs.ErrNotExist); a bad one names the path.
func ReadTestRecord(dir string) (TestRecord, error) { return readRunFile[TestRecord](dir, TestFile) }

// WriteJSON writes v as indented JSON to path, replacing any earlier file
// only once the new one is written (through path.tmp and a rename). It does
// not fsync: WriteJSONSync does, for files that must survive a crash.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// WriteJSONSync writes v as indented JSON to path through a fsynced
// temporary file of its own and a rename, so that path holds either the
// old or the new content, whole, even after a crash.
func WriteJSONSync(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // a no-op after the rename
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// readRunFile decodes the JSON file name of a run directory. A missing file
// returns the os error (wrapping fs.ErrNotExist); a bad one names the path.
func readRunFile[T any](dir, name string) (T, error) {
	var v T
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}
