package checker

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// ResultsFile is the name of the results file in a run directory.
const ResultsFile = "results.json"

// WriteResults writes rs to path as indented JSON. It writes a temporary
// file in the same directory, fsyncs it and renames it over path, so a
// reader sees the old file or the new one, never a partial one.
func WriteResults(path string, rs Results) error {
	b, err := json.MarshalIndent(rs, "", "  ")
	if err != nil {
		return fmt.Errorf("checker: encode results: %w", err)
	}
	b = append(b, '\n')
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("checker: write results: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("checker: write results: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("checker: write results: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("checker: write results: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("checker: write results: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("checker: write results: %w", err)
	}
	return nil
}

// ReadResults reads a file written by WriteResults.
func ReadResults(path string) (Results, error) {
	var rs Results
	b, err := os.ReadFile(path)
	if err != nil {
		return rs, err
	}
	if err := json.Unmarshal(b, &rs); err != nil {
		return rs, fmt.Errorf("checker: read %s: %w", path, err)
	}
	return rs, nil
}
