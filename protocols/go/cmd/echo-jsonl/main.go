// Command echo-jsonl is the reference stdiobridge child for the "jsonl" codec:
// it answers every request with the same JSON value.
//
// One JSON value per line on stdin, one per line on stdout, flushed after each.
// It logs only to stderr, exits 0 at the end of stdin, and SIGTERM keeps its
// default action (the program exits at once). With STDIOBRIDGE_TAGGED=1 every
// line is [id, message] and the answer carries the same id. A line that is not
// one JSON value, a truncated last line or a line over 64 MiB is fatal: a
// reason on stderr, exit status 1.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log"
	"os"
	"strconv"

	"stdiobridge/protocols/go/frame"
)

// handle turns one request into its response: your logic goes here; this one
// echoes. Decode the request into your own types with json.Unmarshal and
// return json.Marshal of your answer (see cmd/typed-jsonl). Kept as raw JSON,
// the echo keeps object key order and numbers exactly as sent.
func handle(request json.RawMessage) json.RawMessage {
	return request
}

func main() {
	log.SetFlags(0) // the log package writes to stderr, never to stdout
	log.SetPrefix("echo-jsonl: ")
	tagged := frame.Tagged()
	in := bufio.NewReaderSize(os.Stdin, 64<<10)
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	var answer bytes.Buffer
	for {
		line, err := frame.ReadLine(in, frame.MaxFrame)
		if err == io.EOF {
			return // the host closed stdin: exit 0
		}
		if err != nil {
			log.Fatalf("reading a request: %v", err)
		}
		var id uint32
		request := json.RawMessage(line)
		if tagged {
			if id, request, err = frame.UntagJSON(line); err != nil {
				log.Fatal(err)
			}
		}

		response := handle(request)

		answer.Reset()
		if tagged {
			answer.WriteString("[" + strconv.FormatUint(uint64(id), 10) + ",")
		}
		if err := json.Compact(&answer, response); err != nil { // one value, compact
			log.Fatalf("a request or response that is not one JSON value: %v", err)
		}
		if tagged {
			answer.WriteByte(']')
		}
		answer.WriteByte('\n')
		out.Write(answer.Bytes())
		if err := out.Flush(); err != nil { // flush every answer, or the host waits
			log.Fatalf("writing a response: %v", err)
		}
	}
}
