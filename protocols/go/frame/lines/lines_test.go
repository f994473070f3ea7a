package lines_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"stdiobridge/protocols/go/frame"
	"stdiobridge/protocols/go/frame/lines"
	"stdiobridge/protocols/go/internal/vectors"
)

func TestVectors(t *testing.T) {
	vectors.Run(t, vectors.Codec{
		Name: "lines",
		Message: func(v any) (any, error) {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("lines message %#v is not a string", v)
			}
			return s, nil
		},
		Equal: func(got, want any) bool { return got == want },
		Encode: func(msg any, o vectors.Options) ([]byte, error) {
			var buf bytes.Buffer
			w := lines.NewWriter(bufio.NewWriter(&buf), lines.Options{MaxFrame: o.MaxFrame})
			err := w.WriteFrame([]byte(msg.(string)))
			return buf.Bytes(), err
		},
		Reader: func(r *bufio.Reader, o vectors.Options) (func() (any, error), error) {
			lr := lines.NewReader(r, lines.Options{MaxFrame: o.MaxFrame})
			return func() (any, error) {
				b, err := lr.ReadFrame()
				return string(b), err
			}, nil
		},
	})
}

// TestLongLines reads lines much longer than the bufio buffer, with CRLF and
// with a CR that the limit makes significant.
func TestLongLines(t *testing.T) {
	long := strings.Repeat("é", 5000) // 10000 bytes
	in := long + "\r\n" + long + "\n" + "x\r\r\n"
	r := lines.NewReader(bufio.NewReaderSize(strings.NewReader(in), 16), lines.Options{MaxFrame: 10000})
	for i, want := range []string{long, long, "x\r"} {
		got, err := r.ReadFrame()
		if err != nil || string(got) != want {
			t.Fatalf("line %d: %d bytes, %v", i, len(got), err)
		}
	}
	if _, err := r.ReadFrame(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
	// 10001 bytes before the CRLF: too large, found before the LF arrives.
	r = lines.NewReader(bufio.NewReaderSize(strings.NewReader(long+"x\r\n"), 16), lines.Options{MaxFrame: 10000})
	if _, err := r.ReadFrame(); !errors.Is(err, frame.ErrFrameTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
}

func TestWriterRefusesWithoutWriting(t *testing.T) {
	var buf bytes.Buffer
	w := lines.NewWriter(bufio.NewWriter(&buf), lines.Options{})
	for _, bad := range []string{"a\nb", "a\r", "\xff"} {
		var ee *frame.EncodeError
		if err := w.WriteFrame([]byte(bad)); !errors.As(err, &ee) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if buf.Len() != 0 {
		t.Fatalf("wrote %q", buf.Bytes())
	}
}
