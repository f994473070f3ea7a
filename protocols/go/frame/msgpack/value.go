package msgpack

import (
	"iter"
	"math"
	"strconv"
)

// Kind is the type of a msgpack value.
type Kind uint8

// The kinds of msgpack values. The zero Value is a KindNil.
const (
	KindNil Kind = iota
	KindBool
	KindInt  // an integer that fits an int64 (whatever its encoding)
	KindUint // an integer above math.MaxInt64
	KindFloat32
	KindFloat64
	KindString
	KindBinary
	KindArray
	KindMap
	KindExt
)

var kindNames = [...]string{"nil", "bool", "int", "uint", "float32", "float64", "string", "binary", "array", "map", "ext"}

// String returns the kind's name: "nil", "bool", ...
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// document holds a decoded msgpack value as a tape: one node per value, in
// preorder, each array followed by its elements and each map by its keys and
// values, alternating. Nodes hold no pointers, so a tape costs the garbage
// collector nothing, and encoding it is one pass over an array.
type document struct {
	data  string // the encoded value: strings, binaries and ext data are slices of it
	nodes []node
	gen   uint32 // incremented each time a Reader reuses the document
}

// node is one value of a document.
type node struct {
	kind  Kind
	ext   int8   // KindExt: the type
	n     uint32 // containers: number of child nodes (2 per map pair)
	start uint32 // string, binary, ext: start of the payload in data
	end   uint32 // string, binary, ext: end of the payload; containers: index of the node after it and its children
	bits  uint64 // bool: 1 for true; ints: the value; floats: the IEEE bits
}

// Value is a decoded msgpack value. It keeps map pairs in order and keys of
// any type, str apart from bin, and float32 apart from float64, and is
// written back in the smallest form by Writer.WriteMessage and Marshal.
//
// A Value is a view into a compact decoded form, which makes decoding and
// re-encoding several times faster than with a tree of `any`. Read its parts
// with the methods below, or convert it to plain Go values with Interface.
// A Value from Reader.ReadMessage is only valid until the next ReadMessage
// (using it later panics); one from Unmarshal stays valid.
//
// The zero Value is nil.
type Value struct {
	doc *document
	i   uint32
	gen uint32
}

// node returns the node of v, or nil for the zero Value.
func (v Value) node() *node {
	if v.doc == nil {
		return nil
	}
	if v.gen != v.doc.gen {
		panic("msgpack: Value used after the Reader read the next message; keep a copy made with Value.Interface")
	}
	return &v.doc.nodes[v.i]
}

// Kind returns the kind of v.
func (v Value) Kind() Kind {
	if nd := v.node(); nd != nil {
		return nd.kind
	}
	return KindNil
}

// Bool reports whether v is true.
func (v Value) Bool() bool {
	nd := v.node()
	return nd != nil && nd.kind == KindBool && nd.bits != 0
}

// Int returns the value of a KindInt (or the bits of a KindUint).
func (v Value) Int() int64 {
	if nd := v.node(); nd != nil && (nd.kind == KindInt || nd.kind == KindUint) {
		return int64(nd.bits)
	}
	return 0
}

// Uint returns the value of a KindUint (or of a KindInt, converted).
func (v Value) Uint() uint64 {
	if nd := v.node(); nd != nil && (nd.kind == KindInt || nd.kind == KindUint) {
		return nd.bits
	}
	return 0
}

// Float returns the value of a KindFloat64 or KindFloat32.
func (v Value) Float() float64 {
	nd := v.node()
	switch {
	case nd == nil:
		return 0
	case nd.kind == KindFloat64:
		return math.Float64frombits(nd.bits)
	case nd.kind == KindFloat32:
		return float64(math.Float32frombits(uint32(nd.bits)))
	}
	return 0
}

// Str returns the text of a KindString, or "" for other kinds.
func (v Value) Str() string {
	if nd := v.node(); nd != nil && nd.kind == KindString {
		return v.doc.data[nd.start:nd.end]
	}
	return ""
}

// Bytes returns a copy of the data of a KindBinary or KindExt, or nil for
// other kinds.
func (v Value) Bytes() []byte {
	if nd := v.node(); nd != nil && (nd.kind == KindBinary || nd.kind == KindExt) {
		return []byte(v.doc.data[nd.start:nd.end])
	}
	return nil
}

// ExtType returns the type number of a KindExt.
func (v Value) ExtType() int8 {
	if nd := v.node(); nd != nil {
		return nd.ext
	}
	return 0
}

