// Command echo-msgpack is the reference stdiobridge child for the "msgpack"
// codec: it answers every request with the same msgpack value, decoded into a
// generic value and encoded again (map order, str vs bin and key types kept;
// every integer and length in its smallest form).
//
// It reads requests from stdin and writes one response per request to stdout,
// flushing after each; it logs only to stderr, exits 0 at the end of stdin and
// at once on SIGTERM. A truncated last value, invalid msgpack or a value over
// the frame limit is fatal: a reason on stderr and exit status 1.
package main

import (
	"bufio"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"

	"stdiobridge/protocols/go/frame/msgpack"
)

// handle turns one request into its response. Replace its body with your own
// logic; this one echoes. Read the request with its methods (Kind, Get,
// Pairs, Elements, Str, Int, ...) or convert it with Interface; it is only
// valid until the next request is read. The response may be a msgpack.Value
// or any Go value: nil, bool, numbers, string, []byte, []any,
// map[string]any, msgpack.Map (ordered, any keys), structs (see
// msgpack.Marshal).
func handle(request msgpack.Value) any {
	return request
}

func main() {
	log.SetFlags(0) // the log package writes to stderr, never stdout
	log.SetPrefix("echo-msgpack: ")
	exitOnSIGTERM()

	r := msgpack.NewReader(bufio.NewReaderSize(os.Stdin, 1<<20), msgpack.Options{})
	w := msgpack.NewWriter(bufio.NewWriterSize(os.Stdout, 1<<20), msgpack.Options{})
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
