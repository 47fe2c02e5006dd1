package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// jepsenTestdata holds Knossos- and Jepsen-shaped histories (see
// history/testdata/jepsen).
var jepsenTestdata = filepath.Join("..", "..", "history", "testdata", "jepsen")

// TestCheckJepsenShapes: 'faultline check --format jepsen' gives each shape
// of Jepsen and Knossos history its verdict.
func TestCheckJepsenShapes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	abs := func(name string) string {
		p, err := filepath.Abs(filepath.Join(jepsenTestdata, name))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, path string
		code       int
		valid      string
	}{
		{"Knossos vector", abs("knossos-vector-good.edn"), 0, "valid: true"},
		{"Knossos list", abs("knossos-list-bad.edn"), exitAnomaly, "valid: false"},
		{"Knossos maps spanning lines", abs("knossos-multiline-good.edn"), 0, "valid: true"},
		{"Jepsen history.edn", abs("history.edn"), 0, "valid: true"},
		// Knossos's rethink-fail-minimal.edn shape: a list from the first byte.
		{"list first", write("list.edn", "({:type :invoke, :f :write, :value 0, :process 0}\n {:type :ok, :f :write, :value 0, :process 0}\n"+
			" {:type :invoke, :f :read, :value nil, :process 1}\n {:type :ok, :f :read, :value 3, :process 1})\n"), exitAnomaly, "valid: false"},
		// A whole history on one line keeps its order: the read of 0
		// follows the write of 1.
		{"one line", write("line.edn", "[{:process 0, :type :invoke, :f :write, :value 1} {:process 0, :type :ok, :f :write, :value 1} "+
			"{:process 1, :type :invoke, :f :read, :value nil} {:process 1, :type :ok, :f :read, :value 0}]\n"), exitAnomaly, "valid: false"},
		{"jepsen.log", write("jepsen.log", "INFO  jepsen.core - Running test\n"+
			"INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:ok\t:write\t1\n"+
			"INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n"+
			"INFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:ok\t:read\t1\n"), 0, "valid: true"},
	} {
		code, out := faultline(t, dir, "check", "--format", "jepsen", tc.path)
		if code != tc.code || !strings.Contains(out, tc.valid) {
			t.Errorf("%s: exit %d, want %d with %q\n%s", tc.name, code, tc.code, tc.valid, out)
		}
	}
}

// TestCheckGarbageIsBadInput: a file that is not a history exits 254 naming
// the line, in either format, never an empty history with verdict unknown.
func TestCheckGarbageIsBadInput(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string][]byte{
		"three-bytes.bin": {0xde, 0xad, 0x01},
		"png.bin":         []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
		"text.txt":        []byte("hello\n"),
		"unclosed.edn":    []byte("[{:process 0, :type :invoke, :f :read}\n"),
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, format := range []string{"jsonl", "jepsen"} {
			code, out := faultline(t, dir, "check", "--format", format, p)
			if code != exitBadInput || !strings.Contains(out, "line ") || strings.Contains(out, "valid:") {
				t.Errorf("%s --format %s: exit %d, want 254 naming a line\n%s", name, format, code, out)
			}
		}
	}
}
