package history

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"unsafe"
)

// ParseError reports a line of a history that cannot be read. Line is
// 1-based. File is the path given to ReadFile, or empty for Read.
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("history line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("%s line %d: %s", e.File, e.Line, e.Msg)
}

// ReadFile reads the JSONL history at path; see Read. A *ParseError names
// the file and the line.
//
// A large regular file is mapped into memory rather than copied into it
// (where the platform allows): a fresh buffer the size of the file costs
// more to fault in than the copy itself. If the file shrinks while it is
// being read, ReadFile returns an error saying so.
func ReadFile(path string) ([]Op, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() >= mapMinSize {
		if data, unmap, err := mapFile(f, fi.Size()); err == nil {
			defer unmap()
			return parseMapped(data, path)
		}
	}
	return read(f, path)
}

// mapMinSize is the smallest file ReadFile maps; a smaller one is read.
// Tests lower it.
var mapMinSize int64 = 4 * chunkSize

// parseMapped is parse over a mapped file. Reading a page the file no
// longer has (it was truncated) faults; the goroutines that read data
// turn the fault into a panic (debug.SetPanicOnFault), which becomes an
// error here. Nothing parse returns refers to data.
func parseMapped(data []byte, name string) (ops []Op, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if f, ok := v.(interface{ Addr() uintptr }); ok && inside(data, f.Addr()) {
			ops, err = nil, fmt.Errorf("history: %s shrank while it was read", displayName(name))
			return
		}
		panic(v)
	}()
	return parse(data, name, true)
}

// inside reports whether addr is the address of a byte of b.
func inside(b []byte, addr uintptr) bool {
	if len(b) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return addr >= start && addr-start < uintptr(len(b))
}

// Read reads a JSONL history: one JSON object per line, as a Recorder writes
// them. Blank lines are skipped. Lines may be of any length. Unknown fields
// are ignored; "process", "type", "f" and "time" are required.
//
// A torn last line — no trailing newline and not parsable as JSON, as a
// crash in the middle of a write leaves it — is ignored when a good line
// came before it or it starts like a record (`{"`). So an input with
// content but no record at all, such as a binary file, is an error naming
// its first line, never an empty history. Any other bad line
// is an error of type *ParseError naming the line, including lines that
// parse but are not a well-formed op: an unknown type, an empty f, a
// negative time, or a process that is neither a non-negative integer nor
// "nemesis".
//
// Read does not check how ops pair up; see Validate. It holds the whole
// input in memory while it decodes it, a large input in chunks decoded in
// parallel (GOMAXPROCS goroutines); the result, errors included, is that of
// decoding the lines in order.
func Read(r io.Reader) ([]Op, error) { return read(r, "") }

func read(r io.Reader, name string) ([]Op, error) {
	data, rerr := readAll(r)
	if rerr != nil {
		// Read the complete lines that came before the failure, then
		// report it.
		data = data[:bytes.LastIndexByte(data, '\n')+1]
		ops, err := parse(data, name, false)
		if err != nil {
			return ops, err
		}
		return ops, fmt.Errorf("history: read %s: %w", displayName(name), rerr)
	}
	return parse(data, name, false)
}

