// Command typed-jsonl is a small typed "jsonl" service, the shape of a real child:
// each request is decoded into a Request struct, answered with a Response struct.
//
//	{"op":"add","a":2,"b":3}        -> {"result":5}
//	{"op":"upper","text":"hi"}      -> {"result":"HI"}
//	{"op":"nope"}                   -> {"error":"unknown op \"nope\": want add or upper"}
//
// A request it cannot serve gets an "error" answer and the child carries on;
// only a broken frame is fatal. Tagged (STDIOBRIDGE_TAGGED=1): [id, ...].
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"stdiobridge/protocols/go/frame"
)

// Request is what the host sends.
type Request struct {
	Op   string `json:"op"`
	A    int64  `json:"a"`
	B    int64  `json:"b"`
	Text string `json:"text"`
}

// Response is what the child answers: a result, or an error for this request.
type Response struct {
	Result any    `json:"result,omitempty"` // omitted only when nil: 0 and "" stay
	Error  string `json:"error,omitempty"`
}

func handle(raw json.RawMessage) Response {
	var req Request
	if err := json.Unmarshal(raw, &req); err != nil {
		return Response{Error: "bad request: " + err.Error()}
	}
	switch req.Op {
	case "add":
		return Response{Result: req.A + req.B}
	case "upper":
		return Response{Result: strings.ToUpper(req.Text)}
	}
	return Response{Error: fmt.Sprintf("unknown op %q: want add or upper", req.Op)}
}

func main() {
	log.SetFlags(0) // the log package writes to stderr, never to stdout
	log.SetPrefix("typed-jsonl: ")
	tagged, in, out := frame.Tagged(), bufio.NewReader(os.Stdin), bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
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
		var answer any = handle(request)
		if tagged {
			answer = []any{id, answer}
		}
		if err := enc.Encode(answer); err != nil || out.Flush() != nil {
			log.Fatalf("writing a response: %v", err) // flushed after every answer
		}
	}
}
