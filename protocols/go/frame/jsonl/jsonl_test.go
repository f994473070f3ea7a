package jsonl_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"

	"stdiobridge/protocols/go/frame"
	"stdiobridge/protocols/go/frame/jsonl"
	"stdiobridge/protocols/go/internal/vectors"
)

// toJSONL converts a value parsed by vectors.Parse to the jsonl form.
func toJSONL(v any) any {
	switch v := v.(type) {
	case []any:
		a := make([]any, len(v))
		for i, e := range v {
			a[i] = toJSONL(e)
		}
		return a
	case vectors.Object:
		o := jsonl.Object{}
		for _, m := range v {
			o = append(o, jsonl.Member{Key: m.Key, Value: toJSONL(m.Value)})
		}
		return o
	}
	return v
}

// equal compares JSON values; numbers by value (1e16 == 1e+16) and by kind
// (an integer is never equal to a number written with a fraction or exponent).
func equal(a, b any) bool {
	switch a := a.(type) {
	case json.Number:
		b, ok := b.(json.Number)
		if !ok {
			return false
		}
		if a == b {
			return true
		}
		ra, oka := new(big.Rat).SetString(string(a))
		rb, okb := new(big.Rat).SetString(string(b))
		return oka && okb && ra.Cmp(rb) == 0 && isInt(a) == isInt(b)
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equal(a[i], b[i]) {
				return false
			}
		}
		return true
	case jsonl.Object:
		b, ok := b.(jsonl.Object)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if a[i].Key != b[i].Key || !equal(a[i].Value, b[i].Value) {
				return false
			}
		}
		return true
	case nil, bool, string:
		return a == b
	}
	return false
}

func isInt(n json.Number) bool { return !strings.ContainsAny(string(n), ".eE") }

func TestVectors(t *testing.T) {
	vectors.Run(t, vectors.Codec{
		Name:    "jsonl",
		Message: func(v any) (any, error) { return toJSONL(v), nil },
		Equal:   equal,
		Encode: func(msg any, o vectors.Options) ([]byte, error) {
			var buf bytes.Buffer
			w := jsonl.NewWriter(bufio.NewWriter(&buf), jsonl.Options{MaxFrame: o.MaxFrame})
			err := w.WriteMessage(msg)
			return buf.Bytes(), err
		},
		Reader: func(r *bufio.Reader, o vectors.Options) (func() (any, error), error) {
			jr := jsonl.NewReader(r, jsonl.Options{MaxFrame: o.MaxFrame})
			return func() (any, error) {
				v, err := jr.ReadMessage()
				return v.Interface(), err
			}, nil
		},
	})
}

func TestDecodeInvalid(t *testing.T) {
	for _, in := range []string{
		``, ` `, `nul`, `nulll`, `tru`, `[`, `]`, `[1,]`, `[,1]`, `[1 2]`, `{"a"}`, `{"a":}`,
		`{"a":1,}`, `{1:2}`, `{"a" 1}`, `01`, `-`, `-01`, `1.`, `.5`, `1e`, `1e+`, `+1`,
		`0x10`, `Infinity`, `-Infinity`, `NaN`, `"abc`, `"\x"`, `"\u12"`, `"\u12g4"`,
		"\"a\tb\"", "\"\x00\"", `"\ud800"`, `"\udc00"`, `"\ud800\u0041"`, `"\ud800x"`,
		"\"\xff\"", `1 2`, `[] []`, `"a" x`, `{"a":1}}`, `'a'`, `True`, `null1`,
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	} {
		v, err := jsonl.Unmarshal([]byte(in))
		var de *frame.DecodeError
		if !errors.As(err, &de) || v.Kind() != jsonl.KindNull {
			t.Errorf("%.40q: got %#v, %v; want a DecodeError", in, v, err)
		}
	}
}

func TestDecodeValid(t *testing.T) {
	for in, want := range map[string]string{
		` [ 1 , { "a" : [ ] , "b" : { } } ] `:                        `[1,{"a":[],"b":{}}]`,
		`"\u00e9\uD83D\uDE00\/\b\f\n\r\t\"\\"`:                       `"é😀/\b\f\n\r\t\"\\"`,
		`"\u0000\u001f\u007f\u2028"`:                                 `"\u0000\u001f` + "\x7f\u2028" + `"`,
		`[-0,0.0,1E5,1e-5,-1.25E+10,123456789012345678901234567890]`: `[-0,0.0,1E5,1e-5,-1.25E+10,123456789012345678901234567890]`,
		`{"b":1,"a":2,"b":3}`:                                        `{"b":1,"a":2,"b":3}`,
		`"<&>"`:                                                      `"<&>"`,
		strings.Repeat("[", 10000) + strings.Repeat("]", 10000):      strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	} {
		v, err := jsonl.Unmarshal([]byte(in))
		if err != nil {
			t.Errorf("%.40q: %v", in, err)
			continue
		}
		got, err := jsonl.Marshal(v)
		if err != nil || string(got) != want {
			t.Errorf("%.40q: re-encoded as %.60q, %v; want %.60q", in, got, err, want)
		}
	}
}

