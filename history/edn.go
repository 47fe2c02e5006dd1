package history

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file is a small reader for the subset of EDN that Jepsen writes:
// nil, booleans, integers (with an optional N), floats (with an optional M),
// ratios, strings, characters, keywords, symbols, lists, vectors, sets, maps,
// tagged literals (#inst "…", #jepsen.history.Op{…}: the tag is dropped),
// #_ discards, ; comments, and commas as whitespace.

type ednKind uint8

const (
	ednNil ednKind = iota
	ednBool
	ednInt    // text holds the digits (without N)
	ednFloat  // text holds the number (without M); ratios too
	ednString // text holds the decoded string
	ednChar   // text holds the character
	ednKeyword
	ednSymbol
	ednList
	ednVector
	ednSet
	ednMap // items alternate key, value
)

// ednValue is one parsed EDN form.
type ednValue struct {
	kind  ednKind
	text  string // keywords without the colon
	b     bool
	items []ednValue
	line  int // 1-based line where the form starts
}

// errEDNEOF is returned when the input ends inside a form.
var errEDNEOF = errors.New("input ends inside a form")

// ednReader reads forms from src.
type ednReader struct {
	src   []byte
	i     int
	line  int // 1-based line of src[i]
	depth int // forms being read, nested
}

// maxEDNDepth bounds the nesting of forms (collections, tags, discards), so
// that a hostile input cannot exhaust the stack.
const maxEDNDepth = 1000

func newEDNReader(src []byte, line int) *ednReader {
	return &ednReader{src: src, line: line}
}

// skipSpace moves past whitespace, commas and comments.
func (r *ednReader) skipSpace() {
	for r.i < len(r.src) {
		switch c := r.src[r.i]; c {
		case '\n':
			r.line++
			r.i++
		case ' ', '\t', '\r', ',', '\f':
			r.i++
		case ';':
			for r.i < len(r.src) && r.src[r.i] != '\n' {
				r.i++
			}
		default:
			return
		}
	}
}

// atEnd reports whether only whitespace and comments remain.
func (r *ednReader) atEnd() bool {
	r.skipSpace()
	return r.i >= len(r.src)
}

func isDelimiter(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', ',', '\f', '(', ')', '[', ']', '{', '}', '"', ';':
		return true
	}
	return false
}

// token returns the run of non-delimiter bytes at the cursor.
func (r *ednReader) token() string {
	start := r.i
	for r.i < len(r.src) && !isDelimiter(r.src[r.i]) {
		r.i++
	}
	return string(r.src[start:r.i])
}

// read reads one form.
func (r *ednReader) read() (ednValue, error) {
	r.skipSpace()
	if r.i >= len(r.src) {
		return ednValue{}, errEDNEOF
	}
	line := r.line
	if r.depth >= maxEDNDepth {
		return ednValue{}, fmt.Errorf("forms nested deeper than %d", maxEDNDepth)
	}
	r.depth++
	v, err := r.readForm()
	r.depth--
	v.line = line
	return v, err
}

