// Command echo-lines is the reference stdiobridge child for the "lines" codec:
// it answers every request line with the same line.
//
// It reads requests from stdin and writes one response per request to stdout,
// flushing after each; it logs only to stderr, exits 0 at the end of stdin and
// at once on SIGTERM. A truncated last line, invalid UTF-8 or a line over the
// frame limit is fatal: a reason on stderr and exit status 1.
package main

import (
	"bufio"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"

	"stdiobridge/protocols/go/frame/lines"
)

// handle turns one request into its response. Replace its body with your own
// logic; this one echoes. The request is only valid until the next read: copy
// it (or convert it to a string) to keep it.
func handle(request []byte) []byte {
	return request
}

func main() {
	log.SetFlags(0) // the log package writes to stderr, never stdout
	log.SetPrefix("echo-lines: ")
	exitOnSIGTERM()

	r := lines.NewReader(bufio.NewReaderSize(os.Stdin, 1<<20), lines.Options{})
	w := lines.NewWriter(bufio.NewWriterSize(os.Stdout, 1<<20), lines.Options{})
	for {
		request, err := r.ReadFrame()
		if err == io.EOF {
			return // stdin closed: the host is done with us; exit 0
		}
		if err != nil {
			log.Fatalf("reading a request: %v", err)
		}

		// Your logic goes here: one response per request, in order.
		response := handle(request)

		if err := w.WriteFrame(response); err != nil { // writes and flushes
			log.Fatalf("writing a response: %v", err)
		}
	}
}

// exitOnSIGTERM makes the program exit at once on SIGTERM, even while it is
// blocked reading stdin. Every response already written has been flushed.
func exitOnSIGTERM() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	go func() {
		<-sig
		log.Print("SIGTERM: exiting")
		os.Exit(143) // 128 + SIGTERM, as a shell reports it
	}()
}
