package msgpack_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	vmsgpack "github.com/vmihailenco/msgpack/v5"

	"stdiobridge/protocols/go/frame"
	"stdiobridge/protocols/go/frame/msgpack"
	"stdiobridge/protocols/go/internal/vectors"
)

// fromTyped converts the typed JSON form of the vectors into msgpack values.
func fromTyped(v any) (any, error) {
	switch v := v.(type) {
	case nil, bool, string:
		return v, nil
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i, nil
		}
		return strconv.ParseUint(string(v), 10, 64)
	case []any:
		a := make([]any, len(v))
		for i, e := range v {
			var err error
			if a[i], err = fromTyped(e); err != nil {
				return nil, err
			}
		}
		return a, nil
	case vectors.Object:
		if len(v) != 1 {
			return nil, fmt.Errorf("typed form %#v has %d keys", v, len(v))
		}
		switch x := v[0].Value; v[0].Key {
		case "float64":
			return strconv.ParseFloat(string(x.(json.Number)), 64)
		case "float32":
			f, err := strconv.ParseFloat(string(x.(json.Number)), 32)
			return float32(f), err
		case "bin":
			b, err := hex.DecodeString(x.(string))
			if b == nil {
				b = []byte{}
			}
			return b, err
		case "map":
			m := msgpack.Map{}
			for _, pair := range x.([]any) {
				kv := pair.([]any)
				k, err := fromTyped(kv[0])
				if err != nil {
					return nil, err
				}
				val, err := fromTyped(kv[1])
				if err != nil {
					return nil, err
				}
				m = append(m, msgpack.Pair{Key: k, Value: val})
			}
			return m, nil
		}
		return nil, fmt.Errorf("unknown typed form %q", v[0].Key)
	}
	return nil, fmt.Errorf("unexpected %#v", v)
}

// equal compares msgpack values, types included (int64 1 != float64 1), and
// floats bit for bit (NaN equals itself, -0.0 differs from 0.0).
func equal(a, b any) bool {
	switch a := a.(type) {
	case float64:
		b, ok := b.(float64)
		return ok && math.Float64bits(a) == math.Float64bits(b)
	case float32:
		b, ok := b.(float32)
		return ok && math.Float32bits(a) == math.Float32bits(b)
	case []byte:
		b, ok := b.([]byte)
		return ok && bytes.Equal(a, b)
	case msgpack.Ext:
		b, ok := b.(msgpack.Ext)
		return ok && a.Type == b.Type && bytes.Equal(a.Data, b.Data)
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
	case msgpack.Map:
		b, ok := b.(msgpack.Map)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equal(a[i].Key, b[i].Key) || !equal(a[i].Value, b[i].Value) {
				return false
			}
		}
		return true
	}
	return a == b
}

func TestVectors(t *testing.T) {
	vectors.Run(t, vectors.Codec{
		Name:    "msgpack",
		Message: fromTyped,
		Equal:   equal,
		Encode: func(msg any, o vectors.Options) ([]byte, error) {
			var buf bytes.Buffer
			w := msgpack.NewWriter(bufio.NewWriter(&buf), msgpack.Options{MaxFrame: o.MaxFrame})
			err := w.WriteMessage(msg)
			return buf.Bytes(), err
		},
		Reader: func(r *bufio.Reader, o vectors.Options) (func() (any, error), error) {
			mr := msgpack.NewReader(r, msgpack.Options{MaxFrame: o.MaxFrame})
			return func() (any, error) {
				v, err := mr.ReadMessage()
				return v.Interface(), err
			}, nil
		},
	})
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// TestRoundTrip decodes values the vectors do not cover and checks they are
// written back byte for byte.
func TestRoundTrip(t *testing.T) {
	for _, h := range []string{
		"d6ff00000001",                  // timestamp 32 (ext -1)
		"c70305616263",                  // ext8
		"d40501",                        // fixext1
		"c7050501020304ff",              // ext8 of 5 bytes (no fixext5)
		"ca3fc00000",                    // float32 stays float32
		"82c0c3c2c0",                    // map with nil and false keys
		"8192a16101a162",                // map with an array key
		"9f" + strings.Repeat("00", 15), // fixarray-15
		"dc0010" + strings.Repeat("c0", 16),
	} {
		v, err := msgpack.Unmarshal(mustHex(h))
		if err != nil {
			t.Errorf("%s: %v", h, err)
			continue
		}
		// Both encoders: the Value's own, and the library's for Go values.
		for _, x := range []any{v, v.Interface()} {
			got, err := msgpack.Marshal(x)
			if err != nil || hex.EncodeToString(got) != h {
				t.Errorf("%s: %T re-encoded as %x, %v", h, x, got, err)
			}
		}
	}
}

func TestUnmarshalRejects(t *testing.T) {
	for _, h := range []string{"", "c1", "0101", "92c0", "a2ff", "d9", "dc00"} {
		var de *frame.DecodeError
		if v, err := msgpack.Unmarshal(mustHex(h)); !errors.As(err, &de) {
			t.Errorf("%q: got %#v, %v; want a DecodeError", h, v.Interface(), err)
		}
	}
	deep := append(bytes.Repeat([]byte{0x91}, 10001), 0xc0)
	if _, err := msgpack.Unmarshal(deep); err == nil {
		t.Error("nesting of 10001 accepted")
	}
}

func TestMarshalGoValues(t *testing.T) {
	type point struct{ X, Y int }
	for _, c := range []struct {
		v    any
		want string
	}{
		{map[string]any{"b": uint8(1), "a": int16(-1)}, "82a161ffa16201"},
		{[]byte(nil), "c400"},
		{[]msgpack.Pair{{Key: 1.5, Value: nil}}, "81cb3ff8000000000000c0"},
		{uint64(math.MaxUint64), "cfffffffffffffffff"},
		{int(-33), "d0df"},
		{point{1, 300}, "82a15801a159cd012c"},
	} {
		got, err := msgpack.Marshal(c.v)
		if err != nil || hex.EncodeToString(got) != c.want {
			t.Errorf("%#v: got %x, %v; want %s", c.v, got, err, c.want)
		}
	}
	var ee *frame.EncodeError
	if _, err := msgpack.Marshal("\xff"); !errors.As(err, &ee) {
		t.Errorf("invalid UTF-8: %v", err)
	}
	if _, err := msgpack.Marshal(make(chan int)); !errors.As(err, &ee) {
		t.Errorf("chan: %v", err)
	}
}

// FuzzUnmarshal checks that what the decoder accepts re-encodes, no larger,
// to a value that decodes the same, and that the msgpack library agrees on
// where it ends.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{"82a16101a16292c3c2", "dc0010000102030405060708090a0b0c0d0e0f", "c70305616263", "cb3ff8000000000000"} {
		f.Add(mustHex(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := msgpack.Unmarshal(data)
		if err != nil {
			return
		}
		out, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatalf("%x: re-encode: %v", data, err)
		}
		// The Value's encoder and the library's agree.
		if out2, err := msgpack.Marshal(v.Interface()); err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("%x: Value encodes as %x, its Interface as %x, %v", data, out, out2, err)
		}
		v2, err := msgpack.Unmarshal(out)
		if err != nil || !equal(v.Interface(), v2.Interface()) {
			t.Fatalf("%x: re-encoded as %x, which decodes to %#v, %v", data, out, v2.Interface(), err)
		}
		if len(out) > len(data) {
			t.Fatalf("%x: re-encoded larger, as %x", data, out)
		}
		// The library finds the same value boundaries.
		r := bytes.NewReader(out)
		if err := vmsgpack.NewDecoder(r).Skip(); err != nil || r.Len() != 0 {
			t.Fatalf("%x: library skips %x with %d bytes left, %v", data, out, r.Len(), err)
		}
	})
}

