package jsonl_test

import (
	"bufio"
	"bytes"
	"io"
	"testing"

	"stdiobridge/protocols/go/frame/jsonl"
	"stdiobridge/protocols/go/internal/childtest"
)

// BenchmarkEcho measures what the echo child does with one line, in process:
// read it, decode it into a Value, encode it and write it.
func BenchmarkEcho(b *testing.B) {
	for name, text := range map[string][]byte{
		"string64KiB": childtest.JSONString64K(),
		"objects2000": childtest.JSONObjects2000(),
	} {
		b.Run(name, func(b *testing.B) {
			line := append(bytes.Clone(text), '\n')
			src := bytes.NewReader(line)
			in := bufio.NewReaderSize(src, 1<<20)
			r := jsonl.NewReader(in, jsonl.Options{})
			w := jsonl.NewWriter(bufio.NewWriterSize(io.Discard, 1<<20), jsonl.Options{})
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(line)
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
