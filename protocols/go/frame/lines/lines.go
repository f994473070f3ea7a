// Package lines implements the stdiobridge "lines" codec: a message is a UTF-8
// text line, and its frame is the text followed by LF.
//
// Reading splits on LF only and removes one CR directly before the LF, so
// CRLF-writing programs work; a CR anywhere else is data. A line that is not
// valid UTF-8 is a decode error. The frame size limit counts the bytes of the
// line without its LF (and without that one CR).
package lines

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"unicode/utf8"

	"stdiobridge/protocols/go/frame"
)

// Options configure a Reader or Writer.
type Options struct {
	// MaxFrame is the largest line accepted or written, in bytes without the
	// LF; 0 means frame.DefaultMaxFrame.
	MaxFrame int
}

// Reader reads LF-terminated lines from a *bufio.Reader.
type Reader struct {
	r   *bufio.Reader
	max int
	buf []byte // holds a line longer than r's buffer
}

// NewReader returns a Reader reading lines from r. Give r a buffer at least as
// large as typical lines (bufio.NewReaderSize): a line that fits in it is
// returned without copying.
func NewReader(r *bufio.Reader, opts Options) *Reader {
	return &Reader{r: r, max: frame.MaxFrameOrDefault(opts.MaxFrame)}
}

// ReadFrame reads the next line and returns its text without the LF and one
// CR before it. The slice is only valid until the next call; copy it (or
// convert it to a string) to keep it.
//
// It returns io.EOF at the end of input after a complete line, an error
// matching frame.ErrTruncated when the input ends in a line without LF, one
// matching frame.ErrFrameTooLarge as soon as more than MaxFrame bytes arrive
// without LF, and a *frame.DecodeError for a line that is not UTF-8.
func (r *Reader) ReadFrame() ([]byte, error) {
	line, err := r.readLine()
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(line) {
		return nil, frame.Decodef("line is not valid UTF-8: %q", excerpt(line))
	}
	return line, nil
}

// readLine is ReadFrame without the UTF-8 check.
func (r *Reader) readLine() ([]byte, error) {
	acc := r.buf[:0] // bytes of this line read before the current chunk
	for {
		chunk, err := r.r.ReadSlice('\n')
		n := len(acc) + len(chunk)
		if err == nil { // chunk ends with the LF
			// Without its LF the line is n-1 bytes, of which one may be a CR.
			if n-1 > r.max+1 {
				return nil, frame.TooLarge(uint64(n-1), r.max)
			}
			line := chunk
			if len(acc) > 0 {
				acc = append(acc, chunk...)
				r.buf, line = acc, acc
			}
			line = line[:len(line)-1]
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
			if len(line) > r.max {
				return nil, frame.TooLarge(uint64(len(line)), r.max)
			}
			return line, nil
		}
		// No LF yet. Refuse as soon as the line cannot fit any more: more than
		// MaxFrame bytes, unless the last one is a CR that an LF may follow.
		if n > r.max+1 || (n == r.max+1 && lastByte(acc, chunk) != '\r') {
			return nil, frame.TooLarge(uint64(n), r.max)
		}
		switch err {
		case bufio.ErrBufferFull:
			acc = append(acc, chunk...)
			r.buf = acc
		case io.EOF:
			if n == 0 {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("%w: %d bytes without a final LF", frame.ErrTruncated, n)
		default:
			return nil, err
		}
	}
}

// lastByte returns the last byte of acc followed by chunk (which are not both
// empty).
func lastByte(acc, chunk []byte) byte {
	if len(chunk) > 0 {
		return chunk[len(chunk)-1]
	}
	return acc[len(acc)-1]
}

// Writer writes LF-terminated lines to a *bufio.Writer.
type Writer struct {
	w   *bufio.Writer
	max int
}

// NewWriter returns a Writer writing lines to w.
func NewWriter(w *bufio.Writer, opts Options) *Writer {
	return &Writer{w: w, max: frame.MaxFrameOrDefault(opts.MaxFrame)}
}

// WriteFrame writes line followed by LF and flushes. It returns a
// *frame.EncodeError, writing nothing, for a line that would not come back
// as is: one containing LF, ending with CR, not valid UTF-8, or longer than
// MaxFrame.
func (w *Writer) WriteFrame(line []byte) error {
	if err := Check(line, w.max); err != nil {
		return err
	}
	w.w.Write(line) // a bufio.Writer's error sticks; Flush reports it
	w.w.WriteByte('\n')
	return w.w.Flush()
}

// Check returns a *frame.EncodeError if line cannot be sent as one frame
// under the limit max.
func Check(line []byte, max int) error {
	switch {
	case len(line) > max:
		return frame.Encodef("line of %d bytes exceeds max_frame=%d", len(line), max)
	case bytes.IndexByte(line, '\n') >= 0:
		return frame.Encodef("line contains LF: %q", excerpt(line))
	case len(line) > 0 && line[len(line)-1] == '\r':
		return frame.Encodef("line ends with CR, which the reader would strip: %q", excerpt(line))
	case !utf8.Valid(line):
		return frame.Encodef("line is not valid UTF-8: %q", excerpt(line))
	}
	return nil
}

// excerpt returns the start of b, for error messages.
func excerpt(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}
