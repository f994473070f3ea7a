package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"stdiobridge/protocols/go/frame/msgpack"
	"stdiobridge/protocols/go/internal/childtest"
	"stdiobridge/protocols/go/internal/vectors"
)

func TestMain(m *testing.M) { childtest.Main(m, main) }

// reader reads one raw msgpack value from the child.
func reader(r *bufio.Reader) func() ([]byte, error) {
	mr := msgpack.NewReader(r, msgpack.Options{})
	return func() ([]byte, error) {
		b, err := mr.ReadFrame()
		return bytes.Clone(b), err
	}
}

func mustMarshal(v any) []byte {
	b, err := msgpack.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

var spec = childtest.Spec{
	Reader: reader,
	// Requests are canonical, as the child writes them.
	Request: func(i int) []byte {
		return mustMarshal(msgpack.Map{
			{Key: "id", Value: int64(i * 1000003)},
			{Key: int64(-i), Value: strings.Repeat("é", i%40)},
			{Key: "bin", Value: bytes.Repeat([]byte{byte(i)}, i%300)},
			{Key: "f", Value: []any{float64(i) / 4, float32(1.5), nil, true, uint64(1) << 63}},
			{Key: "m", Value: msgpack.Map{{Key: fmt.Sprint(i), Value: msgpack.Ext{Type: 5, Data: []byte{1, 2, 3}}}}},
		})
	},
	Big:       func(n int) []byte { return mustMarshal([]any{strings.Repeat("s", n/2), bytes.Repeat([]byte{7}, n/2)}) },
	Truncated: []byte("\xa5he"),
	Invalid:   []byte("\xc1"),
}

func TestChild(t *testing.T) { childtest.Run(t, spec) }

// TestChildVectors sends the frame of every valid vector with default options:
// the child answers a both-ways vector with the same bytes, and a decode-only
// one with the smallest form.
func TestChildVectors(t *testing.T) {
	canonical := map[string]string{
		"str32-decodes":              "a26162",
		"float32-decodes":            "ca3fc00000", // float32 stays float32
		"uint64-small-value-decodes": "01",
		"array32-decodes":            "91c3",
		"map32-decodes":              "81a161c0",
		"bin32-decodes":              "c401ff",
	}
	var frames, want [][]byte
	for _, set := range vectors.Load(t, "msgpack").Sets {
		if set.Options != (vectors.Options{}) {
			continue
		}
		for _, v := range set.Valid {
			f, _ := hex.DecodeString(v.Hex)
			frames = append(frames, f)
			w := f
			if v.Direction == "decode" {
				c, ok := canonical[v.Name]
				if !ok {
					t.Fatalf("no canonical form for decode-only vector %q", v.Name)
				}
				w, _ = hex.DecodeString(c)
			}
			want = append(want, w)
		}
	}
	childtest.RoundTrips(t, spec, frames, want)
}

func BenchmarkRoundTrip(b *testing.B) {
	b.Run("string64KiB", func(b *testing.B) {
		childtest.Bench(b, nil, mustMarshal(strings.Repeat("abcdefghijklmnop", 4096)), reader)
	})
	b.Run("maps2000", func(b *testing.B) {
		objs := make([]any, 2000)
		for i := range objs {
			objs[i] = msgpack.Map{{Key: "id", Value: int64(i)}, {Key: "tag", Value: fmt.Sprint("t", i)}, {Key: "ok", Value: true}}
		}
		childtest.Bench(b, nil, mustMarshal(objs), reader)
	})
}
