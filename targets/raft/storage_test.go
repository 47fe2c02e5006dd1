package raft

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/faultline-io/faultline/targets/raft/core"
)

// storageImpl opens a Storage and reopens it as a restarted node would.
type storageImpl struct {
	name   string
	open   func(t *testing.T) Storage
	reopen func(t *testing.T, s Storage) Storage
}

func storageImpls() []storageImpl {
	return []storageImpl{
		{
			name: "file",
			open: func(t *testing.T) Storage {
				s, err := OpenFileStorage(filepath.Join(t.TempDir(), "d", WALFile))
				if err != nil {
					t.Fatal(err)
				}
				return s
			},
			reopen: func(t *testing.T, s Storage) Storage {
				path := s.(*FileStorage).path
				s.Close()
				s2, err := OpenFileStorage(path)
				if err != nil {
					t.Fatal(err)
				}
				return s2
			},
		},
		{
			name:   "mem",
			open:   func(*testing.T) Storage { return &MemStorage{} },
			reopen: func(_ *testing.T, s Storage) Storage { return s },
		},
	}
}

// TestStorageConformance runs the same checks against every Storage.
func TestStorageConformance(t *testing.T) {
	for _, impl := range storageImpls() {
		t.Run(impl.name, func(t *testing.T) {
			s := impl.open(t)
			if recs, err := s.ReadAll(); err != nil || len(recs) != 0 {
				t.Fatalf("fresh storage: %d records, %v", len(recs), err)
			}
			want := [][]byte{[]byte("one"), {}, []byte("three")}
			for _, r := range want {
				if err := s.Append(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
			s = impl.reopen(t, s)
			got, err := s.ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, want, func(a, b []byte) bool { return string(a) == string(b) }) {
				t.Fatalf("records %q, want %q", got, want)
			}
			if err := s.Append([]byte("four")); err != nil {
				t.Fatal(err)
			}
			s.Sync()
			s = impl.reopen(t, s)
			got, _ = s.ReadAll()
			if len(got) != 4 || string(got[3]) != "four" {
				t.Fatalf("after a second session: %q", got)
			}
			s.Close()
		})
	}
}

func TestFileStorageTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), WALFile)
	s, err := OpenFileStorage(path)
	if err != nil {
		t.Fatal(err)
	}
	s.ReadAll()
	s.Append([]byte("kept"))
	s.Append([]byte("also kept"))
	s.Sync()
	s.Close()
	// A crash in the middle of a third append: a frame cut short.
	whole := frame([]byte("torn record"))
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(whole[:len(whole)-3])
	f.Close()
	for _, tail := range [][]byte{nil, {0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, 5}} {
		if tail != nil {
			f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			f.Write(tail)
			f.Close()
		}
		s, err = OpenFileStorage(path)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := s.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 || string(recs[1]) != "also kept" {
			t.Fatalf("records after torn tail: %q", recs)
		}
		s.Append([]byte("next"))
		s.Sync()
		s.Close()
		s, _ = OpenFileStorage(path)
		recs, _ = s.ReadAll()
		s.Close()
		if len(recs) != 3 || string(recs[2]) != "next" {
			t.Fatalf("append after truncation: %q", recs)
		}
		// Reset to two records for the next case.
		os.Truncate(path, int64(len(frame([]byte("kept")))+len(frame([]byte("also kept")))))
	}
	// A flipped bit in the last record: dropped too.
	data, _ := os.ReadFile(path)
	data[len(data)-1] ^= 1
	os.WriteFile(path, data, 0o644)
	s, _ = OpenFileStorage(path)
	recs, _ := s.ReadAll()
	s.Close()
	if len(recs) != 1 {
		t.Fatalf("corrupt last record kept: %q", recs)
	}
}

// WAL replay: truncating records replace a suffix; hard state is the latest.
func TestWALReplay(t *testing.T) {
	s := &MemStorage{}
	e := func(term, index uint64) core.Entry {
		return core.Entry{Term: term, Index: index, Data: []byte{byte(index)}}
	}
	steps := []struct {
		hs   core.HardState
		ents []core.Entry
	}{
		{core.HardState{Term: 1, Vote: "n1"}, []core.Entry{e(1, 1), e(1, 2), e(1, 3)}},
		{core.HardState{Term: 2, Vote: "n2", Commit: 1}, nil},
		{core.HardState{Term: 2, Vote: "n2", Commit: 2}, []core.Entry{e(2, 3), e(2, 4)}},
	}
	for _, st := range steps {
		if err := saveReady(s, st.hs, st.ents, true); err != nil {
			t.Fatal(err)
		}
	}
	hs, log, err := loadWAL(s)
	if err != nil {
		t.Fatal(err)
	}
	if hs != (core.HardState{Term: 2, Vote: "n2", Commit: 2}) {
		t.Errorf("hard state %+v", hs)
	}
	want := []core.Entry{e(1, 1), e(1, 2), e(2, 3), e(2, 4)}
	if len(log) != len(want) {
		t.Fatalf("log %v, want %v", log, want)
	}
	for i := range want {
		if log[i].Term != want[i].Term || log[i].Index != want[i].Index {
			t.Fatalf("log %v, want %v", log, want)
		}
	}
	// Unsynced records vanish with a crash that loses them.
	s.Append([]byte(`{"ents":[{"term":2,"index":5}]}`))
	s.LoseUnsynced()
	if _, log, _ := loadWAL(s); len(log) != 4 {
		t.Fatalf("unsynced record survived: %d entries", len(log))
	}
}
