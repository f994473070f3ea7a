// Package lenprefix implements the stdiobridge "lenprefix" codec: a message is
// a byte string, and its frame is the payload length as an unsigned integer of
// Width bytes in ByteOrder, then the payload. The default (4 bytes, big endian)
// is Erlang's {packet, 4}.
//
// A declared length over MaxFrame is refused as soon as the prefix is read.
package lenprefix

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"stdiobridge/protocols/go/frame"
)

// Options configure a Reader or Writer. The zero value is the default format.
type Options struct {
	// Width is the size of the length prefix in bytes: 1, 2, 4 or 8; 0 means 4.
	Width int
	// ByteOrder of the prefix: binary.BigEndian (nil means that) or
	// binary.LittleEndian.
	ByteOrder binary.ByteOrder
	// MaxFrame is the largest payload accepted or written, in bytes; 0 means
	// frame.DefaultMaxFrame.
	MaxFrame int
}

// ParseByteOrder returns the byte order named "big" or "little".
func ParseByteOrder(name string) (binary.ByteOrder, error) {
	switch name {
	case "big":
		return binary.BigEndian, nil
	case "little":
		return binary.LittleEndian, nil
	}
	return nil, fmt.Errorf("lenprefix: byte order %q is neither big nor little", name)
}

// format is the resolved form of Options shared by Reader and Writer.
type format struct {
	width int
	order binary.ByteOrder
	max   int
}

func newFormat(opts Options) (format, error) {
	f := format{width: opts.Width, order: opts.ByteOrder, max: frame.MaxFrameOrDefault(opts.MaxFrame)}
	switch f.width {
	case 0:
		f.width = 4
	case 1, 2, 4, 8:
	default:
		return f, fmt.Errorf("lenprefix: width %d is not 1, 2, 4 or 8", f.width)
	}
	if f.order == nil {
		f.order = binary.BigEndian
	}
	return f, nil
}

// limit returns the largest length the prefix can hold.
func (f format) limit() uint64 {
	if f.width == 8 {
		return 1<<64 - 1
	}
	return 1<<(8*f.width) - 1
}

// Reader reads length-prefixed frames from a *bufio.Reader.
type Reader struct {
	r   *bufio.Reader
	f   format
	hdr [8]byte
	buf []byte // holds a payload larger than r's buffer
}

// NewReader returns a Reader of frames from r, or an error for invalid
// options. Give r a buffer at least as large as typical frames
// (bufio.NewReaderSize): a payload that fits in it is returned without copying.
func NewReader(r *bufio.Reader, opts Options) (*Reader, error) {
	f, err := newFormat(opts)
	if err != nil {
		return nil, err
	}
	return &Reader{r: r, f: f}, nil
}

// ReadFrame reads the next frame and returns its payload. The slice is only
// valid until the next call; copy it to keep it.
//
// It returns io.EOF at the end of input between frames, an error matching
// frame.ErrTruncated when the input ends inside a frame, and one matching
// frame.ErrFrameTooLarge, before reading the payload, when the prefix
// declares more than MaxFrame bytes.
func (r *Reader) ReadFrame() ([]byte, error) {
	hdr := r.hdr[:r.f.width]
	if n, err := io.ReadFull(r.r, hdr); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w: %d of %d prefix bytes", frame.ErrTruncated, n, len(hdr))
		}
		return nil, err // io.EOF at a frame boundary, or a read error
	}
	var size uint64
	switch r.f.width {
	case 1:
		size = uint64(hdr[0])
	case 2:
		size = uint64(r.f.order.Uint16(hdr))
	case 4:
		size = uint64(r.f.order.Uint32(hdr))
	case 8:
		size = r.f.order.Uint64(hdr)
	}
	if size > uint64(r.f.max) {
		return nil, frame.TooLarge(size, r.f.max)
	}
	n := int(size)
	var payload []byte
	var err error
	if n <= r.r.Size() {
		// Fits in the bufio buffer: hand out that buffer instead of copying.
		if payload, err = r.r.Peek(n); err == nil {
			r.r.Discard(n)
		}
	} else {
		if cap(r.buf) < n {
			r.buf = make([]byte, n)
		}
		payload = r.buf[:n]
		var got int
		got, err = io.ReadFull(r.r, payload)
		payload = payload[:got]
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil, fmt.Errorf("%w: %d of %d payload bytes", frame.ErrTruncated, len(payload), n)
	}
	if err != nil {
		return nil, err
	}
	return payload, nil
}

// Writer writes length-prefixed frames to a *bufio.Writer.
type Writer struct {
	w   *bufio.Writer
	f   format
	hdr [8]byte
}

// NewWriter returns a Writer of frames to w, or an error for invalid options.
func NewWriter(w *bufio.Writer, opts Options) (*Writer, error) {
	f, err := newFormat(opts)
	if err != nil {
		return nil, err
	}
	return &Writer{w: w, f: f}, nil
}

// WriteFrame writes the prefix and payload and flushes. It returns a
// *frame.EncodeError, writing nothing, for a payload longer than MaxFrame or
// than the prefix can declare.
func (w *Writer) WriteFrame(payload []byte) error {
	size := uint64(len(payload))
	if len(payload) > w.f.max {
		return frame.Encodef("payload of %d bytes exceeds max_frame=%d", size, w.f.max)
	}
	if size > w.f.limit() {
		return frame.Encodef("payload of %d bytes is too long for a %d-byte prefix", size, w.f.width)
	}
	hdr := w.hdr[:w.f.width]
	switch w.f.width {
	case 1:
		hdr[0] = byte(size)
	case 2:
		w.f.order.PutUint16(hdr, uint16(size))
	case 4:
		w.f.order.PutUint32(hdr, uint32(size))
	case 8:
		w.f.order.PutUint64(hdr, size)
	}
	w.w.Write(hdr) // a bufio.Writer's error sticks; Flush reports it
	w.w.Write(payload)
	return w.w.Flush()
}
