// Package msgpack implements the stdiobridge "msgpack" codec: a message is one
// msgpack value (spec 2.0: str and bin distinct), and frames are the values
// themselves, one after the other.
//
// A Reader finds the end of each value from its headers, refusing a value over
// MaxFrame as soon as a header announces it, then decodes it into a Value, a
// generic form that keeps map order, str vs bin and every key type. A Writer
// writes a Value, or any Go value (through github.com/vmihailenco/msgpack/v5),
// in the smallest representation of every integer, string, binary, array and
// map length.
//
// To decode into your own types instead, take the bytes from ReadFrame and
// give them to the msgpack library's Unmarshal.
package msgpack

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"slices"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"

	"stdiobridge/protocols/go/frame"
)

// maxDepth bounds the nesting of arrays and maps.
const maxDepth = 10000

// Options configure a Reader or Writer.
type Options struct {
	// MaxFrame is the largest encoded value accepted or written, in bytes; 0
	// means frame.DefaultMaxFrame.
	MaxFrame int
}

// Reader reads msgpack values from a *bufio.Reader.
type Reader struct {
	r   *bufio.Reader
	max int
	buf []byte // holds a value that arrived in several reads
	dec decoder
}

// NewReader returns a Reader of msgpack values from r. Give r a buffer at
// least as large as typical values (bufio.NewReaderSize).
func NewReader(r *bufio.Reader, opts Options) *Reader {
	return &Reader{r: r, max: frame.MaxFrameOrDefault(opts.MaxFrame), dec: decoder{reuse: true}}
}

// ReadFrame reads the bytes of the next msgpack value, checked for structure
// only (not decoded). The slice is only valid until the next call.
//
// It returns io.EOF at the end of input between values, an error matching
// frame.ErrTruncated when the input ends inside a value, one matching
// frame.ErrFrameTooLarge as soon as a header makes the value larger than
// MaxFrame, and a *frame.DecodeError for the never-used byte 0xc1.
func (r *Reader) ReadFrame() ([]byte, error) {
	s := newScanner(r.max)
	buf := r.buf[:0]
	need := 1
	for {
		// Look at all that is buffered, and wait for at least need bytes.
		p, err := r.r.Peek(max(need, r.r.Buffered()))
		n, nextNeed, done, serr := s.scan(p)
		if done && len(buf) == 0 {
			// The whole value was already buffered: hand out the bufio buffer,
			// which stays valid until the next read.
			r.r.Discard(n)
			return p[:n], nil
		}
		buf = append(buf, p[:n]...)
		r.r.Discard(n)
		switch {
		case serr != nil:
			return nil, serr
		case done:
			r.buf = buf
			return buf, nil
		case err == io.EOF:
			if got := len(buf) + len(p) - n; got > 0 {
				return nil, fmt.Errorf("%w: %d bytes of an incomplete msgpack value", frame.ErrTruncated, got)
			}
			return nil, io.EOF
		case err != nil && err != bufio.ErrBufferFull:
			return nil, err
		}
		if s.skip > 0 { // a payload follows: make room for it at once
			buf = slices.Grow(buf, int(min(s.skip, uint64(r.max))))
		}
		need = nextNeed
	}
}

// ReadMessage reads and decodes the next value. Besides the errors of
// ReadFrame, it returns a *frame.DecodeError for a str that is not UTF-8 or a
// value nested deeper than 10000 levels.
//
// The Value is only valid until the next call (using it later panics); keep
// a copy made with Value.Interface if needed.
func (r *Reader) ReadMessage() (Value, error) {
	b, err := r.ReadFrame()
	if err != nil {
		return Value{}, err
	}
	return r.dec.decode(b)
}

// Unmarshal decodes data, which must hold exactly one msgpack value.
func Unmarshal(data []byte) (Value, error) {
	s := newScanner(math.MaxInt)
	n, _, done, err := s.scan(data)
	switch {
	case err != nil:
		return Value{}, err
	case !done:
		return Value{}, frame.Decodef("incomplete msgpack value")
	case n != len(data):
		return Value{}, frame.Decodef("%d bytes after the msgpack value", len(data)-n)
	}
	var d decoder
	return d.decode(data)
}

// Writer writes msgpack values to a *bufio.Writer.
type Writer struct {
	w    *bufio.Writer
	max  int
	buf  bytes.Buffer // the encoding of the last Go value, reused
	tape []byte       // the encoding of the last Value, reused
	enc  *msgpack.Encoder
}

// NewWriter returns a Writer of msgpack values to w.
func NewWriter(w *bufio.Writer, opts Options) *Writer {
	wr := &Writer{w: w, max: frame.MaxFrameOrDefault(opts.MaxFrame)}
	wr.enc = newEncoder(&wr.buf)
	return wr
}

