package vectors

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestAllCodecsCovered fails when the vectors directory holds a codec that no
// test of this module checks, or lacks one that they do.
func TestAllCodecsCovered(t *testing.T) {
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var codecs []string
	for _, p := range paths {
		codec := strings.TrimSuffix(filepath.Base(p), ".json")
		Load(t, codec) // parses, with no unknown field
		if codec != "tagged" {
			codecs = append(codecs, codec)
		}
	}
	slices.Sort(codecs)
	if want := []string{"jsonl", "lenprefix", "lines", "msgpack"}; !slices.Equal(codecs, want) {
		t.Fatalf("vectors for %v; the tests cover %v", codecs, want)
	}
}