// Len returns the number of elements of an array or pairs of a map, or 0 for
// other kinds.
func (v Value) Len() int {
	nd := v.node()
	switch {
	case nd == nil:
		return 0
	case nd.kind == KindMap:
		return int(nd.n / 2)
	case nd.kind == KindArray:
		return int(nd.n)
	}
	return 0
}

// children yields the child nodes of a container: elements, or keys and
// values alternating.
func (v Value) children() iter.Seq[Value] {
	return func(yield func(Value) bool) {
		nd := v.node()
		if nd == nil || nd.kind != KindArray && nd.kind != KindMap {
			return
		}
		i := v.i + 1
		for range nd.n {
			if !yield(Value{v.doc, i, v.gen}) {
				return
			}
			i = v.doc.next(i)
		}
	}
}

// next returns the index of the node after node i and its children.
func (d *document) next(i uint32) uint32 {
	if nd := &d.nodes[i]; nd.kind == KindArray || nd.kind == KindMap {
		return nd.end
	}
	return i + 1
}

// Elements yields the index and value of each element of an array.
func (v Value) Elements() iter.Seq2[int, Value] {
	return func(yield func(int, Value) bool) {
		if v.Kind() != KindArray {
			return
		}
		i := 0
		for e := range v.children() {
			if !yield(i, e) {
				return
			}
			i++
		}
	}
}

// Pairs yields the key and value of each pair of a map, in order.
func (v Value) Pairs() iter.Seq2[Value, Value] {
	return func(yield func(Value, Value) bool) {
		if v.Kind() != KindMap {
			return
		}
		var key Value
		odd := false
		for c := range v.children() {
			if odd = !odd; odd {
				key = c
			} else if !yield(key, c) {
				return
			}
		}
	}
}

// Index returns element i of an array, or the nil Value if there is none.
func (v Value) Index(i int) Value {
	for j, e := range v.Elements() {
		if j == i {
			return e
		}
	}
	return Value{}
}

// Get returns the value of the first pair of a map whose key is the string
// key.
func (v Value) Get(key string) (Value, bool) {
	for k, e := range v.Pairs() {
		if k.Kind() == KindString && k.Str() == key {
			return e, true
		}
	}
	return Value{}, false
}

// Interface returns v as plain Go values, sharing no memory with v:
//
//	nil → nil, bool → bool, int → int64 (uint64 above math.MaxInt64),
//	float32 → float32, float64 → float64, str → string, bin → []byte,
//	array → []any, map → Map (pairs in order), ext → Ext.
func (v Value) Interface() any {
	nd := v.node()
	if nd == nil {
		return nil
	}
	switch nd.kind {
	case KindBool:
		return nd.bits != 0
	case KindInt:
		return int64(nd.bits)
	case KindUint:
		return nd.bits
	case KindFloat32:
		return math.Float32frombits(uint32(nd.bits))
	case KindFloat64:
		return math.Float64frombits(nd.bits)
	case KindString:
		return v.Str()
	case KindBinary:
		return v.Bytes()
	case KindExt:
		return Ext{Type: nd.ext, Data: v.Bytes()}
	case KindArray:
		a := make([]any, 0, v.Len())
		for _, e := range v.Elements() {
			a = append(a, e.Interface())
		}
		return a
	case KindMap:
		m := make(Map, 0, v.Len())
		for k, e := range v.Pairs() {
			m = append(m, Pair{k.Interface(), e.Interface()})
		}
		return m
	}
	return nil
}

// Map is a msgpack map for building responses whose pairs keep their order
// (a map[string]any is written with sorted keys instead); keys may be of any
// type (the stdiobridge host needs them hashable: no Map or []any keys). It
// is also what Value.Interface returns for a map.
type Map []Pair

// Pair is one key/value pair of a Map.
type Pair struct {
	Key   any
	Value any
}

// Get returns the value of the first pair whose key equals key (compared
// with ==, so key must be comparable, e.g. a string or an int64).
func (m Map) Get(key any) (any, bool) {
	for _, p := range m {
		if isComparable(p.Key) && p.Key == key {
			return p.Value, true
		}
	}
	return nil, false
}

// isComparable reports whether k can be compared with == without panicking.
func isComparable(k any) bool {
	switch k.(type) {
	case []any, Map, []byte, Ext:
		return false
	}
	return true
}

// Ext is a msgpack extension value: an application-defined type number and
// opaque data. The timestamp extension (Type -1) is one too, kept as is.
type Ext struct {
	Type int8
	Data []byte
}
