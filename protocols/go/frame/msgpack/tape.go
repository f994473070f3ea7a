package msgpack

import (
	"encoding/binary"
	"math"
	"unicode/utf8"

	"stdiobridge/protocols/go/frame"
)

// decoder builds documents from whole msgpack values that a scanner checked.
type decoder struct {
	open []openContainer // the containers being filled

	// A Reader reuses its document and tape from one value to the next, so
	// that decoding allocates nothing but the copy of the value.
	reuse bool
	doc   *document
}

// openContainer is an array or map of the tape still missing children.
type openContainer struct {
	at   uint32 // its node
	left uint32 // child nodes still to come
}

// decode builds the document of b, one whole msgpack value.
func (d *decoder) decode(b []byte) (Value, error) {
	if uint64(len(b)) > math.MaxUint32 {
		return Value{}, frame.Decodef("msgpack value of %d bytes is too large to decode", len(b))
	}
	doc := d.doc
	if !d.reuse || doc == nil {
		doc = &document{}
	}
	doc.gen++ // Values from the last decode are now stale
	doc.data = string(b)
	var err error
	doc.nodes, d.open, err = d.parse(doc.data, doc.nodes[:0], d.open[:0])
	if d.reuse {
		d.doc = doc
	}
	if err != nil {
		return Value{}, err
	}
	return Value{doc, 0, doc.gen}, nil
}

// be reads the w-byte big-endian unsigned integer at s[i:].
func be(s string, i, w int) uint64 {
	var u uint64
	for _, c := range []byte(s[i : i+w]) {
		u = u<<8 | uint64(c)
	}
	return u
}

// parse appends the nodes of the value s holds to nodes. The structure of s
// was checked by a scanner; parse checks that strings are UTF-8 and that
// nesting stays under maxDepth.
func (d *decoder) parse(s string, nodes []node, open []openContainer) ([]node, []openContainer, error) {
	i := 0
	for {
		c := s[i]
		var nd node
		switch {
		case c <= 0x7f: // positive fixint
			nd, i = node{kind: KindInt, bits: uint64(c)}, i+1
		case c >= 0xe0: // negative fixint
			nd, i = node{kind: KindInt, bits: uint64(int64(int8(c)))}, i+1
		case c <= 0x8f:
			nd, i = node{kind: KindMap, n: 2 * uint32(c&0x0f)}, i+1
		case c <= 0x9f:
			nd, i = node{kind: KindArray, n: uint32(c & 0x0f)}, i+1
		case c <= 0xbf:
			nd = node{kind: KindString, start: uint32(i + 1), end: uint32(i + 1 + int(c&0x1f))}
		case c == 0xc0:
			nd, i = node{kind: KindNil}, i+1
		case c == 0xc2 || c == 0xc3:
			nd, i = node{kind: KindBool, bits: uint64(c - 0xc2)}, i+1
		case c >= 0xc4 && c <= 0xc6: // bin 8/16/32
			w := 1 << (c - 0xc4)
			start := i + 1 + w
			nd = node{kind: KindBinary, start: uint32(start), end: uint32(start + int(be(s, i+1, w)))}
		case c >= 0xc7 && c <= 0xc9: // ext 8/16/32
			w := 1 << (c - 0xc7)
			start := i + 2 + w
			nd = node{kind: KindExt, ext: int8(s[i+1+w]), start: uint32(start), end: uint32(start + int(be(s, i+1, w)))}
		case c == 0xca:
			nd, i = node{kind: KindFloat32, bits: be(s, i+1, 4)}, i+5
		case c == 0xcb:
			nd, i = node{kind: KindFloat64, bits: be(s, i+1, 8)}, i+9
		case c >= 0xcc && c <= 0xcf: // uint 8/16/32/64
			w := 1 << (c - 0xcc)
			nd, i = node{kind: KindInt, bits: be(s, i+1, w)}, i+1+w
			if nd.bits > math.MaxInt64 {
				nd.kind = KindUint
			}
		case c >= 0xd0 && c <= 0xd3: // int 8/16/32/64: sign-extend
			w := 1 << (c - 0xd0)
			shift := 64 - 8*w
			nd, i = node{kind: KindInt, bits: uint64(int64(be(s, i+1, w)<<shift) >> shift)}, i+1+w
		case c >= 0xd4 && c <= 0xd8: // fixext 1/2/4/8/16
			start := i + 2
			nd = node{kind: KindExt, ext: int8(s[i+1]), start: uint32(start), end: uint32(start + 1<<(c-0xd4))}
		case c >= 0xd9 && c <= 0xdb: // str 8/16/32
			w := 1 << (c - 0xd9)
			start := i + 1 + w
			nd = node{kind: KindString, start: uint32(start), end: uint32(start + int(be(s, i+1, w)))}
		case c == 0xdc || c == 0xdd: // array 16/32
			w := 2 << (c - 0xdc)
			nd, i = node{kind: KindArray, n: uint32(be(s, i+1, w))}, i+1+w
		case c == 0xde || c == 0xdf: // map 16/32
			w := 2 << (c - 0xde)
			nd, i = node{kind: KindMap, n: 2 * uint32(be(s, i+1, w))}, i+1+w
		default:
			return nodes, open, frame.Decodef("invalid msgpack byte 0x%02x at offset %d", c, i)
		}
		switch nd.kind {
		case KindString:
			if !validUTF8(s[nd.start:nd.end]) {
				return nodes, open, frame.Decodef("msgpack str at offset %d is not valid UTF-8", i)
			}
			fallthrough
		case KindBinary, KindExt:
			i = int(nd.end)
		case KindArray, KindMap:
			if nd.n > 0 {
				if len(open) >= maxDepth {
					return nodes, open, frame.Decodef("msgpack value nested deeper than %d", maxDepth)
				}
				open = append(open, openContainer{uint32(len(nodes)), nd.n})
				nodes = append(nodes, nd)
				continue // its first child follows
			}
			nd.end = uint32(len(nodes) + 1)
		}
		nodes = append(nodes, nd)
		// A value is complete: close the containers it completes.
		for {
			if len(open) == 0 {
				return nodes, open, nil
			}
			top := &open[len(open)-1]
			if top.left--; top.left > 0 {
				break
			}
			nodes[top.at].end = uint32(len(nodes))
			open = open[:len(open)-1]
		}
	}
}

