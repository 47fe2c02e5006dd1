package campaignrun

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// ResultFormat is the version of the campaign result file's shape; a reader
// refuses a newer one.
const ResultFormat = 1

// Result is a campaign result file: what one campaign, or one shard of
// it, ran and found. 'faultline campaign' writes it into its output
// directory (the store) as ResultFileName, rewritten after every run so
// that a campaign killed midway leaves one with Complete false; 'faultline
// campaign merge' reads several and joins them with Merge.
type Result struct {
	Format   int    `json:"format"`
	Campaign string `json:"campaign"`
	// File is the campaign file as named on the command line, and Digest
	// "sha256:<hex>" of its content: shards of one campaign share it.
	File   string `json:"file"`
	Digest string `json:"digest"`
	// Shard is the part of the campaign this result covers (zero: all).
	Shard Shard `json:"shard"`
	// Plan is every run of the campaign, all shards, in index order.
	Plan []Run `json:"plan"`
	// Runs are the records of the runs of Shard, in index order.
	Runs      []Record      `json:"runs"`
	Parallel  int           `json:"parallel,omitempty"`
	FailFast  bool          `json:"fail_fast,omitempty"`
	TimeLimit time.Duration `json:"time_limit_ns,omitempty"`
	Started   time.Time     `json:"started"`
	Finished  time.Time     `json:"finished,omitzero"`
	// Stopped is why runs were not started ("" when all were).
	Stopped string `json:"stopped,omitempty"`
	// Complete is false while the campaign runs; a file left with false
	// is from a campaign that was killed.
	Complete    bool     `json:"complete"`
	CommandLine []string `json:"command_line,omitempty"`
	Version     string   `json:"version,omitempty"`
	// Sources are the result files a merged result was made from.
	Sources []string `json:"sources,omitempty"`
}

// Digest returns "sha256:<hex>" of a campaign file's content.
func Digest(content []byte) string {
	h := sha256.Sum256(content)
	return "sha256:" + hex.EncodeToString(h[:])
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// ResultFilePrefix starts the name of every campaign result file.
const ResultFilePrefix = "campaign-"

// ResultFileName is the name of the result file of campaign name, shard s:
// campaign-<name>.json, or campaign-<name>.shard-<i>-of-<n>.json; characters
// other than letters, digits, '.', '_' and '-' in name become '-'. Shards
// of one campaign can therefore share a store, and 'merge DIR' finds them.
func ResultFileName(name string, s Shard) string {
	name = unsafeName.ReplaceAllString(name, "-")
	if s.Whole() {
		return ResultFilePrefix + name + ".json"
	}
	return fmt.Sprintf("%s%s.shard-%d-of-%d.json", ResultFilePrefix, name, s.Index, s.Count)
}

// WriteResult writes r into dir as ResultFileName (through a temporary
// file and a rename, so a reader sees the old or the new file whole) and
// returns its path. It sets each record's DirInStore from its Dir.
func WriteResult(dir string, r Result) (string, error) {
	r.Format = ResultFormat
	for i := range r.Runs {
		r.Runs[i].DirInStore = inside(dir, r.Runs[i].Dir)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, ResultFileName(r.Campaign, r.Shard))
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name()) // a no-op after the rename
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return "", err
	}
	return path, os.Rename(f.Name(), path)
}

// inside returns path relative to dir when path is inside dir, else "".
func inside(dir, path string) string {
	if path == "" {
		return ""
	}
	ad, err1 := filepath.Abs(dir)
	ap, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return ""
	}
	rel, err := filepath.Rel(ad, ap)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return ""
	}
	return rel
}

// Loaded is a result file as read: its path and content.
type Loaded struct {
	Path   string
	Result Result
}

// ReadResults reads the result files named by path: path itself if it is a
// file, else every ResultFileName in the directory path (not below it). A
// directory without one, a file that is not a result, or a result of a
// newer format is an error naming the path.
func ReadResults(path string) ([]Loaded, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	files := []string{path}
	if st.IsDir() {
		files, err = filepath.Glob(filepath.Join(path, ResultFilePrefix+"*.json"))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no campaign result (%s*.json) in this directory", path, ResultFilePrefix)
		}
		sort.Strings(files)
	}
	var out []Loaded
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var r Result
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: not a campaign result: %w", f, err)
		}
		switch {
		case r.Format == 0 || r.Campaign == "" || r.Digest == "":
			return nil, fmt.Errorf("%s: not a campaign result (no format, campaign or digest)", f)
		case r.Format > ResultFormat:
			return nil, fmt.Errorf("%s: format %d is newer than this faultline reads (%d)", f, r.Format, ResultFormat)
		}
		for i, rec := range r.Runs {
			if rec.Index < 0 || rec.Index >= len(r.Plan) {
				return nil, fmt.Errorf("%s: runs[%d]: index %d outside the plan of %d runs", f, i, rec.Index, len(r.Plan))
			}
		}
		out = append(out, Loaded{Path: f, Result: r})
	}
	return out, nil
}

