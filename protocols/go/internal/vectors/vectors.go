// Package vectors loads the shared golden vectors (../vectors/*.json beside
// this module) for the children's tests: the children must answer the frame of
// every valid vector with the same bytes (or, for a decode-only vector, with
// its canonical form). Rejecting the invalid vectors is the host's job, so this
// package only describes them.
package vectors

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// File is one vectors/<codec>.json, or vectors/tagged.json (sets of every codec).
type File struct {
	Codec       string `json:"codec"`
	Description string `json:"description"`
	Env         string `json:"env"`
	Sets        []Set  `json:"sets"`
}

// Set is a group of cases sharing codec options.
type Set struct {
	Codec       string            `json:"codec"`
	Options     Options           `json:"options"`
	Valid       []Valid           `json:"valid"`
	Decodes     []Valid           `json:"decodes"`
	Streams     []json.RawMessage `json:"streams"`
	Invalid     []json.RawMessage `json:"invalid"`
	Unencodable []json.RawMessage `json:"unencodable"`
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
	ID         uint32          `json:"id"`
	Message    json.RawMessage `json:"message"`
	MessageHex *string         `json:"message_hex"`
	Hex        string          `json:"hex"`
	Direction  string          `json:"direction"`
}

// Frame returns the vector's frame bytes.
func (v Valid) Frame(t testing.TB) []byte {
	b, err := hex.DecodeString(v.Hex)
	if err != nil {
		t.Fatalf("vector %q: %v", v.Name, err)
	}
	return b
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

// Load reads vectors/<name>.json, refusing unknown fields so that a new kind
// of case cannot be skipped silently.
func Load(t testing.TB, name string) *File {
	t.Helper()
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s.json: %v", name, err)
	}
	if name != "tagged" && f.Codec != name {
		t.Fatalf("%s.json: codec is %q", name, f.Codec)
	}
	return &f
}

// Tagged returns the sets of vectors/tagged.json for codec.
func Tagged(t testing.TB, codec string) []Set {
	t.Helper()
	f := Load(t, "tagged")
	if f.Env != "STDIOBRIDGE_TAGGED" {
		t.Fatalf("tagged.json: env is %q", f.Env)
	}
	var sets []Set
	for _, s := range f.Sets {
		if s.Codec == codec {
			sets = append(sets, s)
		}
	}
	if len(sets) == 0 {
		t.Fatalf("tagged.json has no set for %s", codec)
	}
	return sets
}
