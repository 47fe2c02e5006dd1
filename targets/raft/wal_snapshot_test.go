package raft

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/faultline-io/faultline/targets/raft/core"
	"github.com/faultline-io/faultline/targets/seam"
)

func recsEqual(a [][]byte, want ...string) bool {
	return slices.EqualFunc(a, want, func(x []byte, y string) bool { return string(x) == y })
}

// segmentFiles lists the WAL segment files beside path.
func segmentFiles(t *testing.T, path string) []string {
	t.Helper()
	segs, err := listSegments(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range segs {
		names = append(names, filepath.Base(segmentPath(path, n)))
	}
	return names
}

// TestStorageRotateConformance: Rotate replaces every record before it,
// synced or not, durably, and appends continue after it.
func TestStorageRotateConformance(t *testing.T) {
	for _, impl := range storageImpls() {
		t.Run(impl.name, func(t *testing.T) {
			s := impl.open(t)
			if _, err := s.ReadAll(); err != nil {
				t.Fatal(err)
			}
			s.Append([]byte("a"))
			s.Append([]byte("b"))
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
			s.Append([]byte("unsynced"))
			if err := s.Rotate([]byte("snap1")); err != nil {
				t.Fatal(err)
			}
			s.Append([]byte("c"))
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
			s = impl.reopen(t, s)
			if got, err := s.ReadAll(); err != nil || !recsEqual(got, "snap1", "c") {
				t.Fatalf("after a rotation: %q, %v; want snap1, c", got, err)
			}
			for i := range 3 {
				if err := s.Rotate([]byte(fmt.Sprint("snap", i+2))); err != nil {
					t.Fatal(err)
				}
			}
			s.Append([]byte("d"))
			s.Sync()
			s = impl.reopen(t, s)
			if got, err := s.ReadAll(); err != nil || !recsEqual(got, "snap4", "d") {
				t.Fatalf("after three rotations: %q, %v; want snap4, d", got, err)
			}
			if fs, ok := s.(*FileStorage); ok {
				if segs := segmentFiles(t, fs.path); len(segs) != 1 {
					t.Fatalf("segments left: %v, want one", segs)
				}
			}
			s.Close()
		})
	}
}

// Unsynced appends after a Rotate are lost by a crash that loses them; the
// rotation itself is not.
func TestMemStorageRotateLoseUnsynced(t *testing.T) {
	m := &MemStorage{}
	m.Append([]byte("old"))
	m.Sync()
	m.Rotate([]byte("snap"))
	m.Append([]byte("lost"))
	m.LoseUnsynced()
	if got, _ := m.ReadAll(); !recsEqual(got, "snap") {
		t.Fatalf("records %q, want snap only", got)
	}
	m.SyncErr = errors.New("EIO")
	if err := m.Rotate([]byte("snap2")); err == nil {
		t.Fatal("Rotate with SyncErr succeeded")
	}
	if got, _ := m.ReadAll(); !recsEqual(got, "snap") {
		t.Fatalf("a failed Rotate changed the records: %q", got)
	}
}

// A crash in the middle of Rotate leaves the old log or the new one, never
// a mixture, and ReadAll finishes the job.
func TestFileStorageInterruptedRotate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, WALFile)
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := slices.Concat(frame([]byte("a")), frame([]byte("b")))
	open := func() (*FileStorage, [][]byte) {
		t.Helper()
		s, err := OpenFileStorage(path)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := s.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return s, recs
	}

	// The new segment's first record is torn: the old log stands, and
	// appends go to it.
	write(WALFile, old)
	torn := frame([]byte("snapshot"))
	write(WALFile+".1", torn[:len(torn)-2])
	write(WALFile+".tmp", []byte("not a segment"))
	write(WALFile+".01", []byte("not a segment either"))
	s, recs := open()
	if !recsEqual(recs, "a", "b") {
		t.Fatalf("torn rotation: %q, want a, b", recs)
	}
	if segs := segmentFiles(t, path); !slices.Equal(segs, []string{WALFile}) {
		t.Fatalf("segments after a torn rotation: %v", segs)
	}
	s.Append([]byte("c"))
	s.Sync()
	s.Close()
	if s, recs = open(); !recsEqual(recs, "a", "b", "c") {
		t.Fatalf("append after a torn rotation: %q", recs)
	}
	s.Close()

	// The new segment is complete but the old ones were not deleted.
	write(WALFile+".3", slices.Concat(frame([]byte("snap")), frame([]byte("x"))))
	s, recs = open()
	if !recsEqual(recs, "snap", "x") {
		t.Fatalf("complete rotation: %q, want snap, x", recs)
	}
	if segs := segmentFiles(t, path); !slices.Equal(segs, []string{WALFile + ".3"}) {
		t.Fatalf("segments after a complete rotation: %v", segs)
	}
	if err := s.Rotate([]byte("next")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if segs := segmentFiles(t, path); !slices.Equal(segs, []string{WALFile + ".4"}) {
		t.Fatalf("segments after rotating again: %v", segs)
	}
	for _, other := range []string{".tmp", ".01"} {
		if _, err := os.Stat(path + other); err != nil {
			t.Errorf("unrelated file %s: %v", WALFile+other, err)
		}
	}
}

