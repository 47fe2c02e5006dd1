package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// addFiles adds the contents of the files matching each glob to f's seed
// corpus; a glob that matches nothing fails the test, so a moved file does
// not silently shrink the corpus.
func addFiles(f *testing.F, globs ...string) {
	f.Helper()
	for _, g := range globs {
		paths, err := filepath.Glob(g)
		if err != nil || len(paths) == 0 {
			f.Fatalf("seed corpus %s: no files (%v)", g, err)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

// checkParseError checks that err, from reading in, is a *ParseError naming
// a line of in.
func checkParseError(t *testing.T, in []byte, err error) {
	t.Helper()
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *ParseError", err, err)
	}
	if lines := bytes.Count(in, []byte{'\n'}) + 1; pe.Line < 1 || pe.Line > lines {
		t.Fatalf("error %v names line %d of %d", err, pe.Line, lines)
	}
	if pe.Msg == "" {
		t.Fatalf("error %v has no message", err)
	}
}

// validUTF8 is s with every byte that is not UTF-8 replaced by U+FFFD, as
// the encoder writes it.
func validUTF8(s string) string { return string([]rune(s)) }

// checkRoundTrip checks that every op is well formed and that the ops,
// written as JSONL by the Recorder's encoder and read back, are the same.
func checkRoundTrip(t *testing.T, ops []Op) {
	t.Helper()
	var buf []byte
	want := make([]Op, len(ops))
	for i, op := range ops {
		if msg := op.check(); msg != "" {
			t.Fatalf("op %d %+v is not well formed: %s", i, op, msg)
		}
		if op.Value != nil {
			if !json.Valid(op.Value) {
				t.Fatalf("op %d value %q is not JSON", i, op.Value)
			}
			var c bytes.Buffer
			if err := json.Compact(&c, op.Value); err != nil {
				t.Fatal(err)
			}
			op.Value = c.Bytes()
		}
		op.F, op.Key, op.Node, op.Error, op.Final = validUTF8(op.F), validUTF8(op.Key), validUTF8(op.Node), validUTF8(op.Error), validUTF8(op.Final)
		op.Type = Type(validUTF8(string(op.Type)))
		want[i] = op
		buf = append(appendJSON(buf, &op), '\n')
	}
	got, err := Read(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("re-reading the encoded ops: %v\n%s", err, buf)
	}
	if len(got) != len(want) {
		t.Fatalf("re-read %d ops, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("op %d after a round trip:\n got  %+v\n want %+v", i, got[i], want[i])
		}
	}
}

// FuzzRead: Read never panics; an error is a *ParseError naming a line of
// the input; the ops of a successful read are well formed and survive a
// round trip through the encoder; and content with no record is an error.
func FuzzRead(f *testing.F) {
	addFiles(f, filepath.Join("testdata", "*.jsonl"))
	for _, s := range []string{
		`{"index":0,"process":3,"type":"invoke","f":"cas","key":"k1","value":[1,2],"time":1200345,"node":"n2"}` + "\n" +
			`{"index":2,"process":"nemesis","type":"info","f":"partition","value":{"n1":["n2","n3"]},"time":5000120}` + "\n" +
			`{"index":1,"process":1,"type":"ok","f":"read","value":null,"time":3,"key":"","error":"\ud83d\ude00"}` + "\n" +
			`{"index":2,"pro`,
		`  { "time" : 7 , "f" : "re\"ad\u00e9\n" , "type" : "ok" , "process" : 0 , "value" : null , "extra" : [ {"}": "]"} ] }  ` + "\r\n",
		`{"index":5,"process":30000000,"type":"ok","f":"read","key":"k1","value":[2,3],"time":9,"node":"n1","final":"n1"}` + "\n" +
			"{\"index\":6,\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"time\":10,\"final\":\"n\xff\"}\n",
		"\x00\x01\x02",
		"{",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ops, err := Read(bytes.NewReader(in))
		if err != nil {
			checkParseError(t, in, err)
			return
		}
		checkRoundTrip(t, ops)
		if len(ops) == 0 {
			// Only blank lines, or a torn first record.
			if c := bytes.TrimSpace(in); len(c) > 0 && (bytes.IndexByte(c, '\n') >= 0 || !startsLikeRecord(c)) {
				t.Fatalf("content with no record read as an empty history: %q", in)
			}
		}
	})
}

// FuzzReadJepsen: ReadJepsen never panics; an error is a *ParseError naming
// a line of the input, except for blank input; a successful import yields
// well-formed ops with JSON values that survive a round trip through the
// JSONL encoder and reader.
func FuzzReadJepsen(f *testing.F) {
	addFiles(f,
		filepath.Join("testdata", "jepsen", "*.edn"),
		filepath.Join("..", "checker", "testdata", "jepsen", "etcd_00[0-2].log"))
	for _, s := range []string{
		"INFO  jepsen.util - 3 :invoke :write 4\n" +
			"2017-01-01 12:00:00,123{GMT}\tINFO\t[jepsen worker 3] jepsen.util - 3\t:info\t:write\t4\tindeterminate: Read timed out\n" +
			"INFO  jepsen.util - :nemesis\t:info\t:start\t#<Cut off {:n1 #{:n2}}>\n" +
			"INFO [2024-01-06 15:07:52,664] jepsen worker 0 - jepsen.util 0\t:invoke\t:read\tnil\n" +
			"2025-01-20 12:08:03,850{GMT}\tINFO\t[jepsen worker 0] jepsen.util: 0\t:fail\t:read\t:timed-out\n",
		"#jepsen.history.Op{:process 3, :type :invoke, :f :txn, :value [[:r 1 nil] [:w 1 12345678901234567890N]] :time 4}\n" +
			"{:process 3, :type :info, :f :txn, :value [[:r 1 nil]], :error :timed-out, :extra (1 2.5M 1/3 \"s\\\"q\" \\a \\newline #{}) #_ :ignored}\n",
		"({:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read, :value 3, :process 0}\n{:type :inv",
		"\x00\x01\x02",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ops, err := ReadJepsen(bytes.NewReader(in))
		if err != nil {
			checkParseError(t, in, err)
			return
		}
		checkRoundTrip(t, ops)
	})
}

