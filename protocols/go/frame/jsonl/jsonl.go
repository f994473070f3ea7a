// Package jsonl implements the stdiobridge "jsonl" codec: a message is any
// JSON value (RFC 8259), and its frame is the value encoded compactly in UTF-8
// on one line, followed by LF.
//
// Reading splits lines like the lines codec (LF only, one CR before it
// removed, MaxFrame counting the line without its LF), then parses exactly one
// JSON value per line: an empty line, two values, NaN or a log line is a
// *frame.DecodeError. Values decode into a Value, a generic tree that keeps
// object key order and exact numbers, and any Go value (a Value included) is
// written compactly (see Append).
//
// To decode into your own types instead, take the line from ReadFrame and give
// it to the JSON library of your choice.
package jsonl

import (
	"bufio"
	"bytes"

	"stdiobridge/protocols/go/frame"
	"stdiobridge/protocols/go/frame/lines"
)

// Options configure a Reader or Writer.
type Options struct {
	// MaxFrame is the largest line accepted or written, in bytes without the
	// LF; 0 means frame.DefaultMaxFrame.
	MaxFrame int
}

// Reader reads JSON lines from a *bufio.Reader.
type Reader struct {
	lines *lines.Reader
	dec   decoder
}

// NewReader returns a Reader of JSON lines from r. Give r a buffer at least as
// large as typical lines (bufio.NewReaderSize).
func NewReader(r *bufio.Reader, opts Options) *Reader {
	return &Reader{lines: lines.NewReader(r, lines.Options(opts)), dec: decoder{reuse: true}}
}

// ReadFrame reads the next line, checked to be UTF-8 but not yet parsed. The
// slice is only valid until the next call. Errors are those of
// lines.Reader.ReadFrame.
func (r *Reader) ReadFrame() ([]byte, error) {
	return r.lines.ReadFrame()
}

// ReadMessage reads the next line and decodes its JSON value as Unmarshal
// does. Besides the errors of ReadFrame, it returns a *frame.DecodeError for
// a line that is not exactly one JSON value.
//
// The arrays and objects of the Value share memory that the next call
// reuses: use the Value before reading the next one, or keep a copy made
// with Value.Interface. (Strings and numbers stay valid.)
func (r *Reader) ReadMessage() (Value, error) {
	line, err := r.lines.ReadFrame()
	if err != nil {
		return Value{}, err
	}
	return r.dec.decode(line)
}

// Writer writes JSON lines to a *bufio.Writer.
type Writer struct {
	w   *bufio.Writer
	max int
	buf []byte // the encoding of the last message, reused
}

// NewWriter returns a Writer of JSON lines to w.
func NewWriter(w *bufio.Writer, opts Options) *Writer {
	return &Writer{w: w, max: frame.MaxFrameOrDefault(opts.MaxFrame)}
}

// WriteMessage encodes v as Append does, writes it followed by LF and
// flushes. A value that cannot be encoded, or whose encoding is longer than
// MaxFrame, is a *frame.EncodeError and nothing is written.
func (w *Writer) WriteMessage(v any) error {
	buf, err := Append(w.buf[:0], v)
	w.buf = buf
	if err != nil {
		return err
	}
	return w.WriteFrame(buf)
}

// WriteFrame writes line, which must be one compact JSON value (for example
// from another JSON library), followed by LF, and flushes. It checks only that
// line is not empty, has no LF and fits MaxFrame, and returns a
// *frame.EncodeError, writing nothing, otherwise.
func (w *Writer) WriteFrame(line []byte) error {
	switch {
	case len(line) > w.max:
		return frame.Encodef("JSON text of %d bytes exceeds max_frame=%d", len(line), w.max)
	case len(line) == 0:
		return frame.Encodef("empty JSON text")
	case bytes.IndexByte(line, '\n') >= 0:
		return frame.Encodef("JSON text contains LF")
	}
	w.w.Write(line) // a bufio.Writer's error sticks; Flush reports it
	w.w.WriteByte('\n')
	return w.w.Flush()
}
