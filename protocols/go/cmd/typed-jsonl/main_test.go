package main

import (
	"bufio"
	"testing"

	"stdiobridge/protocols/go/internal/childtest"
)

func TestMain(m *testing.M) { childtest.Main(m, main) }

func reader(r *bufio.Reader) func() ([]byte, error) {
	return func() ([]byte, error) { return r.ReadBytes('\n') }
}

func lines(s ...string) [][]byte {
	var out [][]byte
	for _, l := range s {
		out = append(out, []byte(l+"\n"))
	}
	return out
}

// TestServes: typed answers, and error answers that do not end the child.
func TestServes(t *testing.T) {
	childtest.RoundTrips(t, childtest.Spec{Reader: reader},
		lines(`{"op":"add","a":2,"b":40}`, `{"op":"upper","text":"héllo"}`, `{"op":"add","a":"x"}`, `{"op":"nope"}`, `{"op":"add","a":-3,"b":3}`),
		lines(`{"result":42}`, `{"result":"HÉLLO"}`,
			`{"error":"bad request: json: cannot unmarshal string into Go struct field Request.a of type int64"}`,
			`{"error":"unknown op \"nope\": want add or upper"}`, `{"result":0}`))
}

func TestServesTagged(t *testing.T) {
	spec := childtest.Spec{Reader: reader, Env: []string{"STDIOBRIDGE_TAGGED=1"}}
	childtest.RoundTrips(t, spec,
		lines(`[4000000000,{"op":"add","a":1,"b":2}]`, `[9,{"op":"upper","text":"x"}]`),
		lines(`[4000000000,{"result":3}]`, `[9,{"result":"X"}]`))
}