func TestEncodeGoValues(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		{map[string]any{"b": 1, "a": []any{int8(-1), uint64(math.MaxUint64)}}, `{"a":[-1,18446744073709551615],"b":1}`},
		{[]any{1.0, 2.5, math.Copysign(0, -1), 1e16, 1e15, 1e-4, 1e-5, 0.1, float32(0.1), 123456789.125}, `[1.0,2.5,-0.0,1e+16,1000000000000000.0,0.0001,1e-05,0.1,0.1,123456789.125]`},
		{struct {
			A string `json:"a"`
			B []int  `json:"b"`
		}{"<x>", []int{1}}, `{"a":"<x>","b":[1]}`},
		{[]jsonl.Member{{"k", nil}}, `{"k":null}`},
		{"\x00\x08\x0c\x1f\"\\/é", `"\u0000\b\f\u001f\"\\/é"`},
	} {
		got, err := jsonl.Marshal(c.v)
		if err != nil || string(got) != c.want {
			t.Errorf("%#v: got %s, %v; want %s", c.v, got, err, c.want)
		}
	}
	for _, bad := range []any{math.NaN(), math.Inf(1), "\xff", json.Number("1x"), json.Number(""), make(chan int)} {
		var ee *frame.EncodeError
		if got, err := jsonl.Marshal(bad); !errors.As(err, &ee) {
			t.Errorf("%#v: got %s, %v; want an EncodeError", bad, got, err)
		}
	}
}

// FuzzUnmarshal checks the decoder against encoding/json: both accept the
// same texts (bar the documented differences) and agree on the value.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,"x\u00e9"],"b":null}`, `"\ud83d\ude00"`, `[true,false,-0.5e3]`, `1 `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := jsonl.Unmarshal(data)
		stdOK := json.Valid(data)
		// encoding/json also accepts invalid UTF-8 and lone surrogates
		// (replacing them with U+FFFD), which this decoder refuses.
		lenient := bytes.Contains(data, []byte(`\u`)) || !validUTF8(data)
		if (err == nil) != stdOK && !(lenient && err != nil) {
			t.Fatalf("%q: jsonl %v, encoding/json valid: %v", data, err, stdOK)
		}
		if err != nil {
			return
		}
		out, err := jsonl.Marshal(v)
		if err != nil {
			t.Fatalf("%q: re-encode: %v", data, err)
		}
		// The Value and its Interface form encode alike.
		if out2, err := jsonl.Marshal(v.Interface()); err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("%q: Value encodes as %q, its Interface as %q, %v", data, out, out2, err)
		}
		v2, err := jsonl.Unmarshal(out)
		if err != nil || !equal(v.Interface(), v2.Interface()) {
			t.Fatalf("%q: re-encoded as %q which decodes to %v, %v", data, out, v2, err)
		}
		if !isCompact(out) {
			t.Fatalf("%q: not compact: %q", data, out)
		}
	})
}

func validUTF8(b []byte) bool { return strings.ToValidUTF8(string(b), "\uFFFD") == string(b) }

func isCompact(b []byte) bool {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return false
	}
	return bytes.Equal(buf.Bytes(), b)
}

func TestValueAPI(t *testing.T) {
	v, err := jsonl.Unmarshal([]byte(`{"n":9007199254740993,"s":"a\"b","a":[true,null,{"k":[]}],"f":false}`))
	if err != nil {
		t.Fatal(err)
	}
	if v.Kind() != jsonl.KindObject || v.Len() != 4 {
		t.Fatalf("kind %v, len %d", v.Kind(), v.Len())
	}
	var keys []string
	for k := range v.Members() {
		keys = append(keys, k)
	}
	if strings.Join(keys, ",") != "n,s,a,f" {
		t.Errorf("keys %v", keys)
	}
	n, _ := v.Get("n")
	if i, err := n.Number().Int64(); err != nil || i != 9007199254740993 || n.Text() != "9007199254740993" {
		t.Errorf("n: %d, %v", i, err)
	}
	if s, _ := v.Get("s"); s.Kind() != jsonl.KindString || s.Text() != `a"b` || s.String() != `"a\"b"` {
		t.Errorf("s: %v %q", s.Kind(), s.Text())
	}
	a, _ := v.Get("a")
	if a.Len() != 3 || !a.Index(0).Bool() || a.Index(1).Kind() != jsonl.KindNull || a.Index(5).Kind() != jsonl.KindNull {
		t.Errorf("a: %v", a)
	}
	if k, ok := a.Index(2).Get("k"); !ok || k.Kind() != jsonl.KindArray || k.Len() != 0 {
		t.Errorf("a[2].k: %v %v", k, ok)
	}
	if f, _ := v.Get("f"); f.Kind() != jsonl.KindBool || f.Bool() {
		t.Errorf("f: %v", f)
	}
	if _, ok := v.Get("missing"); ok {
		t.Error("missing key found")
	}
	if got := v.String(); got != `{"n":9007199254740993,"s":"a\"b","a":[true,null,{"k":[]}],"f":false}` {
		t.Errorf("String: %s", got)
	}
	var zero jsonl.Value
	if zero.Kind() != jsonl.KindNull || zero.String() != "null" || zero.Interface() != nil {
		t.Error("zero Value is not null")
	}
}

// TestReaderReuse checks that a Reader's Values are valid until the next
// read, that using one later panics, and that Interface copies survive.
func TestReaderReuse(t *testing.T) {
	r := jsonl.NewReader(bufio.NewReader(strings.NewReader("[1,{\"a\":\"x\"}]\n[2]\n")), jsonl.Options{})
	v1, err := r.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	kept := v1.Interface()
	if _, err := r.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	if got, _ := jsonl.Marshal(kept); string(got) != `[1,{"a":"x"}]` {
		t.Errorf("kept copy: %s", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("using a stale Value did not panic")
		}
	}()
	v1.Len()
}
