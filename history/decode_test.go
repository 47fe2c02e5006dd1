package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// checkSameDecode decodes one line with the fast path and with decodeStd
// and fails unless they agree: both accept it with equal ops, or both
// reject it, and then agree on whether the line is JSON at all.
func checkSameDecode(t *testing.T, line []byte) {
	t.Helper()
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return
	}
	var fast, std Op
	fastSyntax, fastMsg := newLineDecoder().decode(line, &fast)
	stdSyntax, stdMsg := decodeStd(line, &std)
	switch {
	case (fastMsg == "") != (stdMsg == ""):
		t.Fatalf("line %q:\n fast: %q\n std:  %q", line, fastMsg, stdMsg)
	case fastMsg == "" && !reflect.DeepEqual(fast, std):
		t.Fatalf("line %q:\n fast %+v\n std  %+v", line, fast, std)
	case fastMsg != "" && fastSyntax != stdSyntax:
		t.Fatalf("line %q: fast says syntax=%v (%s), std says %v (%s)", line, fastSyntax, fastMsg, stdSyntax, stdMsg)
	}
	if got, want := validJSON(line), json.Valid(line); got != want {
		t.Fatalf("line %q: validJSON %v, json.Valid %v", line, got, want)
	}
}

// opGen writes random op lines: the fields of Op in any order, with and
// without space, plus unknown fields, nulls, escapes, unicode, bytes that
// are not UTF-8, nested values and numbers of every shape.
type opGen struct{ rng *rand.Rand }

func (g opGen) pick(s ...string) string { return s[g.rng.IntN(len(s))] }

func (g opGen) space() string {
	if g.rng.IntN(4) != 0 {
		return ""
	}
	return g.pick(" ", "  ", "\t", " \r ", "\n")
}

func (g opGen) str() string {
	switch g.rng.IntN(8) {
	case 0:
		return g.pick(`""`, `"\"q\""`, `"a\\b"`, `"\u00e9t\u00c9"`, `"\ud83d\ude00"`, `"\ud800"`, `"\/\b\f\n\r\t"`, `"\u0000x"`)
	case 1:
		return `"` + g.pick("é", "日本", "😀", "\xff", "a\xc3", "\u2028", "<&>") + `"`
	case 2:
		return strconv.Quote(g.pick("k", "n", "read", "write", "cas")) // \x escapes are not JSON; Quote of these is plain
	}
	return `"` + g.pick("read", "write", "cas", "transfer", "partition", "k1", "k12", "n1", "n3", "timeout") + `"`
}

func (g opGen) number() string {
	return g.pick("0", "-0", "7", "-12", "123456789", "9223372036854775807", "-9223372036854775808",
		"9223372036854775808", "12345678901234567890", "1.5", "-0.25", "1e3", "2E-2", "6.02e+23", "1.0", "00", "01", "-", "1.", ".5", "+1", "1e")
}

func (g opGen) value(depth int) string {
	switch n := g.rng.IntN(10); {
	case n < 3:
		return g.number()
	case n < 5:
		return g.str()
	case n < 6:
		return g.pick("true", "false", "null", "nul", "tru")
	case depth > 3:
		return "[]"
	case n < 8:
		var b strings.Builder
		b.WriteString("[" + g.space())
		for i := range g.rng.IntN(4) {
			if i > 0 {
				b.WriteString("," + g.space())
			}
			b.WriteString(g.value(depth + 1))
		}
		b.WriteString(g.space() + "]")
		return b.String()
	default:
		var b strings.Builder
		b.WriteString("{" + g.space())
		for i := range g.rng.IntN(4) {
			if i > 0 {
				b.WriteString("," + g.space())
			}
			b.WriteString(g.str() + g.space() + ":" + g.space() + g.value(depth+1))
		}
		b.WriteString(g.space() + "}")
		return b.String()
	}
}

