package crdt

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/faultline-io/faultline/targets/crdt/core"
	"github.com/faultline-io/faultline/targets/seam"
)

// StateFile is the name of the state log inside a node's data directory.
const StateFile = "crdt.log"

// compactAt is the log size past which Save rewrites it as one record (a
// variable so that tests can lower it).
var compactAt int64 = 8 << 20

// Storage is a node's durable state: a log of JSON records, each a map from
// internal key to that key's full state at the time. The last record of a
// key is its state (records are not merged: a merge is not idempotent under
// the sum-merge bug). Writes go through the disk seam, so that a
// lose-unsynced kill loses what was not fsynced.
type Storage struct {
	path string
	disk *seam.Disk
	f    *os.File
	w    *seam.File
	size int64
	// state is every key's latest saved state, for compaction.
	state map[string]core.State
}

// OpenStorage opens (creating) dir's state log through disk and returns it
// with the states it holds. A torn last record (a crash mid-write) is
// ignored; a bad record before the last is an error.
func OpenStorage(dir string, disk *seam.Disk) (*Storage, map[string]core.State, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	path := filepath.Join(dir, StateFile)
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	state, good, err := readLog(path, b)
	if err != nil {
		return nil, nil, err
	}
	if good < int64(len(b)) {
		if err := os.Truncate(path, good); err != nil {
			return nil, nil, err
		}
	}
	s := &Storage{path: path, disk: disk, size: good, state: map[string]core.State{}}
	for k, v := range state {
		s.state[k] = v
	}
	if err := s.open(os.O_APPEND); err != nil {
		return nil, nil, err
	}
	return s, state, nil
}

func (s *Storage) open(flag int) error {
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_WRONLY|flag, 0o644)
	if err != nil {
		return err
	}
	s.f, s.w = f, s.disk.Wrap(s.path, f)
	return nil
}

// Save appends changed (internal key → full state) as one record and
// fsyncs it. Past compactAt it first rewrites the log as one record of
// every key.
func (s *Storage) Save(changed map[string]core.State) error {
	if len(changed) == 0 {
		return nil
	}
	for k, v := range changed {
		s.state[k] = v
	}
	if s.size > compactAt {
		return s.compact()
	}
	n, err := s.append(changed)
	if err != nil {
		return err
	}
	s.size += int64(n)
	return s.w.Sync()
}

func (s *Storage) append(rec map[string]core.State) (int, error) {
	b, err := encodeRecord(rec)
	if err != nil {
		return 0, err
	}
	return s.w.Write(b)
}

// encodeRecord returns rec as one line of the state log.
func encodeRecord(rec map[string]core.State) ([]byte, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// readLog parses the state log b (read from name, for errors): every key's
// state as of its last record, and the length of the prefix of whole
// records. A torn last record (a crash mid-write) is left out of both; a
// bad record before the last is an error naming its line.
func readLog(name string, b []byte) (map[string]core.State, int64, error) {
	state := map[string]core.State{}
	good := int64(0)
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	for line := 1; sc.Scan(); line++ {
		var rec map[string]core.State
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			if good+int64(len(sc.Bytes())) >= int64(len(b))-1 {
				break // torn last record
			}
			return nil, 0, fmt.Errorf("%s line %d: %w", name, line, err)
		}
		for k, s := range rec {
			state[k] = s
		}
		good += int64(len(sc.Bytes())) + 1
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", name, err)
	}
	return state, good, nil
}

// compact writes every key's state to a new file, fsyncs it and renames it
// over the log.
func (s *Storage) compact() error {
	tmp := s.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	w := s.disk.Wrap(tmp, f)
	b, err := encodeRecord(s.state)
	if err == nil {
		_, err = w.Write(b)
	}
	if err == nil {
		err = w.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return err
	}
	_ = s.w.Close()
	s.size = int64(len(b))
	return s.open(os.O_APPEND)
}

// Close closes the log (flushing what the disk seam holds).
func (s *Storage) Close() error {
	if s.w == nil {
		return nil
	}
	return s.w.Close()
}

var _ io.Closer = (*Storage)(nil)
