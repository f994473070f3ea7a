package main

import (
	"bufio"
	"fmt"
	"strings"
	"testing"

	"stdiobridge/protocols/go/internal/childtest"
	"stdiobridge/protocols/go/internal/vectors"
)

func TestMain(m *testing.M) { childtest.Main(m, main) }

// reader reads one line from the child as it is, LF included.
func reader(r *bufio.Reader) func() ([]byte, error) {
	return func() ([]byte, error) { return r.ReadBytes('\n') }
}

// value returns a canonical JSON text (compact, keys in the order given, not
// sorted, exact numbers), as the host writes it; i varies content and size.
func value(i int) string {
	switch i % 3 {
	case 0:
		return fmt.Sprintf(`"line\nbreak \"quoted\" <&> \u0000 é😀 %d"`, i)
	case 1:
		return fmt.Sprintf(`{"id":%d,"name":"r-%d","tags":["a","é😀"],"vals":[1.5,-0.25,-0.0,1.0,1e16,9007199254740993,-9223372036854775808,18446744073709551615],"nested":{"z":null,"a":true,"e":{}}}`, i, i)
	}
	return fmt.Sprintf("[%d,%s]", i, strings.Repeat(`{"k":[]},`, i%40)+"0.1")
}

var spec = childtest.Spec{
	Reader:    reader,
	Request:   func(i int) []byte { return []byte(value(i) + "\n") },
	Big:       func(n int) []byte { return []byte(`"` + strings.Repeat("x", n) + `"` + "\n") },
	Truncated: []byte(`{"a":1}`),
	Invalid:   []byte("INFO starting up\n"),
}

// taggedSpec sends [id, value] lines with ids in no order.
var taggedSpec = childtest.Spec{
	Env:       []string{"STDIOBRIDGE_TAGGED=1"},
	Reader:    reader,
	Request:   func(i int) []byte { return []byte(fmt.Sprintf("[%d,%s]\n", 4294967295-i*7919, value(i))) },
	Big:       func(n int) []byte { return []byte(`[7,"` + strings.Repeat("x", n) + `"]` + "\n") },
	Truncated: []byte(`[7,{"a":1}]`),
	Invalid:   []byte(`{"a":1}` + "\n"), // JSON, but not [id, message]
}

func TestChild(t *testing.T)       { childtest.Run(t, spec) }
func TestChildTagged(t *testing.T) { childtest.Run(t, taggedSpec) }

// canonical is what the child writes back for the decode-only vectors:
// compact, with strings and numbers spelt as sent.
var canonical = map[string][]byte{
	"whitespace-decodes":      []byte(`{"a":[1,2]}` + "\n"),
	"crlf-decodes":            []byte("[1]\n"),
	"escaped-unicode-decodes": []byte(`"\u00e9\ud83d\ude00"` + "\n"),
	"exponent-decodes":        []byte("1e16\n"),
	"small-exponent-decodes":  []byte("1e-7\n"),
}

func TestChildVectors(t *testing.T) {
	for _, set := range vectors.Load(t, "jsonl").Sets {
		if set.Options == (vectors.Options{}) {
			childtest.Echoes(t, spec, set.Valid, canonical)
		}
	}
}

func TestChildTaggedVectors(t *testing.T) {
	for _, set := range vectors.Tagged(t, "jsonl") {
		childtest.Echoes(t, taggedSpec, set.Valid, nil)
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	b.Run("string64KiB", func(b *testing.B) {
		childtest.Bench(b, nil, append(childtest.JSONString64K(), '\n'), reader)
	})
	b.Run("objects2000", func(b *testing.B) {
		childtest.Bench(b, nil, append(childtest.JSONObjects2000(), '\n'), reader)
	})
}