// line returns one op line, well formed most of the time.
func (g opGen) line() string {
	type kv struct{ k, v string }
	fields := []kv{
		{"index", strconv.Itoa(g.rng.IntN(1 << 20))},
		{"process", g.pick("0", "3", "17", `"nemesis"`, `":nemesis"`)},
		{"type", g.pick(`"invoke"`, `"ok"`, `"fail"`, `"info"`)},
		{"f", g.pick(`"read"`, `"write"`, `"cas"`, `"transfer"`)},
		{"time", strconv.FormatInt(g.rng.Int64N(1<<40), 10)},
	}
	if g.rng.IntN(2) == 0 {
		fields = append(fields, kv{"key", g.str()})
	}
	if g.rng.IntN(3) != 0 {
		fields = append(fields, kv{"value", g.value(0)})
	}
	for _, k := range []string{"node", "error", "final"} {
		if g.rng.IntN(3) == 0 {
			fields = append(fields, kv{k, g.str()})
		}
	}
	if g.rng.IntN(4) == 0 {
		fields = append(fields, kv{g.pick("extra", "Extra", "\u00e9", "in", "v"), g.value(0)})
	}
	// Now and then: a strange value for a known field, a null, a key
	// spelt in other case or with escapes, a field twice.
	if g.rng.IntN(4) == 0 {
		i := g.rng.IntN(len(fields))
		switch g.rng.IntN(5) {
		case 0:
			fields[i].v = g.value(0)
		case 1:
			fields[i].v = "null"
		case 2:
			fields[i].k = g.pick("TYPE", "Time", "Index", "pRocess", "F", "KEY", "\u212aey", "VALUE", "Node")
		case 3:
			fields[i].k = g.pick(`\u0074ime`, `ind\u0065x`, `\u0066`, `k\u0065y`)
		case 4:
			fields = append(fields, kv{fields[i].k, g.pick("null", g.value(0), fields[i].v)})
		}
	}
	g.rng.Shuffle(len(fields), func(i, j int) { fields[i], fields[j] = fields[j], fields[i] })
	var b strings.Builder
	b.WriteString(g.space() + "{" + g.space())
	for i, f := range fields {
		if i > 0 {
			b.WriteString(g.space() + "," + g.space())
		}
		b.WriteString(`"` + f.k + `"` + g.space() + ":" + g.space() + f.v)
	}
	b.WriteString(g.space() + "}" + g.space())
	return b.String()
}

