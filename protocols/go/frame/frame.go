// Package frame holds what the stdiobridge codec packages share: the default
// frame size limit and the errors every Reader and Writer reports.
//
// Each codec lives in its own subpackage (lines, jsonl, lenprefix, msgpack).
// A Reader reads one request frame from a *bufio.Reader; a Writer writes one
// response frame to a *bufio.Writer and flushes it. Readers return:
//
//   - io.EOF when the input ends cleanly at a frame boundary;
//   - an error matching ErrTruncated when it ends inside a frame;
//   - an error matching ErrFrameTooLarge when a frame is over the limit, found
//     from its header or first bytes, before the frame is buffered;
//   - a *DecodeError when a whole frame arrived but cannot be decoded.
//
// Writers return a *EncodeError for a message the codec cannot carry.
package frame

import (
	"errors"
	"fmt"
	"math"
)

// DefaultMaxFrame is the frame size limit used when an Options.MaxFrame is 0:
// 64 MiB, the same default as the stdiobridge host.
const DefaultMaxFrame = 64 << 20

// MaxFrameOrDefault returns max, or DefaultMaxFrame when max is 0 or negative.
// A max near math.MaxInt is lowered a little so that readers can add a few
// bytes of header to it without overflow.
func MaxFrameOrDefault(max int) int {
	switch {
	case max <= 0:
		return DefaultMaxFrame
	case max > math.MaxInt-64:
		return math.MaxInt - 64
	}
	return max
}

// ErrTruncated is matched (with errors.Is) by the error a Reader returns when
// its input ends in the middle of a frame.
var ErrTruncated = errors.New("truncated frame at end of input")

// ErrFrameTooLarge is matched (with errors.Is) by the error a Reader returns
// for a frame larger than its MaxFrame.
var ErrFrameTooLarge = errors.New("frame too large")

// TooLarge returns an error matching ErrFrameTooLarge that tells the size
// found (or a lower bound of it) and the limit.
func TooLarge(size uint64, max int) error {
	return fmt.Errorf("%w: %d bytes or more, max_frame is %d", ErrFrameTooLarge, size, max)
}

// DecodeError reports a complete frame that cannot be decoded (invalid UTF-8,
// invalid JSON, invalid msgpack, ...).
type DecodeError struct {
	Reason string
}

// Error implements error.
func (e *DecodeError) Error() string { return "cannot decode frame: " + e.Reason }

// Decodef returns a *DecodeError with a formatted reason.
func Decodef(format string, args ...any) error {
	return &DecodeError{Reason: fmt.Sprintf(format, args...)}
}

// EncodeError reports a message that a codec cannot write (a line containing
// LF, a value of an unsupported type, a frame over MaxFrame, ...).
type EncodeError struct {
	Reason string
}

// Error implements error.
func (e *EncodeError) Error() string { return "cannot encode message: " + e.Reason }

// Encodef returns a *EncodeError with a formatted reason.
func Encodef(format string, args ...any) error {
	return &EncodeError{Reason: fmt.Sprintf(format, args...)}
}
