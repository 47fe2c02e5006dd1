package history

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadJepsenShapes reads the history shapes Jepsen and Knossos users
// hold: a Knossos vector, a Knossos list with comments, maps spanning lines,
// and a Jepsen store's history.edn.
func TestReadJepsenShapes(t *testing.T) {
	for _, tc := range []struct {
		file  string
		n     int
		first Op
	}{
		{"knossos-vector-good.edn", 12, Op{Index: 0, Process: 0, Type: Invoke, F: "write", Value: raw(`1`), Time: 3000}},
		{"knossos-list-bad.edn", 8, Op{Index: 0, Process: 0, Type: Invoke, F: "write", Value: raw(`0`), Time: 2000}},
		{"knossos-multiline-good.edn", 7, Op{Index: 0, Process: 0, Type: Invoke, F: "write", Value: raw(`2`), Time: 7686306180}},
		{"history.edn", 12, Op{Index: 0, Process: 0, Type: Invoke, F: "write", Value: raw(`3`), Time: 10434133}},
	} {
		ops, err := ReadJepsenFile(filepath.Join("testdata", "jepsen", tc.file))
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		if len(ops) != tc.n {
			t.Errorf("%s: %d ops, want %d", tc.file, len(ops), tc.n)
			continue
		}
		checkOps(t, ops[:1], []Op{tc.first})
		if err := Validate(ops); err != nil {
			t.Errorf("%s: %v", tc.file, err)
		}
		for i := 1; i < len(ops); i++ {
			if ops[i].Index <= ops[i-1].Index {
				t.Errorf("%s: op %d index %d after %d", tc.file, i, ops[i].Index, ops[i-1].Index)
			}
		}
	}
	ops, err := ReadJepsenFile(filepath.Join("testdata", "jepsen", "history.edn"))
	if err != nil {
		t.Fatal(err)
	}
	if n := ops[5]; !n.IsNemesis() || n.F != "start-partition" || string(n.Value) != `["isolated",{"n1":["n2","n3"],"n2":["n1"],"n3":["n1"]}]` {
		t.Errorf("nemesis op = %+v", n)
	}
}

// TestReadJepsenOneLine keeps the order of ops that share a line in their
// synthetic times.
func TestReadJepsenOneLine(t *testing.T) {
	in := `[{:process 0, :type :invoke, :f :write, :value 1} {:process 0, :type :ok, :f :write, :value 1}` +
		` {:process 1, :type :invoke, :f :read} {:process 1, :type :ok, :f :read, :value 0}]` + "\n"
	ops, err := ReadJepsen(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	for i, op := range ops {
		if op.Time != int64(i) {
			t.Errorf("op %d time %d, want %d", i, op.Time, i)
		}
	}
}

func TestReadJepsenTornVector(t *testing.T) {
	// Ops of a torn vector before the torn one are kept.
	in := "[{:process 0, :type :invoke, :f :read}\n {:process 0, :type :ok, :f :read, :value 1}\n {:process 1, :type :inv"
	ops, err := ReadJepsen(strings.NewReader(in))
	if err != nil || len(ops) != 2 {
		t.Errorf("torn vector: %d ops, err %v; want 2", len(ops), err)
	}
	// A vector torn before its first op, starting like one, is empty.
	if ops, err := ReadJepsen(strings.NewReader("[{:process 0, :ty")); err != nil || len(ops) != 0 {
		t.Errorf("torn first op: %d ops, err %v; want none", len(ops), err)
	}
	// A vector that lacks its closing bracket but ends with a newline is an
	// error naming the line that opens it.
	_, err = ReadJepsen(strings.NewReader("; c\n[{:process 0, :type :invoke, :f :read}\n"))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 2 {
		t.Errorf("unclosed vector: err = %v, want *ParseError at line 2", err)
	}
}

// TestReadGarbage: content that holds no record is bad input naming a line,
// never an empty history.
func TestReadGarbage(t *testing.T) {
	for _, in := range []string{
		"\x00\x01\x02",
		"\x89PNG\r\n\x1a\n\x00\x00",
		"\n\n\xff\xfe\xfd",
		"hello",
		"{\x00\x01",
		"[1 2",
		"(\x00",
		"#\x00",
		"{\"a\": ",
		"\x1f\x8b\x08\x00\x00\x00\x00\x00",
	} {
		ops, err := Read(strings.NewReader(in))
		var pe *ParseError
		// `{"a": ` starts like a record, so it is a torn first line.
		if in != "{\"a\": " && (!errors.As(err, &pe) || pe.Line < 1) {
			t.Errorf("jsonl %q: %d ops, err %v; want *ParseError", in, len(ops), err)
		}
		ops, err = ReadJepsen(strings.NewReader(in))
		if !errors.As(err, &pe) || pe.Line < 1 {
			t.Errorf("jepsen %q: %d ops, err %v; want *ParseError", in, len(ops), err)
		}
	}
	// A torn first record is an empty history, as a crash on the first
	// write leaves it.
	for _, in := range []string{`{"index":0,"pro`, `{`, ` { "`} {
		if ops, err := Read(strings.NewReader(in)); err != nil || len(ops) != 0 {
			t.Errorf("jsonl %q: %d ops, err %v; want none", in, len(ops), err)
		}
	}
	path := filepath.Join(t.TempDir(), "bin.jsonl")
	if err := os.WriteFile(path, []byte{0xde, 0xad, 0x01}, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(path)
	if err == nil || !strings.Contains(err.Error(), "bin.jsonl line 1: ") {
		t.Errorf("binary file: err = %v, want one naming bin.jsonl line 1", err)
	}
}
