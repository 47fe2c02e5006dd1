package seam

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func openFile(t *testing.T, d *Disk) (*File, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wal")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return d.Wrap(path, f), path
}

func contents(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDiskNormalModeWritesThrough(t *testing.T) {
	d := NewDisk()
	f, path := openFile(t, d)
	if _, err := f.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	// Without sync the write is in the page cache: a kill keeps it.
	if got := contents(t, path); got != "a" {
		t.Fatalf("file holds %q, want %q", got, "a")
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if st := d.State(); st.Syncs != 1 || st.UnsyncedBytes != 0 {
		t.Fatalf("state %+v", st)
	}
}

// A simulated crash is dropping the File without Close: the process
// memory is gone, the file is what the kernel has.
func TestDiskLoseUnsyncedCrashKeepsOnlySynced(t *testing.T) {
	d := NewDisk()
	f, path := openFile(t, d)
	f.Write([]byte("before|"))
	if err := d.SetLoseUnsynced(true); err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("synced|"))
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("lost"))
	if f.Unsynced() != 4 || d.State().UnsyncedBytes != 4 {
		t.Fatalf("unsynced %d, state %+v; want 4 bytes held", f.Unsynced(), d.State())
	}
	// Crash: restart from the file.
	if got := contents(t, path); got != "before|synced|" {
		t.Fatalf("after crash the file holds %q, want %q", got, "before|synced|")
	}
}

func TestDiskLoseUnsyncedOffHandsBufferToFile(t *testing.T) {
	d := NewDisk()
	f, path := openFile(t, d)
	d.SetLoseUnsynced(true)
	f.Write([]byte("x"))
	f.Write([]byte("y"))
	if got := contents(t, path); got != "" {
		t.Fatalf("file holds %q while buffering", got)
	}
	if err := d.SetLoseUnsynced(false); err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("z"))
	if got := contents(t, path); got != "xyz" {
		t.Fatalf("file holds %q, want writes in order %q", got, "xyz")
	}
}

func TestDiskCloseFlushes(t *testing.T) {
	d := NewDisk()
	f, path := openFile(t, d)
	d.SetLoseUnsynced(true)
	f.Write([]byte("q"))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := contents(t, path); got != "q" {
		t.Fatalf("a clean close must hand writes to the kernel; file holds %q", got)
	}
	if st := d.State(); st.UnsyncedBytes != 0 {
		t.Fatalf("closed file still counted: %+v", st)
	}
}

func TestDiskEIO(t *testing.T) {
	d := NewDisk()
	f, path := openFile(t, d)
	d.SetLoseUnsynced(true)
	f.Write([]byte("doomed"))
	d.SetEIO(true)
	err := f.Sync()
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("Sync with EIO on returned %v, want EIO", err)
	}
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Op != "fsync" {
		t.Fatalf("error %v is not an fsync *os.PathError", err)
	}
	if st := d.State(); st.FailedSyncs != 1 || !st.EIO || st.UnsyncedBytes != 0 {
		t.Fatalf("state %+v: want one failed sync and the buffer discarded", st)
	}
	// Discarded: not on disk even after the fault is cleared.
	d.SetEIO(false)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := contents(t, path); got != "" {
		t.Fatalf("file holds %q; data that failed to sync must be gone", got)
	}
	f.Write([]byte("ok"))
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := contents(t, path); got != "ok" {
		t.Fatalf("file holds %q after recovery", got)
	}
}