// readAll reads r to the end into one buffer, sized up front when r tells
// its size (a file, a bytes.Reader).
func readAll(r io.Reader) ([]byte, error) {
	size := 0
	switch r := r.(type) {
	case *os.File:
		if fi, err := r.Stat(); err == nil && fi.Mode().IsRegular() {
			size = int(fi.Size())
		}
	case interface{ Len() int }:
		size = r.Len()
	}
	buf := make([]byte, 0, size+1) // +1: see the end without growing
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// chunkSize is the amount of a history that one goroutine decodes at a
// time; a smaller history is decoded by the caller alone.
const chunkSize = 1 << 20

// chunk is a run of whole lines of a history, decoded by one goroutine into
// ops[first:first+lines].
type chunk struct {
	data  []byte
	line  int // 1-based number of its first line
	first int // index in ops of its first line
	lines int

	n     int         // ops decoded, from ops[first]
	err   *ParseError // the first bad line, if any
	torn  bool        // err is about a last line that is not JSON and lacks its newline
	start bool        // that line starts like a record
}

// parse decodes the lines of data. It splits data into chunks of whole
// lines, decoded in parallel (up to GOMAXPROCS goroutines) each into its
// own part of one slice with a place for every line; the parts are then
// closed up over the blank lines. The result, errors included, is that of
// decoding the lines one after the other. With mapped set, the goroutines
// it starts panic on a fault reading data (see parseMapped), and parse
// panics again with the same value.
func parse(data []byte, name string, mapped bool) ([]Op, error) {
	chunks, ops := splitChunks(data)
	out := make([]Op, ops)
	decodeChunks(chunks, out, name, mapped)

	n := 0
	for i := range chunks {
		c := &chunks[i]
		if c.first != n {
			copy(out[n:], out[c.first:c.first+c.n])
		}
		n += c.n
		if c.err == nil {
			continue
		}
		clear(out[n:])
		if c.torn && (n > 0 || c.start) {
			break // torn last line
		}
		if c.torn {
			c.err.Msg += "; not a torn last line: no op before it and it does not start like one"
		}
		return firstOps(out, n), c.err
	}
	clear(out[n:])
	return firstOps(out, n), nil
}

// splitChunks splits data into chunks of whole lines and counts the lines.
func splitChunks(data []byte) (chunks []chunk, lines int) {
	for line, rest := 1, data; len(rest) > 0; {
		end := len(rest)
		if end > chunkSize {
			if i := bytes.IndexByte(rest[chunkSize:], '\n'); i >= 0 {
				end = chunkSize + i + 1
			}
		}
		c := chunk{data: rest[:end], line: line, first: lines}
		c.lines = bytes.Count(c.data, []byte{'\n'})
		if c.data[len(c.data)-1] != '\n' {
			c.lines++ // the last line, without its newline
		}
		chunks = append(chunks, c)
		line += c.lines
		lines += c.lines
		rest = rest[end:]
	}
	return chunks, lines
}

// firstOps returns out[:n], or nil when n is 0, as a history with no op
// has always been.
func firstOps(out []Op, n int) []Op {
	if n == 0 {
		return nil
	}
	return out[:n]
}

// decodeChunks decodes every chunk into out, in parallel when there are
// several. Chunks after one with a bad line may be left undecoded. A
// worker's panic is raised again in the caller; with mapped set, a fault
// reading a chunk's data makes one (debug.SetPanicOnFault).
func decodeChunks(chunks []chunk, out []Op, name string, mapped bool) {
	workers := min(runtime.GOMAXPROCS(0), len(chunks))
	if workers <= 1 {
		dec := newLineDecoder()
		for i := range chunks {
			if decodeChunk(&chunks[i], out, name, dec); chunks[i].err != nil {
				return
			}
		}
		return
	}
	var (
		next   atomic.Int64
		failed atomic.Int64 // lowest chunk with a bad line, or len(chunks)
		wg     sync.WaitGroup
		mu     sync.Mutex
		panicV any // a worker's panic, raised again in the caller
	)
	failed.Store(int64(len(chunks)))
	for range workers {
		wg.Go(func() {
			if mapped {
				debug.SetPanicOnFault(true) // for this goroutine, which ends here
			}
			defer func() {
				if v := recover(); v != nil {
					mu.Lock()
					panicV = v
					mu.Unlock()
					failed.Store(-1)
				}
			}()
			dec := newLineDecoder()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(chunks)) || i > failed.Load() {
					return
				}
				if decodeChunk(&chunks[i], out, name, dec); chunks[i].err == nil {
					continue
				}
				for {
					f := failed.Load()
					if i >= f || failed.CompareAndSwap(f, i) {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	if panicV != nil {
		panic(panicV)
	}
}

// decodeChunk decodes the lines of c into out[c.first:], stopping at the
// first bad one.
func decodeChunk(c *chunk, out []Op, name string, dec *lineDecoder) {
	dst := out[c.first : c.first+c.lines]
	rest := c.data
	for lineNo := c.line; len(rest) > 0; lineNo++ {
		line := rest
		complete := false
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest, complete = rest[:i], rest[i+1:], true
		} else {
			rest = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		op := &dst[c.n]
		syntax, msg := dec.decode(line, op)
		if msg != "" {
			*op = Op{}
			c.err = &ParseError{File: name, Line: lineNo, Msg: msg}
			c.torn = syntax && !complete
			c.start = startsLikeRecord(line)
			return
		}
		c.n++
	}
}

// startsLikeRecord reports whether a line (trimmed) begins as the Recorder
// begins every line, `{"`, or is a lone `{`: the start of a record cut
// short by a crash rather than some other file.
func startsLikeRecord(line []byte) bool {
	if len(line) == 0 || line[0] != '{' {
		return false
	}
	rest := bytes.TrimLeft(line[1:], " \t\r")
	return len(rest) == 0 || rest[0] == '"'
}

func displayName(name string) string {
	if name == "" {
		return "history"
	}
	return name
}
