package docs

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const pkgPath = "github.com/takedown-pipeline/takedown/pkg/"

// layers are pkg/'s folders in order: a package may import its own layer
// and the ones before it, never a later one (docs/development.md, Layout).
// demo and testenv sit on top and may use anything.
var layers = []string{"events", "platform", "hashing", "matching"}

// edges reach the platform's outside (media in, takedowns out): they may
// use events and platform, and nothing uses them but services and tools.
const edges = "edges"

func layerOf(rel string) string {
	first, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
	return first
}

func allowed(from, to string) bool {
	if from == to || from == "demo" || from == "testenv" {
		return true
	}
	if from == edges {
		return to == "events" || to == "platform"
	}
	fi, ti := -1, -1
	for i, l := range layers {
		if l == from {
			fi = i
		}
		if l == to {
			ti = i
		}
	}
	return fi >= 0 && ti >= 0 && ti < fi
}

// TestPkgLayers checks that no package of pkg/ (test files aside, which
// may exercise a package with a later layer's) imports a later layer.
func TestPkgLayers(t *testing.T) {
	root, err := filepath.Abs("../../pkg")
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		from := layerOf(rel)
		if from == filepath.Base(path) {
			t.Errorf("%s: a file at the top of pkg/, outside every layer", rel)
			return nil
		}
		files++
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			target, ok := strings.CutPrefix(p, pkgPath)
			if !ok {
				continue
			}
			if to := layerOf(target); !allowed(from, to) {
				t.Errorf("pkg/%s imports pkg/%s: the %s layer may not use the %s layer", rel, target, from, to)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("walked only %d .go files under %s: wrong root?", files, root)
	}
}

func TestLayerRule(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		ok       bool
	}{
		{"matching", "hashing", true},
		{"hashing", "matching", false},
		{"platform", "hashing", false},
		{"hashing", "platform", true},
		{"events", "platform", false},
		{"edges", "platform", true},
		{"edges", "matching", false},
		{"matching", "edges", false},
		{"demo", "matching", true},
	} {
		if got := allowed(tc.from, tc.to); got != tc.ok {
			t.Errorf("allowed(%s, %s) = %v, want %v", tc.from, tc.to, got, tc.ok)
		}
	}
}
