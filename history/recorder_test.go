package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestRecorderConcurrentAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	r, err := NewRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	const workers, perWorker = 16, 3000
	returned := make([][]int64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				op, err := r.Append(Op{
					Process: Process(w), Type: Invoke, F: "write", Key: "k" + strconv.Itoa(i%7),
					Value: MustValue(i), Time: int64(i),
				})
				if err != nil {
					t.Error(err)
					return
				}
				returned[w] = append(returned[w], op.Index)
				if i%1000 == 999 {
					if err := r.Sync(); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if got := r.Len(); got != workers*perWorker {
		t.Errorf("Len = %d, want %d", got, workers*perWorker)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	ops, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != workers*perWorker {
		t.Fatalf("read %d ops, want %d", len(ops), workers*perWorker)
	}
	seen := make(map[[2]int]bool)
	for i, op := range ops {
		if op.Index != int64(i) {
			t.Fatalf("line %d has index %d: indices must be dense and in file order", i+1, op.Index)
		}
		var v int
		if err := json.Unmarshal(op.Value, &v); err != nil {
			t.Fatal(err)
		}
		id := [2]int{int(op.Process), v}
		if seen[id] {
			t.Fatalf("op %v appears twice", id)
		}
		seen[id] = true
		if op.Key != "k"+strconv.Itoa(v%7) || op.Time != int64(v) {
			t.Fatalf("op %d corrupted: %+v", i, op)
		}
	}
	// Each worker's own appends got increasing indices, and the index
	// Append returned is the line the op landed on.
	for w, idx := range returned {
		for i, x := range idx {
			if i > 0 && x <= idx[i-1] {
				t.Fatalf("worker %d: index %d after %d", w, x, idx[i-1])
			}
			if got := ops[x]; got.Process != Process(w) || string(got.Value) != strconv.Itoa(i) {
				t.Fatalf("Append returned index %d for worker %d op %d, but that line holds %+v", x, w, i, got)
			}
		}
	}
}

func TestRecorderRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	r, err := NewRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	in := []Op{
		{Process: 3, Type: Invoke, F: "cas", Key: "k1", Value: json.RawMessage(`[1,2]`), Time: 1200345, Node: "n2"},
		{Process: 3, Type: OK, F: "cas", Key: "k1", Value: json.RawMessage(`[1,2]`), Time: 1900871, Node: "n2"},
		{Process: Nemesis, Type: Info, F: "partition", Value: json.RawMessage("{\n  \"n1\": [\"n2\", \"n3\"]\n}"), Time: 5000120},
		{Process: 0, Type: Info, F: "read", Time: 7, Error: "timeout: \"quoted\"\n\tback\\slash \x01 \u2028 é 日本 \xff"},
		{Process: 12, Type: Fail, F: "write", Key: "<&>", Value: json.RawMessage(`null`), Time: 0},
		{Process: 30000000, Type: Invoke, F: "read", Key: "k3", Time: 9000000, Node: "n2", Final: "n2"},
		{Process: 30000000, Type: OK, F: "read", Key: "k3", Value: json.RawMessage(`[1,4]`), Time: 9000100, Node: "n2", Final: "n2"},
	}
	for _, op := range in {
		if _, err := r.Append(op); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n"))
	if len(lines) != len(in) {
		t.Fatalf("file has %d lines, want %d:\n%s", len(lines), len(in), raw)
	}
	if want := `{"index":0,"process":3,"type":"invoke","f":"cas","key":"k1","value":[1,2],"time":1200345,"node":"n2"}`; string(lines[0]) != want {
		t.Errorf("line 1 = %s\nwant     %s (DESIGN.md §4)", lines[0], want)
	}
	if want := `{"index":2,"process":"nemesis","type":"info","f":"partition","value":{"n1":["n2","n3"]},"time":5000120}`; string(lines[2]) != want {
		t.Errorf("line 3 = %s\nwant     %s", lines[2], want)
	}
	if want := `{"index":6,"process":30000000,"type":"ok","f":"read","key":"k3","value":[1,4],"time":9000100,"node":"n2","final":"n2"}`; string(lines[6]) != want {
		t.Errorf("line 7 = %s\nwant     %s", lines[6], want)
	}

	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		want := in[i]
		want.Index = int64(i)
		if i == 2 {
			want.Value = json.RawMessage(`{"n1":["n2","n3"]}`)
		}
		if i == 3 {
			want.Error = string([]rune(want.Error)) // invalid UTF-8 becomes U+FFFD
		}
		// Both our reader and encoding/json must decode the line to want.
		var std Op
		if err := json.Unmarshal(lines[i], &std); err != nil {
			t.Fatalf("line %d is not JSON: %v", i+1, err)
		}
		if !reflect.DeepEqual(std, want) {
			t.Errorf("encoding/json decodes line %d to\n%+v\nwant\n%+v", i+1, std, want)
		}
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("Read decodes line %d to\n%+v\nwant\n%+v", i+1, got[i], want)
		}
	}
}

