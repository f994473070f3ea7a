package msgpack_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"stdiobridge/protocols/go/frame/msgpack"
)

// BenchmarkEcho measures what the echo child does with one value, in
// process: read it, decode it, encode it and write it.
func BenchmarkEcho(b *testing.B) {
	objs := make([]any, 2000)
	for i := range objs {
		objs[i] = msgpack.Map{{Key: "id", Value: int64(i)}, {Key: "tag", Value: fmt.Sprint("t", i)}, {Key: "ok", Value: true}}
	}
	for name, v := range map[string]any{
		"string64KiB": strings.Repeat("abcdefghijklmnop", 4096),
		"maps2000":    objs,
	} {
		b.Run(name, func(b *testing.B) {
			data, err := msgpack.Marshal(v)
			if err != nil {
				b.Fatal(err)
			}
			src := bytes.NewReader(data)
			in := bufio.NewReaderSize(src, 1<<20)
			r := msgpack.NewReader(in, msgpack.Options{})
			w := msgpack.NewWriter(bufio.NewWriterSize(io.Discard, 1<<20), msgpack.Options{})
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(data)
				in.Reset(src)
				v, err := r.ReadMessage()
				if err != nil {
					b.Fatal(err)
				}
				if err := w.WriteMessage(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
