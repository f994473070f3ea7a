// Command echo-msgpack is the reference stdiobridge child for the "msgpack"
// codec: it answers every request with the same msgpack value, byte for byte.
//
// Values follow each other on stdin with no separator; one answer per request
// on stdout, flushed after each. It logs only to stderr, exits 0 at the end of
// stdin, and SIGTERM keeps its default action (the program exits at once).
// With STDIOBRIDGE_TAGGED=1 every frame is [id, message] and the answer
// carries the same id. A truncated or malformed value, or one over 64 MiB, is
// fatal: a reason on stderr, exit status 1.
package main

import (
	"bufio"
	"io"
	"log"
	"os"

	"github.com/vmihailenco/msgpack/v5"

	"stdiobridge/protocols/go/frame"
)

// handle turns one request into its response: your logic goes here; this one
// echoes. Decode the request into your own types with msgpack.Unmarshal; kept
// as a msgpack.RawMessage, the echo keeps every type, ext and map order as
// sent. The response is anything msgpack.Marshal takes.
func handle(request msgpack.RawMessage) any {
	return request
}

func main() {
	log.SetFlags(0) // the log package writes to stderr, never to stdout
	log.SetPrefix("echo-msgpack: ")
	tagged := frame.Tagged()
	in := &frame.Limit{R: bufio.NewReaderSize(os.Stdin, 64<<10), Max: frame.MaxFrame}
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	dec, enc := msgpack.NewDecoder(in), msgpack.NewEncoder(out)
	for {
		err := in.Start()
		if err == io.EOF {
			return // the host closed stdin: exit 0
		}
		var id uint32
		if err == nil && tagged {
			id, err = frame.UntagMsgpack(dec)
		}
		var request msgpack.RawMessage
		if err == nil {
			request, err = dec.DecodeRaw()
		}
		if err != nil {
			log.Fatalf("reading a request: %v", err)
		}

		response := handle(request)

		if tagged {
			enc.EncodeArrayLen(2)
			enc.EncodeUint(uint64(id)) // the smallest form, as the host wrote it
		}
		if err = enc.Encode(response); err == nil {
			err = out.Flush() // flush every answer, or the host waits
		}
		if err != nil {
			log.Fatalf("writing a response: %v", err)
		}
	}
}