func TestRecorderRejectsMalformedOps(t *testing.T) {
	r, err := NewRecorder(filepath.Join(t.TempDir(), "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	bad := map[string]Op{
		"type":    {Process: 1, Type: "done", F: "read"},
		"f":       {Process: 1, Type: Invoke},
		"time":    {Process: 1, Type: Invoke, F: "read", Time: -1},
		"process": {Process: -2, Type: Invoke, F: "read"},
		"value":   {Process: 1, Type: Invoke, F: "write", Value: json.RawMessage(`{"a":`)},
	}
	for name, op := range bad {
		if _, err := r.Append(op); err == nil {
			t.Errorf("%s: Append accepted %+v", name, op)
		}
	}
	op, err := r.Append(Op{Process: 1, Type: Invoke, F: "read"})
	if err != nil {
		t.Fatal(err)
	}
	if op.Index != 0 || r.Len() != 1 {
		t.Errorf("rejected ops consumed indices: first good op got index %d, Len %d", op.Index, r.Len())
	}
}

func TestRecorderClose(t *testing.T) {
	r, err := NewRecorder(filepath.Join(t.TempDir(), "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Append(Op{Process: 1, Type: Invoke, F: "read"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := r.Append(Op{Process: 1, Type: OK, F: "read"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	if err := r.Sync(); !errors.Is(err, ErrClosed) {
		t.Errorf("Sync after Close = %v, want ErrClosed", err)
	}
	ops, err := ReadFile(r.Path())
	if err != nil || len(ops) != 1 {
		t.Errorf("after Close the file holds %d ops (err %v), want 1", len(ops), err)
	}
}

func TestRecorderTruncates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	if err := os.WriteFile(path, []byte("old contents\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := NewRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); len(b) != 0 {
		t.Errorf("NewRecorder left %q in the file", b)
	}
}

// TestRecorderFlushesInBackground checks that ops reach the file with no
// Sync or Close. It waits for that without asserting how long it takes.
func TestRecorderFlushesInBackground(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	r, err := NewRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Append(Op{Process: 1, Type: Invoke, F: "read"}); err != nil {
		t.Fatal(err)
	}
	for {
		ops, err := ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(ops) == 1 {
			return
		}
		time.Sleep(10 * time.Millisecond) // the test's own deadline bounds this
	}
}

// TestRecorderSurvivesCrash kills a process in the middle of appending and
// checks that what it left is readable: a dense prefix of the ops, holding
// at least every op appended before its last Sync.
func TestRecorderSurvivesCrash(t *testing.T) {
	if path := os.Getenv("FAULTLINE_RECORDER_CRASH"); path != "" {
		crashWhileRecording(path)
		return
	}
	path := filepath.Join(t.TempDir(), "history.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^TestRecorderSurvivesCrash$")
	cmd.Env = append(os.Environ(), "FAULTLINE_RECORDER_CRASH="+path)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("child did not die: %v\n%s", err, out)
	}
	synced, err := strconv.Atoi(string(bytes.TrimSpace(lastLine(out))))
	if err != nil {
		t.Fatalf("child did not report how many ops it synced: %v\n%s", err, out)
	}
	ops, err := ReadFile(path)
	if err != nil {
		t.Fatalf("history left by a crash is unreadable: %v", err)
	}
	if len(ops) < synced {
		t.Errorf("file holds %d ops, but %d were synced before the crash", len(ops), synced)
	}
	for i, op := range ops {
		if op.Index != int64(i) {
			t.Fatalf("op %d has index %d", i, op.Index)
		}
	}
	t.Logf("synced %d, recovered %d", synced, len(ops))
}

func lastLine(b []byte) []byte {
	b = bytes.TrimRight(b, "\n")
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}

func crashWhileRecording(path string) {
	r, err := NewRecorder(path)
	if err != nil {
		fmt.Println(err)
		os.Exit(3)
	}
	append := func(n int) {
		for i := range n {
			if _, err := r.Append(Op{Process: Process(i % 5), Type: Invoke, F: "write", Value: MustValue(i), Time: int64(i)}); err != nil {
				fmt.Println(err)
				os.Exit(3)
			}
		}
	}
	append(5000)
	if err := r.Sync(); err != nil {
		fmt.Println(err)
		os.Exit(3)
	}
	fmt.Println(r.Len())
	append(5000) // buffered, perhaps partly flushed, when the process dies
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}
