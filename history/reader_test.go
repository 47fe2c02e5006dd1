package history

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func line(index int, process any, typ, f string, value string, time int64) string {
	p, _ := json.Marshal(process)
	s := fmt.Sprintf(`{"index":%d,"process":%s,"type":%q,"f":%q`, index, p, typ, f)
	if value != "" {
		s += `,"value":` + value
	}
	return s + fmt.Sprintf(`,"time":%d}`, time)
}

func TestReadTornLastLine(t *testing.T) {
	good := line(0, 1, "invoke", "write", "3", 10) + "\n" + line(1, 1, "ok", "write", "3", 20) + "\n"
	for _, torn := range []string{
		`{"index":2,"pro`,
		`{"index":2,"process":1,"type":"invoke","f":"read","time":3`,
		`{`,
		`{"index":2,"process":1,"type":"inv`,
	} {
		ops, err := Read(strings.NewReader(good + torn))
		if err != nil {
			t.Errorf("torn %q: %v", torn, err)
			continue
		}
		if len(ops) != 2 {
			t.Errorf("torn %q: read %d ops, want 2", torn, len(ops))
		}
	}
	// The same text followed by a newline is a bad line, not a torn one.
	_, err := Read(strings.NewReader(good + `{"index":2,"pro` + "\n"))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 3 {
		t.Errorf("unparsable complete last line: err = %v, want *ParseError at line 3", err)
	}
	// A last line without a newline that parses is kept.
	ops, err := Read(strings.NewReader(good + line(2, 1, "invoke", "read", "", 30)))
	if err != nil || len(ops) != 3 || ops[2].F != "read" {
		t.Errorf("complete last line without newline: %d ops, err %v; want 3", len(ops), err)
	}
	// ... and one that parses but is not an op is an error.
	_, err = Read(strings.NewReader(good + line(2, 1, "maybe", "read", "", 30)))
	if !errors.As(err, &pe) || pe.Line != 3 {
		t.Errorf("ill-formed last line without newline: err = %v, want *ParseError at line 3", err)
	}
}

func TestReadBadLineNamesLine(t *testing.T) {
	var b strings.Builder
	n := 0
	for i := 1; i <= 20; i++ {
		switch {
		case i == 17:
			b.WriteString(`{"index":16,"process":2,"type":"ok","f":"read","value":[1,,2],"time":5}` + "\n")
		case i%5 == 0:
			b.WriteString("   \n") // blank lines count as lines
		default:
			b.WriteString(line(n, 2, "invoke", "read", "", int64(i)) + "\n")
			n++
		}
	}
	path := filepath.Join(t.TempDir(), "history.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(path)
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *ParseError", err)
	}
	if pe.Line != 17 {
		t.Errorf("Line = %d, want 17", pe.Line)
	}
	if !strings.Contains(err.Error(), "history.jsonl line 17: ") {
		t.Errorf("message %q does not name history.jsonl line 17", err)
	}
}

func TestReadValidatesOps(t *testing.T) {
	cases := map[string]string{
		"unknown type":     line(0, 1, "done", "read", "", 1),
		"empty f":          line(0, 1, "invoke", "", "", 1),
		"negative time":    line(0, 1, "invoke", "read", "", -5),
		"negative process": line(0, -3, "invoke", "read", "", 1),
		"process string":   line(0, "bob", "invoke", "read", "", 1),
		"fractional time":  `{"index":0,"process":1,"type":"invoke","f":"read","time":1.5}`,
		"missing type":     `{"index":0,"process":1,"f":"read","time":1}`,
		"missing process":  `{"index":0,"type":"invoke","f":"read","time":1}`,
		"missing time":     `{"index":0,"process":1,"type":"invoke","f":"read"}`,
		"f not a string":   `{"index":0,"process":1,"type":"invoke","f":3,"time":1}`,
		"not an object":    `[1,2,3]`,
		"trailing garbage": line(0, 1, "invoke", "read", "", 1) + ` x`,
		"bad value":        `{"index":0,"process":1,"type":"invoke","f":"read","value":tru,"time":1}`,
		"bad unknown":      `{"index":0,"process":1,"type":"invoke","f":"read","extra":{"a":},"time":1}`,
	}
	for name, bad := range cases {
		in := line(0, 1, "invoke", "read", "", 1) + "\n" + bad + "\n" + line(1, 1, "ok", "read", "1", 2) + "\n"
		_, err := Read(strings.NewReader(in))
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Line != 2 {
			t.Errorf("%s: err = %v, want *ParseError at line 2", name, err)
			continue
		}
		t.Logf("%s: %v", name, err)
	}
}

