package jsonl

import (
	"encoding/json"
	"iter"
	"strconv"
)

// Kind is the type of a JSON value.
type Kind uint8

// The kinds of JSON values. The zero Value is a KindNull.
const (
	KindNull Kind = iota
	KindBool
	KindNumber
	KindString
	KindArray
	KindObject
)

var kindNames = [...]string{"null", "bool", "number", "string", "array", "object"}

// String returns the kind's name: "null", "bool", ...
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// document holds a decoded JSON text as a tape: one node per value, in
// preorder, each container followed by its elements (an object by its keys
// and values, alternating). Nodes hold no pointers, so a tape costs the
// garbage collector nothing, and encoding it is one pass over an array.
type document struct {
	text  string // the JSON text: plain strings and numbers are substrings of it
	esc   string // the unescaped strings, one after the other
	nodes []node
	gen   uint32 // incremented each time a Reader reuses the document
}

// node is one value of a document.
type node struct {
	kind  Kind
	flags uint8  // flagTrue, flagEscaped
	n     uint32 // container: number of child nodes (2 per object member)
	start uint32 // scalar: start of its text in document.text or .esc
	end   uint32 // scalar: end of its text; container: index of the node after it and its children
}

const (
	flagTrue    = 1 << iota // a true Bool
	flagEscaped             // a String whose text is in document.esc
)

// Value is a decoded JSON value. It keeps object members in input order and
// numbers as written (so 64-bit and larger integers survive), and is written
// back exactly so by Append and Writer.WriteMessage.
//
// A Value is a view into a compact decoded form, which makes decoding and
// re-encoding several times faster than with a tree of `any`. Read its parts
// with the methods below, or convert it to plain Go values with Interface.
// A Value from Reader.ReadMessage is only valid until the next ReadMessage
// (using it later panics); one from Unmarshal stays valid.
//
// The zero Value is null.
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
		panic("jsonl: Value used after the Reader read the next message; keep a copy made with Value.Interface")
	}
	return &v.doc.nodes[v.i]
}

// Kind returns the kind of v.
func (v Value) Kind() Kind {
	if nd := v.node(); nd != nil {
		return nd.kind
	}
	return KindNull
}

// Bool reports whether v is true.
func (v Value) Bool() bool {
	nd := v.node()
	return nd != nil && nd.flags&flagTrue != 0
}

// Text returns the text of a String, the literal of a Number (as written:
// "1e16", "-0.25", "9007199254740993"), or "" for other kinds.
func (v Value) Text() string {
	nd := v.node()
	if nd == nil {
		return ""
	}
	return v.doc.textOf(nd)
}

func (d *document) textOf(nd *node) string {
	switch {
	case nd.kind != KindString && nd.kind != KindNumber:
		return ""
	case nd.flags&flagEscaped != 0:
		return d.esc[nd.start:nd.end]
	}
	return d.text[nd.start:nd.end]
}

// Number returns the literal of a Number (use its Int64 or Float64 method),
// or "" for other kinds.
func (v Value) Number() json.Number {
	if v.Kind() != KindNumber {
		return ""
	}
	return json.Number(v.Text())
}

// Len returns the number of elements of an Array or members of an Object, or
// 0 for other kinds.
func (v Value) Len() int {
	nd := v.node()
	switch {
	case nd == nil:
		return 0
	case nd.kind == KindObject:
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
		if nd == nil || nd.kind != KindArray && nd.kind != KindObject {
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
	if nd := &d.nodes[i]; nd.kind == KindArray || nd.kind == KindObject {
		return nd.end
	}
	return i + 1
}

// Elements yields the index and value of each element of an Array.
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

// Members yields the key and value of each member of an Object, in order.
func (v Value) Members() iter.Seq2[string, Value] {
	return func(yield func(string, Value) bool) {
		if v.Kind() != KindObject {
			return
		}
		var key string
		odd := false
		for c := range v.children() {
			if odd = !odd; odd {
				key = c.Text()
			} else if !yield(key, c) {
				return
			}
		}
	}
}

// Index returns element i of an Array, or the null Value if there is none.
func (v Value) Index(i int) Value {
	for j, e := range v.Elements() {
		if j == i {
			return e
		}
	}
	return Value{}
}

// Get returns the value of the first member of an Object named key.
func (v Value) Get(key string) (Value, bool) {
	for k, e := range v.Members() {
		if k == key {
			return e, true
		}
	}
	return Value{}, false
}

// Interface returns v as plain Go values, sharing no memory with v:
//
//	null → nil, bool → bool, number → json.Number, string → string,
//	array → []any, object → Object (members in order).
func (v Value) Interface() any {
	switch v.Kind() {
	case KindBool:
		return v.Bool()
	case KindNumber:
		return v.Number()
	case KindString:
		return v.Text()
	case KindArray:
		a := make([]any, 0, v.Len())
		for _, e := range v.Elements() {
			a = append(a, e.Interface())
		}
		return a
	case KindObject:
		o := make(Object, 0, v.Len())
		for k, e := range v.Members() {
			o = append(o, Member{k, e.Interface()})
		}
		return o
	}
	return nil
}

// String returns the compact JSON encoding of v.
func (v Value) String() string {
	return string(appendValue(nil, v))
}

// Object is a JSON object for building responses whose members keep their
// order (a map[string]any is written with sorted keys instead). It is also
// what Value.Interface returns for an object.
type Object []Member

// Member is one key/value pair of an Object.
type Member struct {
	Key   string
	Value any
}

// Get returns the value of the first member named key.
func (o Object) Get(key string) (any, bool) {
	for _, m := range o {
		if m.Key == key {
			return m.Value, true
		}
	}
	return nil, false
}
