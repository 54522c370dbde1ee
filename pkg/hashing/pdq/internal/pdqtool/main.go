// Command pdqtool is the Go side of `make pdq-compare`, which checks package
// pdq against Meta's reference C++ (PyPI pdqhash): it generates test
// pictures and hashes files through the production decoder.
//
//	pdqtool gen DIR N     write N varied synthetic pictures to DIR as PNG
//	pdqtool hash FILE...  print path,hex,quality for each file
package main

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/takedown-pipeline/takedown/pkg/hashing/mediahash"
	"github.com/takedown-pipeline/takedown/pkg/hashing/pdq"
)

const usage = "usage: pdqtool gen DIR N | pdqtool hash FILE [FILE ...]"

func main() {
	if err := run(os.Args[1:]); err != nil {
		slog.Error("pdqtool", "err", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "gen":
		if len(args) != 3 {
			return errors.New(usage)
		}
		n, err := strconv.Atoi(args[2])
		if err != nil || n < 1 {
			return fmt.Errorf("gen: N must be a positive number, got %q", args[2])
		}
		return generate(args[1], n)
	case "hash":
		return hashFiles(args[1:])
	}
	return fmt.Errorf("unknown command %q; %s", args[0], usage)
}

// hashFiles hashes each file as the pipeline does: mediahash.DecodeImage
// (EXIF orientation, transparency flattened) and pdq.Image.
func hashFiles(files []string) error {
	h := pdq.NewHasher()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		img, _, err := mediahash.DecodeImage(context.Background(), data, mediahash.Limits{})
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		r := h.Image(img)
		fmt.Printf("%s,%v,%d\n", f, r.Hash, r.Quality)
	}
	return nil
}

// generate writes n pictures, seeded by their number, so every run makes the
// same set. About a third are larger than 512 on their longer side, so they
// are shrunk before hashing (one in 25 more than 4 times, which takes PIL's
// box pre-reduction); the rest are hashed as they are.
func generate(dir string, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := range n {
		rng := rand.New(rand.NewPCG(uint64(i), 0x9d2c5680))
		var w, h int
		switch {
		case i%25 == 12: // large enough for the box pre-reduction
			w, h = 2050+rng.IntN(1000), 1000+rng.IntN(1200)
		case i%3 == 0:
			w, h = 513+rng.IntN(900), 300+rng.IntN(900)
		default:
			w, h = 32+rng.IntN(481), 32+rng.IntN(481)
		}
		if rng.IntN(2) == 0 {
			w, h = h, w
		}
		var img image.Image = scene(rng, w, h)
		if i%10 == 7 {
			img = toGray(img)
		}
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("gen-%04d-%dx%d.png", i, w, h)))
		if err != nil {
			return err
		}
		enc := png.Encoder{CompressionLevel: png.BestSpeed}
		if err := enc.Encode(f, img); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// scene paints a natural-ish picture: a smooth gradient sky and ground,
// soft and hard shapes, a few lines of text-like strokes, and sensor-like
// noise, with the amounts drawn at random.
func scene(rng *rand.Rand, w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	c0, c1 := randColor(rng), randColor(rng)
	horizon := 0.3 + 0.4*rng.Float64()
	for y := range h {
		t := float64(y) / float64(h)
		a := math.Min(1, t/horizon)
		if t > horizon {
			a = 1 - 0.5*(t-horizon)
		}
		for x := range w {
			s := a + 0.1*math.Sin(float64(x)*0.02+float64(y)*0.01)
			img.SetRGBA(x, y, mix(c0, c1, s))
		}
	}
	for range 2 + rng.IntN(10) {
		c := randColor(rng)
		cx, cy := rng.Float64()*float64(w), rng.Float64()*float64(h)
		r := (0.03 + 0.25*rng.Float64()) * float64(min(w, h))
		soft := rng.IntN(2) == 0
		box := rng.IntN(3) == 0
		for y := max(0, int(cy-r)); y < min(h, int(cy+r)+1); y++ {
			for x := max(0, int(cx-r)); x < min(w, int(cx+r)+1); x++ {
				d := math.Hypot(float64(x)-cx, float64(y)-cy) / r
				if box {
					d = math.Max(math.Abs(float64(x)-cx), math.Abs(float64(y)-cy)) / r
				}
				if d >= 1 {
					continue
				}
				a := 1.0
				if soft {
					a = 1 - d*d
				}
				img.SetRGBA(x, y, mix(img.RGBAAt(x, y), c, a))
			}
		}
	}
	if rng.IntN(3) > 0 { // text-like strokes
		ink := randColor(rng)
		size := 4 + rng.IntN(10)
		x0, y0 := rng.IntN(max(1, w/2)), rng.IntN(max(1, h/2))
		for line := range 1 + rng.IntN(6) {
			y := y0 + line*size*2
			for x := x0; x < min(w, x0+rng.IntN(w)); x += size {
				if rng.IntN(5) == 0 {
					continue // a space
				}
				for range 2 + rng.IntN(3) {
					ax, ay := x+rng.IntN(size), y+rng.IntN(size)
					bx, by := x+rng.IntN(size), y+rng.IntN(size)
					strokeLine(img, ax, ay, bx, by, ink)
				}
			}
		}
	}
	noise := rng.Float64() * 12
	for i := 0; i < len(img.Pix); i += 4 {
		n := rng.NormFloat64() * noise
		for c := range 3 {
			img.Pix[i+c] = clamp8(float64(img.Pix[i+c]) + n)
		}
	}
	return img
}

func randColor(rng *rand.Rand) color.RGBA {
	return color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}
}

func mix(a, b color.RGBA, t float64) color.RGBA {
	t = math.Max(0, math.Min(1, t))
	f := func(x, y uint8) uint8 { return clamp8(float64(x)*(1-t) + float64(y)*t) }
	return color.RGBA{f(a.R, b.R), f(a.G, b.G), f(a.B, b.B), 255}
}

func clamp8(v float64) uint8 { return uint8(math.Max(0, math.Min(255, math.Round(v)))) }

func strokeLine(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	steps := max(abs(x1-x0), abs(y1-y0), 1)
	for s := 0; s <= steps; s++ {
		x := x0 + (x1-x0)*s/steps
		y := y0 + (y1-y0)*s/steps
		if image.Pt(x, y).In(img.Rect) {
			img.SetRGBA(x, y, c)
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func toGray(img image.Image) *image.Gray {
	b := img.Bounds()
	g := image.NewGray(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			g.Set(x, y, img.At(x, y))
		}
	}
	return g
}
