package crdt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline-io/faultline/targets/crdt/core"
	"github.com/faultline-io/faultline/targets/seam"
)

func counterState(t *testing.T, node string, deltas ...int64) core.State {
	t.Helper()
	st, err := core.NewState(core.KindCounter)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deltas {
		st.Counter.Add(node, d)
	}
	return st
}

func setState(t *testing.T, node string, elems ...int64) core.State {
	t.Helper()
	st, err := core.NewState(core.KindSet)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range elems {
		st.Set.Add(e, fmt.Sprintf("%s:%d", node, i+1), core.Bugs{})
	}
	return st
}

// sameStates compares states by their encoding (what the log keeps).
func sameStates(t *testing.T, got, want map[string]core.State) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Fatalf("states\n %s\nwant\n %s", g, w)
	}
}

func openStorage(t *testing.T, dir string) (*Storage, map[string]core.State) {
	t.Helper()
	s, state, err := OpenStorage(dir, seam.NewDisk())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, state
}

func TestStorageRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // created by OpenStorage
	s, state := openStorage(t, dir)
	if len(state) != 0 {
		t.Fatalf("a new log holds %d keys", len(state))
	}
	want := map[string]core.State{
		"counter/k1": counterState(t, "n1", 3, -2),
		"set/k2":     setState(t, "n1", 7, 8),
	}
	if err := s.Save(want); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(nil); err != nil { // nothing changed: nothing written
		t.Fatal(err)
	}
	want["counter/k1"] = counterState(t, "n1", 3, -2, 5)
	if err := s.Save(map[string]core.State{"counter/k1": want["counter/k1"]}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, StateFile))
	if n := bytes.Count(b, []byte("\n")); n != 2 {
		t.Errorf("log has %d records, want 2 (one per non-empty Save):\n%s", n, b)
	}
	_, got := openStorage(t, dir)
	sameStates(t, got, want)
	if v := got["counter/k1"].Counter.Value(); v != 6 {
		t.Errorf("counter reads %d after reopening, want 6 (the latest record)", v)
	}
}

// Save returns only once its record is fsynced: with the disk seam
// holding unsynced writes in memory (what a lose-unsynced kill loses),
// another open of the directory, as after a kill, still sees every save.
func TestStorageSaveIsDurable(t *testing.T) {
	dir := t.TempDir()
	disk := seam.NewDisk()
	if err := disk.SetLoseUnsynced(true); err != nil {
		t.Fatal(err)
	}
	s, _, err := OpenStorage(dir, disk)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]core.State{"counter/a": counterState(t, "n2", 4)}
	if err := s.Save(want); err != nil {
		t.Fatal(err)
	}
	if st := disk.State(); st.UnsyncedBytes != 0 || st.Syncs == 0 {
		t.Errorf("after Save: %+v, want every byte synced", st)
	}
	_, got, err := OpenStorage(dir, seam.NewDisk()) // s never closed: a kill
	if err != nil {
		t.Fatal(err)
	}
	sameStates(t, got, want)

	disk.SetEIO(true)
	if err := s.Save(map[string]core.State{"counter/a": counterState(t, "n2", 4, 1)}); err == nil {
		t.Error("Save with a failing fsync returned nil")
	}
}

func TestStorageTornLastLine(t *testing.T) {
	for name, tail := range map[string]string{
		"mid-record": `{"counter/k1":{"counter":{"p":{"n1"`,
		"one byte":   `{`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			good, _ := json.Marshal(map[string]core.State{"counter/k1": counterState(t, "n1", 2)})
			good = append(good, '\n')
			path := filepath.Join(dir, StateFile)
			if err := os.WriteFile(path, append(append([]byte{}, good...), tail...), 0o644); err != nil {
				t.Fatal(err)
			}
			s, state := openStorage(t, dir)
			if len(state) != 1 || state["counter/k1"].Counter.Value() != 2 {
				t.Fatalf("restored %+v, want counter/k1 = 2 from the whole record", state)
			}
			if b, _ := os.ReadFile(path); !bytes.Equal(b, good) {
				t.Fatalf("log after open:\n%q\nwant the torn tail truncated:\n%q", b, good)
			}
			// A record saved after the truncation is whole on the next open.
			if err := s.Save(map[string]core.State{"set/k2": setState(t, "n1", 1)}); err != nil {
				t.Fatal(err)
			}
			s.Close()
			_, state = openStorage(t, dir)
			if len(state) != 2 || state["set/k2"].Set == nil {
				t.Fatalf("after a save and reopen: %+v, want both keys", state)
			}
		})
	}
	// A torn first (and only) record leaves an empty log.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, StateFile), []byte(`{"cou`), 0o644)
	if _, state := openStorage(t, dir); len(state) != 0 {
		t.Errorf("restored %+v from a torn only record", state)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, StateFile)); len(b) != 0 {
		t.Errorf("log holds %q, want it truncated to nothing", b)
	}
}

func TestStorageBadRecordBeforeTheLast(t *testing.T) {
	dir := t.TempDir()
	rec := func(v int64) string {
		b, _ := json.Marshal(map[string]core.State{"counter/k": counterState(t, "n1", v)})
		return string(b) + "\n"
	}
	body := rec(1) + "{not json\n" + rec(2)
	path := filepath.Join(dir, StateFile)
	os.WriteFile(path, []byte(body), 0o644)
	_, _, err := OpenStorage(dir, seam.NewDisk())
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), path) {
		t.Fatalf("open: %v, want an error naming %s line 2", err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != body {
		t.Errorf("a log that failed to open was changed:\n%q", b)
	}
}

// Past compactAt, Save rewrites the log as one record of every key's
// latest state: the log stops growing with the saves, and a reopen
// restores every key as last saved, including the keys of the save that
// triggered the compaction and of those after it.
func TestStorageCompaction(t *testing.T) {
	old := compactAt
	compactAt = 2 << 10
	t.Cleanup(func() { compactAt = old })

	dir := t.TempDir()
	s, _ := openStorage(t, dir)
	path := filepath.Join(dir, StateFile)
	want := map[string]core.State{}
	var maxSize int64
	compactions := 0
	prev := int64(0)
	for i := range 400 {
		k := fmt.Sprintf("counter/k%d", i%7)
		st := counterState(t, "n1", int64(i+1))
		if i%5 == 0 {
			k = fmt.Sprintf("set/s%d", i%3)
			st = setState(t, "n1", int64(i), int64(i+1))
		}
		want[k] = st
		if err := s.Save(map[string]core.State{k: st}); err != nil {
			t.Fatalf("save %d: %v", i, err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() < prev {
			compactions++
		}
		prev = fi.Size()
		maxSize = max(maxSize, fi.Size())
	}
	if compactions < 5 {
		t.Errorf("%d compactions in 400 saves past %d bytes", compactions, compactAt)
	}
	if maxSize > compactAt+1<<10 {
		t.Errorf("log grew to %d bytes, compacting past %d", maxSize, compactAt)
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("compaction left its temporary file: %v", err)
	}
	s.Close()
	_, got := openStorage(t, dir)
	sameStates(t, got, want)
}
