package history

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf8"
)

// lineDecoder decodes the lines of one history, or of one chunk of it, into
// Ops. Its contract is encoding/json's: a line it accepts decodes to the Op
// that json.Unmarshal gives, and a line it rejects is one that
// json.Unmarshal rejects, or that lacks a required field (process, type, f,
// time; a null counts as absent, as json.Unmarshal leaves the field
// untouched), or whose op is not well formed (Op.check). decodeStd is that
// contract written with encoding/json; the tests and FuzzDecodeOp hold the
// two to it.
//
// It interns the strings that repeat from line to line (f, key, node, ...)
// and carves values out of shared blocks, so that a line costs few
// allocations. A lineDecoder is used by one goroutine at a time.
type lineDecoder struct {
	strs  map[string]string
	front [internFront]string // direct-mapped cache in front of strs
	slab  []byte
}

const (
	maxInterned = 1 << 16
	internBits  = 12
	internFront = 1 << internBits
	slabSize    = 64 << 10
	// maxNesting is encoding/json's limit on nested arrays and objects,
	// the line's own object included.
	maxNesting = 10000
)

func newLineDecoder() *lineDecoder {
	return &lineDecoder{strs: make(map[string]string)}
}

// intern returns b as a string, the same string for the same bytes while
// the table has room.
func (d *lineDecoder) intern(b []byte) string {
	// The slot hashes the length and a few bytes: enough to tell apart
	// the names a history repeats (k1 ... k16, n1 ... n5), cheaply. The
	// 4096 slots hold the keys of a history of a thousand keys, mostly.
	h := uint64(len(b))
	if len(b) > 0 {
		h |= uint64(b[0])<<8 | uint64(b[len(b)/3])<<16 | uint64(b[len(b)/2])<<24 | uint64(b[len(b)-1])<<32
	}
	slot := &d.front[(h*0x9e3779b97f4a7c15)>>(64-internBits)]
	if *slot == string(b) && len(b) > 0 {
		return *slot
	}
	s, ok := d.strs[string(b)]
	if !ok {
		s = string(b)
		if len(d.strs) < maxInterned {
			d.strs[s] = s
		}
	}
	*slot = s
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

// str decodes a JSON string that the scanner has just checked, plain as
// the scanner found it, as encoding/json does: escapes resolved, bytes that
// are not UTF-8 replaced by U+FFFD. Plain strings are interned.
func (d *lineDecoder) str(raw []byte, plain bool) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if plain {
		return d.intern(raw[1 : len(raw)-1]), true
	}
	return decodeString(raw)
}

