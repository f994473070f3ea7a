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

func text(i int) string {
	return fmt.Sprintf("request %d: é😀 \t\r %s", i, strings.Repeat("ab ", i%50))
}

var spec = childtest.Spec{
	Reader:    reader,
	Request:   func(i int) []byte { return []byte(text(i) + "\n") },
	Big:       func(n int) []byte { return []byte(strings.Repeat("x", n) + "\n") },
	Truncated: []byte("no line end"),
}

// taggedSpec sends "<id> <text>" lines with ids in no order.
var taggedSpec = childtest.Spec{
	Env:       []string{"STDIOBRIDGE_TAGGED=1"},
	Reader:    reader,
	Request:   func(i int) []byte { return []byte(fmt.Sprintf("%d %s\n", 4294967295-i*7919, text(i))) },
	Big:       func(n int) []byte { return []byte("7 " + strings.Repeat("x", n) + "\n") },
	Truncated: []byte("7 no line end"),
	Invalid:   []byte("INFO starting up\n"), // not "<id> <text>"
}

func TestChild(t *testing.T)       { childtest.Run(t, spec) }
func TestChildTagged(t *testing.T) { childtest.Run(t, taggedSpec) }

// canonical is what the child writes back for the decode-only vectors.
var canonical = map[string][]byte{
	"crlf-decodes":         []byte("abc\n"),
	"only-one-cr-stripped": []byte("abc\r\n"),
}

func TestChildVectors(t *testing.T) {
	for _, set := range vectors.Load(t, "lines").Sets {
		if set.Options == (vectors.Options{}) {
			childtest.Echoes(t, spec, set.Valid, canonical)
		}
	}
}

func TestChildTaggedVectors(t *testing.T) {
	for _, set := range vectors.Tagged(t, "lines") {
		childtest.Echoes(t, taggedSpec, set.Valid, nil)
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	childtest.Bench(b, nil, append(childtest.JSONString64K(), '\n'), reader)
}
