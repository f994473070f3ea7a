package jsonl

import (
	"encoding/binary"
	"math/bits"
)

// SWAR ("SIMD within a register") constants: one byte repeated 8 times.
const (
	ones = 0x0101010101010101
	high = 0x8080808080808080
)

// special returns a word whose lowest set bit is in the first byte of x that
// is '"', '\\' or a control character (below 0x20), or 0 if there is none.
func special(x uint64) uint64 {
	q := x ^ (ones * '"')
	s := x ^ (ones * '\\')
	return ((q-ones)&^q | (s-ones)&^s | (x-ones*0x20)&^x) & high
}

// load64 reads 8 bytes of b at i as a little-endian word; the compiler merges
// the byte loads into one.
func load64[T string | []byte](b T, i int) uint64 {
	b = b[i : i+8]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// indexSpecial returns the index of the first byte of b that a JSON string
// cannot hold as is ('"', '\\', a control character), or -1. It looks at 8
// bytes per step.
func indexSpecial[T string | []byte](b T) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if m := special(load64(b, i)); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return -1
}

// hasControl reports whether b holds a control character (below 0x20). It
// looks at 32 bytes per step.
func hasControl(b []byte) bool {
	const k = ones * 0x20
	i := 0
	for ; i+32 <= len(b); i += 32 {
		w0 := binary.LittleEndian.Uint64(b[i:])
		w1 := binary.LittleEndian.Uint64(b[i+8:])
		w2 := binary.LittleEndian.Uint64(b[i+16:])
		w3 := binary.LittleEndian.Uint64(b[i+24:])
		if ((w0-k)&^w0|(w1-k)&^w1|(w2-k)&^w2|(w3-k)&^w3)&high != 0 {
			return true
		}
	}
	for ; i < len(b); i++ {
		if b[i] < 0x20 {
			return true
		}
	}
	return false
}