func TestValueAPI(t *testing.T) {
	data, err := msgpack.Marshal(msgpack.Map{
		{Key: "i", Value: int64(-5)},
		{Key: "u", Value: uint64(math.MaxUint64)},
		{Key: int64(7), Value: []any{1.5, float32(0.5), true, nil, []byte{1, 2}, msgpack.Ext{Type: 3, Data: []byte("x")}}},
		{Key: "s", Value: "héllo"},
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := msgpack.Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	if v.Kind() != msgpack.KindMap || v.Len() != 4 {
		t.Fatalf("kind %v, len %d", v.Kind(), v.Len())
	}
	if i, _ := v.Get("i"); i.Kind() != msgpack.KindInt || i.Int() != -5 {
		t.Errorf("i: %v %d", i.Kind(), i.Int())
	}
	if u, _ := v.Get("u"); u.Kind() != msgpack.KindUint || u.Uint() != math.MaxUint64 {
		t.Errorf("u: %v %d", u.Kind(), u.Uint())
	}
	if s, _ := v.Get("s"); s.Str() != "héllo" {
		t.Errorf("s: %q", s.Str())
	}
	var a msgpack.Value
	for k, e := range v.Pairs() {
		if k.Kind() == msgpack.KindInt && k.Int() == 7 {
			a = e
		}
	}
	if a.Len() != 6 || a.Index(0).Float() != 1.5 || a.Index(1).Kind() != msgpack.KindFloat32 || a.Index(1).Float() != 0.5 ||
		!a.Index(2).Bool() || a.Index(3).Kind() != msgpack.KindNil || !bytes.Equal(a.Index(4).Bytes(), []byte{1, 2}) ||
		a.Index(5).ExtType() != 3 || string(a.Index(5).Bytes()) != "x" || a.Index(9).Kind() != msgpack.KindNil {
		t.Errorf("array: %#v", a.Interface())
	}
	var zero msgpack.Value
	if zero.Kind() != msgpack.KindNil || zero.Interface() != nil {
		t.Error("zero Value is not nil")
	}
	if b, _ := msgpack.Marshal(zero); !bytes.Equal(b, []byte{0xc0}) {
		t.Errorf("zero Value encodes as %x", b)
	}
}

// TestReaderReuse checks that a Reader's Values are valid until the next
// read, that using one later panics, and that Interface copies survive.
func TestReaderReuse(t *testing.T) {
	r := msgpack.NewReader(bufio.NewReader(bytes.NewReader(mustHex("92a178c4017905"))), msgpack.Options{})
	v1, err := r.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	kept := v1.Interface()
	if v2, err := r.ReadMessage(); err != nil || v2.Int() != 5 {
		t.Fatal(v2.Interface(), err)
	}
	if got, _ := msgpack.Marshal(kept); hex.EncodeToString(got) != "92a178c40179" {
		t.Errorf("kept copy: %x", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("using a stale Value did not panic")
		}
	}()
	v1.Len()
}