func (r *ednReader) readForm() (ednValue, error) {
	c := r.src[r.i]
	switch c {
	case '(':
		r.i++
		return r.readSeq(ednList, ')')
	case '[':
		r.i++
		return r.readSeq(ednVector, ']')
	case '{':
		r.i++
		v, err := r.readSeq(ednMap, '}')
		if err == nil && len(v.items)%2 != 0 {
			return v, errors.New("map has an odd number of forms")
		}
		return v, err
	case ')', ']', '}':
		return ednValue{}, fmt.Errorf("unexpected %q", c)
	case '"':
		return r.readString()
	case '\\':
		r.i++
		if r.i >= len(r.src) {
			return ednValue{}, errEDNEOF
		}
		// The first character is taken even if it is a delimiter (\( \space).
		start := r.i
		_, size := utf8.DecodeRune(r.src[r.i:])
		r.i += size
		for r.i < len(r.src) && !isDelimiter(r.src[r.i]) {
			r.i++
		}
		name := string(r.src[start:r.i])
		switch name {
		case "newline":
			name = "\n"
		case "space":
			name = " "
		case "tab":
			name = "\t"
		case "return":
			name = "\r"
		}
		return ednValue{kind: ednChar, text: name}, nil
	case '#':
		r.i++
		if r.i >= len(r.src) {
			return ednValue{}, errEDNEOF
		}
		switch r.src[r.i] {
		case '{':
			r.i++
			return r.readSeq(ednSet, '}')
		case '_':
			r.i++
			if _, err := r.read(); err != nil {
				return ednValue{}, err
			}
			return r.read()
		case '<':
			return ednValue{}, errors.New("unreadable form #<…>")
		}
		tag := r.token()
		if tag == "" {
			return ednValue{}, errors.New("'#' without a tag")
		}
		// A tagged literal reads as its form; the tag is dropped.
		return r.read()
	case ':':
		r.i++
		name := strings.TrimPrefix(r.token(), ":") // ::k, an auto-resolved keyword, is k
		if name == "" || name[0] == ':' {
			return ednValue{}, fmt.Errorf("bad keyword %q", ":"+name)
		}
		return ednValue{kind: ednKeyword, text: name}, nil
	}
	tok := r.token()
	if tok == "" {
		return ednValue{}, fmt.Errorf("unexpected %q", c)
	}
	switch tok {
	case "nil":
		return ednValue{kind: ednNil}, nil
	case "true":
		return ednValue{kind: ednBool, b: true}, nil
	case "false":
		return ednValue{kind: ednBool, b: false}, nil
	}
	if c >= '0' && c <= '9' || (c == '-' || c == '+') && len(tok) > 1 && tok[1] >= '0' && tok[1] <= '9' {
		return parseEDNNumber(tok)
	}
	return ednValue{kind: ednSymbol, text: tok}, nil
}

// parseEDNNumber parses an EDN number; the text it keeps is valid JSON.
func parseEDNNumber(tok string) (ednValue, error) {
	t := strings.TrimPrefix(tok, "+")
	t = strings.TrimSuffix(t, "N")
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		return ednValue{kind: ednInt, text: strconv.FormatInt(n, 10)}, nil
	}
	if neg, digits := strings.HasPrefix(t, "-"), strings.TrimPrefix(t, "-"); isDigits(digits) {
		digits = strings.TrimLeft(digits, "0") // big integer; not 0, or ParseInt took it
		if neg {
			digits = "-" + digits
		}
		return ednValue{kind: ednInt, text: digits}, nil
	}
	finite := func(f float64) bool { return !math.IsInf(f, 0) && !math.IsNaN(f) }
	if f, err := strconv.ParseFloat(strings.TrimSuffix(t, "M"), 64); err == nil && finite(f) {
		return ednValue{kind: ednFloat, text: strconv.FormatFloat(f, 'g', -1, 64)}, nil
	}
	// A ratio of integers, such as 1/3.
	if num, den, ok := strings.Cut(t, "/"); ok && isDigits(strings.TrimPrefix(num, "-")) && isDigits(den) {
		n, err1 := strconv.ParseFloat(num, 64)
		d, err2 := strconv.ParseFloat(den, 64)
		if err1 == nil && err2 == nil && d != 0 && finite(n/d) {
			return ednValue{kind: ednFloat, text: strconv.FormatFloat(n/d, 'g', -1, 64)}, nil
		}
	}
	return ednValue{}, fmt.Errorf("bad number %q", tok)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (r *ednReader) readSeq(kind ednKind, end byte) (ednValue, error) {
	v := ednValue{kind: kind}
	for {
		r.skipSpace()
		if r.i >= len(r.src) {
			return v, errEDNEOF
		}
		if r.src[r.i] == end {
			r.i++
			return v, nil
		}
		if r.src[r.i] == '#' && r.i+1 < len(r.src) && r.src[r.i+1] == '_' {
			r.i += 2 // discard the next form, which may be the last one
			if _, err := r.read(); err != nil {
				return v, err
			}
			continue
		}
		item, err := r.read()
		if err != nil {
			return v, err
		}
		v.items = append(v.items, item)
	}
}

