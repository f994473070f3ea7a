// Command echo-concurrent is a "jsonl" child that answers concurrently: in
// tagged mode (STDIOBRIDGE_TAGGED=1) each request [id, message] is handled in
// its own goroutine, which first sleeps message.sleep_ms milliseconds (when the
// message is an object holding that number), then answers [id, message]. So
// answers come out of order, and the host pairs them by id. Untagged, it
// answers each request in order, as every child must.
//
// Goroutines share stdout: one mutex serialises writing and flushing a whole
// answer. At the end of stdin it waits for the requests in flight, then exits 0.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log"
	"os"
	"sync"
	"time"

	"stdiobridge/protocols/go/frame"
)

// handle is the work of one request: sleep as asked, then echo the message.
func handle(request json.RawMessage) any {
	var work struct {
		SleepMs int `json:"sleep_ms"`
	}
	if json.Unmarshal(request, &work) == nil && work.SleepMs > 0 {
		time.Sleep(time.Duration(work.SleepMs) * time.Millisecond)
	}
	return request
}

func main() {
	log.SetFlags(0) // the log package writes to stderr, never to stdout
	log.SetPrefix("echo-concurrent: ")
	tagged := frame.Tagged()
	in := bufio.NewReaderSize(os.Stdin, 64<<10)
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	var mu sync.Mutex // held while one answer is written and flushed
	answer := func(v any) {
		mu.Lock()
		defer mu.Unlock()
		if err := enc.Encode(v); err != nil || out.Flush() != nil {
			log.Fatalf("writing a response: %v", err)
		}
	}
	var inFlight sync.WaitGroup
	for {
		line, err := frame.ReadLine(in, frame.MaxFrame)
		if err == io.EOF {
			inFlight.Wait() // answer everything already received, then exit 0
			return
		}
		if err != nil {
			log.Fatalf("reading a request: %v", err)
		}
		if !tagged {
			answer(handle(json.RawMessage(line)))
			continue
		}
		id, request, err := frame.UntagJSON(line)
		if err != nil {
			log.Fatal(err)
		}
		request = bytes.Clone(request) // line is reused by the next read
		inFlight.Add(1)
		go func() {
			defer inFlight.Done()
			answer([]any{id, handle(request)})
		}()
	}
}