// Merge joins the results of shards of one campaign into a result of the
// whole campaign (Shard zero), runs in index order. The results must be of
// one campaign file (the same Digest), of one split (the same Shard.Count)
// and hold no run twice; each mismatch is an error naming the two files.
// A run of the plan that no result holds is recorded VerdictNotStarted,
// its Problem naming the shard that is missing. A record's DirInStore is
// resolved against the directory of the file it came from when the run
// directory is there, so Dir names where the run is now.
func Merge(ls []Loaded) (Result, error) {
	if len(ls) == 0 {
		return Result{}, errors.New("no campaign results to merge")
	}
	first := ls[0]
	m := Result{Format: ResultFormat, Campaign: first.Result.Campaign, File: first.Result.File,
		Digest: first.Result.Digest, Plan: first.Result.Plan, Complete: true, Version: first.Result.Version}
	from := make([]string, len(m.Plan)) // run index → the file that holds it
	byShard := map[int]string{}
	var stops []string
	for _, l := range ls {
		r := l.Result
		switch {
		case r.Campaign != m.Campaign:
			return m, fmt.Errorf("%s is of campaign %q, %s of campaign %q", l.Path, r.Campaign, first.Path, m.Campaign)
		case r.Digest != m.Digest || len(r.Plan) != len(m.Plan):
			return m, fmt.Errorf("%s and %s are of different versions of campaign %q (its file changed between them)", l.Path, first.Path, m.Campaign)
		case r.Shard.Count != first.Result.Shard.Count && !(r.Shard.Whole() && first.Result.Shard.Whole()):
			return m, fmt.Errorf("%s is shard %s, %s is shard %s: shards of different splits", l.Path, r.Shard, first.Path, first.Result.Shard)
		}
		if other, ok := byShard[r.Shard.Index]; ok {
			return m, fmt.Errorf("%s and %s are both shard %s", other, l.Path, r.Shard)
		}
		byShard[r.Shard.Index] = l.Path
		for _, rec := range r.Runs {
			if other := from[rec.Index]; other != "" {
				return m, fmt.Errorf("run %d (%s) is in both %s and %s", rec.Index, rec.Label(), other, l.Path)
			}
			from[rec.Index] = l.Path
			if rec.DirInStore != "" {
				if d := filepath.Join(filepath.Dir(l.Path), rec.DirInStore); exists(d) {
					rec.Dir = d
					if rec.Report != "" {
						rec.Report = filepath.Join(d, filepath.Base(rec.Report))
					}
				}
			}
			m.Runs = append(m.Runs, rec)
		}
		if m.Started.IsZero() || (!r.Started.IsZero() && r.Started.Before(m.Started)) {
			m.Started = r.Started
		}
		if r.Finished.After(m.Finished) {
			m.Finished = r.Finished
		}
		if r.Stopped != "" {
			stops = append(stops, fmt.Sprintf("shard %s: %s", r.Shard, r.Stopped))
		}
		if !r.Complete {
			m.Complete = false
			stops = append(stops, fmt.Sprintf("shard %s: its campaign did not finish (%s was left incomplete)", r.Shard, l.Path))
		}
		m.Sources = append(m.Sources, l.Path)
		m.Parallel = max(m.Parallel, r.Parallel)
		m.FailFast = m.FailFast || r.FailFast
	}
	count := first.Result.Shard.Count
	missing := map[int]bool{}
	for i, p := range m.Plan {
		if from[i] != "" {
			continue
		}
		m.Complete = false
		why := "in no merged result"
		if s := ShardOf(i, count); !s.Whole() {
			why = fmt.Sprintf("in no merged result: shard %s is missing", s)
			missing[s.Index] = true
		}
		m.Runs = append(m.Runs, Record{Run: p, Verdict: VerdictNotStarted, Outcome: OutcomeNotStarted, Problem: why})
	}
	if len(missing) > 0 {
		var idx []int
		for i := range missing {
			idx = append(idx, i)
		}
		sort.Ints(idx)
		ss := make([]string, len(idx))
		for k, i := range idx {
			ss[k] = Shard{Index: i, Count: count}.String()
		}
		stops = append(stops, "missing shard(s) "+strings.Join(ss, ", "))
	}
	sort.Slice(m.Runs, func(i, j int) bool { return m.Runs[i].Index < m.Runs[j].Index })
	m.Stopped = strings.Join(stops, "; ")
	return m, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
