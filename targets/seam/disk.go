package seam

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
)

// DiskState is the fault state of a Disk and what it has done.
type DiskState struct {
	// LoseUnsynced keeps writes in process memory until Sync.
	LoseUnsynced bool `json:"lose_unsynced"`
	// EIO makes every Sync fail with EIO.
	EIO bool `json:"eio"`
	// UnsyncedBytes are the bytes held in memory now, lost on a kill.
	UnsyncedBytes int64 `json:"unsynced_bytes"`
	// Syncs and FailedSyncs count Sync calls since the process started.
	Syncs       int64 `json:"syncs"`
	FailedSyncs int64 `json:"failed_syncs"`
}

// WriteSyncer is the file under a File: an *os.File in a node.
type WriteSyncer interface {
	io.Writer
	Sync() error
}

// Disk is the storage seam of one node: it switches every File it wrapped
// between passing writes through and keeping unsynced writes in memory, and
// can make Sync fail with EIO. It is safe for concurrent use.
type Disk struct {
	mu           sync.Mutex
	loseUnsynced bool
	eio          bool
	syncs        int64
	failed       int64
	files        map[*File]struct{}
}

// NewDisk returns a disk in its normal mode: writes go to the files and
// Sync is fsync.
func NewDisk() *Disk { return &Disk{files: map[*File]struct{}{}} }

// File is one file written through a Disk. Its methods may be called
// concurrently with the Disk's but, like an *os.File, it expects one writer.
type File struct {
	d    *Disk
	name string
	w    WriteSyncer
	buf  []byte // unsynced writes kept in memory (lose-unsynced mode)
}

// Wrap returns w as a File of d; name is used in errors. Closing the File
// does not close w unless w is an io.Closer.
func (d *Disk) Wrap(name string, w WriteSyncer) *File {
	f := &File{d: d, name: name, w: w}
	d.mu.Lock()
	d.files[f] = struct{}{}
	d.mu.Unlock()
	return f
}

// Write appends p. In lose-unsynced mode p is kept in memory until Sync;
// otherwise it goes to the underlying file at once (after anything still
// buffered, so order is kept).
func (f *File) Write(p []byte) (int, error) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if f.d.loseUnsynced {
		f.buf = append(f.buf, p...)
		return len(p), nil
	}
	if err := f.flushLocked(); err != nil {
		return 0, err
	}
	return f.w.Write(p)
}

// flushLocked hands buffered writes to the underlying file, without fsync.
func (f *File) flushLocked() error {
	if len(f.buf) == 0 {
		return nil
	}
	n, err := f.w.Write(f.buf)
	f.buf = f.buf[n:]
	if len(f.buf) == 0 {
		f.buf = nil
	}
	return err
}

// Sync makes every write so far durable: buffered writes go to the file,
// then the file is fsynced. With EIO on it returns an *os.PathError
// wrapping syscall.EIO, makes nothing durable and discards buffered writes.
func (f *File) Sync() error {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	f.d.syncs++
	if f.d.eio {
		f.d.failed++
		f.buf = nil
		return &os.PathError{Op: "fsync", Path: f.name, Err: syscall.EIO}
	}
	if err := f.flushLocked(); err != nil {
		f.d.failed++
		return err
	}
	if err := f.w.Sync(); err != nil {
		f.d.failed++
		return err
	}
	return nil
}

// Unsynced returns how many bytes are held in memory.
func (f *File) Unsynced() int {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	return len(f.buf)
}

// Close hands buffered writes to the file (a process that closes a file
// cleanly has given its writes to the kernel), forgets the file and closes
// the underlying writer if it is an io.Closer. A kill, unlike Close, loses
// the buffer.
func (f *File) Close() error {
	f.d.mu.Lock()
	err := f.flushLocked()
	delete(f.d.files, f)
	f.d.mu.Unlock()
	if c, ok := f.w.(io.Closer); ok {
		err = errors.Join(err, c.Close())
	}
	return err
}

// SetLoseUnsynced switches lose-unsynced mode. Switching it off hands every
// File's buffered writes to its file, without fsync, and returns the first
// error doing so.
func (d *Disk) SetLoseUnsynced(on bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.loseUnsynced = on
	if on {
		return nil
	}
	var errs []error
	for f := range d.files {
		if err := f.flushLocked(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
		}
	}
	return errors.Join(errs...)
}

// SetEIO switches EIO injection on Sync.
func (d *Disk) SetEIO(on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.eio = on
}

// State returns the disk's mode and counters.
func (d *Disk) State() DiskState {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := DiskState{LoseUnsynced: d.loseUnsynced, EIO: d.eio, Syncs: d.syncs, FailedSyncs: d.failed}
	for f := range d.files {
		st.UnsyncedBytes += int64(len(f.buf))
	}
	return st
}
