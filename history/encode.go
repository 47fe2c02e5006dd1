package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// appendJSON appends op as one JSON object (no trailing newline) to dst. The
// output decodes with encoding/json (or Read) to an equal Op; its field
// order and omissions match encoding/json's encoding of Op. op.Value must
// already be valid, compact JSON (see normalizeValue).
func appendJSON(dst []byte, op *Op) []byte {
	dst = append(dst, `{"index":`...)
	dst = strconv.AppendInt(dst, op.Index, 10)
	dst = append(dst, ',')
	return appendBody(dst, op)
}

// appendBody appends every field of op after the index, and the closing
// brace: `"process":3,"type":"ok",...}`.
func appendBody(dst []byte, op *Op) []byte {
	dst = append(dst, `"process":`...)
	if op.Process == Nemesis {
		dst = append(dst, `"nemesis"`...)
	} else {
		dst = strconv.AppendInt(dst, int64(op.Process), 10)
	}
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, string(op.Type))
	dst = append(dst, `,"f":`...)
	dst = appendString(dst, op.F)
	if op.Key != "" {
		dst = append(dst, `,"key":`...)
		dst = appendString(dst, op.Key)
	}
	if len(op.Value) > 0 {
		dst = append(dst, `,"value":`...)
		dst = append(dst, op.Value...)
	}
	dst = append(dst, `,"time":`...)
	dst = strconv.AppendInt(dst, op.Time, 10)
	if op.Node != "" {
		dst = append(dst, `,"node":`...)
		dst = appendString(dst, op.Node)
	}
	if op.Error != "" {
		dst = append(dst, `,"error":`...)
		dst = appendString(dst, op.Error)
	}
	if op.Final != "" {
		dst = append(dst, `,"final":`...)
		dst = appendString(dst, op.Final)
	}
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping as encoding/json does
// except that <, > and & are left alone. Invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript parsers.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// normalizeValue returns v in a form that can be embedded in one JSONL line:
// it must be valid JSON, and it is compacted if it spans several lines.
func normalizeValue(v json.RawMessage) (json.RawMessage, error) {
	if len(v) == 0 {
		return v, nil
	}
	if !json.Valid(v) {
		return nil, fmt.Errorf("value %.40q is not valid JSON", v)
	}
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return v, nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
