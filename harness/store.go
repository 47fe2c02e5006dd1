package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Version is the faultline version, set at build time with
// -ldflags "-X github.com/faultline-io/faultline/harness.Version=...".
var Version = "dev"

// GitRevision is the source revision, set at build time like Version.
var GitRevision = "unknown"

// File names inside a run directory (DESIGN.md §9).
const (
	TestFile     = "test.json"
	HistoryFile  = "history.jsonl"
	ScheduleFile = "schedule.json"
	ResultsFile  = "results.json"
	// RuntimeFile names the runtime and the per-run id of what it created
	// (container, network and namespace names carry it).
	RuntimeFile = "runtime.json"
	// ScenarioFile is a copy of the scenario file a run used, if any.
	ScenarioFile = "scenario.yaml"
	// RunningFile is the RunningRecord of a run under way; see
	// ReadRunningRecord.
	RunningFile = "running.json"
)

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

// newRunDir creates store/<name>/<YYYYMMDDTHHMMSS>[-N] and points
// store/latest at it.
func newRunDir(store, name string, now time.Time) (string, error) {
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
	latest := filepath.Join(store, "latest")
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

func writeJSON(path string, v any) error {
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

// ReadTestRecord loads test.json from a run directory.
func ReadTestRecord(dir string) (TestRecord, error) { return readRunFile[TestRecord](dir, TestFile) }

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

func goVersion() string { return runtime.Version() }
