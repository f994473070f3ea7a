// Command echo-jsonl is the reference stdiobridge child for the "jsonl" codec:
// it answers every request with the same JSON value, decoded into a generic
// value and encoded again (object keys in the order received, numbers exact).
//
// It reads requests from stdin and writes one response per request to stdout,
// flushing after each; it logs only to stderr, exits 0 at the end of stdin and
// at once on SIGTERM. A truncated last line, a line that is not exactly one
// JSON value or a line over the frame limit is fatal: a reason on stderr and
// exit status 1.
package main

import (
	"bufio"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"

	"stdiobridge/protocols/go/frame/jsonl"
)

// handle turns one request into its response. Replace its body with your own
// logic; this one echoes. Read the request with its methods (Kind, Get,
// Members, Elements, Text, Number, ...) or convert it with Interface; it is
// only valid until the next request is read. The response may be a
// jsonl.Value or any Go value: nil, bool, string, numbers, []any,
// map[string]any, jsonl.Object (ordered keys), structs (see jsonl.Append).
func handle(request jsonl.Value) any {
	return request
}

func main() {
	log.SetFlags(0) // the log package writes to stderr, never stdout
	log.SetPrefix("echo-jsonl: ")
	exitOnSIGTERM()

	r := jsonl.NewReader(bufio.NewReaderSize(os.Stdin, 1<<20), jsonl.Options{})
	w := jsonl.NewWriter(bufio.NewWriterSize(os.Stdout, 1<<20), jsonl.Options{})
	for {
		request, err := r.ReadMessage()
		if err == io.EOF {
			return // stdin closed: the host is done with us; exit 0
		}
		if err != nil {
			log.Fatalf("reading a request: %v", err)
		}

		// Your logic goes here: one response per request, in order.
		response := handle(request)

		if err := w.WriteMessage(response); err != nil { // writes and flushes
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
