package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"stdiobridge/protocols/go/internal/childtest"
)

func TestMain(m *testing.M) { childtest.Main(m, main) }

func reader(r *bufio.Reader) func() ([]byte, error) {
	return func() ([]byte, error) { return r.ReadBytes('\n') }
}

// Untagged, it is an ordinary jsonl echo: answers in order.
var spec = childtest.Spec{
	Reader:    reader,
	Request:   func(i int) []byte { return []byte(fmt.Sprintf(`{"n":%d,"s":"é%d","sleep_ms":%d}`+"\n", i, i, i%2)) },
	Big:       func(n int) []byte { return []byte(fmt.Sprintf(`"%0*d"`+"\n", n, 0)) },
	Truncated: []byte(`{"n":1`),
	Invalid:   []byte("INFO starting up\n"),
}

func TestUntaggedInOrder(t *testing.T) { childtest.Run(t, spec) }

// TestTaggedOutOfOrder sends requests sleeping 300, 200, 100 and 0 ms at once:
// every answer carries its request's id and bytes, and they do not come back
// in request order.
func TestTaggedOutOfOrder(t *testing.T) {
	c := childtest.StartEnv(t, []string{"STDIOBRIDGE_TAGGED=1"})
	sent := map[uint32]string{}
	var order []uint32
	for i := range 4 {
		id := uint32(4294967295 - 7919*i)
		line := fmt.Sprintf(`[%d,{"sleep_ms":%d,"n":%d}]`+"\n", id, 100*(3-i), i)
		sent[id], order = line, append(order, id)
		c.Write([]byte(line))
	}
	read := reader(c.Stdout)
	var got []uint32
	for range 4 {
		line, err := read()
		if err != nil {
			t.Fatal(err)
		}
		var pair []json.RawMessage
		var id uint32
		if json.Unmarshal(line, &pair) != nil || json.Unmarshal(pair[0], &id) != nil || sent[id] != string(line) {
			t.Fatalf("answer %q matches no request", line)
		}
		delete(sent, id)
		got = append(got, id)
	}
	if slices.Equal(got, order) {
		t.Fatalf("answers in request order %v", got)
	}
	c.Stdin.Close()
	if code, stderr, _ := c.Wait(); code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// TestTaggedManyInFlight keeps 300 requests of 1 KiB in flight (more than the
// child's read buffer): each answer must still be its own request's bytes.
func TestTaggedManyInFlight(t *testing.T) {
	c := childtest.StartEnv(t, []string{"STDIOBRIDGE_TAGGED=1"})
	sent := map[string]bool{}
	var all []byte
	for i := range 300 {
		line := fmt.Sprintf(`[%d,{"sleep_ms":50,"pad":"%01024d"}]`+"\n", i+1, i)
		sent[line] = true
		all = append(all, line...)
	}
	go c.Write(all)
	read := reader(c.Stdout)
	for range 300 {
		line, err := read()
		if err != nil || !sent[string(line)] {
			t.Fatalf("answer %.60q (%v) is not a request's bytes, or came twice", line, err)
		}
		delete(sent, string(line))
	}
	c.Stdin.Close()
	if code, stderr, _ := c.Wait(); code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}
