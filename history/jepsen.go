package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// syntheticTimeStep is the time, in ns, between consecutive lines of a
// Jepsen history that carries no times: an op on line i (0-based) gets time
// i*syntheticTimeStep, so times follow the order of the file.
const syntheticTimeStep = 1000

// ReadJepsenFile reads the Jepsen history at path; see ReadJepsen. A
// *ParseError names the file and the line.
func ReadJepsenFile(path string) ([]Op, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ops, err := ReadJepsen(f)
	var pe *ParseError
	if errors.As(err, &pe) {
		pe.File = path
	}
	return ops, err
}

// ReadJepsen imports a history written by Jepsen or Knossos in one of two
// formats: a jepsen.log if any line is a jepsen.util op line, else EDN if
// the first non-blank line starts a map, vector, list, tagged literal or
// comment. Any other input with content is a *ParseError naming its first
// line; blank input is an empty history.
//
//   - EDN: one op map per line, as in a Jepsen store's history.edn, such as
//     {:process 0, :type :invoke, :f :cas, :value [1 2], :time 123, :index 4};
//     or a whole history as one vector or list of op maps spanning many
//     lines, as in Knossos's data files (data/cas-register/good/*.edn);
//     maps spanning lines, tagged maps (#jepsen.history.Op{…}) and comments
//     are accepted too. A torn last form (the input ends inside it, without
//     a final newline) is ignored if an op came before it or it starts like
//     an op map ("{:"); otherwise, and with a final newline, it is an error.
//   - jepsen.log text: op lines carry the marker "jepsen.util" followed by
//     "-" or ":" and the fields process, type, f, value and an optional error,
//     separated by tabs or spaces, as in
//     "INFO  jepsen.util - 3	:info	:cas	[1 2]	:timed-out". Every other
//     line is skipped, including jepsen.util lines whose first field is not a
//     process.
//
// Conversion: :process :nemesis becomes Nemesis; keywords lose their colon
// (:cas → "cas"); values become JSON (nil → null, vectors, lists and sets →
// arrays, maps → objects, keywords and symbols → strings). A client fail or
// info whose value is a bare keyword such as :timed-out has no value; the
// keyword goes to Error. :key, :node and :error are kept as text. Ops with no
// :time get time line*1000 (line 0-based; ops sharing a line get one more
// than the op before, so times follow the order of the file); ops get :index
// when every op has one, else their position.
//
// A malformed op is a *ParseError naming its line. Multi-register
// (independent) tuple values are not split into keys.
func ReadJepsen(r io.Reader) ([]Op, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("history: read Jepsen history: %w", err)
	}
	// A jepsen.log can hold EDN too (test maps printed over several lines),
	// so any op line makes it a log.
	if bytes.Contains(src, []byte("jepsen.util")) {
		for rest := src; len(rest) > 0; {
			var line []byte
			line, rest, _ = bytes.Cut(rest, []byte{'\n'})
			if bytes.Contains(line, []byte("jepsen.util")) {
				if _, ok := jepsenLogFields(string(line)); ok {
					return readJepsenLog(src)
				}
			}
		}
	}
	for rest, lineNo := src, 1; len(rest) > 0; lineNo++ {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte{'\n'})
		if t := bytes.TrimSpace(line); len(t) > 0 {
			if t[0] == '{' || t[0] == '[' || t[0] == '(' || t[0] == '#' || t[0] == ';' {
				return readJepsenEDN(src)
			}
			return nil, &ParseError{Line: lineNo, Msg: fmt.Sprintf(
				"not a Jepsen history: want EDN (an op map, or a vector or list of them) or jepsen.log lines with jepsen.util ops; got %.40q", t)}
		}
	}
	return nil, nil // blank
}