func newEncoder(w io.Writer) *msgpack.Encoder {
	e := msgpack.NewEncoder(w)
	e.UseCompactInts(true) // for values encoded by the library (structs, ...)
	e.SetSortMapKeys(true)
	return e
}

// WriteMessage encodes v as Marshal does, writes it and flushes. A value that
// cannot be encoded, or whose encoding is larger than MaxFrame, is a
// *frame.EncodeError and nothing is written.
func (w *Writer) WriteMessage(v any) error {
	if v, ok := v.(Value); ok {
		w.tape = appendValue(w.tape[:0], v)
		return w.WriteFrame(w.tape)
	}
	w.buf.Reset()
	if err := encodeValue(w.enc, v, 0); err != nil {
		return encodeError(err)
	}
	return w.WriteFrame(w.buf.Bytes())
}

// WriteFrame writes b, which must be one encoded msgpack value (for example
// from the msgpack library's Marshal), and flushes. It checks only the size
// and returns a *frame.EncodeError, writing nothing, if b is larger than
// MaxFrame.
func (w *Writer) WriteFrame(b []byte) error {
	if len(b) > w.max {
		return frame.Encodef("msgpack value of %d bytes exceeds max_frame=%d", len(b), w.max)
	}
	w.w.Write(b) // a bufio.Writer's error sticks; Flush reports it
	return w.w.Flush()
}

// Marshal returns the msgpack encoding of v, each integer, string, binary,
// array and map length in its smallest form and floats in their own width.
// It handles a Value, the types Value.Interface returns (nil, bool, int64,
// uint64, float32, float64, string, []byte, []any, Map, Ext), every Go
// integer type, []Pair and map[string]any (keys sorted); other types
// (structs, ...) go through the msgpack library. A string that is not UTF-8
// is a *frame.EncodeError.
func Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := encodeValue(newEncoder(&buf), v, 0); err != nil {
		return nil, encodeError(err)
	}
	return buf.Bytes(), nil
}

func encodeError(err error) error {
	if _, ok := err.(*frame.EncodeError); ok {
		return err
	}
	return frame.Encodef("%v", err)
}

func encodeValue(e *msgpack.Encoder, v any, depth int) error {
	if depth > maxDepth {
		return frame.Encodef("value nested deeper than %d", maxDepth)
	}
	switch v := v.(type) {
	case Value:
		_, err := e.Writer().Write(appendValue(nil, v))
		return err
	case nil:
		return e.EncodeNil()
	case bool:
		return e.EncodeBool(v)
	case int64:
		return e.EncodeInt(v)
	case int:
		return e.EncodeInt(int64(v))
	case int8:
		return e.EncodeInt(int64(v))
	case int16:
		return e.EncodeInt(int64(v))
	case int32:
		return e.EncodeInt(int64(v))
	case uint64:
		return e.EncodeUint(v)
	case uint:
		return e.EncodeUint(uint64(v))
	case uint8:
		return e.EncodeUint(uint64(v))
	case uint16:
		return e.EncodeUint(uint64(v))
	case uint32:
		return e.EncodeUint(uint64(v))
	case float32:
		return e.EncodeFloat32(v)
	case float64:
		return e.EncodeFloat64(v)
	case string:
		if !utf8.ValidString(v) {
			return frame.Encodef("string is not valid UTF-8: %q", v[:min(len(v), 40)])
		}
		return e.EncodeString(v)
	case []byte:
		if v == nil {
			v = []byte{} // the library would write nil
		}
		return e.EncodeBytes(v)
	case Ext:
		if err := e.EncodeExtHeader(v.Type, len(v.Data)); err != nil {
			return err
		}
		_, err := e.Writer().Write(v.Data)
		return err
	case []any:
		if err := e.EncodeArrayLen(len(v)); err != nil {
			return err
		}
		for _, x := range v {
			if err := encodeValue(e, x, depth+1); err != nil {
				return err
			}
		}
		return nil
	case Map:
		return encodePairs(e, v, depth)
	case []Pair:
		return encodePairs(e, v, depth)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		m := make(Map, len(keys))
		for i, k := range keys {
			m[i] = Pair{k, v[k]}
		}
		return encodePairs(e, m, depth)
	}
	return e.Encode(v)
}

func encodePairs(e *msgpack.Encoder, m []Pair, depth int) error {
	if err := e.EncodeMapLen(len(m)); err != nil {
		return err
	}
	for _, p := range m {
		if err := encodeValue(e, p.Key, depth+1); err != nil {
			return err
		}
		if err := encodeValue(e, p.Value, depth+1); err != nil {
			return err
		}
	}
	return nil
}
