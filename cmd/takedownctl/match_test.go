package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/demo"
)

// takedownctl match decides as the pipeline would: a re-encoded copy is taken
// down, mirrored and letterboxed copies match through their variants, and an
// unrelated picture matches nothing.
func TestMatchCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ref := demo.Scene(11, 640, 480)
	refFile := write("ref.jpg", demo.JPEG(ref, 92))
	other := write("other.jpg", demo.JPEG(demo.Scene(12, 640, 480), 92))
	queries := map[string]string{
		write("copy.jpg", demo.JPEG(ref, 60)):                              "take down",
		write("mirrored.jpg", demo.JPEG(demo.Mirror(ref), 85)):             "",
		write("letterboxed.jpg", demo.JPEG(demo.Letterbox(ref, 0.15), 85)): "",
		write("unrelated.jpg", demo.JPEG(demo.Scene(99, 640, 480), 85)):    "no match",
	}
	args := []string{"--json", "--against", refFile + "," + other}
	for q := range queries {
		args = append(args, q)
	}
	var out bytes.Buffer
	if err := cmdMatch(context.Background(), args, &out); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&out)
	seen := 0
	for dec.More() {
		var l matchLine
		if err := dec.Decode(&l); err != nil {
			t.Fatal(err)
		}
		seen++
		want, ok := queries[l.Query]
		if !ok {
			t.Fatalf("unexpected query %q", l.Query)
		}
		for _, m := range l.Matches {
			if m.Reference != refFile {
				t.Errorf("%s matched %s, want only %s", l.Query, m.Reference, refFile)
			}
		}
		switch {
		case want == "no match":
			if l.Decision != want || len(l.Matches) != 0 {
				t.Errorf("%s: %s with %d matches, want no match", l.Query, l.Decision, len(l.Matches))
			}
		case want != "" && l.Decision != want:
			t.Errorf("%s: decision %q, want %q (%s)", l.Query, l.Decision, want, l.Reason)
		case l.Decision == "no match":
			t.Errorf("%s: no match, want a match with the reference", l.Query)
		}
		// The closest variant is reported: the picture without its bars,
		// found by trimming them or as a picture inside a frame.
		variants := map[string][]string{"mirrored.jpg": {"flipy"}, "letterboxed.jpg": {"trim", "embedded"}}[filepath.Base(l.Query)]
		if len(variants) > 0 && !slices.ContainsFunc(variants, func(v string) bool { return strings.Contains(fmtMatches(l), v+" ") }) {
			t.Errorf("%s: matches %+v, want one through a variant of %q", l.Query, l.Matches, variants)
		}
	}
	if seen != len(queries) {
		t.Fatalf("%d results, want %d", seen, len(queries))
	}
}

func fmtMatches(l matchLine) string {
	var b strings.Builder
	for _, m := range l.Matches {
		b.WriteString(m.Variant + " ")
	}
	return b.String()
}

func TestMatchCommandNeedsReferencesAndQueries(t *testing.T) {
	for _, args := range [][]string{{"q.jpg"}, {"--against", "r.jpg"}} {
		err := cmdMatch(context.Background(), args, &bytes.Buffer{})
		if err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
