package twopc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/faultline-io/faultline/targets/seam"
)

// LogFile is the name of the node's log inside its data directory.
const LogFile = "twopc.log"

// Storage is a node's durable log: one JSON Record per line, appended
// through the disk seam (so a lose-unsynced kill loses what was not
// fsynced, and disk-eio fails the fsync).
type Storage struct {
	f *os.File
	w *seam.File
}

// OpenStorage opens (creating) dir's log through disk and returns it with
// the records it holds, in order. A torn last record (a crash mid-write)
// is ignored and cut off; a bad record before the last is an error naming
// its line.
func OpenStorage(dir string, disk *seam.Disk) (*Storage, []Record, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	path := filepath.Join(dir, LogFile)
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	var recs []Record
	good := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	for line := 1; sc.Scan(); line++ {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			if good+len(sc.Bytes()) >= len(b)-1 {
				break // torn last record
			}
			return nil, nil, fmt.Errorf("%s line %d: %w", path, line, err)
		}
		recs = append(recs, r)
		good += len(sc.Bytes()) + 1
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if good < len(b) {
		if err := os.Truncate(path, int64(good)); err != nil {
			return nil, nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	return &Storage{f: f, w: disk.Wrap(path, f)}, recs, nil
}

// Append writes recs and, when fsync, syncs them before returning.
func (s *Storage) Append(recs []Record, fsync bool) error {
	if len(recs) == 0 {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	if _, err := s.w.Write(buf.Bytes()); err != nil {
		return err
	}
	if fsync {
		return s.w.Sync()
	}
	return nil
}

// Close closes the log (flushing what the disk seam holds).
func (s *Storage) Close() error { return s.w.Close() }
