package jsonl

import (
	"bytes"
	"fmt"
	"math"
	"unicode/utf16"
	"unicode/utf8"

	"stdiobridge/protocols/go/frame"
)

// maxDepth bounds the nesting of arrays and objects, like encoding/json.
const maxDepth = 10000

// Unmarshal decodes one JSON value (RFC 8259, UTF-8, surrounding whitespace
// allowed). Anything else — empty input, two values, NaN, invalid UTF-8, a
// control character in a string, a lone surrogate escape — is a
// *frame.DecodeError.
func Unmarshal(data []byte) (Value, error) {
	if !utf8.Valid(data) {
		return Value{}, frame.Decodef("JSON text is not valid UTF-8")
	}
	var d decoder
	return d.decode(data)
}

// decoder parses JSON texts into documents.
type decoder struct {
	b     []byte // the text being parsed
	i     int    // position in b
	depth int
	nodes []node   // the tape being built
	open  []uint32 // the tape indices of the open containers
	esc   []byte   // the unescaped strings of the text

	// A Reader reuses its document, tape and buffers from one text to the
	// next, so that decoding allocates nothing but the copy of the text.
	reuse bool
	doc   *document
}

// decode parses b, which must be valid UTF-8.
func (d *decoder) decode(b []byte) (Value, error) {
	if uint64(len(b)) > math.MaxUint32 {
		return Value{}, frame.Decodef("JSON text of %d bytes is too large to decode", len(b))
	}
	doc := d.doc
	if !d.reuse || doc == nil {
		doc = &document{}
	}
	doc.gen++ // Values from the last decode are now stale
	d.b, d.i, d.depth = b, 0, 0
	d.nodes, d.esc = doc.nodes[:0], d.esc[:0]
	err := d.parse()
	if err == nil {
		if d.i = skipSpace(b, d.i); d.i < len(b) {
			err = d.errorf("unexpected %q after the value", b[d.i])
		}
	}
	doc.nodes = d.nodes
	d.b, d.nodes = nil, nil
	if d.reuse {
		d.doc = doc
	}
	if err != nil {
		return Value{}, err
	}
	doc.text, doc.esc = string(b), string(d.esc)
	return Value{doc, 0, doc.gen}, nil
}

// errorf returns a *frame.DecodeError that tells the position d.i.
func (d *decoder) errorf(format string, args ...any) error {
	return d.errorAt(d.i, format, args...)
}

// errorAt returns a *frame.DecodeError that tells the position i.
func (d *decoder) errorAt(i int, format string, args ...any) error {
	return frame.Decodef("invalid JSON at byte %d: %s", i, fmt.Sprintf(format, args...))
}

// parse parses the value at d.i, after optional whitespace, onto the tape.
// It is one loop with an explicit stack of open containers (d.open), and
// keeps its position and tape in locals: this is the hot path of the jsonl
// codec.
func (d *decoder) parse() error {
	var err error
	d.i, d.nodes, d.open, err = d.parseFrom(d.b, d.i, d.nodes, d.open[:0])
	return err
}

// parseFrom is parse with the decoder's hot state in arguments and results,
// which the compiler keeps in registers.
func (d *decoder) parseFrom(b []byte, i int, nodes []node, open []uint32) (int, []node, []uint32, error) {
	var err error
	for {
		// A value starts here (after whitespace).
		i = skipSpace(b, i)
		if i >= len(b) {
			if len(b) == 0 {
				return i, nodes, open, d.errorAt(i, "empty line")
			}
			return i, nodes, open, d.errorAt(i, "unexpected end of text")
		}
		switch c := b[i]; {
		case c == '"':
			start := i + 1
			end, plain := scanString(b, start)
			if !plain {
				d.i, d.nodes = i, nodes
				err = d.strEscaped(start, end)
				i, nodes = d.i, d.nodes
				if err != nil {
					return i, nodes, open, err
				}
				break
			}
			nodes = append(nodes, node{kind: KindString, start: uint32(start), end: uint32(end)})
			i = end + 1
		case c == '{' || c == '[':
			if len(open) >= maxDepth {
				return i, nodes, open, d.errorAt(i, "nested deeper than %d", maxDepth)
			}
			kind, closing := KindArray, byte(']')
			if c == '{' {
				kind, closing = KindObject, '}'
			}
			i = skipSpace(b, i+1)
			if i < len(b) && b[i] == closing {
				nodes = append(nodes, node{kind: kind, end: uint32(len(nodes) + 1)})
				i++
				break // an empty container: complete
			}
			open = append(open, uint32(len(nodes)))
			nodes = append(nodes, node{kind: kind})
			if kind == KindObject {
				if i, nodes, err = d.key(b, i, nodes); err != nil {
					return i, nodes, open, err
				}
			}
			continue // parse the first element
		case c == 't' || c == 'f' || c == 'n':
			word, nd := "null", node{kind: KindNull}
			switch c {
			case 't':
				word, nd = "true", node{kind: KindBool, flags: flagTrue}
			case 'f':
				word, nd = "false", node{kind: KindBool}
			}
			if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
				return i, nodes, open, d.errorAt(i, "expected %s", word)
			}
			nodes = append(nodes, nd)
			i += len(word)
		case c == '-' || '0' <= c && c <= '9':
			end, ok := scanNumber(b, i)
			if !ok {
				return end, nodes, open, d.errorAt(end, "invalid number")
			}
			nodes = append(nodes, node{kind: KindNumber, start: uint32(i), end: uint32(end)})
			i = end
		default:
			return i, nodes, open, d.errorAt(i, "unexpected %q", c)
		}

		// A value is complete: count it in its container, then go on to the
		// next element, or close containers.
		for {
			if len(open) == 0 {
				return i, nodes, open, nil
			}
			top := &nodes[open[len(open)-1]]
			top.n++
			i = skipSpace(b, i)
			if i >= len(b) {
				return i, nodes, open, d.errorAt(i, "unterminated %s", top.kind)
			}
			closing := byte(']')
			if top.kind == KindObject {
				closing = '}'
				top.n++ // the member's key
			}
			c := b[i]
			i++
			if c == closing {
				top.end = uint32(len(nodes))
				open = open[:len(open)-1]
				continue // the container is a complete value too
			}
			if c != ',' {
				return i - 1, nodes, open, d.errorAt(i-1, "expected ',' or %q in %s, found %q", closing, top.kind, c)
			}
			if top.kind == KindObject {
				if i, nodes, err = d.key(b, i, nodes); err != nil {
					return i, nodes, open, err
				}
			}
			break
		}
	}
}