// TestDecodeMatchesEncodingJSON holds the fast decoder to decodeStd on
// random lines, and on the same lines cut short and with a byte changed.
func TestDecodeMatchesEncodingJSON(t *testing.T) {
	g := opGen{rand.New(rand.NewPCG(13, 4))}
	accepted := 0
	for range 20000 {
		l := []byte(g.line())
		checkSameDecode(t, l)
		var op Op
		if _, msg := newLineDecoder().decode(bytes.TrimSpace(l), &op); msg == "" {
			accepted++
		}
		checkSameDecode(t, l[:g.rng.IntN(len(l)+1)])
		m := bytes.Clone(l)
		m[g.rng.IntN(len(m))] = g.pick(`"`, `\`, "{", "}", "[", ",", ":", "0", "\x01", "\xff", " ")[0]
		checkSameDecode(t, m)
	}
	// Most lines must be ops, or the comparison says little.
	if accepted < 10000 {
		t.Errorf("only %d of 20000 random lines decoded", accepted)
	}
	t.Logf("%d of 20000 random lines decoded", accepted)

	// Nesting at encoding/json's limit: the line's object and 9999 more.
	for _, n := range []int{9998, 9999, 10000} {
		v := strings.Repeat("[", n) + strings.Repeat("]", n)
		checkSameDecode(t, []byte(`{"process":1,"type":"ok","f":"read","time":1,"value":`+v+`}`))
	}
}

// TestReadMatchesReference reads generated histories, whole and spoilt, with
// Read and with readReference (encoding/json line by line) and expects the
// same ops and the same bad line. The history spans several chunks, so the
// parallel decoding and its reassembly are exercised, with blank lines and
// errors on either side of chunk boundaries.
func TestReadMatchesReference(t *testing.T) {
	data := genHistory(40000, 2) // ~4 MB: four chunks
	rng := rand.New(rand.NewPCG(2, 13))
	cases := map[string][]byte{"whole": data}
	for i := range 8 {
		// A bad line somewhere, blank lines elsewhere.
		b := bytes.Clone(data)
		at := rng.IntN(len(b))
		b[at] = '#'
		for range 20 {
			b[bytes.LastIndexByte(b[:rng.IntN(len(b))], '\n')+1] = '\n'
		}
		cases["spoilt "+strconv.Itoa(i)] = b
	}
	two := bytes.Clone(data)
	two[len(two)/4], two[3*len(two)/4] = '#', '#' // bad lines in different chunks: the first counts
	cases["two bad lines"] = two
	cases["torn"] = data[:len(data)-20]
	cases["blank lines at chunk ends"] = bytes.ReplaceAll(data, []byte("\n"), []byte("\n \n\r\n"))
	for name, in := range cases {
		got, err := Read(bytes.NewReader(in))
		want, wantErr := readReference(in)
		var pe, wpe *ParseError
		if errors.As(wantErr, &wpe) {
			if !errors.As(err, &pe) || pe.Line != wpe.Line {
				t.Errorf("%s: err %v, want one at line %d (%v)", name, err, wpe.Line, wantErr)
			}
		} else if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d ops, want %d", name, len(got), len(want))
			continue
		}
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("%s: op %d:\n got  %+v\n want %+v", name, i, got[i], want[i])
				break
			}
		}
	}
}

// TestReadTestdataMatchesReference reads every JSONL history kept under a
// testdata directory of the module with Read and with readReference.
// ReadFile maps each (however small), as it maps a large history.
func TestReadTestdataMatchesReference(t *testing.T) {
	defer func(n int64) { mapMinSize = n }(mapMinSize)
	mapMinSize = 1
	var paths []string
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".jsonl") && strings.Contains(filepath.ToSlash(path), "/testdata/") {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no testdata histories found")
	}
	for _, p := range paths {
		in, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(p)
		want, wantErr := readReference(in)
		if (err == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Read gives %d ops, %v; encoding/json %d ops, %v", p, len(got), err, len(want), wantErr)
		}
		for _, l := range bytes.Split(in, []byte{'\n'}) {
			checkSameDecode(t, l)
		}
	}
	t.Logf("%d histories", len(paths))
}

// FuzzDecodeOp: the fast decoder and decodeStd (encoding/json) agree on
// every line: the same op, or both an error, of the same kind.
func FuzzDecodeOp(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.jsonl"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		lines := bytes.Split(b, []byte{'\n'})
		for _, l := range lines[:min(len(lines), 10)] {
			f.Add(l)
		}
	}
	g := opGen{rand.New(rand.NewPCG(1, 1))}
	for range 50 {
		f.Add([]byte(g.line()))
	}
	for _, s := range []string{
		`{"index":0,"process":3,"type":"invoke","f":"cas","key":"k1","value":[1,2],"time":1200345,"node":"n2"}`,
		`  { "time" : 7 , "f" : "re\"ad\u00e9\n" , "type" : "ok" , "process" : 0 , "value" : null , "extra" : [ {"}": "]"} ] }  `,
		`{"process":":nemesis","type":"info","f":"kill","value":"n1 \\ \" }","time":0,"error":"\ud83d\ude00"}`,
		`{"Process":1,"TYPE":"ok","f":"read","time":1,"time":null,"\u212aey":"k"}`,
		"{\"process\":1,\"type\":\"ok\",\"f\":\"r\xffd\",\"time\":-0,\"index\":-9223372036854775808}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if bytes.IndexByte(line, '\n') >= 0 {
			return // one line at a time
		}
		checkSameDecode(t, line)
	})
}

// TestKnownKeyTable: every field name has its own slot in keyTable, and
// knownKey reads each as the Recorder writes it and nothing else.
func TestKnownKeyTable(t *testing.T) {
	for f, name := range opFields {
		p := jsonLine{b: []byte(`"` + name + `":12345678`)}
		if got, ok := p.knownKey(); !ok || got != field(f) || p.i != len(name)+3 {
			t.Errorf("%s: knownKey = %v, %v at %d", name, got, ok, p.i)
		}
		for _, other := range []string{`"` + name + `" :12345678`, `"` + name + `x":12345678`, `"` + name[:len(name)-1] + `":123456789`, `"` + strings.ToUpper(name) + `":12345678`} {
			p := jsonLine{b: []byte(other)}
			if got, ok := p.knownKey(); ok {
				t.Errorf("%s: knownKey = %v", other, got)
			}
		}
	}
}
