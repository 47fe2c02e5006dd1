// Package report renders a run directory as one self-contained HTML page:
// the verdict, how to reproduce the run, a section for every checker in
// results.json (the bank checker's totals, final reads and state,
// linearizability and the target's blocking time; the convergence
// checker's time from heal to agreement and, per failing key, every
// node's final state and the operations that explain each problem; the
// linearizable checker's failing keys; the stats totals; any other
// checker's details as JSON), the fault timeline, plots of latency and
// throughput with the fault windows shaded, and each node's clock offset
// over the run as the clock nemeses applied it.
//
// The page fetches nothing at view time: styles are inline and plots are
// SVG embedded as data: URIs in <img> elements, so nothing in them can run
// script. Every value that comes from a history, a results file or
// test.json goes through html/template's contextual escaping.
package report

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/faultline-io/faultline/checker"
	"github.com/faultline-io/faultline/history"
	"github.com/faultline-io/faultline/store"
)

// File is the report's name inside a run directory.
const File = "report.html"

// Run is everything a report shows.
type Run struct {
	// Dir is the run directory; links to files in it are relative.
	Dir string
	// Test is test.json as written by the harness; zero when missing.
	Test store.TestRecord
	// TestJSON is test.json verbatim, shown whole at the end.
	TestJSON string
	// Results are the checkers' results; nil when the run was not checked.
	Results *checker.Results
	// Ops is the history.
	Ops []history.Op
	// AnsweredErrors are the errors of failed operations that the tested
	// target answered (targets.Target.AnsweredErrors); availability counts
	// those operations as served. Load leaves it nil: the caller that knows
	// the targets fills it.
	AnsweredErrors []string
}

// Load reads a run directory: the history (required), test.json and
// results.json (each optional: a report of an unchecked or imported history
// says what is missing). It does not fill AnsweredErrors.
func Load(dir string) (Run, error) {
	r := Run{Dir: dir}
	ops, err := history.ReadFile(filepath.Join(dir, store.HistoryFile))
	if err != nil {
		return r, err
	}
	r.Ops = ops
	switch tr, err := store.ReadTestRecord(dir); {
	case err == nil:
		r.Test = tr
		b, _ := os.ReadFile(filepath.Join(dir, store.TestFile))
		r.TestJSON = string(b)
	case !errors.Is(err, os.ErrNotExist):
		return r, err
	}
	res, err := checker.ReadResults(filepath.Join(dir, checker.ResultsFile))
	switch {
	case err == nil:
		r.Results = &res
	case !errors.Is(err, os.ErrNotExist):
		return r, err
	}
	return r, nil
}

// WriteDir loads the run in dir and writes its report (Write).
// answeredErrors, when not nil, returns the AnsweredErrors of the target
// test.json names.
func WriteDir(dir string, answeredErrors func(target string) []string) (string, error) {
	r, err := Load(dir)
	if err != nil {
		return "", err
	}
	if answeredErrors != nil {
		r.AnsweredErrors = answeredErrors(r.Test.Config.Target)
	}
	return Write(r)
}

// Write writes r's report to r.Dir/report.html, replacing any earlier one
// only once the new one is complete, and returns its path.
func Write(r Run) (string, error) {
	var buf bytes.Buffer
	if err := Render(&buf, r); err != nil {
		return "", err
	}
	path := filepath.Join(r.Dir, File)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("report: %w", err)
	}
	return path, nil
}

// Render writes r's report to w.
func Render(w io.Writer, r Run) error {
	v := buildView(r)
	return page.Execute(w, v)
}
