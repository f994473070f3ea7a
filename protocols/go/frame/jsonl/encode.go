package jsonl

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"stdiobridge/protocols/go/frame"
)

// Marshal returns the compact JSON encoding of v; see Append.
func Marshal(v any) ([]byte, error) {
	return Append(nil, v)
}

// Append appends the compact JSON encoding of v to dst: no spaces, non-ASCII
// text as raw UTF-8, no HTML escaping, control characters escaped (\n, \t, ...,
// \u001f). It handles the values Value.Interface returns (nil, bool, string,
// json.Number, []any, Object) and also integers, float32/float64,
// map[string]any (keys sorted), []Member and Value; any other type goes through
// encoding/json. A json.Number is written as it is (after checking it is a
// JSON number); a float is written the shortest way that reads back the same,
// and always looks like a float ("2.0", "1e+16"), as Python writes it.
//
// NaN, infinities, invalid UTF-8 in a string and nesting deeper than 10000
// levels are a *frame.EncodeError.
func Append(dst []byte, v any) ([]byte, error) {
	return appendAny(dst, v, 0)
}

func appendAny(dst []byte, v any, depth int) ([]byte, error) {
	switch v := v.(type) {
	case Value:
		return appendValue(dst, v), nil
	case nil:
		return append(dst, "null"...), nil
	case bool:
		if v {
			return append(dst, "true"...), nil
		}
		return append(dst, "false"...), nil
	case string:
		return appendString(dst, v)
	case json.Number:
		if !isNumber(string(v)) {
			return dst, frame.Encodef("json.Number %q is not a JSON number", string(v))
		}
		return append(dst, v...), nil
	case []any:
		if depth >= maxDepth {
			return dst, frame.Encodef("value nested deeper than %d", maxDepth)
		}
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendAny(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	case Object:
		return appendMembers(dst, v, depth)
	case []Member:
		return appendMembers(dst, v, depth)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		o := make(Object, len(keys))
		for i, k := range keys {
			o[i] = Member{k, v[k]}
		}
		return appendMembers(dst, o, depth)
	case float64:
		return appendFloat(dst, v, 64)
	case float32:
		return appendFloat(dst, float64(v), 32)
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int8:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int16:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case uint:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint8:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint16:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint32:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint64:
		return strconv.AppendUint(dst, v, 10), nil
	}
	return appendOther(dst, v)
}

func appendMembers(dst []byte, o []Member, depth int) ([]byte, error) {
	if depth >= maxDepth {
		return dst, frame.Encodef("value nested deeper than %d", maxDepth)
	}
	dst = append(dst, '{')
	for i, m := range o {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendString(dst, m.Key); err != nil {
			return dst, err
		}
		dst = append(dst, ':')
		if dst, err = appendAny(dst, m.Value, depth+1); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// appendOther encodes a value of another type (a struct, a []string, ...)
// with encoding/json, without HTML escaping.
func appendOther(dst []byte, v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, frame.Encodef("%T: %v", v, err)
	}
	return append(dst, bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})...), nil
}

const hexDigits = "0123456789abcdef"

// appendValue appends the encoding of a decoded Value. Its strings are
// valid UTF-8 and its numbers valid JSON, so nothing can fail.
func appendValue(dst []byte, v Value) []byte {
	if v.node() == nil {
		return append(dst, "null"...)
	}
	dst, _ = v.doc.appendNode(dst, v.i)
	return dst
}

// appendNode appends the encoding of node i and its children, and returns
// the index of the node after them.
func (d *document) appendNode(dst []byte, i uint32) ([]byte, uint32) {
	nd := &d.nodes[i]
	if nd.kind != KindArray && nd.kind != KindObject {
		return d.appendScalar(dst, nd), i + 1
	}
	open := byte('[')
	if nd.kind == KindObject {
		open = '{'
	}
	dst = append(dst, open)
	j := i + 1
	for k := range nd.n {
		if k > 0 {
			if nd.kind == KindObject && k%2 == 1 {
				dst = append(dst, ':')
			} else {
				dst = append(dst, ',')
			}
		}
		if c := &d.nodes[j]; c.kind != KindArray && c.kind != KindObject {
			dst = d.appendScalar(dst, c) // no call per scalar child
			j++
		} else {
			dst, j = d.appendNode(dst, j)
		}
	}
	return append(dst, open+2), j // ']' and '}' follow '[' and '{' by 2
}

// appendScalar appends the encoding of a node that is not a container.
func (d *document) appendScalar(dst []byte, nd *node) []byte {
	switch nd.kind {
	case KindString:
		if nd.flags&flagEscaped != 0 {
			return appendQuoted(dst, d.esc[nd.start:nd.end])
		}
		// Not escaped in the text, so the text with its quotes is the encoding.
		return append(dst, d.text[nd.start-1:nd.end+1]...)
	case KindNumber:
		return append(dst, d.text[nd.start:nd.end]...)
	case KindBool:
		if nd.flags&flagTrue != 0 {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	}
	return append(dst, "null"...)
}

// appendString appends s as a JSON string, or fails if s is not UTF-8.
func appendString(dst []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return dst, frame.Encodef("string is not valid UTF-8: %q", s[:min(len(s), 40)])
	}
	return appendQuoted(dst, s), nil
}

// appendQuoted appends s, which is valid UTF-8, as a JSON string.
func appendQuoted(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for {
		j := indexSpecial(s)
		if j < 0 {
			break
		}
		dst = append(dst, s[:j]...)
		switch c := s[j]; c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		s = s[j+1:]
	}
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendFloat appends f like Python's repr: the shortest decimal that reads
// back as f, in exponent form below 1e-4 and from 1e16 on, and with ".0" when
// it would otherwise look like an integer.
func appendFloat(dst []byte, f float64, bitSize int) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, frame.Encodef("%v is not a JSON number", f)
	}
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-4 || abs >= 1e16) {
		return strconv.AppendFloat(dst, f, 'e', -1, bitSize), nil
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'f', -1, bitSize)
	if bytes.IndexByte(dst[start:], '.') < 0 {
		dst = append(dst, '.', '0')
	}
	return dst, nil
}

// isNumber reports whether s is a JSON number:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isNumber(s string) bool {
	i := 0
	digits := func() int {
		start := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return i - start
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}