func readJepsenEDN(src []byte) ([]Op, error) {
	rd := newEDNReader(src, 1)
	var (
		ops       []Op
		indexed   = true
		canTear   = src[len(src)-1] != '\n'
		lastSynth = int64(-1) // the last synthetic time given
	)
	add := func(v *ednValue) error {
		if v.kind != ednMap {
			return &ParseError{Line: v.line, Msg: fmt.Sprintf("want an op map, got %.60s", v.String())}
		}
		op, hasIndex, hasTime, msg := jepsenMapOp(v)
		if msg != "" {
			return &ParseError{Line: v.line, Msg: msg}
		}
		if !hasTime {
			// Several ops may share a line (a whole history on one
			// line): keep their order in their times.
			op.Time = max(int64(v.line-1)*syntheticTimeStep, lastSynth+1)
			lastSynth = op.Time
		}
		indexed = indexed && hasIndex
		ops = append(ops, op)
		return nil
	}
	// torn reports whether a form that starts at src[start] and is cut off
	// by the end of the input is a torn last form, which is ignored: the
	// input has no final newline, and an op came before or the form starts
	// like one. Anything else is an error, so that garbage is never an
	// empty history.
	torn := func(start int) bool {
		return canTear && (len(ops) > 0 || startsLikeEDNOp(src[start:]))
	}
	eof := func(err error, line int) error {
		if errors.Is(err, errEDNEOF) {
			return &ParseError{Line: line, Msg: "EDN: the input ends inside the form that starts here"}
		}
		return &ParseError{Line: rd.line, Msg: "EDN: " + err.Error()}
	}
	for !rd.atEnd() {
		if c := src[rd.i]; c == '[' || c == '(' {
			// A whole history as one vector or list (Knossos's data
			// files): read its ops one at a time, so that a torn one
			// leaves those before it.
			closer, openLine, openAt := byte(']'), rd.line, rd.i
			if c == '(' {
				closer = ')'
			}
			rd.i++
			for {
				rd.skipSpace()
				if rd.i >= len(src) {
					if torn(openAt) {
						return finishJepsenEDN(ops, indexed), nil
					}
					return nil, &ParseError{Line: openLine, Msg: fmt.Sprintf("EDN: the input ends inside the %s opened here, before its %q",
						map[byte]string{']': "vector", ')': "list"}[closer], closer)}
				}
				if src[rd.i] == closer {
					rd.i++
					break
				}
				start, line := rd.i, rd.line
				if src[rd.i] == '#' && rd.i+1 < len(src) && src[rd.i+1] == '_' {
					rd.i += 2 // discard the next form
					if _, err := rd.read(); err != nil {
						if errors.Is(err, errEDNEOF) && torn(start) {
							return finishJepsenEDN(ops, indexed), nil
						}
						return nil, eof(err, line)
					}
					continue
				}
				v, err := rd.read()
				if err != nil {
					if errors.Is(err, errEDNEOF) && torn(start) {
						return finishJepsenEDN(ops, indexed), nil
					}
					return nil, eof(err, line)
				}
				if err := add(&v); err != nil {
					return nil, err
				}
			}
			continue
		}
		start, line := rd.i, rd.line
		v, err := rd.read()
		if err != nil {
			if errors.Is(err, errEDNEOF) && torn(start) {
				break // torn last form
			}
			return nil, eof(err, line)
		}
		if v.kind == ednVector || v.kind == ednList {
			// A tagged vector or list: its items are the ops.
			for i := range v.items {
				if err := add(&v.items[i]); err != nil {
					return nil, err
				}
			}
			continue
		}
		if err := add(&v); err != nil {
			return nil, err
		}
	}
	return finishJepsenEDN(ops, indexed), nil
}

// finishJepsenEDN numbers ops by position unless every op had an :index.
func finishJepsenEDN(ops []Op, indexed bool) []Op {
	if !indexed {
		for i := range ops {
			ops[i].Index = int64(i)
		}
	}
	return ops
}

// startsLikeEDNOp reports whether b, after whitespace and comments, begins
// as an op map does: "{" (optionally tagged, or inside an opening "[" or
// "(") followed by the end of b or a keyword.
func startsLikeEDNOp(b []byte) bool {
	rd := newEDNReader(b, 1)
	rd.skipSpace()
	if rd.i < len(b) && (b[rd.i] == '[' || b[rd.i] == '(') {
		rd.i++
		rd.skipSpace()
	}
	if rd.i < len(b) && b[rd.i] == '#' {
		rd.i++
		if rd.token() == "" {
			return false
		}
		rd.skipSpace()
	}
	if rd.i >= len(b) || b[rd.i] != '{' {
		return false
	}
	rd.i++
	rd.skipSpace()
	return rd.i >= len(b) || b[rd.i] == ':'
}

// jepsenMapOp converts one EDN op map.
func jepsenMapOp(m *ednValue) (op Op, hasIndex, hasTime bool, msg string) {
	var hasProcess, hasType bool
	var value *ednValue
	for i := 0; i+1 < len(m.items); i += 2 {
		k, v := &m.items[i], &m.items[i+1]
		if k.kind != ednKeyword {
			continue
		}
		switch k.text {
		case "process":
			p, ok := jepsenProcess(v)
			if !ok {
				return op, false, false, fmt.Sprintf(":process %s is neither a non-negative integer nor :nemesis", v)
			}
			op.Process, hasProcess = p, true
		case "type":
			t, ok := jepsenType(v)
			if !ok {
				return op, false, false, fmt.Sprintf(":type %s is not :invoke, :ok, :fail or :info", v)
			}
			op.Type, hasType = t, true
		case "f":
			op.F = v.name()
		case "value":
			value = v
		case "time", "index":
			n, err := ednInt64(v)
			if err != nil {
				return op, false, false, fmt.Sprintf(":%s %s: %v", k.text, v, err)
			}
			if k.text == "time" {
				op.Time, hasTime = n, true
			} else {
				op.Index, hasIndex = n, true
			}
		case "key":
			op.Key = v.name()
		case "node":
			op.Node = v.name()
		case "error":
			if v.kind != ednNil {
				op.Error = v.name()
			}
		}
	}
	switch {
	case !hasProcess:
		return op, false, false, "missing :process"
	case !hasType:
		return op, false, false, "missing :type"
	case op.F == "":
		return op, false, false, "missing :f"
	}
	setJepsenValue(&op, value)
	if msg := op.check(); msg != "" {
		return op, false, false, msg
	}
	return op, hasIndex, hasTime, ""
}

