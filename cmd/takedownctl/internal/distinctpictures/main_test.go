package main

import (
	"image"
	"image/draw"
	"os"
	"path/filepath"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/demo"
)

// Editions of one picture (another size, brighter, mirrored, rotated) are
// one picture; other scenes and a tiny sprite are not kept with it.
func TestSamePicture(t *testing.T) {
	dir := t.TempDir()
	scene := demo.Scene(7, 640, 480)
	files := map[string][]byte{
		"orig.png":     demo.PNG(scene),
		"half.jpg":     demo.JPEG(demo.Scale(scene, 0.6), 80),
		"bright.jpg":   demo.JPEG(demo.Brighten(scene, 40), 85),
		"mirror.png":   demo.PNG(demo.Mirror(scene)),
		"rotated.png":  demo.PNG(demo.Rotate90(scene)),
		"other1.png":   demo.PNG(demo.Scene(8, 640, 480)),
		"other2.png":   demo.PNG(demo.Scene(9, 480, 640)),
		"sprite.png":   demo.PNG(demo.Scene(10, 64, 64)),
		"not-an-image": []byte("text"),
	}
	forms := map[string][]form{}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		f, why := load(p, 256, 4, false)
		forms[name] = f
		if wantNil := name == "sprite.png" || name == "not-an-image"; (f == nil) != wantNil {
			t.Errorf("%s: used %v (%s), want %v", name, f != nil, why, !wantNil)
		}
	}
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"half.jpg", "orig.png", true},
		{"bright.jpg", "orig.png", true},
		{"mirror.png", "orig.png", true},
		{"rotated.png", "orig.png", true},
		{"other1.png", "orig.png", false},
		{"other2.png", "orig.png", false},
		{"other1.png", "other2.png", false},
	} {
		l, d := alike(forms[tc.a], &forms[tc.b][0])
		if got := l > 0.8 && d > 0.35; got != tc.same {
			t.Errorf("%s and %s: layout %.3f detail %.3f, same %v; want %v", tc.a, tc.b, l, d, got, tc.same)
		}
	}
}

// alike is the closest agreement of any form of fs with k.
func alike(fs []form, k *form) (layout, detail float64) {
	layout, detail = -2, -2
	for _, f := range fs {
		if l := corr(f.layout[:], k.layout[:]); l > layout {
			layout, detail = l, corr(f.detail[:], k.detail[:])
		}
	}
	return layout, detail
}

// One drawing with different margins (as two packages ship one clip-art
// drawing) is one picture.
func TestSamePictureOtherMargins(t *testing.T) {
	dir := t.TempDir()
	scene := demo.Scene(7, 400, 300)
	framed := image.NewRGBA(image.Rect(0, 0, 640, 400))
	draw.Draw(framed, image.Rect(60, 30, 460, 330), scene, image.Point{}, draw.Src)
	a, b := filepath.Join(dir, "a.png"), filepath.Join(dir, "b.png")
	if err := os.WriteFile(a, demo.PNG(scene), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, demo.PNG(framed), 0o644); err != nil {
		t.Fatal(err)
	}
	fa, why := load(a, 256, 4, false)
	fb, why2 := load(b, 256, 4, false)
	if fa == nil || fb == nil {
		t.Fatalf("not used: %s %s", why, why2)
	}
	if l, d := alike(fb, &fa[0]); l <= 0.8 || d <= 0.35 {
		t.Errorf("a drawing and the same in a margin: layout %.3f detail %.3f, want one picture", l, d)
	}
}
