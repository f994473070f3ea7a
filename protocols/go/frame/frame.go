// Package frame holds the few helpers the reference stdiobridge children share:
// reading a line or a length-prefixed payload with a frame limit, bounding what an
// msgpack decoder may consume for one frame, and the tagged-mode envelopes.
// Everything else a child needs comes from the standard library (bufio,
// encoding/json, encoding/binary) and github.com/vmihailenco/msgpack/v5.
package frame

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// MaxFrame is the largest frame a child accepts: the host's default max_frame.
const MaxFrame = 64 << 20

var (
	// ErrTooLarge: a frame longer than its limit.
	ErrTooLarge = errors.New("frame larger than the frame limit")
	// ErrTruncated: stdin ended inside a frame.
	ErrTruncated = errors.New("stdin ended in the middle of a frame")
)

// Tagged reports whether the host runs this child in tagged mode: the host sets
// STDIOBRIDGE_TAGGED=1 then, and 0 (or nothing) otherwise.
func Tagged() bool { return os.Getenv("STDIOBRIDGE_TAGGED") == "1" }

// ReadLine reads one LF-terminated line of at most max bytes and returns it
// without its LF, and without one CR before the LF (CRLF writers work). The
// slice is valid until the next read. At the end of the input it returns
// io.EOF, or ErrTruncated if a partial line was left.
func ReadLine(r *bufio.Reader, max int) ([]byte, error) {
	line, err := r.ReadSlice('\n') // no copy when the line fits in r's buffer
	if err == bufio.ErrBufferFull {
		long := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull && len(long) <= max+1 {
			line, err = r.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	if len(line) > max+2 || (len(line) > max+1 && !bytes.HasSuffix(line, []byte("\r\n"))) {
		return nil, fmt.Errorf("%w: a line over %d bytes", ErrTooLarge, max)
	}
	switch {
	case err == io.EOF && len(line) == 0:
		return nil, io.EOF
	case err == io.EOF:
		return nil, ErrTruncated
	case err != nil:
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// SplitTag splits a tagged `lines` frame "<id> <text>" into its id and text.
func SplitTag(line []byte) (uint32, []byte, error) {
	digits, text, found := bytes.Cut(line, []byte(" "))
	if !found || len(digits) == 0 || digits[0] < '1' || digits[0] > '9' {
		return 0, nil, fmt.Errorf("not a tagged line \"<id> <text>\": %.40q", line)
	}
	id, err := strconv.ParseUint(string(digits), 10, 32)
	if err != nil {
		return 0, nil, fmt.Errorf("not a tagged line: bad id %.20q", digits)
	}
	return uint32(id), text, nil
}

// UntagJSON splits a tagged `jsonl` frame [id, message] into its id and
// message (a slice of line). Only the envelope is read here: the message is checked when it is
// decoded or compacted, so it is scanned once.
func UntagJSON(line []byte) (uint32, json.RawMessage, error) {
	inner := bytes.TrimSpace(line)
	if len(inner) < 2 || inner[0] != '[' || inner[len(inner)-1] != ']' {
		return 0, nil, fmt.Errorf("not a tagged frame [id, message]: %.40q", line)
	}
	digits, message, found := bytes.Cut(inner[1:len(inner)-1], []byte(","))
	var id uint32 // json refuses 1.0, -1, "1" and values over 2^32-1 here
	if err := json.Unmarshal(digits, &id); !found || err != nil || id == 0 {
		return 0, nil, fmt.Errorf("not a tagged frame [id, message]: bad id in %.40q", line)
	}
	return id, message, nil
}

// UntagMsgpack reads the envelope of a tagged `msgpack` frame [id, message] and
// returns the id; the message is the next value in d.
func UntagMsgpack(d *msgpack.Decoder) (uint32, error) {
	if n, err := d.DecodeArrayLen(); err != nil || n != 2 {
		return 0, fmt.Errorf("not a tagged frame [id, message] (array of %d, %v)", n, err)
	}
	c, err := d.PeekCode()
	if err != nil {
		return 0, err
	}
	if !msgpcode.IsFixedNum(c) && (c < msgpcode.Uint8 || c > msgpcode.Int64) {
		return 0, fmt.Errorf("not a tagged frame: the id is not an integer (code %#x)", c)
	}
	id, err := d.DecodeInt64()
	if err != nil || id < 1 || id > math.MaxUint32 {
		return 0, fmt.Errorf("not a tagged frame: bad id %d (%v)", id, err)
	}
	return uint32(id), nil
}

// Limit is the reader an msgpack decoder reads through: it fails with
// ErrTooLarge once one frame (counted from the last Start) passes Max bytes,
// so a bogus length in a header cannot make the child read without bound.
type Limit struct {
	R   *bufio.Reader
	Max int
	n   int
}

// Start begins a new frame and reports io.EOF if the input has ended.
func (l *Limit) Start() error {
	l.n = 0
	_, err := l.R.Peek(1)
	return err
}

// Read reads from the frame's remaining budget.
func (l *Limit) Read(p []byte) (int, error) {
	if room := l.Max - l.n + 1; len(p) > room {
		p = p[:room]
	}
	n, err := l.R.Read(p)
	if l.n += n; l.n > l.Max {
		return n, fmt.Errorf("%w: a value over %d bytes", ErrTooLarge, l.Max)
	}
	return n, err
}

// ReadByte reads one byte of the frame.
func (l *Limit) ReadByte() (byte, error) {
	if l.n >= l.Max {
		return 0, fmt.Errorf("%w: a value over %d bytes", ErrTooLarge, l.Max)
	}
	b, err := l.R.ReadByte()
	if err == nil {
		l.n++
	}
	return b, err
}

// UnreadByte puts the last byte back.
func (l *Limit) UnreadByte() error {
	l.n--
	return l.R.UnreadByte()
}

// LenPrefix is the `lenprefix` frame format: a Width-byte payload length in
// Order, then the payload.
type LenPrefix struct {
	Width int
	Order binary.ByteOrder
	Max   int
}

// NewLenPrefix checks the options the host's codec was given.
func NewLenPrefix(width int, byteorder string) (LenPrefix, error) {
	p := LenPrefix{Width: width, Max: MaxFrame}
	switch byteorder {
	case "big":
		p.Order = binary.BigEndian
	case "little":
		p.Order = binary.LittleEndian
	default:
		return p, fmt.Errorf("byte order %q: want big or little", byteorder)
	}
	if width != 1 && width != 2 && width != 4 && width != 8 {
		return p, fmt.Errorf("width %d: want 1, 2, 4 or 8", width)
	}
	return p, nil
}

// Read reads one payload (a fresh slice). At the end of the input it returns
// io.EOF, or ErrTruncated if a partial frame was left.
func (p LenPrefix) Read(r *bufio.Reader) ([]byte, error) {
	var head [8]byte
	switch _, err := io.ReadFull(r, head[:p.Width]); err {
	case nil:
	case io.ErrUnexpectedEOF:
		return nil, ErrTruncated
	default:
		return nil, err // io.EOF: the input ended between frames
	}
	var size uint64
	for i := range p.Width {
		if p.Order == binary.BigEndian {
			size = size<<8 | uint64(head[i])
		} else {
			size |= uint64(head[i]) << (8 * i)
		}
	}
	if size > uint64(p.Max) {
		return nil, fmt.Errorf("%w: %d bytes declared, limit %d", ErrTooLarge, size, p.Max)
	}
	payload := make([]byte, size)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, ErrTruncated
	}
	return payload, nil
}

// Write writes one frame holding payload (flush w afterwards).
func (p LenPrefix) Write(w *bufio.Writer, payload []byte) error {
	if p.Width < 8 && uint64(len(payload)) >= 1<<(8*p.Width) {
		return fmt.Errorf("%w: %d bytes do not fit a %d-byte length", ErrTooLarge, len(payload), p.Width)
	}
	var head [8]byte
	for i := range p.Width {
		shift := 8 * i
		if p.Order == binary.BigEndian {
			shift = 8 * (p.Width - 1 - i)
		}
		head[i] = byte(uint64(len(payload)) >> shift)
	}
	w.Write(head[:p.Width])
	_, err := w.Write(payload)
	return err
}
