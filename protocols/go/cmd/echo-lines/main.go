// Command echo-lines is the reference stdiobridge child for the "lines" codec:
// it answers every request line with the same line.
//
// One line per request on stdin, one line per answer on stdout, flushed after
// each. It logs only to stderr, exits 0 at the end of stdin, and SIGTERM keeps
// its default action (the program exits at once). With STDIOBRIDGE_TAGGED=1
// every line is "<id> <text>" and the answer carries the same id. A truncated
// last line or a line over 64 MiB is fatal: a reason on stderr, exit status 1.
package main

import (
	"bufio"
	"io"
	"log"
	"os"
	"strconv"

	"stdiobridge/protocols/go/frame"
)

// handle turns one request into its response: your logic goes here; this one
// echoes. The response must not contain LF nor end with CR.
func handle(request string) string {
	return request
}

func main() {
	log.SetFlags(0) // the log package writes to stderr, never to stdout
	log.SetPrefix("echo-lines: ")
	tagged := frame.Tagged()
	in := bufio.NewReaderSize(os.Stdin, 64<<10)
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	for {
		line, err := frame.ReadLine(in, frame.MaxFrame)
		if err == io.EOF {
			return // the host closed stdin: exit 0
		}
		if err != nil {
			log.Fatalf("reading a request: %v", err)
		}
		var id uint32
		if tagged {
			if id, line, err = frame.SplitTag(line); err != nil {
				log.Fatal(err)
			}
		}

		response := handle(string(line))

		if tagged {
			out.WriteString(strconv.FormatUint(uint64(id), 10) + " ")
		}
		out.WriteString(response)
		out.WriteByte('\n')
		if err := out.Flush(); err != nil { // flush every answer, or the host waits
			log.Fatalf("writing a response: %v", err)
		}
	}
}
