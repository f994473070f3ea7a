package lenprefix_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"stdiobridge/protocols/go/frame"
	"stdiobridge/protocols/go/frame/lenprefix"
	"stdiobridge/protocols/go/internal/vectors"
)

func options(o vectors.Options) (lenprefix.Options, error) {
	opts := lenprefix.Options{Width: o.Width, MaxFrame: o.MaxFrame}
	if o.ByteOrder != "" {
		order, err := lenprefix.ParseByteOrder(o.ByteOrder)
		if err != nil {
			return opts, err
		}
		opts.ByteOrder = order
	}
	return opts, nil
}

func TestVectors(t *testing.T) {
	vectors.Run(t, vectors.Codec{
		Name: "lenprefix",
		Message: func(v any) (any, error) {
			b, ok := v.([]byte)
			if !ok {
				return nil, fmt.Errorf("lenprefix message %#v is not message_hex", v)
			}
			return b, nil
		},
		Equal: func(got, want any) bool {
			g, ok := got.([]byte)
			return ok && bytes.Equal(g, want.([]byte))
		},
		Encode: func(msg any, o vectors.Options) ([]byte, error) {
			opts, err := options(o)
			if err != nil {
				return nil, err
			}
			var buf bytes.Buffer
			w, err := lenprefix.NewWriter(bufio.NewWriter(&buf), opts)
			if err != nil {
				return nil, err
			}
			err = w.WriteFrame(msg.([]byte))
			return buf.Bytes(), err
		},
		Reader: func(r *bufio.Reader, o vectors.Options) (func() (any, error), error) {
			opts, err := options(o)
			if err != nil {
				return nil, err
			}
			lr, err := lenprefix.NewReader(r, opts)
			if err != nil {
				return nil, err
			}
			return func() (any, error) {
				b, err := lr.ReadFrame()
				if err != nil {
					return nil, err
				}
				return bytes.Clone(b), nil
			}, nil
		},
	})
}

func TestBadOptions(t *testing.T) {
	if _, err := lenprefix.NewReader(bufio.NewReader(nil), lenprefix.Options{Width: 3}); err == nil {
		t.Error("width 3 accepted")
	}
	if _, err := lenprefix.ParseByteOrder("middle"); err == nil {
		t.Error("byte order middle accepted")
	}
}

// TestLargePayload reads payloads larger than the bufio buffer, then one that
// is cut short.
func TestLargePayload(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789"), 100_000)
	var buf bytes.Buffer
	w, _ := lenprefix.NewWriter(bufio.NewWriterSize(&buf, 16), lenprefix.Options{Width: 8, ByteOrder: nil})
	for range 2 {
		if err := w.WriteFrame(big); err != nil {
			t.Fatal(err)
		}
	}
	stream := buf.Bytes()
	stream = stream[:len(stream)-1]
	r, _ := lenprefix.NewReader(bufio.NewReaderSize(bytes.NewReader(stream), 4096), lenprefix.Options{Width: 8})
	got, err := r.ReadFrame()
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("first frame: %d bytes, %v", len(got), err)
	}
	if _, err := r.ReadFrame(); !errors.Is(err, frame.ErrTruncated) {
		t.Fatalf("cut frame: %v", err)
	}
	if _, err := r.ReadFrame(); err != io.EOF {
		t.Fatalf("after the cut frame: %v", err)
	}
}
