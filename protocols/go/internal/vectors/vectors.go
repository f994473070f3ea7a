// Package vectors loads the shared golden vectors (../vectors/*.json beside
// this module) and checks a codec's frame library against every case of every
// set. It is used by the tests only.
package vectors

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"stdiobridge/protocols/go/frame"
)

// File is one vectors/<codec>.json.
type File struct {
	Codec       string `json:"codec"`
	Description string `json:"description"`
	Sets        []Set  `json:"sets"`
}

// Set is a group of cases sharing codec options.
type Set struct {
	Options     Options       `json:"options"`
	Valid       []Valid       `json:"valid"`
	Streams     []Stream      `json:"streams"`
	Invalid     []Invalid     `json:"invalid"`
	Unencodable []Unencodable `json:"unencodable"`
}

// Options are a set's codec options; absent ones are zero (the defaults).
type Options struct {
	Width     int    `json:"width"`
	ByteOrder string `json:"byteorder"`
	MaxFrame  int    `json:"max_frame"`
}

// Valid is a message and its exact frame.
type Valid struct {
	Name       string          `json:"name"`
	Message    json.RawMessage `json:"message"`
	MessageHex *string         `json:"message_hex"`
	Hex        string          `json:"hex"`
	Direction  string          `json:"direction"`
}

// Stream is a byte stream, the messages it holds and the length of the
// incomplete frame left at its end.
type Stream struct {
	Name        string            `json:"name"`
	Hex         string            `json:"hex"`
	Messages    []json.RawMessage `json:"messages"`
	MessagesHex []string          `json:"messages_hex"`
	Buffered    int               `json:"buffered"`
}

// Invalid is a stream that yields some messages, then an error.
type Invalid struct {
	Name              string            `json:"name"`
	Hex               string            `json:"hex"`
	Error             string            `json:"error"`
	MessagesBefore    []json.RawMessage `json:"messages_before"`
	MessagesBeforeHex []string          `json:"messages_before_hex"`
}

// Unencodable is a message that encoding must refuse.
type Unencodable struct {
	Name       string          `json:"name"`
	Message    json.RawMessage `json:"message"`
	MessageHex *string         `json:"message_hex"`
	Error      string          `json:"error"`
}

// Dir returns the vectors directory: ../vectors from the module root, found
// by walking up from the working directory to go.mod.
func Dir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "vectors"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Load reads vectors/<codec>.json, refusing unknown fields so that a new kind
// of case cannot be skipped silently.
func Load(t testing.TB, codec string) *File {
	t.Helper()
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, codec+".json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s.json: %v", codec, err)
	}
	if f.Codec != codec {
		t.Fatalf("%s.json: codec is %q", codec, f.Codec)
	}
	return &f
}

// Object is a JSON object of a vector, in file order.
type Object []Member

// Member is one key/value pair of an Object.
type Member struct {
	Key   string
	Value any
}

// Parse decodes a vector's JSON value with encoding/json (independently of
// the codecs under test): nil, bool, json.Number, string, []any, Object.
func Parse(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := parseValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data in %s", raw)
	}
	return v, nil
}

func parseValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('['):
		a := []any{}
		for dec.More() {
			v, err := parseValue(dec)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := dec.Token()
		return a, err
	case json.Delim('{'):
		o := Object{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := parseValue(dec)
			if err != nil {
				return nil, err
			}
			o = append(o, Member{k.(string), v})
		}
		_, err := dec.Token()
		return o, err
	}
	return tok, nil
}

// Codec adapts a codec's frame library to the checks of Run.
type Codec struct {
	// Name is the vectors file: vectors/<Name>.json.
	Name string
	// Message converts a vector message (parsed by Parse; for lenprefix the
	// []byte of message_hex) into the form the codec's reader returns.
	Message func(v any) (any, error)
	// Equal compares a message read with one converted by Message.
	Equal func(got, want any) bool
	// Encode returns the frame of a message converted by Message.
	Encode func(msg any, o Options) ([]byte, error)
	// Reader returns a function reading one message (a copy, owned by the
	// caller) from r.
	Reader func(r *bufio.Reader, o Options) (func() (any, error), error)
}

// readerConfigs are the ways each stream is fed: whole with bufio's smallest
// buffer and a large one, and one byte per Read.
var readerConfigs = []struct {
	name    string
	bufSize int
	oneByte bool
}{
	{"buf16", 16, false},
	{"buf64k", 64 << 10, false},
	{"onebyte", 4096, true},
}

