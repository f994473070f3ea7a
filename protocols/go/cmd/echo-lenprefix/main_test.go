package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"stdiobridge/protocols/go/frame"
	"stdiobridge/protocols/go/internal/childtest"
	"stdiobridge/protocols/go/internal/vectors"
)

func TestMain(m *testing.M) { childtest.Main(m, main) }

// format returns the frame format of the options o.
func format(o vectors.Options) frame.LenPrefix {
	width, order := 4, "big"
	if o.Width != 0 {
		width = o.Width
	}
	if o.ByteOrder != "" {
		order = o.ByteOrder
	}
	p, err := frame.NewLenPrefix(width, order)
	if err != nil {
		panic(err)
	}
	return p
}

// args returns the child's flags for the options o.
func args(o vectors.Options) []string {
	p := format(o)
	order := "big"
	if p.Order == binary.LittleEndian {
		order = "little"
	}
	return []string{"-width", strconv.Itoa(p.Width), "-byteorder", order}
}

// readerFor reads one frame from the child, prefix included, in format p.
func readerFor(p frame.LenPrefix) func(r *bufio.Reader) func() ([]byte, error) {
	return func(r *bufio.Reader) func() ([]byte, error) {
		return func() ([]byte, error) {
			b, err := p.Read(r)
			if err != nil {
				return nil, err
			}
			return frameOf(p, b), nil
		}
	}
}

// frameOf returns the frame of payload in format p.
func frameOf(p frame.LenPrefix, payload []byte) []byte {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := p.Write(w, payload); err != nil {
		panic(err)
	}
	w.Flush()
	return buf.Bytes()
}

func payload(i int) []byte {
	b := make([]byte, i%300)
	for j := range b {
		b[j] = byte(i + j)
	}
	return b
}

func random(n int) []byte {
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(rand.Uint32())
	}
	return b
}

var std = format(vectors.Options{})

var spec = childtest.Spec{
	Reader:    readerFor(std),
	Request:   func(i int) []byte { return frameOf(std, payload(i)) },
	Big:       func(n int) []byte { return frameOf(std, random(n)) },
	Truncated: []byte("\x00\x00\x00\x05ab"),
	Invalid:   []byte("\xff\xff\xff\xff"), // 4 GiB declared: over the 64 MiB limit
}

// tag prefixes payload with id, big endian as std.
func tag(id uint32, payload []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, id), payload...)
}

// taggedSpec sends payloads led by 4-byte ids in no order.
var taggedSpec = childtest.Spec{
	Env:       []string{"STDIOBRIDGE_TAGGED=1"},
	Reader:    readerFor(std),
	Request:   func(i int) []byte { return frameOf(std, tag(uint32(4294967295-i*7919), payload(i))) },
	Big:       func(n int) []byte { return frameOf(std, tag(7, random(n))) },
	Truncated: []byte("\x00\x00\x00\x05\x00\x00"),
	Invalid:   []byte("\x00\x00\x00\x03abc"), // no room for a 4-byte id
}

func TestChild(t *testing.T)       { childtest.Run(t, spec) }
func TestChildTagged(t *testing.T) { childtest.Run(t, taggedSpec) }

// TestChildVectors runs the child with each set's -width and -byteorder and
// sends the frame of every valid vector, expecting it back.
func TestChildVectors(t *testing.T) {
	for _, set := range vectors.Load(t, "lenprefix").Sets {
		if set.Options.MaxFrame == 0 {
			s := childtest.Spec{Args: args(set.Options), Reader: readerFor(format(set.Options))}
			t.Run(fmt.Sprint(s.Args), func(t *testing.T) { childtest.Echoes(t, s, set.Valid, nil) })
		}
	}
}

func TestChildTaggedVectors(t *testing.T) {
	for _, set := range vectors.Tagged(t, "lenprefix") {
		s := childtest.Spec{Args: args(set.Options), Env: taggedSpec.Env, Reader: readerFor(format(set.Options))}
		t.Run(fmt.Sprint(s.Args), func(t *testing.T) { childtest.Echoes(t, s, set.Valid, nil) })
	}
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
		childtest.Bench(b, nil, frameOf(std, childtest.JSONString64K()), spec.Reader)
	})
}
