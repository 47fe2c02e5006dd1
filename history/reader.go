package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
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
func ReadFile(path string) ([]Op, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return read(f, path)
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
// Read does not check how ops pair up; see Validate.
func Read(r io.Reader) ([]Op, error) { return read(r, "") }

func read(r io.Reader, name string) ([]Op, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		ops     []Op
		long    []byte // accumulates lines longer than br's buffer
		lineNo  int
		lastErr error
		dec     = lineDecoder{strs: make(map[string]string)}
	)
	for lastErr == nil {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil && err != io.EOF {
			return ops, fmt.Errorf("history: read %s: %w", displayName(name), err)
		}
		lastErr = err
		if len(line) == 0 {
			break
		}
		lineNo++
		complete := line[len(line)-1] == '\n'
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var op Op
		syntax, msg := dec.parse(line, &op)
		if msg != "" {
			if syntax && !complete && (len(ops) > 0 || startsLikeRecord(line)) {
				break // torn last line
			}
			if syntax && !complete {
				msg += "; not a torn last line: no op before it and it does not start like one"
			}
			return ops, &ParseError{File: name, Line: lineNo, Msg: msg}
		}
		ops = append(ops, op)
	}
	return ops, nil
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

// lineDecoder decodes lines of one history. It interns the strings that
// repeat from line to line (f, key, node, ...) and carves values out of
// shared blocks, so that a line costs few allocations.
type lineDecoder struct {
	strs map[string]string
	slab []byte
}

const (
	maxInterned = 1 << 16
	slabSize    = 64 << 10
)

func (d *lineDecoder) intern(b []byte) string {
	if s, ok := d.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.strs) < maxInterned {
		d.strs[s] = s
	}
	return s
}

// copyValue returns a copy of v that does not alias the input.
func (d *lineDecoder) copyValue(v []byte) json.RawMessage {
	if len(v) > slabSize/8 {
		return append(json.RawMessage(nil), v...)
	}
	if len(d.slab) < len(v) {
		d.slab = make([]byte, slabSize)
	}
	out := d.slab[:len(v):len(v)]
	copy(out, v)
	d.slab = d.slab[len(v):]
	return out
}

// str decodes a JSON string value, interning it.
func (d *lineDecoder) str(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if plainString(inner) {
		return d.intern(inner), true
	}
	return decodeString(raw)
}

// plainString reports whether b needs no unescaping.
func plainString(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == '\\' || c == '"' {
			return false
		}
	}
	return true
}

