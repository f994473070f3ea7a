package main

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"stdiobridge/protocols/go/frame"
	"stdiobridge/protocols/go/internal/childtest"
	"stdiobridge/protocols/go/internal/vectors"
)

func TestMain(m *testing.M) { childtest.Main(m, main) }

// reader reads one raw msgpack value from the child.
func reader(r *bufio.Reader) func() ([]byte, error) {
	in := &frame.Limit{R: r, Max: frame.MaxFrame}
	dec := msgpack.NewDecoder(in)
	return func() ([]byte, error) {
		if err := in.Start(); err != nil {
			return nil, err
		}
		return dec.DecodeRaw()
	}
}

// encode writes a frame with fn; a tagged frame when id > 0.
func encode(id int, fn func(e *msgpack.Encoder)) []byte {
	var b bytes.Buffer
	e := msgpack.NewEncoder(&b)
	e.UseCompactInts(true)
	if id > 0 {
		e.EncodeArrayLen(2)
		e.EncodeUint(uint64(id))
	}
	fn(e)
	return b.Bytes()
}

// request is an ordered map of every kind of value, ext types and an array
// key included.
func request(i int) func(e *msgpack.Encoder) {
	return func(e *msgpack.Encoder) {
		e.EncodeMapLen(5)
		e.EncodeString("id")
		e.EncodeInt(int64(i * 1000003))
		e.EncodeInt(int64(-i))
		e.EncodeString(strings.Repeat("é", i%40))
		e.EncodeString("bin")
		e.EncodeBytes(bytes.Repeat([]byte{byte(i)}, i%300))
		e.EncodeArrayLen(6)
		e.EncodeFloat64(float64(i) / 4)
		e.EncodeFloat32(1.5)
		e.EncodeNil()
		e.EncodeBool(true)
		e.EncodeUint(1 << 63)
		e.EncodeExtHeader(-1, 4) // a timestamp
		e.Writer().Write([]byte{0, 0, 0, byte(i)})
		e.EncodeString(fmt.Sprint(i))
		e.EncodeExtHeader(5, 3)
		e.Writer().Write([]byte{1, 2, 3})
		e.EncodeString("value of an ext key")
	}
}

func big(n int) func(e *msgpack.Encoder) {
	return func(e *msgpack.Encoder) {
		e.EncodeArrayLen(2)
		e.EncodeString(strings.Repeat("s", n/2))
		e.EncodeBytes(bytes.Repeat([]byte{7}, n/2))
	}
}

var spec = childtest.Spec{
	Reader:    reader,
	Request:   func(i int) []byte { return encode(0, request(i)) },
	Big:       func(n int) []byte { return encode(0, big(n)) },
	Truncated: []byte("\xa5he"),
	Invalid:   []byte("\xc1"), // the one byte msgpack never uses
}

// taggedSpec sends [id, value] frames with ids in no order.
var taggedSpec = childtest.Spec{
	Env:       []string{"STDIOBRIDGE_TAGGED=1"},
	Reader:    reader,
	Request:   func(i int) []byte { return encode(4294967295-i*7919, request(i)) },
	Big:       func(n int) []byte { return encode(7, big(n)) },
	Truncated: []byte("\x92\x07\xa5he"),
	Invalid:   []byte("\x92\xc3\x01"), // [true, 1]: true is not an id
}

func TestChild(t *testing.T)       { childtest.Run(t, spec) }
func TestChildTagged(t *testing.T) { childtest.Run(t, taggedSpec) }

// TestChildVectors: the child echoes every valid vector byte for byte, the
// decode-only (non-smallest) forms included, since it keeps the raw value.
func TestChildVectors(t *testing.T) {
	for _, set := range vectors.Load(t, "msgpack").Sets {
		if set.Options == (vectors.Options{}) {
			same := map[string][]byte{}
			for _, v := range set.Valid {
				same[v.Name] = v.Frame(t)
			}
			childtest.Echoes(t, spec, set.Valid, same)
		}
	}
}

func TestChildTaggedVectors(t *testing.T) {
	for _, set := range vectors.Tagged(t, "msgpack") {
		childtest.Echoes(t, taggedSpec, set.Valid, nil)
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	b.Run("string64KiB", func(b *testing.B) {
		s := string(childtest.JSONString64K())
		childtest.Bench(b, nil, encode(0, func(e *msgpack.Encoder) { e.EncodeString(s) }), reader)
	})
}
