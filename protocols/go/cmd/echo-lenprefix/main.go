// Command echo-lenprefix is the reference stdiobridge child for the
// "lenprefix" codec: it answers every request with the same payload.
//
//	echo-lenprefix [-width 1|2|4|8] [-byteorder big|little]
//
// The flags give the length prefix (default 4 bytes, big endian); they must
// match the host's codec options. It logs only to stderr, exits 0 at the end
// of stdin, and SIGTERM keeps its default action (the program exits at once).
// With STDIOBRIDGE_TAGGED=1 every payload starts with a 4-byte id in the same
// byte order and the answer carries the same id. A truncated last frame or a
// frame over 64 MiB is fatal: a reason on stderr, exit status 1.
package main

import (
	"bufio"
	"flag"
	"io"
	"log"
	"os"

	"stdiobridge/protocols/go/frame"
)

// handle turns one request into its response: your logic goes here; this one
// echoes.
func handle(request []byte) []byte {
	return request
}

func main() {
	log.SetFlags(0) // the log package writes to stderr, never to stdout
	log.SetPrefix("echo-lenprefix: ")
	width := flag.Int("width", 4, "size of the length prefix in bytes: 1, 2, 4 or 8")
	byteorder := flag.String("byteorder", "big", "byte order of the length prefix: big or little")
	flag.Parse()
	format, err := frame.NewLenPrefix(*width, *byteorder)
	if err != nil {
		log.Fatal(err)
	}
	tagged := frame.Tagged()
	in := bufio.NewReaderSize(os.Stdin, 64<<10)
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	for {
		payload, err := format.Read(in)
		if err == io.EOF {
			return // the host closed stdin: exit 0
		}
		if err != nil {
			log.Fatalf("reading a request: %v", err)
		}
		if tagged && len(payload) < 4 {
			log.Fatalf("a tagged payload of %d bytes: no room for its 4-byte id", len(payload))
		}
		var id []byte
		if tagged {
			id, payload = payload[:4], payload[4:] // copied back as they are
		}

		response := handle(payload)

		if tagged {
			response = append(id[:4:4], response...)
		}
		if err = format.Write(out, response); err == nil {
			err = out.Flush() // flush every answer, or the host waits
		}
		if err != nil {
			log.Fatalf("writing a response: %v", err)
		}
	}
}