// parseInt parses a JSON integer without allocating.
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) == 0 || len(b) > 18 || (b[0] == '0' && len(b) > 1) {
		// Empty, leading zero, or possibly beyond int64: the slow path
		// rejects or handles it exactly.
		if len(b) > 18 && isDigits(string(b)) {
			n, err := strconv.ParseInt(string(b), 10, 64)
			if neg {
				n = -n
			}
			return n, err == nil
		}
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// parse decodes one JSON object into op. On failure msg says why and syntax
// tells whether the line is not JSON at all (as opposed to JSON that is not
// a well-formed op).
//
// It is a hand-written decoder for the flat shape of an op, several times
// faster than encoding/json; string escapes, values and unknown fields are
// checked with encoding/json.
func (d *lineDecoder) parse(line []byte, op *Op) (syntax bool, msg string) {
	p := jsonLine{b: line}
	const (
		hasProcess = 1 << iota
		hasType
		hasF
		hasTime
	)
	seen := 0
	p.space()
	if !p.eat('{') {
		return true, "not a JSON object"
	}
	p.space()
	if p.eat('}') {
		return false, "empty object; an op needs process, type, f and time"
	}
	for {
		p.space()
		keyStart := p.i
		if !p.skipString() {
			return true, p.syntaxMsg("a field name")
		}
		key := p.b[keyStart+1 : p.i-1]
		if !plainString(key) {
			k, ok := decodeString(p.b[keyStart:p.i])
			if !ok {
				return true, p.syntaxMsg("a field name")
			}
			key = []byte(k)
		}
		p.space()
		if !p.eat(':') {
			return true, p.syntaxMsg("':'")
		}
		p.space()
		start := p.i
		if !p.skipValue() {
			return true, p.syntaxMsg("a value")
		}
		raw := line[start:p.i]
		switch string(key) {
		case "index":
			n, ok := parseInt(raw)
			if !ok {
				return !json.Valid(raw), fmt.Sprintf("index %s is not an integer", raw)
			}
			op.Index = n
		case "process":
			if n, ok := parseInt(raw); ok && n >= 0 && n <= math.MaxInt32 {
				op.Process = Process(n)
			} else if err := op.Process.UnmarshalJSON(raw); err != nil {
				return !json.Valid(raw), err.Error()
			}
			seen |= hasProcess
		case "type":
			switch string(raw) {
			case `"invoke"`:
				op.Type = Invoke
			case `"ok"`:
				op.Type = OK
			case `"fail"`:
				op.Type = Fail
			case `"info"`:
				op.Type = Info
			default:
				s, ok := decodeString(raw)
				if !ok {
					return !json.Valid(raw), fmt.Sprintf("type %s is not a string", raw)
				}
				op.Type = Type(s)
			}
			seen |= hasType
		case "f", "key", "node", "error", "final":
			s, ok := d.str(raw)
			if !ok {
				return !json.Valid(raw), fmt.Sprintf("%s %s is not a string", key, raw)
			}
			switch string(key) {
			case "f":
				op.F = s
				seen |= hasF
			case "key":
				op.Key = s
			case "node":
				op.Node = s
			case "error":
				op.Error = s
			case "final":
				op.Final = s
			}
		case "value":
			if !json.Valid(raw) {
				return true, fmt.Sprintf("value %.40q is not valid JSON", raw)
			}
			op.Value = d.copyValue(raw)
		case "time":
			n, ok := parseInt(raw)
			if !ok {
				return !json.Valid(raw), fmt.Sprintf("time %s is not an integer", raw)
			}
			op.Time = n
			seen |= hasTime
		default:
			// Unknown fields are allowed for forward compatibility, but
			// must still be JSON.
			if !json.Valid(raw) {
				return true, fmt.Sprintf("field %q: %.40q is not valid JSON", key, raw)
			}
		}
		p.space()
		if p.eat('}') {
			break
		}
		if !p.eat(',') {
			return true, p.syntaxMsg("',' or '}'")
		}
	}
	p.space()
	if p.i != len(line) {
		return true, fmt.Sprintf("unexpected %.20q after the object", line[p.i:])
	}
	if seen != hasProcess|hasType|hasF|hasTime {
		for bit, name := range [...]string{"process", "type", "f", "time"} {
			if seen&(1<<bit) == 0 {
				return false, fmt.Sprintf("missing field %q", name)
			}
		}
	}
	if m := op.check(); m != "" {
		return false, m
	}
	return false, ""
}

// jsonLine is a cursor over one line of JSON.
type jsonLine struct {
	b []byte
	i int
}

func (p *jsonLine) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonLine) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *jsonLine) syntaxMsg(want string) string {
	if p.i >= len(p.b) {
		return "invalid JSON: line ends where " + want + " was expected"
	}
	return fmt.Sprintf("invalid JSON at column %d: want %s, got %.20q", p.i+1, want, p.b[p.i:])
}

// skipString moves past a JSON string starting at the cursor.
func (p *jsonLine) skipString() bool {
	if !p.eat('"') {
		return false
	}
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case '"':
			p.i++
			return true
		case '\\':
			p.i += 2
		default:
			p.i++
		}
	}
	return false
}

// skipValue moves past one JSON value. It checks only the structure needed
// to find the value's end; callers validate what they keep.
func (p *jsonLine) skipValue() bool {
	if p.i >= len(p.b) {
		return false
	}
	switch p.b[p.i] {
	case '"':
		return p.skipString()
	case '{', '[':
		depth := 0
		for p.i < len(p.b) {
			switch p.b[p.i] {
			case '"':
				if !p.skipString() {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					p.i++
					return true
				}
			}
			p.i++
		}
		return false
	}
	start := p.i
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return p.i > start
		}
		p.i++
	}
	return false // a scalar that runs to the end of the line is unterminated
}

// decodeString decodes a quoted JSON string.
func decodeString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		for _, c := range inner {
			if c < 0x20 {
				return "", false
			}
		}
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}