func (r *ednReader) readString() (ednValue, error) {
	r.i++ // opening quote
	var sb strings.Builder
	for r.i < len(r.src) {
		c := r.src[r.i]
		switch c {
		case '"':
			r.i++
			return ednValue{kind: ednString, text: sb.String()}, nil
		case '\n':
			r.line++
		case '\\':
			r.i++
			if r.i >= len(r.src) {
				return ednValue{}, errEDNEOF
			}
			switch e := r.src[r.i]; e {
			case 'n':
				sb.WriteByte('\n')
			case 't':
				sb.WriteByte('\t')
			case 'r':
				sb.WriteByte('\r')
			case 'b':
				sb.WriteByte('\b')
			case 'f':
				sb.WriteByte('\f')
			case '"', '\\', '\'':
				sb.WriteByte(e)
			case 'u':
				if r.i+4 >= len(r.src) {
					return ednValue{}, errEDNEOF
				}
				n, err := strconv.ParseUint(string(r.src[r.i+1:r.i+5]), 16, 32)
				if err != nil {
					return ednValue{}, fmt.Errorf("bad \\u escape %q", r.src[r.i+1:r.i+5])
				}
				sb.WriteRune(rune(n))
				r.i += 4
			default:
				return ednValue{}, fmt.Errorf("bad string escape \\%c", e)
			}
			r.i++
			continue
		}
		sb.WriteByte(c)
		r.i++
	}
	return ednValue{}, errEDNEOF
}

// appendJSON appends v as JSON: nil → null, numbers as numbers, strings,
// keywords (without the colon), symbols and characters → strings, lists,
// vectors and sets → arrays, maps → objects keyed by the key's name
// (keywords and strings) or its EDN text (anything else).
func (v *ednValue) appendJSON(dst []byte) []byte {
	switch v.kind {
	case ednNil:
		return append(dst, "null"...)
	case ednBool:
		return strconv.AppendBool(dst, v.b)
	case ednInt, ednFloat:
		return append(dst, v.text...)
	case ednString, ednChar, ednKeyword, ednSymbol:
		return appendString(dst, v.text)
	case ednList, ednVector, ednSet:
		dst = append(dst, '[')
		for i := range v.items {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = v.items[i].appendJSON(dst)
		}
		return append(dst, ']')
	case ednMap:
		dst = append(dst, '{')
		for i := 0; i+1 < len(v.items); i += 2 {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, v.items[i].name())
			dst = append(dst, ':')
			dst = v.items[i+1].appendJSON(dst)
		}
		return append(dst, '}')
	}
	return append(dst, "null"...)
}

// name is a form's plain text: keywords without the colon, strings without
// quotes, anything else as EDN.
func (v *ednValue) name() string {
	switch v.kind {
	case ednString, ednChar, ednKeyword, ednSymbol, ednInt, ednFloat:
		return v.text
	}
	return v.String()
}

// String renders v as EDN.
func (v *ednValue) String() string {
	var sb strings.Builder
	v.writeEDN(&sb)
	return sb.String()
}

func (v *ednValue) writeEDN(sb *strings.Builder) {
	seq := func(open, close string) {
		sb.WriteString(open)
		for i := range v.items {
			if i > 0 {
				sb.WriteByte(' ')
			}
			v.items[i].writeEDN(sb)
		}
		sb.WriteString(close)
	}
	switch v.kind {
	case ednNil:
		sb.WriteString("nil")
	case ednBool:
		sb.WriteString(strconv.FormatBool(v.b))
	case ednInt, ednSymbol:
		sb.WriteString(v.text)
	case ednFloat:
		sb.WriteString(v.text)
		if !strings.ContainsAny(v.text, ".eE") {
			sb.WriteString(".0") // 1e0 is 1.0, not the integer 1
		}
	case ednString:
		writeEDNString(sb, v.text)
	case ednChar:
		sb.WriteString(`\` + v.text)
	case ednKeyword:
		sb.WriteString(":" + v.text)
	case ednList:
		seq("(", ")")
	case ednVector:
		seq("[", "]")
	case ednSet:
		seq("#{", "}")
	case ednMap:
		seq("{", "}")
	}
}

// writeEDNString writes s as an EDN string, with the escapes readString
// reads; other bytes, UTF-8 or not, are written as they are.
func writeEDNString(sb *strings.Builder, s string) {
	sb.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case '\n':
			sb.WriteString(`\n`)
		case '\t':
			sb.WriteString(`\t`)
		case '\r':
			sb.WriteString(`\r`)
		case '\b':
			sb.WriteString(`\b`)
		case '\f':
			sb.WriteString(`\f`)
		default:
			if c < 0x20 {
				fmt.Fprintf(sb, `\u%04x`, c)
				continue
			}
			sb.WriteByte(c)
		}
	}
	sb.WriteByte('"')
}