// FuzzEDN: the EDN reader never panics; every form it reads renders as EDN
// (String) that reads back to the same form, and as valid JSON.
func FuzzEDN(f *testing.F) {
	addFiles(f, filepath.Join("testdata", "jepsen", "*.edn"))
	for _, s := range []string{
		`{:a [1 -2 3.5 1/4 12345678901234567890N 1.5M] "s\"\n\u00e9" #{nil true false} (\a \newline \space) sym :k/ns}`,
		`#inst "2024-01-01" #_ 1 [#_ #_ 1 2 3] ; comment`,
		`{:value {[1 2] :x, "k" {:y ()}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		rd := newEDNReader(in, 1)
		for n := 0; !rd.atEnd() && n < 100; n++ {
			v, err := rd.read()
			if err != nil {
				return
			}
			if j := v.appendJSON(nil); !json.Valid(j) {
				t.Fatalf("form %s: JSON %q is not valid", v.String(), j)
			}
			s := v.String()
			again, err := newEDNReader([]byte(s), 1).read()
			if err != nil {
				t.Fatalf("form %q does not read back: %v", s, err)
			}
			if !sameEDN(&v, &again) {
				t.Fatalf("form %q reads back as %q", s, again.String())
			}
		}
	})
}

// sameEDN compares forms, ignoring where they start.
func sameEDN(a, b *ednValue) bool {
	if a.kind != b.kind || a.text != b.text || a.b != b.b || len(a.items) != len(b.items) {
		return false
	}
	for i := range a.items {
		if !sameEDN(&a.items[i], &b.items[i]) {
			return false
		}
	}
	return true
}

// TestFuzzSeedsAreReal keeps the fuzz seed files in step with the readers:
// every file read as a seed parses.
func TestFuzzSeedsAreReal(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.jsonl"))
	for _, p := range paths {
		if _, err := ReadFile(p); err != nil {
			t.Error(err)
		}
	}
	paths, _ = filepath.Glob(filepath.Join("testdata", "jepsen", "*"))
	for _, p := range paths {
		if ops, err := ReadJepsenFile(p); err != nil || len(ops) == 0 {
			t.Errorf("%s: %d ops, %v", p, len(ops), err)
		}
	}
}
