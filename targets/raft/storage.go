package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/faultline-io/faultline/targets/seam"
)

// Storage is the durable, append-only record log under a node's write-ahead
// log. The node appends one record per batch of state changes and calls Sync
// before it sends any message or acknowledges any client.
//
// It is a seam: a fault injector may wrap it to keep appended-but-unsynced
// records in process memory only (so that a kill loses them) or to make
// Sync fail with EIO, switched on through the admin endpoint.
type Storage interface {
	// ReadAll returns every intact record in append order. A torn or
	// corrupt tail (a crash during an unsynced append) is dropped, and
	// later appends continue after the last intact record. It is called
	// once, before any Append.
	ReadAll() ([][]byte, error)
	// Append adds a record. It need not be durable until Sync returns.
	Append(rec []byte) error
	// Sync makes every record appended so far durable. After an error the
	// state of the log is unknown and the node stops.
	Sync() error
	Close() error
}

// maxRecord bounds a record's length; a longer length field is corruption.
const maxRecord = 256 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// FileStorage is a Storage in one file: each record is framed as a 4-byte
// little-endian length, a 4-byte CRC-32C of the payload, then the payload.
// Sync is fsync. It is not safe for concurrent use.
type FileStorage struct {
	path string
	f    *os.File
	// w receives appends and syncs: f itself, or f wrapped in the
	// storage seam (OpenFileStorageOn).
	w interface {
		Write([]byte) (int, error)
		Sync() error
	}
}

// OpenFileStorage opens or creates the log file at path, creating its
// directory if needed.
func OpenFileStorage(path string) (*FileStorage, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal directory: %w", err)
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open wal: %w", err)
	}
	if errors.Is(statErr, os.ErrNotExist) {
		// Make the new file's directory entry durable too.
		if err := syncDir(dir); err != nil {
			f.Close()
			return nil, err
		}
	}
	return &FileStorage{path: path, f: f, w: f}, nil
}

// OpenFileStorageOn opens the log like OpenFileStorage, with appends and
// syncs going through the storage seam d: lose-unsynced mode keeps appends
// in memory until Sync, and EIO makes Sync fail (see package targets/seam).
// ReadAll reads the file directly.
func OpenFileStorageOn(path string, d *seam.Disk) (*FileStorage, error) {
	s, err := OpenFileStorage(path)
	if err != nil {
		return nil, err
	}
	s.w = d.Wrap(path, s.f)
	return s, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync wal directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync wal directory: %w", err)
	}
	return nil
}

// ReadAll implements Storage. It truncates the file after the last intact
// record and positions it there for appending.
func (s *FileStorage) ReadAll() ([][]byte, error) {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	buf, err := io.ReadAll(s.f)
	if err != nil {
		return nil, fmt.Errorf("read wal: %w", err)
	}
	recs, good := parseRecords(buf)
	if good < int64(len(buf)) {
		if err := s.f.Truncate(good); err != nil {
			return nil, fmt.Errorf("truncate torn wal tail: %w", err)
		}
		if err := s.f.Sync(); err != nil {
			return nil, fmt.Errorf("sync truncated wal: %w", err)
		}
	}
	if _, err := s.f.Seek(good, io.SeekStart); err != nil {
		return nil, err
	}
	return recs, nil
}

// parseRecords returns the intact records of buf and the length of the
// prefix they occupy.
func parseRecords(buf []byte) ([][]byte, int64) {
	var recs [][]byte
	off := 0
	for len(buf)-off >= 8 {
		n := binary.LittleEndian.Uint32(buf[off:])
		sum := binary.LittleEndian.Uint32(buf[off+4:])
		if n > maxRecord || len(buf)-off-8 < int(n) {
			break
		}
		payload := buf[off+8 : off+8+int(n)]
		if crc32.Checksum(payload, crcTable) != sum {
			break
		}
		recs = append(recs, payload)
		off += 8 + int(n)
	}
	return recs, int64(off)
}

func frame(rec []byte) []byte {
	b := make([]byte, 8+len(rec))
	binary.LittleEndian.PutUint32(b, uint32(len(rec)))
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(rec, crcTable))
	copy(b[8:], rec)
	return b
}

// Append implements Storage with one write(2) to the page cache.
func (s *FileStorage) Append(rec []byte) error {
	if len(rec) > maxRecord {
		return fmt.Errorf("wal record of %d bytes exceeds %d", len(rec), maxRecord)
	}
	_, err := s.w.Write(frame(rec))
	return err
}

// Sync implements Storage with fsync(2).
func (s *FileStorage) Sync() error { return s.w.Sync() }

// Close closes the file, handing the seam's buffered appends to it first.
func (s *FileStorage) Close() error {
	if c, ok := s.w.(*seam.File); ok {
		return c.Close() // closes f too
	}
	return s.f.Close()
}

// MemStorage is a Storage in memory for tests. Records survive for as long
// as the value does, so a test can "restart" a node on the same MemStorage;
// LoseUnsynced models a crash that loses what was not synced. It is safe
// for concurrent use.
type MemStorage struct {
	mu       sync.Mutex
	synced   [][]byte
	unsynced [][]byte
	// SyncErr, if set, is returned by Sync (and nothing is synced).
	SyncErr error
}

// ReadAll implements Storage.
func (m *MemStorage) ReadAll() ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([][]byte, 0, len(m.synced)+len(m.unsynced))
	out = append(out, m.synced...)
	return append(out, m.unsynced...), nil
}

// Append implements Storage.
func (m *MemStorage) Append(rec []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unsynced = append(m.unsynced, append([]byte(nil), rec...))
	return nil
}

// Sync implements Storage.
func (m *MemStorage) Sync() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.SyncErr != nil {
		return m.SyncErr
	}
	m.synced = append(m.synced, m.unsynced...)
	m.unsynced = nil
	return nil
}

// LoseUnsynced drops every record appended since the last Sync.
func (m *MemStorage) LoseUnsynced() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unsynced = nil
}

// Close implements Storage; the records stay.
func (m *MemStorage) Close() error { return nil }
