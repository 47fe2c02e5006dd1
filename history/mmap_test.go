package history

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"
)

// TestReadFileMapped: ReadFile over a mapped file gives what Read gives
// over its bytes, ops and errors alike (a torn last line, a bad line), and
// the ops outlive the mapping (nothing in them points into it).
func TestReadFileMapped(t *testing.T) {
	defer func(n int64) { mapMinSize = n }(mapMinSize)
	mapMinSize = 1
	data := genHistory(30000, 7) // several chunks
	lines := bytes.SplitAfter(data, []byte{'\n'})
	bad := bytes.Join(lines[:20000], nil)
	bad = append(bad, `{"index":20000,"process":1,"type":"ok","f":"read","value":[1,,2],"time":5}`+"\n"...)
	bad = append(bad, bytes.Join(lines[20000:], nil)...)
	for name, in := range map[string][]byte{
		"whole":    data,
		"torn":     append(bytes.Clone(data), `{"index":30000,"process":3,"ty`...),
		"bad line": bad,
		"one line": lines[0],
	} {
		path := filepath.Join(t.TempDir(), "history.jsonl")
		if err := os.WriteFile(path, in, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(path)
		want, wantErr := Read(bytes.NewReader(in))
		if wantErr != nil {
			wantErr.(*ParseError).File = path
		}
		if !reflect.DeepEqual(err, wantErr) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: ReadFile gives %d ops, %v; Read %d ops, %v", name, len(got), err, len(want), wantErr)
		}
		if name == "bad line" && (err == nil || !strings.Contains(err.Error(), "line 20001:")) {
			t.Errorf("bad line: err = %v, want line 20001", err)
		}
	}
}

// TestReadFileShrinks: a mapped file that shrinks while it is read is an
// error, not a crash.
func TestReadFileShrinks(t *testing.T) {
	data := genHistory(30000, 8)
	path, mapped := mapTemp(t, data)
	if err := os.Truncate(path, 4096); err != nil {
		t.Fatal(err)
	}
	ops, err := parseMapped(mapped, path)
	if err == nil || !strings.Contains(err.Error(), "shrank while it was read") || ops != nil {
		t.Fatalf("got %d ops, %v; want an error saying the file shrank", len(ops), err)
	}
}

// TestDecodeChunksFault: a fault in a decoding goroutine over a mapped
// file (the file shrank after it was split into chunks) reaches the
// caller as a panic with the address, which parseMapped turns into an
// error.
func TestDecodeChunksFault(t *testing.T) {
	data := genHistory(60000, 9)
	path, mapped := mapTemp(t, data)
	chunks, n := splitChunks(mapped)
	if len(chunks) < 3 {
		t.Fatalf("%d chunks; want several", len(chunks))
	}
	if err := os.Truncate(path, int64(len(chunks[0].data))); err != nil {
		t.Fatal(err)
	}
	defer func() {
		v := recover()
		f, ok := v.(interface{ Addr() uintptr })
		if !ok || !inside(mapped, f.Addr()) {
			t.Fatalf("recovered %v; want a fault inside the mapping", v)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	decodeChunks(chunks, make([]Op, n), path, true)
	t.Fatal("decodeChunks returned")
}

// mapTemp writes data to a file under t.TempDir() and maps it (skipping
// the test where files cannot be mapped); the mapping and the file are
// released when the test ends.
func mapTemp(t *testing.T, data []byte) (path string, mapped []byte) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "history.jsonl")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	mapped, unmap, err := mapFile(f, int64(len(data)))
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skip("no mapped files on this platform")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unmap)
	return path, mapped
}