// plainString reports whether the inside of a JSON string decodes to itself:
// no escapes, no control characters, valid UTF-8.
func plainString(b []byte) bool {
	ascii := true
	for _, c := range b {
		if c < 0x20 || c == '\\' || c == '"' {
			return false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	return ascii || utf8.Valid(b)
}

// decodeString decodes a quoted JSON string as encoding/json does.
func decodeString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	if inner := raw[1 : len(raw)-1]; plainString(inner) {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// ParseInt parses an optional minus and decimal digits as
// strconv.ParseInt(string(b), 10, 64) does, without allocating for the
// integers of up to 18 digits histories hold; false for anything else (a
// fraction, an exponent, out of range). It is how an op's integer fields
// are read, and checkers use it for integer values.
func ParseInt(b []byte) (int64, bool) {
	digits := b
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 {
		return 0, false
	}
	if len(digits) > 18 {
		n, err := strconv.ParseInt(string(b), 10, 64)
		return n, err == nil
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if len(digits) < len(b) {
		n = -n
	}
	return n, true
}

// opFields are the JSON names of Op's fields. encoding/json matches a key to
// a field ignoring case (bytes.EqualFold); the fast path matches exactly and
// leaves a line with any other spelling to decodeStd.
var opFields = [...]string{"index", "process", "type", "f", "key", "value", "time", "node", "error", "final"}

// field names a field of Op, by its position in opFields.
type field int

const (
	fIndex field = iota
	fProcess
	fType
	fF
	fKey
	fValue
	fTime
	fNode
	fError
	fFinal
	fUnknown // a field Op does not have, ignored for forward compatibility
	fFolded  // a field of Op spelt in other case
)

// fieldOf returns the field a key names.
func fieldOf(key []byte) field {
	switch string(key) {
	case "index":
		return fIndex
	case "process":
		return fProcess
	case "type":
		return fType
	case "f":
		return fF
	case "key":
		return fKey
	case "value":
		return fValue
	case "time":
		return fTime
	case "node":
		return fNode
	case "error":
		return fError
	case "final":
		return fFinal
	}
	for _, f := range opFields {
		if bytes.EqualFold(key, []byte(f)) {
			return fFolded
		}
	}
	return fUnknown
}

// decode decodes one line (trimmed, not blank) into op, which must be zero.
// On failure msg says why and syntax tells whether the line is not JSON at
// all (as opposed to JSON that is not a well-formed op): the difference
// between a torn last line and a bad one.
func (d *lineDecoder) decode(line []byte, op *Op) (syntax bool, msg string) {
	msg, std := d.parse(line, op)
	if std {
		*op = Op{}
		return decodeStd(line, op)
	}
	if msg != "" {
		return !validJSON(line), msg
	}
	return false, ""
}

// parse is the fast path of decode: a hand-written decoder for the flat
// shape of an op, fields in any order, checking the JSON as it goes. It
// returns std for a line it leaves to encoding/json (a key that matches a
// field only ignoring case).
func (d *lineDecoder) parse(line []byte, op *Op) (msg string, std bool) {
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
		return "not a JSON object", false
	}
	p.space()
	if p.eat('}') {
		return "empty object; an op needs process, type, f and time", false
	}
	for {
		// The names the Recorder writes are matched, with their colon,
		// in one step; anything else takes the general way.
		field, ok := p.knownKey()
		if !ok {
			var msg string
			if field, msg = p.key(); msg != "" {
				return msg, false
			}
		}
		p.space()
		start := p.i
		// An integer as the Recorder writes it is read in the pass that
		// checks it; anything else is checked first, then decoded.
		var n int64
		isInt := false
		if field == fIndex || field == fTime || field == fProcess {
			n, isInt = p.int()
		}
		if !isInt && !p.value(1) {
			return p.syntaxMsg("a value"), false
		}
		raw := line[start:p.i]
		// As with encoding/json, a null leaves a field as it was, except
		// for value (a json.RawMessage keeps it) and process (whose
		// UnmarshalJSON refuses it).
		if !isInt && string(raw) == "null" && field != fValue && field != fProcess {
			field = fUnknown
		}
		switch field {
		case fIndex, fTime:
			if !isInt {
				if n, ok = ParseInt(raw); !ok {
					return fmt.Sprintf("%s %s is not an integer", opFields[field], raw), false
				}
			}
			if field == fIndex {
				op.Index = n
			} else {
				op.Time = n
				seen |= hasTime
			}
		case fProcess:
			if isInt && n >= 0 {
				op.Process = Process(n)
			} else if err := op.Process.UnmarshalJSON(raw); err != nil {
				return err.Error(), false
			}
			seen |= hasProcess
		case fType:
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
					return fmt.Sprintf("type %s is not a string", raw), false
				}
				op.Type = Type(s)
			}
			seen |= hasType
		case fF, fKey, fNode, fError, fFinal:
			s, ok := d.str(raw, p.plain)
			if !ok {
				return fmt.Sprintf("%s %s is not a string", opFields[field], raw), false
			}
			switch field {
			case fF:
				op.F = s
				seen |= hasF
			case fKey:
				op.Key = s
			case fNode:
				op.Node = s
			case fError:
				op.Error = s
			case fFinal:
				op.Final = s
			}
		case fValue:
			op.Value = d.copyValue(raw)
		case fFolded:
			return "", true
		}
		p.space()
		if p.eat('}') {
			break
		}
		if !p.eat(',') {
			return p.syntaxMsg("',' or '}'"), false
		}
		p.space()
	}
	p.space()
	if p.i != len(line) {
		return fmt.Sprintf("unexpected %.20q after the object", line[p.i:]), false
	}
	if seen != hasProcess|hasType|hasF|hasTime {
		for bit, name := range [...]string{"process", "type", "f", "time"} {
			if seen&(1<<bit) == 0 {
				return fmt.Sprintf("missing field %q", name), false
			}
		}
	}
	return op.check(), false
}

// decodeStd is decode written with encoding/json: the reference the fast
// path is tested against, and its fallback for lines it leaves alone.
func decodeStd(line []byte, op *Op) (syntax bool, msg string) {
	if err := json.Unmarshal(line, op); err != nil {
		var se *json.SyntaxError
		return errors.As(err, &se), err.Error()
	}
	// Required fields: some key that names the field (ignoring case, as
	// encoding/json matches them) with a value that is not null.
	required := [...]string{"process", "type", "f", "time"}
	var seen [len(required)]bool
	dec := json.NewDecoder(bytes.NewReader(line))
	if _, err := dec.Token(); err == nil { // the object's '{'
		for dec.More() {
			t, err := dec.Token()
			if err != nil {
				break
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				break
			}
			k, _ := t.(string)
			for i, name := range required {
				if strings.EqualFold(k, name) && string(v) != "null" {
					seen[i] = true
				}
			}
		}
	}
	for i, name := range required {
		if !seen[i] {
			return false, fmt.Sprintf("missing field %q", name)
		}
	}
	return false, op.check()
}

// validJSON reports whether b is one JSON value, as json.Valid does.
func validJSON(b []byte) bool {
	p := jsonLine{b: b}
	p.space()
	if !p.value(0) {
		return false
	}
	p.space()
	return p.i == len(b)
}

// jsonLine is a cursor over one line of JSON.
type jsonLine struct {
	b []byte
	i int
	// plain tells, after str, whether the string decodes to its bytes
	// between the quotes: no escapes and only ASCII.
	plain bool
}

func (p *jsonLine) space() {
	if p.i < len(p.b) && p.b[p.i] > ' ' {
		return // the common case: no space at all
	}
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

// strSpecial marks the bytes that end the plain run of a JSON string: the
// quote, the backslash, control characters and bytes beyond ASCII.
var strSpecial = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// str moves past a JSON string starting at the cursor, checking its escapes
// and that it holds no control characters. Like encoding/json it accepts
// bytes that are not UTF-8.
func (p *jsonLine) str() bool {
	if !p.eat('"') {
		return false
	}
	b := p.b
	p.plain = true
	for i := p.i; ; {
		// Skip the plain run, eight bytes at a time while there are.
		for i+8 <= len(b) {
			if m := special8(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for i < len(b) && !strSpecial[b[i]] {
			i++
		}
		if i >= len(b) {
			return false
		}
		switch c := b[i]; {
		case c >= utf8.RuneSelf:
			p.plain = false
			i++
		case c == '"':
			p.i = i + 1
			return true
		case c == '\\':
			p.plain = false
			if i+1 >= len(b) {
				return false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return false
				}
				i += 6
			default:
				return false
			}
		default:
			return false // a control character
		}
	}
}

// special8 returns, for eight bytes of a string in little-endian order, a
// mask whose lowest set bit is the high bit of the first byte that
// strSpecial marks, or 0 if there is none. (Bits above it may be set
// wrongly by borrows; only the lowest one counts.)
func special8(w uint64) uint64 {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	q := w ^ (ones * '"')
	s := w ^ (ones * '\\')
	return ((q-ones)&^q | (s-ones)&^s | (w-ones*0x20)&^w | w) & high
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// value moves past one JSON value, checking it as encoding/json does. depth
// is the number of arrays and objects around it.
func (p *jsonLine) value(depth int) bool {
	if p.i >= len(p.b) {
		return false
	}
	switch c := p.b[p.i]; c {
	case '"':
		return p.str()
	case '{', '[':
		if depth >= maxNesting {
			return false
		}
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		p.i++
		p.space()
		if p.eat(end) {
			return true
		}
		for {
			if c == '{' {
				if !p.str() {
					return false
				}
				p.space()
				if !p.eat(':') {
					return false
				}
				p.space()
			}
			if !p.value(depth + 1) {
				return false
			}
			p.space()
			if p.eat(end) {
				return true
			}
			if !p.eat(',') {
				return false
			}
			p.space()
		}
	case 't':
		return p.literal("true")
	case 'f':
		return p.literal("false")
	case 'n':
		return p.literal("null")
	}
	return p.number()
}

func (p *jsonLine) literal(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// knownKey moves past a field name spelt exactly as the Recorder writes
// it, with no space before its colon, and the colon. It reports false,
// leaving the cursor, for anything else.
//
// The first four bytes of the ten names differ; a multiplicative hash of
// them picks the one name the key can be, compared in a word or two.
func (p *jsonLine) knownKey() (field, bool) {
	b := p.b[p.i:]
	if len(b) < 10 {
		return fUnknown, false // too short to be worth it; the general way copes
	}
	w := binary.LittleEndian.Uint64(b)
	k := &keyTable[uint32(w)*keyMagic>>(32-keyBits)]
	if k.n == 0 || w&k.mask != k.word || k.n > 8 && binary.LittleEndian.Uint16(b[8:]) != k.tail {
		return fUnknown, false
	}
	p.i += k.n
	return k.f, true
}

// knownKeyEntry is a quoted field name with its colon, as words to compare:
// word under mask for its first eight bytes, tail for the two after.
type knownKeyEntry struct {
	word, mask uint64
	tail       uint16
	n          int
	f          field
}

const (
	keyBits  = 4
	keyMagic = 0x10b
)

// keyTable holds the quoted names of opFields in the slots of their hash.
// A name whose slot is taken would be left to the general way (see
// TestKnownKeyTable).
var keyTable = func() (t [1 << keyBits]knownKeyEntry) {
	for f, name := range opFields {
		q := make([]byte, 16)
		n := copy(q, `"`+name+`":`)
		e := knownKeyEntry{word: binary.LittleEndian.Uint64(q), n: n, f: field(f)}
		e.mask = ^uint64(0) >> (8 * max(0, 8-n))
		e.tail = binary.LittleEndian.Uint16(q[8:])
		if slot := &t[binary.LittleEndian.Uint32(q)*keyMagic>>(32-keyBits)]; slot.n == 0 {
			*slot = e
		}
	}
	return t
}()

// key moves past a field name and its colon, whatever its spelling, and
// returns the field it names; msg says what is wrong with the JSON if it
// cannot.
func (p *jsonLine) key() (f field, msg string) {
	start := p.i
	if !p.str() {
		return fUnknown, p.syntaxMsg("a field name")
	}
	key := p.b[start+1 : p.i-1]
	if !p.plain {
		k, ok := decodeString(p.b[start:p.i])
		if !ok {
			return fUnknown, p.syntaxMsg("a field name")
		}
		key = []byte(k)
	}
	p.space()
	if !p.eat(':') {
		return fUnknown, p.syntaxMsg("':'")
	}
	return fieldOf(key), ""
}

// int moves past an integer that fits in 18 digits and reports it; for
// anything else it reports false and leaves the cursor.
func (p *jsonLine) int() (int64, bool) {
	b, i := p.b, p.i
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	start := i
	end := min(len(b), start+18)
	var n int64
	for i+8 <= end {
		w := binary.LittleEndian.Uint64(b[i:])
		if !eightDigits(w) {
			break
		}
		n = n*1e8 + int64(parseEightDigits(w))
		i += 8
	}
	for ; i < end; i++ {
		d := b[i] - '0'
		if d > 9 {
			break
		}
		n = n*10 + int64(d)
	}
	if i == start || b[start] == '0' && i-start > 1 {
		return 0, false
	}
	if i < len(b) {
		if c := b[i]; c == '.' || c == 'e' || c == 'E' || isDigit(c) {
			return 0, false
		}
	}
	if neg {
		n = -n
	}
	p.i = i
	return n, true
}

// eightDigits reports whether the eight bytes of w are all ASCII digits.
func eightDigits(w uint64) bool {
	return (w&0xf0f0f0f0f0f0f0f0)|((w+0x0606060606060606)&0xf0f0f0f0f0f0f0f0)>>4 == 0x3333333333333333
}

// parseEightDigits returns the value of eight ASCII digits loaded
// little-endian (the first digit in the lowest byte), combining pairs,
// then fours, then the two halves.
func parseEightDigits(w uint64) uint64 {
	w = (w & 0x0f0f0f0f0f0f0f0f) * 2561 >> 8
	w = (w & 0x00ff00ff00ff00ff) * 6553601 >> 16
	return (w & 0x0000ffff0000ffff) * 42949672960001 >> 32
}

// number moves past a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *jsonLine) number() bool {
	b, i := p.b, p.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return false
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return false
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return false
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	p.i = i
	return true
}
