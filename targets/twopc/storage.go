package twopc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"

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

// MemStorage is a node's log in memory, for the simulator and tests: an
// Appender whose records survive for as long as the value does, so a node
// restarts on the same MemStorage. Records appended without fsync sit in
// the page cache: a crash keeps them, LoseUnsynced (a power loss) drops
// them. With EIO set, every fsync fails as the disk seam's disk-eio does
// (the records stay unsynced); appends without fsync still succeed. It is
// not safe for concurrent use.
type MemStorage struct {
	synced, unsynced []Record
	// EIO makes every fsync fail with EIO.
	EIO bool
}

// Append implements Appender. It keeps its own copies of recs.
func (s *MemStorage) Append(recs []Record, fsync bool) error {
	for _, r := range recs {
		r.Participants = slices.Clone(r.Participants)
		r.Ops = cloneOps(r.Ops)
		s.unsynced = append(s.unsynced, r)
	}
	if !fsync {
		return nil
	}
	if s.EIO {
		return &os.PathError{Op: "fsync", Path: LogFile, Err: syscall.EIO}
	}
	s.synced = append(s.synced, s.unsynced...)
	s.unsynced = nil
	return nil
}

// Records returns every record the log holds, synced or not, in order:
// what OpenStorage would read back after a crash. The caller may keep them.
func (s *MemStorage) Records() []Record {
	out := make([]Record, 0, len(s.synced)+len(s.unsynced))
	for _, r := range append(slices.Clip(s.synced), s.unsynced...) {
		r.Participants = slices.Clone(r.Participants)
		r.Ops = cloneOps(r.Ops)
		out = append(out, r)
	}
	return out
}

// LoseUnsynced drops every record appended since the last fsync.
func (s *MemStorage) LoseUnsynced() { s.unsynced = nil }

// cloneOps deep-copies ops (their value pointers included), as a JSON
// round trip through the log or the transport would.
func cloneOps(ops []TxnOp) []TxnOp {
	if ops == nil {
		return nil
	}
	out := make([]TxnOp, len(ops))
	for i, op := range ops {
		if op.Value != nil {
			v := *op.Value
			op.Value = &v
		}
		if op.Expect != nil {
			v := *op.Expect
			op.Expect = &v
		}
		out[i] = op
	}
	return out
}
