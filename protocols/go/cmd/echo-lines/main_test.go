package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
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
	Request: func(i int) []byte {
		if i%5 == 0 {
			return []byte("\n")
		}
		return []byte(fmt.Sprintf("request %d: %s\n", i, strings.Repeat("é€😀\r\t", i%50)))
	},
	Big:       func(n int) []byte { return []byte(strings.Repeat("x", n) + "\n") },
	Truncated: []byte("no LF at the end"),
	Invalid:   []byte("\xff\xfe\n"),
}

func TestChild(t *testing.T) { childtest.Run(t, spec) }

// TestChildVectors sends the frame of every valid vector with default options
// and expects its message back, written canonically (LF, not CRLF). A message
// that lines cannot write ("abc\r", decoded from "abc\r\r\n") is left out:
// the child would exit 1 on it.
func TestChildVectors(t *testing.T) {
	var frames, want [][]byte
	for _, set := range vectors.Load(t, "lines").Sets {
		if set.Options != (vectors.Options{}) {
			continue
		}
		for _, v := range set.Valid {
			f, _ := hex.DecodeString(v.Hex)
			var msg string
			if err := json.Unmarshal(v.Message, &msg); err != nil {
				t.Fatal(err)
			}
			var canonical bytes.Buffer
			if err := lines.NewWriter(bufio.NewWriter(&canonical), lines.Options{}).WriteFrame([]byte(msg)); err != nil {
				t.Logf("left out %s: %v", v.Name, err)
				continue
			}
			frames = append(frames, f)
			want = append(want, canonical.Bytes())
		}
	}
	childtest.RoundTrips(t, spec, frames, want)
}

func BenchmarkRoundTrip(b *testing.B) {
	b.Run("string64KiB", func(b *testing.B) {
		childtest.Bench(b, nil, append(childtest.JSONString64K(), '\n'), reader)
	})
	b.Run("objects2000", func(b *testing.B) {
		childtest.Bench(b, nil, append(childtest.JSONObjects2000(), '\n'), reader)
	})
}
