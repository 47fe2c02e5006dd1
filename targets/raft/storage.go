package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/faultline-io/faultline/targets/seam"
)

// Storage is the durable, append-only record log under a node's write-ahead
// log. The node appends one record per batch of state changes and calls Sync
// before it sends any message or acknowledges any client. Rotate bounds it:
// a record that stands for everything before it (a snapshot) replaces the
// whole log.
//
// It is a seam: a fault injector may wrap it to keep appended-but-unsynced
// records in process memory only (so that a kill loses them) or to make
// Sync fail with EIO, switched on through the admin endpoint.
type Storage interface {
	// ReadAll returns every intact record since the last completed Rotate
	// (its first record included), in append order. A torn or corrupt
	// tail (a crash during an unsynced append) is dropped, and later
	// appends continue after the last intact record. It is called once,
	// before any Append or Rotate.
	ReadAll() ([][]byte, error)
	// Append adds a record. It need not be durable until Sync returns.
	Append(rec []byte) error
	// Sync makes every record appended so far durable. After an error the
	// state of the log is unknown and the node stops.
	Sync() error
	// Rotate starts the log afresh with first as its only record, durably:
	// when it returns nil, first is synced and every earlier record,
	// synced or not, is gone (ReadAll after a restart returns first and
	// what was appended after it). A crash during Rotate leaves either the
	// old log or the new one. After an error the state of the log is
	// unknown and the node stops.
	Rotate(first []byte) error
	Close() error
}

// maxRecord bounds a record's length; a longer length field is corruption.
const maxRecord = 256 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// FileStorage is a Storage in segment files: path itself (the first
// segment, as before segments existed) and path.N for N = 1, 2, ..., each
// begun by a Rotate; appends go to the newest. Each record is framed as a
// 4-byte little-endian length, a 4-byte CRC-32C of the payload, then the
// payload. Sync is fsync. It is not safe for concurrent use.
//
// Rotate writes and syncs the new segment (and the directory) before it
// deletes the older ones, so a crash leaves the old segments, the new one
// with an incomplete first record (ReadAll deletes it) or the new one
// complete, possibly beside old ones that ReadAll then deletes.
type FileStorage struct {
	path string
	// segs are the segment numbers present, oldest first; f is the last.
	segs []uint64
	f    *os.File
	// w receives appends and syncs: f itself, or f wrapped in the
	// storage seam (OpenFileStorageOn).
	w interface {
		Write([]byte) (int, error)
		Sync() error
	}
	disk *seam.Disk // nil without the seam
}

// segmentPath names segment n of the log at path.
func segmentPath(path string, n uint64) string {
	if n == 0 {
		return path
	}
	return path + "." + strconv.FormatUint(n, 10)
}

// listSegments returns the segment numbers of the log at path, in order.
func listSegments(path string) ([]uint64, error) {
	names, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("list wal segments: %w", err)
	}
	base := filepath.Base(path)
	var segs []uint64
	for _, e := range names {
		name := e.Name()
		if name == base {
			segs = append(segs, 0)
			continue
		}
		if rest, ok := strings.CutPrefix(name, base+"."); ok {
			if n, err := strconv.ParseUint(rest, 10, 64); err == nil && n > 0 && rest == strconv.FormatUint(n, 10) {
				segs = append(segs, n)
			}
		}
	}
	slices.Sort(segs)
	return segs, nil
}

// OpenFileStorage opens or creates the log at path, creating its directory
// if needed.
func OpenFileStorage(path string) (*FileStorage, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal directory: %w", err)
	}
	segs, err := listSegments(path)
	if err != nil {
		return nil, err
	}
	if len(segs) == 0 {
		segs = []uint64{0}
	}
	last := segmentPath(path, segs[len(segs)-1])
	_, statErr := os.Stat(last)
	f, err := os.OpenFile(last, os.O_RDWR|os.O_CREATE, 0o644)
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
	return &FileStorage{path: path, segs: segs, f: f, w: f}, nil
}

// OpenFileStorageOn opens the log like OpenFileStorage, with appends and
// syncs going through the storage seam d: lose-unsynced mode keeps appends
// in memory until Sync, and EIO makes Sync fail (see package targets/seam).
// Segments begun by Rotate are written through d too. ReadAll reads the
// files directly.
func OpenFileStorageOn(path string, d *seam.Disk) (*FileStorage, error) {
	s, err := OpenFileStorage(path)
	if err != nil {
		return nil, err
	}
	s.disk = d
	s.w = d.Wrap(s.f.Name(), s.f)
	return s, nil
}

// wrap returns the writer for a segment file: through the seam if any.
func (s *FileStorage) wrap(f *os.File) interface {
	Write([]byte) (int, error)
	Sync() error
} {
	if s.disk != nil {
		return s.disk.Wrap(f.Name(), f)
	}
	return f
}

