package frame

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestReadLine(t *testing.T) {
	r := bufio.NewReaderSize(strings.NewReader("a\r\nb\r\r\n\n"+strings.Repeat("x", 40)+"\nlast"), 16)
	for _, want := range []string{"a", "b\r", "", strings.Repeat("x", 40)} {
		got, err := ReadLine(r, 40)
		if err != nil || string(got) != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	}
	if _, err := ReadLine(r, 40); err != ErrTruncated {
		t.Fatalf("a last line without LF: %v", err)
	}
	if _, err := ReadLine(r, 40); err != io.EOF {
		t.Fatalf("at the end: %v", err)
	}
	long := bufio.NewReaderSize(strings.NewReader(strings.Repeat("y", 100)+"\n"), 16)
	if _, err := ReadLine(long, 40); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a line over the limit: %v", err)
	}
}

func TestSplitTagAndUntagJSON(t *testing.T) {
	if id, text, err := SplitTag([]byte("4294967295 a b")); err != nil || id != 4294967295 || string(text) != "a b" {
		t.Fatalf("SplitTag: %d %q %v", id, text, err)
	}
	for _, bad := range []string{"7", " 7 a", "07 a", "+7 a", "0 a", "4294967296 a", "x a"} {
		if _, _, err := SplitTag([]byte(bad)); err == nil {
			t.Errorf("SplitTag(%q) accepted", bad)
		}
	}
	if id, msg, err := UntagJSON([]byte(` [ 7 , {"a":[1,2]} ] `)); err != nil || id != 7 || strings.TrimSpace(string(msg)) != `{"a":[1,2]}` {
		t.Fatalf("UntagJSON: %d %q %v", id, msg, err)
	}
	for _, bad := range []string{`{"a":1}`, `[7]`, `[1.0,1]`, `[0,1]`, `[-1,1]`, `["7",1]`, `[true,1]`, `[4294967296,1]`} {
		if _, _, err := UntagJSON([]byte(bad)); err == nil {
			t.Errorf("UntagJSON(%q) accepted", bad)
		}
	}
}

func TestUntagMsgpack(t *testing.T) {
	ok := [][]byte{{0x92, 0x07, 0xc0}, {0x92, 0xcd, 0x01, 0x00, 0xc0}, {0x92, 0xd0, 0x07, 0xc0}}
	for _, frame := range ok {
		if id, err := UntagMsgpack(msgpack.NewDecoder(bytes.NewReader(frame))); err != nil || id == 0 {
			t.Errorf("% x: %d %v", frame, id, err)
		}
	}
	bad := [][]byte{{0x91, 0x07}, {0x92, 0xc3, 0xc0}, {0x92, 0x00, 0xc0}, {0x92, 0xff, 0xc0}, {0x92, 0xcb, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0xc0}, {0x92, 0xa1, 0x37, 0xc0}}
	for _, frame := range bad {
		if _, err := UntagMsgpack(msgpack.NewDecoder(bytes.NewReader(frame))); err == nil {
			t.Errorf("% x accepted", frame)
		}
	}
}

func TestLimitRefusesAValueOverMax(t *testing.T) {
	huge := append([]byte{0xdb, 0x7f, 0xff, 0xff, 0xff}, make([]byte, 100)...) // str32 of 2 GiB
	in := &Limit{R: bufio.NewReader(bytes.NewReader(huge)), Max: 64}
	if err := in.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := msgpack.NewDecoder(in).DecodeRaw(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v; want ErrTooLarge", err)
	}
}

func TestLenPrefix(t *testing.T) {
	p, err := NewLenPrefix(2, "little")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	if err := p.Write(w, []byte("abc")); err != nil || w.Flush() != nil || b.String() != "\x03\x00abc" {
		t.Fatalf("wrote %q, %v", b.Bytes(), err)
	}
	if err := p.Write(w, make([]byte, 1<<16)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("65536 bytes with width 2: %v", err)
	}
	p.Max = 2
	if _, err := p.Read(bufio.NewReader(strings.NewReader("\x03\x00abc"))); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("3 bytes over a limit of 2: %v", err)
	}
	if _, err := p.Read(bufio.NewReader(strings.NewReader("\x03"))); err != ErrTruncated {
		t.Fatalf("half a prefix: %v", err)
	}
	for _, bad := range [][2]any{{3, "big"}, {4, "middle"}} {
		if _, err := NewLenPrefix(bad[0].(int), bad[1].(string)); err == nil {
			t.Errorf("NewLenPrefix%v accepted", bad)
		}
	}
}