// key parses an object key and its colon at b[i:] (after whitespace) onto
// the tape, and returns the position after the colon.
func (d *decoder) key(b []byte, i int, nodes []node) (int, []node, error) {
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != '"' {
		return i, nodes, d.errorAt(i, "expected a string key in object")
	}
	start := i + 1
	end, plain := scanString(b, start)
	if plain {
		nodes = append(nodes, node{kind: KindString, start: uint32(start), end: uint32(end)})
		i = end + 1
	} else {
		d.i, d.nodes = i, nodes
		err := d.strEscaped(start, end)
		i, nodes = d.i, d.nodes
		if err != nil {
			return i, nodes, err
		}
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return i, nodes, d.errorAt(i, "expected ':' after object key")
	}
	return i + 1, nodes, nil
}

// skipSpace returns the position of the first byte from i that is not JSON
// whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanNumber scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at b[i:]
// and returns where it ends, or where it went wrong and ok == false.
func scanNumber(b []byte, i int) (end int, ok bool) {
	digits := func() int {
		start := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i - start
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return i, false
		}
	}
	return i, true
}

// scanString scans the string that starts at b[start:] (after its opening
// quote). If it is plain — no escape, no control character — it returns the
// index of the closing quote and true. Otherwise it returns a position up
// to which the string is plain, and false.
func scanString(b []byte, start int) (end int, plain bool) {
	end = start
	// Short strings (keys, mostly): a byte loop is fastest.
	for limit := min(len(b), start+16); end < limit; end++ {
		switch c := b[end]; {
		case c == '"':
			return end, true
		case c == '\\' || c < 0x20:
			return end, false
		}
	}
	// Long strings: find the closing quote, then look for escapes and control
	// characters before it, with fast whole-slice scans.
	q := bytes.IndexByte(b[end:], '"')
	if q < 0 {
		return end, false // unterminated: strEscaped reports it
	}
	if seg := b[end : end+q]; bytes.IndexByte(seg, '\\') >= 0 || hasControl(seg) {
		return end, false
	}
	return end + q, true
}

// strEscaped parses the rest of a string from i (≥ start), unescaping it to
// the end of d.esc.
func (d *decoder) strEscaped(start, i int) error {
	b := d.b
	escStart := len(d.esc)
	buf := append(d.esc, b[start:i]...)
	for {
		j := indexSpecial(b[i:])
		if j < 0 {
			d.i = len(b)
			return d.errorf("unterminated string")
		}
		buf = append(buf, b[i:i+j]...)
		i += j
		switch c := b[i]; {
		case c == '"':
			d.i = i + 1
			d.esc = buf
			d.nodes = append(d.nodes, node{kind: KindString, flags: flagEscaped, start: uint32(escStart), end: uint32(len(buf))})
			return nil
		case c < 0x20:
			d.i = i
			return d.errorf("control character %q in string", c)
		}
		// A backslash.
		if i+1 >= len(b) {
			d.i = i
			return d.errorf("unterminated string")
		}
		switch e := b[i+1]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, n := d.unicodeEscape(i)
			if n == 0 {
				d.i = i
				return d.errorf("invalid \\u escape")
			}
			buf = utf8.AppendRune(buf, r)
			i += n - 2
		default:
			d.i = i
			return d.errorf("invalid escape \\%c", e)
		}
		i += 2
	}
}

// unicodeEscape decodes \uXXXX at i, or a surrogate pair \uXXXX\uXXXX, and
// returns the rune and the escape's length, or n == 0 if it is invalid (a lone
// surrogate is: it cannot be written as UTF-8).
func (d *decoder) unicodeEscape(i int) (r rune, n int) {
	r = d.hex4(i + 2)
	switch {
	case r < 0:
		return 0, 0
	case !utf16.IsSurrogate(r):
		return r, 6
	case r >= 0xdc00 || i+12 > len(d.b) || d.b[i+6] != '\\' || d.b[i+7] != 'u':
		return 0, 0 // low surrogate first, or a high one without a second escape
	}
	r2 := d.hex4(i + 8)
	if r2 < 0xdc00 || r2 > 0xdfff {
		return 0, 0
	}
	return utf16.DecodeRune(r, r2), 12
}

// hex4 decodes the 4 hex digits at i, or returns -1.
func (d *decoder) hex4(i int) rune {
	if i+4 > len(d.b) {
		return -1
	}
	var r rune
	for _, c := range d.b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}
