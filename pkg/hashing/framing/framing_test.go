package framing_test

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"testing"

	"golang.org/x/image/draw"

	"github.com/takedown-pipeline/takedown/pkg/demo"
	"github.com/takedown-pipeline/takedown/pkg/hashing/framing"
)

// reencode puts img through JPEG at quality q, as an upload would be.
func reencode(t *testing.T, img image.Image, q int) image.Image {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	out, err := jpeg.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// close reports whether got is want within slack pixels on every side.
func closeRect(got, want image.Rectangle, slack int) bool {
	abs := func(v int) int { return max(v, -v) }
	return abs(got.Min.X-want.Min.X) <= slack && abs(got.Min.Y-want.Min.Y) <= slack &&
		abs(got.Max.X-want.Max.X) <= slack && abs(got.Max.Y-want.Max.Y) <= slack
}

func pad(src image.Image, top, bottom, left, right int, c color.Color) *image.RGBA {
	b := src.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()+left+right, b.Dy()+top+bottom))
	draw.Draw(out, out.Rect, image.NewUniform(c), image.Point{}, draw.Src)
	draw.Draw(out, image.Rect(left, top, left+b.Dx(), top+b.Dy()), src, b.Min, draw.Src)
	return out
}

func TestTrim(t *testing.T) {
	scene := demo.Scene(7, 400, 300)
	offset := image.NewRGBA(image.Rect(10, 20, 410, 320)) // bounds not at the origin
	draw.Draw(offset, offset.Rect, scene, image.Point{}, draw.Src)
	cases := []struct {
		name  string
		img   image.Image
		want  image.Rectangle
		slack int
	}{
		{"no border", scene, scene.Rect, 0},
		{"letterbox", pad(scene, 50, 50, 0, 0, color.Black), image.Rect(0, 50, 400, 350), 0},
		{"letterbox re-encoded", reencode(t, pad(scene, 50, 50, 0, 0, color.Black), 70), image.Rect(0, 50, 400, 350), 2},
		{"pillarbox uneven", pad(scene, 0, 0, 30, 90, color.Black), image.Rect(30, 0, 430, 300), 0},
		{"white padding all round", pad(scene, 12, 12, 12, 12, color.White), image.Rect(12, 12, 412, 312), 0},
		{"bars of two colours", pad(pad(scene, 40, 0, 0, 0, color.White), 0, 40, 0, 0, color.Black), image.Rect(0, 40, 400, 340), 0},
		{"bounds off the origin", offset, offset.Rect, 0},
		{"uniform image", image.NewRGBA(image.Rect(0, 0, 64, 64)), image.Rect(0, 0, 64, 64), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := framing.Trim(c.img)
			if !closeRect(got, c.want, c.slack) {
				t.Errorf("Trim = %v, want %v (±%d)", got, c.want, c.slack)
			}
		})
	}
}

// TestTrimLeavesOutTheBlendedLine letterboxes a photograph of a calm sea as
// the robustness harness does (bars of 12% of the height, JPEG quality 85):
// the bar line under the picture rings and is not uniform, but it is bar:
// kept, it put the trimmed picture's PDQ hash 52 bits from the original's,
// against 12 without it.
func TestTrimLeavesOutTheBlendedLine(t *testing.T) {
	path := "../../../../shared/testdata/pdq/reg-test-input/labelme-subset/q0122.jpg"
	data, err := os.ReadFile(path)
	if err != nil {
		if os.Getenv("TAKEDOWN_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal(err)
		}
		t.Skipf("reference test data missing: %v", err)
	}
	photo, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b := photo.Bounds()
	boxed, err := jpeg.Decode(bytes.NewReader(demo.JPEG(demo.Letterbox(photo, 0.12), 85)))
	if err != nil {
		t.Fatal(err)
	}
	bar := (boxed.Bounds().Dy() - b.Dy()) / 2
	want := image.Rect(0, bar, b.Dx(), bar+b.Dy())
	if got := framing.Trim(boxed); got != want {
		t.Errorf("Trim = %v, want %v", got, want)
	}
}

func TestEmbedded(t *testing.T) {
	for seed := range uint64(12) {
		scene := demo.Scene(seed+100, 640, 480)
		shot := demo.Screenshot(scene, rand.New(rand.NewPCG(seed, 1)))
		got, ok := framing.Embedded(reencode(t, shot, 90))
		if !ok {
			t.Errorf("seed %d: no picture found in the screenshot", seed)
			continue
		}
		// The screenshot shows the picture 672 wide, centred, below a 142
		// pixel header (see demo.Screenshot).
		want := image.Rect(24, 142, 696, 142+504)
		if !closeRect(got, want, 3) {
			t.Errorf("seed %d: Embedded = %v, want %v", seed, got, want)
		}
	}
}

func TestEmbeddedRefusesWhatIsNoScreenshot(t *testing.T) {
	text := image.NewRGBA(image.Rect(0, 0, 600, 800))
	draw.Draw(text, text.Rect, image.NewUniform(color.White), image.Point{}, draw.Src)
	// Lines of dark "words": a page of text, no picture.
	r := rand.New(rand.NewPCG(3, 3))
	for y := 20; y < 780; y += 28 {
		for x := 20; x < 560; {
			w := 10 + r.IntN(60)
			draw.Draw(text, image.Rect(x, y, min(x+w, 580), y+14), image.NewUniform(color.Black), image.Point{}, draw.Src)
			x += w + 8
		}
	}
	cases := map[string]image.Image{
		"photograph":                demo.Scene(5, 640, 480),
		"page of text":              text,
		"uniform":                   image.NewRGBA(image.Rect(0, 0, 100, 100)),
		"tiny":                      image.NewRGBA(image.Rect(0, 0, 10, 10)),
		"picture filling the frame": pad(demo.Scene(6, 600, 400), 4, 4, 4, 4, color.White),
	}
	for name, img := range cases {
		if r, ok := framing.Embedded(img); ok {
			t.Errorf("%s: Embedded found %v, want nothing", name, r)
		}
	}
}

func BenchmarkEmbeddedPhoto(b *testing.B) {
	img := reencodeB(b, demo.Scene(1, 512, 384))
	for b.Loop() {
		framing.Embedded(img)
	}
}

func BenchmarkEmbeddedScreenshot(b *testing.B) {
	img := reencodeB(b, demo.Fit(demo.Screenshot(demo.Scene(2, 640, 480), rand.New(rand.NewPCG(1, 1))), 512, 512))
	for b.Loop() {
		framing.Embedded(img)
	}
}

func BenchmarkTrim(b *testing.B) {
	img := reencodeB(b, demo.Scene(1, 512, 384))
	for b.Loop() {
		framing.Trim(img)
	}
}

func reencodeB(b *testing.B, img image.Image) image.Image {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		b.Fatal(err)
	}
	out, err := jpeg.Decode(&buf)
	if err != nil {
		b.Fatal(err)
	}
	return out
}