// validUTF8 is utf8.ValidString with a faster path for short ASCII strings
// (map keys, mostly).
func validUTF8(s string) bool {
	if len(s) < 16 {
		for i := 0; i < len(s); i++ {
			if s[i] >= utf8.RuneSelf {
				return utf8.ValidString(s)
			}
		}
		return true
	}
	return utf8.ValidString(s)
}

// appendValue appends the smallest encoding of a decoded Value.
func appendValue(dst []byte, v Value) []byte {
	if v.node() == nil {
		return append(dst, 0xc0)
	}
	dst, _ = v.doc.appendNode(dst, v.i)
	return dst
}

// appendNode appends the encoding of node i and its children, and returns
// the index of the node after them.
func (d *document) appendNode(dst []byte, i uint32) ([]byte, uint32) {
	nd := &d.nodes[i]
	switch nd.kind {
	case KindArray, KindMap:
		if nd.kind == KindArray {
			dst = appendHeader(dst, nd.n, 0x90, 16, 0, 0xdc, 0xdd)
		} else {
			dst = appendHeader(dst, nd.n/2, 0x80, 16, 0, 0xde, 0xdf)
		}
		j := i + 1
		for range nd.n {
			if c := &d.nodes[j]; c.kind != KindArray && c.kind != KindMap {
				dst = d.appendScalar(dst, c) // no call per scalar child
				j++
			} else {
				dst, j = d.appendNode(dst, j)
			}
		}
		return dst, j
	}
	return d.appendScalar(dst, nd), i + 1
}

// appendScalar appends the encoding of a node that is not a container.
func (d *document) appendScalar(dst []byte, nd *node) []byte {
	switch nd.kind {
	case KindNil:
		return append(dst, 0xc0)
	case KindBool:
		return append(dst, 0xc2+byte(nd.bits))
	case KindInt:
		return appendInt(dst, int64(nd.bits))
	case KindUint:
		return appendUint(dst, nd.bits)
	case KindFloat32:
		return binary.BigEndian.AppendUint32(append(dst, 0xca), uint32(nd.bits))
	case KindFloat64:
		return binary.BigEndian.AppendUint64(append(dst, 0xcb), nd.bits)
	case KindString:
		dst = appendHeader(dst, nd.end-nd.start, 0xa0, 32, 0xd9, 0xda, 0xdb)
		return append(dst, d.data[nd.start:nd.end]...)
	case KindBinary:
		dst = appendHeader(dst, nd.end-nd.start, 0, 0, 0xc4, 0xc5, 0xc6)
		return append(dst, d.data[nd.start:nd.end]...)
	}
	// KindExt
	switch n := nd.end - nd.start; n {
	case 1, 2, 4, 8, 16:
		dst = append(dst, fixext[n], byte(nd.ext))
	default:
		dst = append(appendHeader(dst, n, 0, 0, 0xc7, 0xc8, 0xc9), byte(nd.ext))
	}
	return append(dst, d.data[nd.start:nd.end]...)
}

// fixext maps a fixext data size to its first byte.
var fixext = [17]byte{1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8}

// appendHeader appends the smallest header for a length n: fix|n when n is
// below fixN, else code8 (if the type has an 8-bit form) with an 8-bit
// length, code16 with a 16-bit one, or code32 with a 32-bit one.
func appendHeader(dst []byte, n uint32, fix byte, fixN uint32, code8, code16, code32 byte) []byte {
	switch {
	case n < fixN:
		return append(dst, fix|byte(n))
	case code8 != 0 && n <= math.MaxUint8:
		return append(dst, code8, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, code16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, code32), n)
}

// appendUint appends u in its smallest unsigned form.
func appendUint(dst []byte, u uint64) []byte {
	switch {
	case u <= math.MaxInt8:
		return append(dst, byte(u))
	case u <= math.MaxUint8:
		return append(dst, 0xcc, byte(u))
	case u <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xcd), uint16(u))
	case u <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, 0xce), uint32(u))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xcf), u)
}

// appendInt appends n in its smallest form: unsigned if positive.
func appendInt(dst []byte, n int64) []byte {
	switch {
	case n >= 0:
		return appendUint(dst, uint64(n))
	case n >= -32:
		return append(dst, byte(n))
	case n >= math.MinInt8:
		return append(dst, 0xd0, byte(n))
	case n >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(dst, 0xd1), uint16(n))
	case n >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(dst, 0xd2), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(n))
}
