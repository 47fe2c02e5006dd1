package history

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// FlushInterval is how often a Recorder's background goroutine writes what
// was appended and fsyncs the file. It is half the 100 ms durability bound of
// DESIGN.md §4, leaving the other half for the write and the fsync.
const FlushInterval = 50 * time.Millisecond

// flushThreshold is the buffered size at which Append asks the background
// goroutine to flush before the next tick, bounding memory under bursts.
const flushThreshold = 4 << 20

// maxSpare is the largest buffer kept for reuse after a flush.
const maxSpare = 16 << 20

// ErrClosed is returned by Append and Sync after Close.
var ErrClosed = errors.New("history: recorder is closed")

// Recorder appends ops to a JSONL history file. It is safe for concurrent use.
//
// Append only encodes into memory; a background goroutine writes and fsyncs
// at least every FlushInterval, so after a crash of the process (or of the
// machine, given a disk that honours fsync) at most the last ~100 ms of ops
// are missing, and the file ends with whole lines or one torn last line,
// which Read ignores.
//
// The first write or fsync error is sticky: every later Append, Sync and
// Close returns it, and nothing more is written, so a torn line can only
// ever be the last one.
type Recorder struct {
	path string
	file *os.File

	mu     sync.Mutex // guards buf, next, err, closed
	buf    []byte     // encoded lines not yet handed to the flusher
	next   int64      // index of the next op
	err    error      // first write or sync error
	closed bool

	flushMu sync.Mutex // serializes flushes, so lines reach the file in index order; guards spare
	spare   []byte

	kick    chan struct{} // asks the flusher for an early flush
	done    chan struct{} // closed by Close to stop the flusher
	stopped chan struct{} // closed when the flusher has exited

	closeOnce sync.Once
	closeErr  error

	pool sync.Pool // *[]byte scratch buffers for encoding outside the lock
}

// NewRecorder creates (or truncates) the file at path and starts the
// background flusher. The caller must Close the recorder.
func NewRecorder(path string) (*Recorder, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("history: create recorder: %w", err)
	}
	r := &Recorder{
		path:    path,
		file:    f,
		buf:     make([]byte, 0, 64<<10),
		spare:   make([]byte, 0, 64<<10),
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	r.pool.New = func() any { b := make([]byte, 0, 256); return &b }
	go r.run()
	return r, nil
}

// Path returns the file the recorder writes.
func (r *Recorder) Path() string { return r.path }

// Append assigns op the next index (0, 1, 2, … in the order Append calls are
// serialized, which is also the order of lines in the file), buffers it, and
// returns it with its Index set. The op's own Index is ignored.
//
// Append rejects, without consuming an index, an op that Read would reject:
// an unknown type, an empty f, a negative time, a process below Nemesis, or
// a Value that is not valid JSON. A Value spanning several lines is
// compacted. Append never waits for the disk.
func (r *Recorder) Append(op Op) (Op, error) {
	if msg := op.check(); msg != "" {
		return op, fmt.Errorf("history: append: %s", msg)
	}
	v, err := normalizeValue(op.Value)
	if err != nil {
		return op, fmt.Errorf("history: append: %w", err)
	}
	op.Value = v

	// Encode everything but the index outside the lock.
	bp := r.pool.Get().(*[]byte)
	body := appendBody((*bp)[:0], &op)

	r.mu.Lock()
	if r.closed || r.err != nil {
		err := r.err
		r.mu.Unlock()
		r.pool.Put(bp)
		if err == nil {
			err = ErrClosed
		}
		return op, err
	}
	op.Index = r.next
	r.next++
	r.buf = append(r.buf, `{"index":`...)
	r.buf = strconv.AppendInt(r.buf, op.Index, 10)
	r.buf = append(r.buf, ',')
	r.buf = append(r.buf, body...)
	r.buf = append(r.buf, '\n')
	full := len(r.buf) >= flushThreshold
	r.mu.Unlock()

	*bp = body
	r.pool.Put(bp)
	if full {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
	return op, nil
}

// Len returns the number of ops appended so far.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int(r.next)
}

// Sync writes every op appended before the call and fsyncs the file.
func (r *Recorder) Sync() error {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return r.flush()
}

// Close stops the background flusher, writes and fsyncs what remains and
// closes the file. It is idempotent: later calls return the first call's
// result.
func (r *Recorder) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		r.mu.Unlock()
		close(r.done)
		<-r.stopped
		err := r.flush()
		if cerr := r.file.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("history: close %s: %w", r.path, cerr)
		}
		r.closeErr = err
	})
	return r.closeErr
}

// run is the background flusher.
func (r *Recorder) run() {
	defer close(r.stopped)
	t := time.NewTicker(FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-r.done:
			return
		case <-t.C:
		case <-r.kick:
		}
		_ = r.flush() // the error is sticky and reported by Append, Sync and Close
	}
}

// flush hands the buffered lines to the file and fsyncs it.
func (r *Recorder) flush() error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()

	r.mu.Lock()
	out := r.buf
	r.buf = r.spare[:0]
	err := r.err
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if len(out) > 0 {
		if _, err = r.file.Write(out); err == nil {
			err = r.file.Sync()
		}
	}
	if cap(out) <= maxSpare {
		r.spare = out[:0]
	} else {
		r.spare = make([]byte, 0, 64<<10)
	}
	if err != nil {
		err = fmt.Errorf("history: write %s: %w", r.path, err)
		r.mu.Lock()
		if r.err == nil {
			r.err = err
		}
		err = r.err
		r.mu.Unlock()
	}
	return err
}
