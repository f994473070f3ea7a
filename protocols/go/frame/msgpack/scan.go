package msgpack

import (
	"encoding/binary"

	"stdiobridge/protocols/go/frame"
)

// Kinds of msgpack headers, as far as framing is concerned.
const (
	kInvalid = iota // 0xc1, never used
	kScalar         // the header is the whole value (fixed-size data included)
	kBytes          // str, bin, ext: a payload of the declared length follows
	kArray          // the declared number of values follow
	kMap            // twice the declared number of values follow
)

// header describes the header that a first byte starts.
type header struct {
	size     uint8 // bytes of the header, first byte included
	lenWidth uint8 // bytes of the length field after the first byte (0: in the first byte)
	kind     uint8
}

// headers maps every first byte to its header.
var headers = func() (t [256]header) {
	for c := range 256 {
		switch {
		case c <= 0x7f || c >= 0xe0: // positive and negative fixint
			t[c] = header{1, 0, kScalar}
		case c <= 0x8f:
			t[c] = header{1, 0, kMap}
		case c <= 0x9f:
			t[c] = header{1, 0, kArray}
		case c <= 0xbf:
			t[c] = header{1, 0, kBytes}
		}
	}
	for c, h := range map[byte]header{
		0xc0: {1, 0, kScalar}, // nil
		0xc1: {0, 0, kInvalid},
		0xc2: {1, 0, kScalar}, 0xc3: {1, 0, kScalar}, // false, true
		0xc4: {2, 1, kBytes}, 0xc5: {3, 2, kBytes}, 0xc6: {5, 4, kBytes}, // bin 8/16/32
		0xc7: {3, 1, kBytes}, 0xc8: {4, 2, kBytes}, 0xc9: {6, 4, kBytes}, // ext 8/16/32 (+ type byte)
		0xca: {5, 0, kScalar}, 0xcb: {9, 0, kScalar}, // float 32/64
		0xcc: {2, 0, kScalar}, 0xcd: {3, 0, kScalar}, 0xce: {5, 0, kScalar}, 0xcf: {9, 0, kScalar}, // uint
		0xd0: {2, 0, kScalar}, 0xd1: {3, 0, kScalar}, 0xd2: {5, 0, kScalar}, 0xd3: {9, 0, kScalar}, // int
		0xd4: {3, 0, kScalar}, 0xd5: {4, 0, kScalar}, 0xd6: {6, 0, kScalar}, 0xd7: {10, 0, kScalar}, 0xd8: {18, 0, kScalar}, // fixext
		0xd9: {2, 1, kBytes}, 0xda: {3, 2, kBytes}, 0xdb: {5, 4, kBytes}, // str 8/16/32
		0xdc: {3, 2, kArray}, 0xdd: {5, 4, kArray}, // array 16/32
		0xde: {3, 2, kMap}, 0xdf: {5, 4, kMap}, // map 16/32
	} {
		t[c] = h
	}
	return t
}()

// scanner finds where one msgpack value ends, from its headers alone, without
// decoding it. It checks the size against the limit at every header, so that a
// frame over the limit is refused before its payload is read.
type scanner struct {
	pending uint64 // values still to start
	skip    uint64 // payload bytes of the current str/bin/ext still to pass
	size    uint64 // bytes of the frame announced so far (headers + payloads)
	max     uint64
}

func newScanner(max int) scanner {
	return scanner{pending: 1, max: uint64(max)}
}

// scan advances over p, the next bytes of input, and returns how many of them
// belong to the frame and whether the frame ends there. When it stops short of
// the frame's end, need is how many bytes it needs at p[n:] to go on: p ended
// inside a header.
func (s *scanner) scan(p []byte) (n, need int, done bool, err error) {
	for {
		if s.skip > 0 {
			k := min(s.skip, uint64(len(p)-n))
			n += int(k)
			s.skip -= k
			if s.skip > 0 {
				return n, 1, false, nil
			}
		}
		if s.pending == 0 {
			return n, 0, true, nil
		}
		if n == len(p) {
			return n, 1, false, nil
		}
		c := p[n]
		h := headers[c]
		if h.kind == kInvalid {
			return n, 0, false, frame.Decodef("invalid msgpack: byte 0x%02x at offset %d is never used", c, s.size)
		}
		if len(p)-n < int(h.size) {
			return n, int(h.size), false, nil
		}
		var length uint64 // payload bytes or item count
		switch h.lenWidth {
		case 0:
			switch h.kind {
			case kBytes:
				length = uint64(c & 0x1f) // fixstr
			case kArray, kMap:
				length = uint64(c & 0x0f) // fixarray, fixmap
			}
		case 1:
			length = uint64(p[n+1])
		case 2:
			length = uint64(binary.BigEndian.Uint16(p[n+1:]))
		case 4:
			length = uint64(binary.BigEndian.Uint32(p[n+1:]))
		}
		s.pending--
		s.size += uint64(h.size)
		switch h.kind {
		case kBytes:
			s.skip = length
			s.size += length
		case kArray:
			s.pending += length
		case kMap:
			s.pending += 2 * length
		}
		n += int(h.size)
		// Every value still to come takes at least one byte.
		if s.size+s.pending > s.max {
			return n, 0, false, frame.TooLarge(s.size+s.pending, int(s.max))
		}
	}
}