// Run checks c against every case of every set of vectors/<c.Name>.json, and
// fails if a case is not understood.
func Run(t *testing.T, c Codec) {
	f := Load(t, c.Name)
	cases := 0
	for i, set := range f.Sets {
		o := set.Options
		prefix := fmt.Sprintf("set%d%+v/", i, o)
		for _, v := range set.Valid {
			cases++
			t.Run(prefix+"valid/"+v.Name, func(t *testing.T) {
				msg := message(t, c, v.Message, v.MessageHex)
				frameBytes := unhex(t, v.Hex)
				switch v.Direction {
				case "", "both":
					got, err := c.Encode(msg, o)
					if err != nil {
						t.Fatalf("encode: %v", err)
					}
					if !bytes.Equal(got, frameBytes) {
						t.Fatalf("encode:\n got %x\nwant %s", got, v.Hex)
					}
				case "decode":
				default:
					t.Fatalf("unknown direction %q", v.Direction)
				}
				checkStream(t, c, o, frameBytes, []any{msg}, nil)
			})
		}
		for _, s := range set.Streams {
			cases++
			t.Run(prefix+"stream/"+s.Name, func(t *testing.T) {
				msgs := messages(t, c, s.Messages, s.MessagesHex)
				data := unhex(t, s.Hex)
				if s.Buffered < 0 || s.Buffered > len(data) {
					t.Fatalf("buffered %d out of range", s.Buffered)
				}
				// The whole stream: the messages, then a truncated frame if
				// bytes remain held.
				var want error = io.EOF
				if s.Buffered > 0 {
					want = frame.ErrTruncated
				}
				checkStream(t, c, o, data, msgs, want)
				// Without the held bytes: the messages, then a clean EOF.
				checkStream(t, c, o, data[:len(data)-s.Buffered], msgs, io.EOF)
			})
		}
		for _, inv := range set.Invalid {
			cases++
			t.Run(prefix+"invalid/"+inv.Name, func(t *testing.T) {
				msgs := messages(t, c, inv.MessagesBefore, inv.MessagesBeforeHex)
				data := unhex(t, inv.Hex)
				var want error
				switch inv.Error {
				case "DecodeError":
					want = &frame.DecodeError{}
				case "FrameTooLarge":
					want = frame.ErrFrameTooLarge
				default:
					t.Fatalf("unknown error %q", inv.Error)
				}
				checkStream(t, c, o, data, msgs, want)
				if inv.Error == "FrameTooLarge" {
					checkRefusedEarly(t, c, o, data, len(msgs))
				}
			})
		}
		for _, u := range set.Unencodable {
			cases++
			t.Run(prefix+"unencodable/"+u.Name, func(t *testing.T) {
				if u.Error != "EncodeError" {
					t.Fatalf("unknown error %q", u.Error)
				}
				msg := message(t, c, u.Message, u.MessageHex)
				got, err := c.Encode(msg, o)
				var ee *frame.EncodeError
				if !errors.As(err, &ee) {
					t.Fatalf("encode gave %x, %v; want an EncodeError", got, err)
				}
			})
		}
	}
	if cases == 0 {
		t.Fatal("no vector cases")
	}
	t.Logf("%s: %d cases in %d sets", c.Name, cases, len(f.Sets))
}

// checkStream feeds data in each reader configuration and checks that it
// yields msgs, then an error matching want (io.EOF, a sentinel, or a
// *frame.DecodeError).
func checkStream(t *testing.T, c Codec, o Options, data []byte, msgs []any, want error) {
	t.Helper()
	if want == nil {
		want = io.EOF
	}
	for _, rc := range readerConfigs {
		var src io.Reader = bytes.NewReader(data)
		if rc.oneByte {
			src = iotest.OneByteReader(src)
		}
		read, err := c.Reader(bufio.NewReaderSize(src, rc.bufSize), o)
		if err != nil {
			t.Fatalf("%s: new reader: %v", rc.name, err)
		}
		for i, wantMsg := range msgs {
			got, err := read()
			if err != nil {
				t.Fatalf("%s: message %d: %v", rc.name, i, err)
			}
			if !c.Equal(got, wantMsg) {
				t.Fatalf("%s: message %d:\n got %#v\nwant %#v", rc.name, i, got, wantMsg)
			}
		}
		got, err := read()
		if !matches(err, want) {
			t.Fatalf("%s: after %d messages: got %#v, %v; want %v", rc.name, len(msgs), got, err, want)
		}
	}
}

func matches(err, want error) bool {
	if de, ok := want.(*frame.DecodeError); ok {
		return errors.As(err, &de)
	}
	return errors.Is(err, want)
}

// checkRefusedEarly feeds data followed by an endless stream of zero bytes
// (or 'x' bytes for line codecs, which treat LF specially) and checks that the
// reader refuses the frame having read at most one buffer beyond data: the
// oversized frame is never buffered.
func checkRefusedEarly(t *testing.T, c Codec, o Options, data []byte, before int) {
	t.Helper()
	fill := byte(0)
	if c.Name == "lines" || c.Name == "jsonl" {
		fill = 'x'
	}
	tail := &endless{b: fill}
	const bufSize = 4096
	read, err := c.Reader(bufio.NewReaderSize(io.MultiReader(bytes.NewReader(data), tail), bufSize), o)
	if err != nil {
		t.Fatal(err)
	}
	for range before {
		if _, err := read(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := read(); !errors.Is(err, frame.ErrFrameTooLarge) {
		t.Fatalf("with an endless tail: %v; want FrameTooLarge", err)
	}
	if limit := int64(o.MaxFrame + 2*bufSize); tail.n > limit {
		t.Fatalf("read %d bytes of the endless tail before refusing; want at most %d", tail.n, limit)
	}
}

// endless is an io.Reader of the same byte forever, counting what it gave.
type endless struct {
	b byte
	n int64
}

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = e.b
	}
	e.n += int64(len(p))
	return len(p), nil
}

func message(t *testing.T, c Codec, raw json.RawMessage, hexMsg *string) any {
	t.Helper()
	var v any
	if hexMsg != nil {
		v = unhex(t, *hexMsg)
	} else {
		if raw == nil {
			t.Fatal("case has no message")
		}
		var err error
		if v, err = Parse(raw); err != nil {
			t.Fatal(err)
		}
	}
	msg, err := c.Message(v)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func messages(t *testing.T, c Codec, raws []json.RawMessage, hexes []string) []any {
	t.Helper()
	var msgs []any
	for _, r := range raws {
		msgs = append(msgs, message(t, c, r, nil))
	}
	for _, h := range hexes {
		msgs = append(msgs, message(t, c, nil, &h))
	}
	return msgs
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	if b == nil {
		b = []byte{}
	}
	return b
}
