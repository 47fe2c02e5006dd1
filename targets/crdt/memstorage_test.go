package crdt

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/faultline-io/faultline/targets/crdt/core"
)

// MemStorage writes the very log Storage writes for the same saves, and
// restores the same states from it.
func TestMemStorageMatchesStorage(t *testing.T) {
	dir := t.TempDir()
	fs, _ := openStorage(t, dir)
	var ms MemStorage
	if st, err := ms.Open(); err != nil || len(st) != 0 {
		t.Fatalf("a new MemStorage opens with %v, %v", st, err)
	}
	want := map[string]core.State{}
	for i := range 20 {
		k := fmt.Sprintf("counter/k%d", i%3)
		st := counterState(t, "n1", int64(i+1))
		if i%4 == 0 {
			k, st = fmt.Sprintf("set/s%d", i%2), setState(t, "n2", int64(i), int64(i+2))
		}
		want[k] = st
		for _, s := range []Saver{fs, &ms} {
			if err := s.Save(map[string]core.State{k: st}); err != nil {
				t.Fatal(err)
			}
		}
		if err := fs.Save(nil); err != nil {
			t.Fatal(err)
		}
		if err := ms.Save(nil); err != nil {
			t.Fatal(err)
		}
	}
	fs.Close()
	file, _ := os.ReadFile(filepath.Join(dir, StateFile))
	if !bytes.Equal(file, ms.Bytes()) {
		t.Fatalf("logs differ:\nfile   %q\nmemory %q", file, ms.Bytes())
	}
	got, err := ms.Open()
	if err != nil {
		t.Fatal(err)
	}
	sameStates(t, got, want)
}

// A save whose sync fails leaves its record written but not durable: a
// crash keeps it (the page cache), a power loss (LoseUnsynced) loses it.
func TestMemStorageSyncFailure(t *testing.T) {
	var ms MemStorage
	first := map[string]core.State{"counter/a": counterState(t, "n1", 1)}
	if err := ms.Save(first); err != nil {
		t.Fatal(err)
	}
	ms.SyncErr = syscall.EIO
	second := map[string]core.State{"counter/a": counterState(t, "n1", 1, 2)}
	if err := ms.Save(second); err != syscall.EIO {
		t.Fatalf("save with a failing sync: %v, want EIO", err)
	}
	got, err := ms.Open() // the process crashed and restarted
	if err != nil {
		t.Fatal(err)
	}
	sameStates(t, got, second)
	ms.LoseUnsynced() // then the machine lost power
	got, _ = ms.Open()
	sameStates(t, got, first)
	ms.SyncErr = nil
	if err := ms.Save(second); err != nil {
		t.Fatal(err)
	}
	ms.LoseUnsynced()
	got, _ = ms.Open()
	sameStates(t, got, second)
}

// Past compactAt MemStorage rewrites its log as one synced record of every
// key, as Storage does; with a failing sync the log is left as it was.
func TestMemStorageCompaction(t *testing.T) {
	old := compactAt
	compactAt = 2 << 10
	t.Cleanup(func() { compactAt = old })
	var ms MemStorage
	want := map[string]core.State{}
	maxLen, compactions, prev := 0, 0, 0
	for i := range 300 {
		k := fmt.Sprintf("counter/k%d", i%7)
		want[k] = counterState(t, "n1", int64(i+1))
		if err := ms.Save(map[string]core.State{k: want[k]}); err != nil {
			t.Fatal(err)
		}
		if n := len(ms.Bytes()); n < prev {
			compactions++
		} else {
			maxLen = max(maxLen, n)
		}
		prev = len(ms.Bytes())
	}
	if compactions < 5 || int64(maxLen) > compactAt+1<<10 {
		t.Errorf("%d compactions, log up to %d bytes, compacting past %d", compactions, maxLen, compactAt)
	}
	got, err := ms.Open()
	if err != nil {
		t.Fatal(err)
	}
	sameStates(t, got, want)

	for len(ms.Bytes()) <= int(compactAt) {
		if err := ms.Save(map[string]core.State{"counter/k0": counterState(t, "n1", 1)}); err != nil {
			t.Fatal(err)
		}
	}
	before := ms.Bytes()
	ms.SyncErr = syscall.EIO
	if err := ms.Save(map[string]core.State{"counter/k0": counterState(t, "n1", 2)}); err != syscall.EIO {
		t.Fatalf("compaction with a failing sync: %v, want EIO", err)
	}
	if !bytes.Equal(before, ms.Bytes()) {
		t.Error("a failed compaction changed the log")
	}
}