// Through the storage seam, a rotated WAL still loses unsynced appends on
// a crash in lose-unsynced mode, keeps what Rotate synced, and a Rotate
// under EIO fails and leaves the old log.
func TestFileStorageRotateOnSeam(t *testing.T) {
	path := filepath.Join(t.TempDir(), WALFile)
	d := seam.NewDisk()
	s, err := OpenFileStorageOn(path, d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadAll(); err != nil {
		t.Fatal(err)
	}
	s.Append([]byte("old"))
	s.Sync()
	d.SetLoseUnsynced(true)
	if err := s.Rotate([]byte("snap")); err != nil {
		t.Fatal(err)
	}
	s.Append([]byte("synced"))
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	s.Append([]byte("lost"))
	if st := d.State(); st.UnsyncedBytes == 0 {
		t.Fatalf("the seam holds nothing of the unsynced append after a rotation: %+v", st)
	}
	// Crash: no Close; a new process opens the log.
	s2, err := OpenFileStorage(path)
	if err != nil {
		t.Fatal(err)
	}
	if recs, err := s2.ReadAll(); err != nil || !recsEqual(recs, "snap", "synced") {
		t.Fatalf("after the crash: %q, %v; want snap, synced", recs, err)
	}
	s2.Close()

	d.SetEIO(true)
	if err := s.Rotate([]byte("snap2")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Rotate with EIO on: %v", err)
	}
	s.f.Close()
	s3, err := OpenFileStorage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if recs, err := s3.ReadAll(); err != nil || !recsEqual(recs, "snap", "synced") {
		t.Fatalf("after a failed rotation: %q, %v; want snap, synced", recs, err)
	}
}

func walEntry(term, index uint64) core.Entry {
	return core.Entry{Term: term, Index: index, Data: []byte(fmt.Sprint("e", index))}
}

func walEntries(term, from, to uint64) []core.Entry {
	var es []core.Entry
	for i := from; i <= to; i++ {
		es = append(es, walEntry(term, i))
	}
	return es
}

// WAL replay across a snapshot: the snapshot record replaces everything
// before it, later records append and truncate after it.
func TestWALSnapshotReplay(t *testing.T) {
	for _, fsync := range []bool{true, false} {
		t.Run(fmt.Sprint("fsync=", fsync), func(t *testing.T) {
			s := &MemStorage{}
			saveReady(s, core.HardState{Term: 1, Vote: "n1"}, walEntries(1, 1, 10), true)
			snap := core.Snapshot{Index: 6, Term: 1, Data: []byte("state@6")}
			hs := core.HardState{Term: 2, Vote: "n2", Commit: 8}
			if err := saveSnapshot(s, snap, hs, walEntries(1, 7, 10), fsync); err != nil {
				t.Fatal(err)
			}
			if err := saveSnapshot(s, snap, hs, walEntries(1, 8, 10), fsync); err == nil {
				t.Fatal("saveSnapshot accepted entries that do not follow the snapshot")
			}
			saveReady(s, core.HardState{Term: 2, Vote: "n2", Commit: 8}, []core.Entry{walEntry(2, 9), walEntry(2, 10), walEntry(2, 11)}, true)
			gotHS, gotSnap, log, err := loadWALSnapshot(s)
			if err != nil {
				t.Fatal(err)
			}
			if gotHS != hs || gotSnap == nil || gotSnap.Index != 6 || gotSnap.Term != 1 || string(gotSnap.Data) != "state@6" {
				t.Fatalf("replayed %+v, snapshot %+v", gotHS, gotSnap)
			}
			want := []core.Entry{walEntry(1, 7), walEntry(1, 8), walEntry(2, 9), walEntry(2, 10), walEntry(2, 11)}
			if !slices.EqualFunc(log, want, func(a, b core.Entry) bool { return a.Index == b.Index && a.Term == b.Term }) {
				t.Fatalf("log %v, want %v", log, want)
			}
			recs, _ := s.ReadAll()
			if fsync && len(recs) != 2 {
				t.Errorf("%d records after a rotating snapshot, want 2", len(recs))
			}
			if !fsync && len(recs) != 3 {
				t.Errorf("%d records after a snapshot without fsync, want 3 (nothing deleted)", len(recs))
			}
			if _, _, err := loadWAL(s); err == nil || !strings.Contains(err.Error(), "snapshot") {
				t.Errorf("loadWAL on a WAL with a snapshot: %v", err)
			}
			// The core restores from what was replayed.
			c := core.DefaultConfig("n1", []string{"n1", "n2", "n3"})
			c.Snapshot, c.HardState, c.Entries = gotSnap, gotHS, log
			r, err := core.New(c)
			if err != nil {
				t.Fatal(err)
			}
			if st := r.Status(); st.FirstIndex != 7 || st.LastIndex != 11 || st.Commit != 8 || st.Applied != 6 {
				t.Fatalf("restored core %+v", st)
			}
		})
	}
}

// The no-fsync bug keeps losing writes across snapshots: its snapshot
// record is appended unsynced and a crash that loses unsynced records
// takes it and everything after it.
func TestWALSnapshotWithoutFsyncIsLost(t *testing.T) {
	s := &MemStorage{}
	saveReady(s, core.HardState{Term: 1, Vote: "n1", Commit: 3}, walEntries(1, 1, 4), true)
	saveSnapshot(s, core.Snapshot{Index: 3, Term: 1, Data: []byte("x")}, core.HardState{Term: 1, Vote: "n1", Commit: 4}, walEntries(1, 4, 4), false)
	saveRecord(s, core.HardState{Term: 1, Vote: "n1", Commit: 4}, walEntries(1, 5, 6), true, false)
	s.LoseUnsynced()
	_, snap, log, err := loadWALSnapshot(s)
	if err != nil {
		t.Fatal(err)
	}
	if snap != nil || len(log) != 4 {
		t.Fatalf("after the crash: snapshot %+v, %d entries; want none and 4", snap, len(log))
	}
}

// With a snapshot every so many entries, the WAL on disk stays bounded.
func TestFileWALBoundedBySnapshots(t *testing.T) {
	path := filepath.Join(t.TempDir(), WALFile)
	s, err := OpenFileStorage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.ReadAll(); err != nil {
		t.Fatal(err)
	}
	dirSize := func() int64 {
		var n int64
		for _, name := range segmentFiles(t, path) {
			fi, err := os.Stat(filepath.Join(filepath.Dir(path), name))
			if err != nil {
				t.Fatal(err)
			}
			n += fi.Size()
		}
		return n
	}
	hs := core.HardState{Term: 1, Vote: "n1"}
	var maxSize int64
	var last uint64
	for round := range 200 {
		ents := walEntries(1, last+1, last+20)
		last += 20
		hs.Commit = last
		if err := saveRecord(s, hs, ents, true, false); err != nil {
			t.Fatal(err)
		}
		if round%10 == 9 {
			// Keep a tail of 20 entries after the snapshot.
			snap := core.Snapshot{Index: last - 20, Term: 1, Data: []byte(fmt.Sprint("state@", last-20))}
			if err := saveSnapshot(s, snap, hs, walEntries(1, last-19, last), true); err != nil {
				t.Fatal(err)
			}
		}
		maxSize = max(maxSize, dirSize())
	}
	// Ten rounds of 20 entries of ~60 bytes each, plus the snapshot.
	if maxSize > 20<<10 {
		t.Errorf("WAL grew to %d bytes across 4000 entries with a snapshot every 200", maxSize)
	}
	s2, err := OpenFileStorage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	_, snap, log, err := loadWALSnapshot(s2)
	if err != nil {
		t.Fatal(err)
	}
	if snap == nil || snap.Index != last-20 || len(log) != 20 || log[19].Index != last {
		t.Fatalf("replayed snapshot %+v and %d entries", snap, len(log))
	}
}
