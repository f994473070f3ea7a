package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"testing"

	"stdiobridge/protocols/go/frame/lenprefix"
	"stdiobridge/protocols/go/internal/childtest"
	"stdiobridge/protocols/go/internal/vectors"
)

func TestMain(m *testing.M) { childtest.Main(m, main) }

// readerFor reads one frame from the child, prefix included, in format o.
func readerFor(o lenprefix.Options) func(r *bufio.Reader) func() ([]byte, error) {
	return func(r *bufio.Reader) func() ([]byte, error) {
		lr, err := lenprefix.NewReader(r, o)
		if err != nil {
			panic(err)
		}
		return func() ([]byte, error) {
			b, err := lr.ReadFrame()
			if err != nil {
				return nil, err
			}
			return frameOf(b, o), nil
		}
	}
}

// frameOf returns the frame of payload in format o.
func frameOf(payload []byte, o lenprefix.Options) []byte {
	var buf bytes.Buffer
	w, err := lenprefix.NewWriter(bufio.NewWriter(&buf), o)
	if err != nil {
		panic(err)
	}
	if err := w.WriteFrame(payload); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

var spec = childtest.Spec{
	Reader: readerFor(lenprefix.Options{}),
	Request: func(i int) []byte {
		payload := make([]byte, i%300)
		for j := range payload {
			payload[j] = byte(i + j)
		}
		return frameOf(payload, lenprefix.Options{})
	},
	Big: func(n int) []byte {
		payload := make([]byte, n)
		for j := range payload {
			payload[j] = byte(rand.Uint32())
		}
		return frameOf(payload, lenprefix.Options{})
	},
	Truncated: []byte("\x00\x00\x00\x05ab"),
	Invalid:   []byte("\xff\xff\xff\xff"), // 4 GiB declared: over the 64 MiB limit
}

func TestChild(t *testing.T) { childtest.Run(t, spec) }

// TestChildVectors runs the child with each set's -width and -byteorder and
// sends the frame of every valid vector, expecting it back.
func TestChildVectors(t *testing.T) {
	for _, set := range vectors.Load(t, "lenprefix").Sets {
		o := set.Options
		if o.MaxFrame != 0 || len(set.Valid) == 0 {
			continue
		}
		s := spec
		var opts lenprefix.Options
		if o.Width != 0 {
			opts.Width = o.Width
			s.Args = append(s.Args, "-width", itoa(o.Width))
		}
		if o.ByteOrder != "" {
			opts.ByteOrder, _ = lenprefix.ParseByteOrder(o.ByteOrder)
			s.Args = append(s.Args, "-byteorder", o.ByteOrder)
		}
		s.Reader = readerFor(opts)
		t.Run(fmtArgs(s.Args), func(t *testing.T) {
			var frames [][]byte
			for _, v := range set.Valid {
				f, _ := hex.DecodeString(v.Hex)
				frames = append(frames, f)
			}
			childtest.RoundTrips(t, s, frames, nil)
		})
	}
}

func itoa(n int) string { return string(rune('0' + n)) }

func fmtArgs(args []string) string {
	if len(args) == 0 {
		return "defaults"
	}
	var b bytes.Buffer
	for _, a := range args {
		b.WriteString(a)
	}
	return b.String()
}

// TestBadFlags checks the child refuses a width or byte order it cannot use.
func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-width", "3"}, {"-byteorder", "middle"}} {
		c := childtest.Start(t, args...)
		c.Stdin.Close()
		if code, stderr, _ := c.Wait(); code == 0 || stderr == "" {
			t.Errorf("%v: exit status %d, stderr %q", args, code, stderr)
		}
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	b.Run("bytes64KiB", func(b *testing.B) {
		childtest.Bench(b, nil, frameOf(childtest.JSONString64K(), lenprefix.Options{}), spec.Reader)
	})
}
