package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"stdiobridge/protocols/go/frame/lines"
	"stdiobridge/protocols/go/internal/childtest"
	"stdiobridge/protocols/go/internal/vectors"
)

func TestMain(m *testing.M) { childtest.Main(m, main) }

// reader reads one line from the child, LF included.
func reader(r *bufio.Reader) func() ([]byte, error) {
	lr := lines.NewReader(r, lines.Options{})
	return func() ([]byte, error) {
		b, err := lr.ReadFrame()
		if err != nil {
			return nil, err
		}
		return append(bytes.Clone(b), '\n'), nil
	}
}

var spec = childtest.Spec{
	Reader: reader,
	// Requests are canonical, as the child writes them: compact, keys in the
	// order given (not sorted), exact numbers.
	Request: func(i int) []byte {
		switch i % 3 {
		case 0:
			return []byte(fmt.Sprintf(`"line\nbreak \"quoted\" <&> \u0000 é😀 %d"`+"\n", i))
		case 1:
			return []byte(fmt.Sprintf(`{"id":%d,"name":"r-%d","tags":["a","é😀"],"vals":[1.5,-0.25,9007199254740993,-9223372036854775808],"nested":{"z":null,"a":true,"e":{}}}`+"\n", i, i))
		}
		return []byte(fmt.Sprintf("[%d,%s]\n", i, strings.Repeat(`{"k":[]},`, i%40)+"0.1"))
	},
	Big:       func(n int) []byte { return []byte(`"` + strings.Repeat("x", n) + `"` + "\n") },
	Truncated: []byte(`{"a":1}`),
	Invalid:   []byte("INFO starting up\n"),
}

func TestChild(t *testing.T) { childtest.Run(t, spec) }

// TestChildVectors sends the frame of every valid vector with default options:
// the child answers a both-ways vector with the same bytes, and a decode-only
// one with its canonical form.
func TestChildVectors(t *testing.T) {
	var frames, want [][]byte
	for _, set := range vectors.Load(t, "jsonl").Sets {
		if set.Options != (vectors.Options{}) {
			continue
		}
		for _, v := range set.Valid {
			f, _ := hex.DecodeString(v.Hex)
			frames = append(frames, f)
			w := f
			if v.Direction == "decode" {
				w = canonical[v.Name]
				if w == nil {
					t.Fatalf("no canonical form for decode-only vector %q", v.Name)
				}
			}
			want = append(want, w)
		}
	}
	childtest.RoundTrips(t, spec, frames, want)
}

// canonical is what the child writes back for the decode-only vectors.
var canonical = map[string][]byte{
	"whitespace-decodes":      []byte(`{"a":[1,2]}` + "\n"),
	"crlf-decodes":            []byte("[1]\n"),
	"escaped-unicode-decodes": []byte(`"é😀"` + "\n"),
	"exponent-decodes":        []byte("1e16\n"), // numbers are echoed as written
	"small-exponent-decodes":  []byte("1e-7\n"),
}

func BenchmarkRoundTrip(b *testing.B) {
	b.Run("string64KiB", func(b *testing.B) {
		childtest.Bench(b, nil, append(childtest.JSONString64K(), '\n'), reader)
	})
	b.Run("objects2000", func(b *testing.B) {
		childtest.Bench(b, nil, append(childtest.JSONObjects2000(), '\n'), reader)
	})
}