// setJepsenValue stores v (nil: absent) as op's value, or in op.Error when
// it is the bare keyword of a client fail or info (:timed-out).
func setJepsenValue(op *Op, v *ednValue) {
	if v == nil {
		return
	}
	if v.kind == ednKeyword && !op.IsNemesis() && (op.Type == Info || op.Type == Fail) {
		if op.Error == "" {
			op.Error = v.text
		}
		return
	}
	op.Value = json.RawMessage(v.appendJSON(nil))
}

func jepsenProcess(v *ednValue) (Process, bool) {
	switch v.kind {
	case ednInt:
		n, err := strconv.ParseInt(v.text, 10, 32)
		if err != nil || n < 0 {
			return 0, false
		}
		return Process(n), true
	case ednKeyword, ednString, ednSymbol:
		if v.text == "nemesis" {
			return Nemesis, true
		}
	}
	return 0, false
}

func jepsenType(v *ednValue) (Type, bool) {
	switch v.kind {
	case ednKeyword, ednString, ednSymbol:
		t := Type(v.text)
		return t, t.Valid()
	}
	return "", false
}

func ednInt64(v *ednValue) (int64, error) {
	if v.kind != ednInt {
		return 0, errors.New("not an integer")
	}
	return strconv.ParseInt(v.text, 10, 64)
}

// jepsenLogFields returns the text after the jepsen.util marker of an op
// line, and whether line is one: the marker must be followed by a process
// (an integer or :nemesis).
func jepsenLogFields(line string) (string, bool) {
	const marker = "jepsen.util"
	i := strings.Index(line, marker)
	for i >= 0 {
		rest := line[i+len(marker):]
		if fields, ok := afterMarker(rest); ok {
			return fields, true
		}
		j := strings.Index(rest, marker)
		if j < 0 {
			break
		}
		i += len(marker) + j
	}
	return "", false
}

// afterMarker strips the separator after "jepsen.util" (" - ", ": " or
// whitespace) and checks that a process follows.
func afterMarker(rest string) (string, bool) {
	switch {
	case strings.HasPrefix(rest, ":") && len(rest) > 1 && (rest[1] == ' ' || rest[1] == '\t'):
		rest = rest[1:]
	case len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t'):
	default:
		return "", false
	}
	rest = strings.TrimLeft(rest, " \t")
	if strings.HasPrefix(rest, "-") && len(rest) > 1 && (rest[1] == ' ' || rest[1] == '\t') {
		rest = strings.TrimLeft(rest[1:], " \t")
	}
	p := rest
	if k := strings.IndexAny(p, " \t"); k >= 0 {
		p = p[:k]
	}
	if p == ":nemesis" || isDigits(p) {
		return rest, true
	}
	return "", false
}

func readJepsenLog(src []byte) ([]Op, error) {
	var ops []Op
	for rest, lineNo := src, 0; len(rest) > 0; lineNo++ {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte{'\n'})
		fields, ok := jepsenLogFields(string(bytes.TrimRight(line, "\r")))
		if !ok {
			continue
		}
		op, msg := jepsenLogOp(fields)
		if msg != "" {
			return nil, &ParseError{Line: lineNo + 1, Msg: msg}
		}
		op.Index = int64(len(ops))
		op.Time = int64(lineNo) * syntheticTimeStep
		ops = append(ops, op)
	}
	return ops, nil
}

// jepsenLogOp parses "3	:info	:cas	[1 2]	:timed-out".
func jepsenLogOp(fields string) (op Op, msg string) {
	rd := newEDNReader([]byte(fields), 1)
	pv, err := rd.read()
	if err != nil {
		return op, "process: " + err.Error()
	}
	p, ok := jepsenProcess(&pv)
	if !ok {
		return op, fmt.Sprintf("process %s is neither a non-negative integer nor :nemesis", pv.String())
	}
	op.Process = p
	tv, err := rd.read()
	if err != nil {
		return op, "type: missing or unreadable after the process"
	}
	if op.Type, ok = jepsenType(&tv); !ok {
		return op, fmt.Sprintf("type %s is not :invoke, :ok, :fail or :info", tv.String())
	}
	fv, err := rd.read()
	if err != nil {
		return op, "f: missing or unreadable after the type"
	}
	op.F = fv.name()
	if rd.atEnd() {
		return op, ""
	}
	valueStart := rd.i
	v, err := rd.read()
	if err != nil {
		if !op.IsNemesis() {
			return op, fmt.Sprintf("value %.60q: %v", fields[valueStart:], err)
		}
		// Nemesis values are often printed objects that are not EDN.
		op.Value = json.RawMessage(appendString(nil, strings.TrimSpace(fields[valueStart:])))
		return op, ""
	}
	op.Error = strings.TrimSpace(fields[rd.i:])
	if strings.HasPrefix(op.Error, ":") && strings.IndexAny(op.Error, " \t") < 0 {
		op.Error = op.Error[1:]
	}
	setJepsenValue(&op, &v)
	if m := op.check(); m != "" {
		return op, m
	}
	return op, ""
}