// closeCurrent closes the newest segment, handing the seam's buffered
// appends to it first.
func (s *FileStorage) closeCurrent() error {
	if c, ok := s.w.(*seam.File); ok {
		return c.Close() // closes f too
	}
	return s.f.Close()
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

// ReadAll implements Storage. It finishes an interrupted Rotate (deleting a
// newest segment without an intact record, or the segments before a newest
// one with one), truncates the newest segment after its last intact record
// and positions it there for appending.
func (s *FileStorage) ReadAll() ([][]byte, error) {
	for len(s.segs) > 1 {
		recs, err := s.readCurrent()
		if err != nil {
			return nil, err
		}
		if len(recs) > 0 {
			// A complete Rotate: its first record stands for
			// everything in the older segments.
			if err := s.removeSegments(s.segs[:len(s.segs)-1]); err != nil {
				return nil, err
			}
			s.segs = s.segs[len(s.segs)-1:]
			return recs, nil
		}
		// A Rotate that crashed before its first record was intact.
		dead := s.segs[len(s.segs)-1]
		if err := s.closeCurrent(); err != nil {
			return nil, fmt.Errorf("close incomplete wal segment: %w", err)
		}
		if err := s.removeSegments([]uint64{dead}); err != nil {
			return nil, err
		}
		s.segs = s.segs[:len(s.segs)-1]
		f, err := os.OpenFile(segmentPath(s.path, s.segs[len(s.segs)-1]), os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("open wal: %w", err)
		}
		s.f, s.w = f, s.wrap(f)
	}
	return s.readCurrent()
}

// removeSegments deletes the given segments and syncs the directory.
func (s *FileStorage) removeSegments(segs []uint64) error {
	for _, n := range segs {
		if err := os.Remove(segmentPath(s.path, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove wal segment: %w", err)
		}
	}
	return syncDir(filepath.Dir(s.path))
}

// readCurrent reads the newest segment, truncating a torn tail, and leaves
// it positioned for appending.
func (s *FileStorage) readCurrent() ([][]byte, error) {
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

// Rotate implements Storage: it writes first to a new segment, fsyncs it
// and the directory, then deletes the older segments and fsyncs the
// directory again.
func (s *FileStorage) Rotate(first []byte) error {
	if len(first) > maxRecord {
		return fmt.Errorf("wal record of %d bytes exceeds %d", len(first), maxRecord)
	}
	n := s.segs[len(s.segs)-1] + 1
	path := segmentPath(s.path, n)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create wal segment: %w", err)
	}
	w := s.wrap(f)
	fail := func(err error) error {
		if c, ok := w.(*seam.File); ok {
			c.Close()
		} else {
			f.Close()
		}
		os.Remove(path)
		return err
	}
	if _, err := w.Write(frame(first)); err != nil {
		return fail(fmt.Errorf("write wal segment: %w", err))
	}
	if err := w.Sync(); err != nil {
		return fail(fmt.Errorf("sync wal segment: %w", err))
	}
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return fail(err)
	}
	// The new segment is durable: switch to it, then drop the old ones.
	old := s.segs
	closeErr := s.closeCurrent()
	s.f, s.w, s.segs = f, w, []uint64{n}
	if closeErr != nil {
		return fmt.Errorf("close old wal segment: %w", closeErr)
	}
	return s.removeSegments(old)
}

// Close closes the newest segment, handing the seam's buffered appends to
// it first.
func (s *FileStorage) Close() error { return s.closeCurrent() }

// MemStorage is a Storage in memory for tests. Records survive for as long
// as the value does, so a test can "restart" a node on the same MemStorage;
// LoseUnsynced models a crash that loses what was not synced. Rotate
// replaces every record, synced or not, with its synced first record. It is
// safe for concurrent use.
type MemStorage struct {
	mu       sync.Mutex
	synced   [][]byte
	unsynced [][]byte
	// decoded holds the records decoded so far, by the address of their
	// first byte (each record is a copy of its own): see walCache.
	decoded map[*byte]walRecord
	// SyncErr, if set, is returned by Sync (and nothing is synced).
	SyncErr error
}

// decodeWALRecord implements walCache for a record ReadAll returned.
func (m *MemStorage) decodeWALRecord(b []byte) (walRecord, error) {
	if len(b) == 0 {
		return decodeWALRecord(b)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if rec, ok := m.decoded[&b[0]]; ok {
		return rec, nil
	}
	rec, err := decodeWALRecord(b)
	if err != nil {
		return rec, err
	}
	if m.decoded == nil {
		m.decoded = map[*byte]walRecord{}
	}
	m.decoded[&b[0]] = rec
	return rec, nil
}

// forget drops the decoded forms of recs.
func (m *MemStorage) forget(recs [][]byte) {
	for _, b := range recs {
		if len(b) > 0 {
			delete(m.decoded, &b[0])
		}
	}
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

// Rotate implements Storage. With SyncErr set it returns it and changes
// nothing.
func (m *MemStorage) Rotate(first []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.SyncErr != nil {
		return m.SyncErr
	}
	m.forget(m.synced)
	m.forget(m.unsynced)
	m.synced = [][]byte{append([]byte(nil), first...)}
	m.unsynced = nil
	return nil
}

// LoseUnsynced drops every record appended since the last Sync.
func (m *MemStorage) LoseUnsynced() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forget(m.unsynced)
	m.unsynced = nil
}

// Close implements Storage; the records stay.
func (m *MemStorage) Close() error { return nil }