// TestReadMatchesEncodingJSON decodes varied lines with Read and with
// encoding/json and expects the same ops.
func TestReadMatchesEncodingJSON(t *testing.T) {
	lines := []string{
		`{"index":0,"process":3,"type":"invoke","f":"cas","key":"k1","value":[1,2],"time":1200345,"node":"n2"}`,
		`{"index":2,"process":"nemesis","type":"info","f":"partition","value":{"n1":["n2","n3"]},"time":5000120}`,
		`  { "time" : 7 , "f" : "re\"ad\u00e9\n" , "type" : "ok" , "process" : 0 , "value" : null , "extra" : [ {"}": "]"} ] }  `,
		`{"process":":nemesis","type":"info","f":"kill","value":"n1 \\ \" }","time":0,"error":"\ud83d\ude00"}`,
		`{"index":9,"process":1,"type":"fail","f":"write","value":-12.5e3,"time":3,"key":""}`,
	}
	got, err := Read(strings.NewReader(strings.Join(lines, "\r\n") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(lines) {
		t.Fatalf("read %d ops, want %d", len(got), len(lines))
	}
	for i, l := range lines {
		var want Op
		if err := json.Unmarshal([]byte(l), &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("line %d:\n Read  %+v\n json  %+v", i+1, got[i], want)
		}
	}
}

func TestReadLongLines(t *testing.T) {
	big := make([]int, 300000) // ~600 KB, far beyond the reader's buffer
	for i := range big {
		big[i] = i % 10
	}
	v, _ := json.Marshal(big)
	in := line(0, 1, "invoke", "read", "", 1) + "\n\n" + line(1, 1, "ok", "read", string(v), 2) + "\n" + line(2, 2, "invoke", "read", "", 3) + "\n"
	ops, err := Read(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 3 || string(ops[1].Value) != string(v) || ops[2].Process != 2 {
		t.Fatalf("long line misread: %d ops", len(ops))
	}
}

func TestValidate(t *testing.T) {
	inv := func(p Process, f string) Op { return Op{Process: p, Type: Invoke, F: f} }
	done := func(p Process, typ Type, f string) Op { return Op{Process: p, Type: typ, F: f} }
	nem := Op{Process: Nemesis, Type: Info, F: "partition"}

	good := []Op{
		inv(0, "write"), inv(1, "read"), nem, done(0, OK, "write"), done(1, Info, "read"),
		inv(2, "cas"), done(2, Fail, "cas"), inv(2, "read"), nem, nem, // still pending at the end
	}
	for i := range good {
		good[i].Index = int64(i)
	}
	if err := Validate(good); err != nil {
		t.Errorf("valid history rejected: %v", err)
	}

	cases := []struct {
		name string
		ops  []Op
		pos  int
		msg  string
	}{
		{"double invoke", []Op{inv(0, "read"), inv(1, "read"), inv(0, "read")}, 2, "outstanding"},
		{"completion without invoke", []Op{inv(0, "read"), done(1, OK, "read")}, 1, "no outstanding invoke"},
		{"f mismatch", []Op{inv(0, "read"), done(0, OK, "write")}, 1, `f "write"`},
		{"invoke after info", []Op{inv(0, "read"), done(0, Info, "read"), inv(0, "read")}, 2, "after an info"},
		{"two completions", []Op{inv(0, "read"), done(0, OK, "read"), done(0, OK, "read")}, 2, "no outstanding invoke"},
		{"bad type", []Op{inv(0, "read"), done(0, "done", "read")}, 1, "type"},
		{"key mismatch", []Op{{Process: 0, Type: Invoke, F: "read", Key: "a"}, {Process: 0, Type: OK, F: "read", Key: "b"}}, 1, "key"},
	}
	for _, c := range cases {
		for i := range c.ops {
			c.ops[i].Index = int64(100 + i)
		}
		err := Validate(c.ops)
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: err = %v, want *ValidationError", c.name, err)
			continue
		}
		if ve.Pos != c.pos || ve.Index != int64(100+c.pos) || !strings.Contains(ve.Msg, c.msg) {
			t.Errorf("%s: got %v (pos %d), want pos %d mentioning %q", c.name, err, ve.Pos, c.pos, c.msg)
		}
	}
}
