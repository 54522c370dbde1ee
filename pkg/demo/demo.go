// Package demo makes the media of the demo and the end-to-end tests:
// synthetic scenes with the smooth structure of photographs (so perceptual
// hashes behave as they do on real pictures) and altered copies of them.
package demo

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"

	"golang.org/x/image/draw"
)

// Scene returns a w x h picture determined by seed: a sky-to-ground
// gradient, soft blobs and a few hard-edged shapes.
func Scene(seed uint64, w, h int) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	top := randColor(r)
	bottom := randColor(r)
	type blob struct {
		x, y, rad float64
		c         [3]float64
	}
	blobs := make([]blob, 6+r.IntN(6))
	for i := range blobs {
		c := randColor(r)
		blobs[i] = blob{r.Float64() * float64(w), r.Float64() * float64(h),
			(0.08 + 0.25*r.Float64()) * float64(min(w, h)), c}
	}
	for y := range h {
		t := float64(y) / float64(h)
		for x := range w {
			var px [3]float64
			for k := range 3 {
				px[k] = top[k]*(1-t) + bottom[k]*t
			}
			for _, b := range blobs {
				d2 := ((float64(x)-b.x)*(float64(x)-b.x) + (float64(y)-b.y)*(float64(y)-b.y)) / (b.rad * b.rad)
				a := math.Exp(-d2)
				for k := range 3 {
					px[k] = px[k]*(1-a) + b.c[k]*a
				}
			}
			img.SetRGBA(x, y, color.RGBA{clamp(px[0]), clamp(px[1]), clamp(px[2]), 255})
		}
	}
	for range 3 + r.IntN(4) {
		c := randColor(r)
		x0, y0 := r.IntN(w), r.IntN(h)
		x1, y1 := x0+w/10+r.IntN(w/4), y0+h/10+r.IntN(h/4)
		for y := y0; y < min(y1, h); y++ {
			for x := x0; x < min(x1, w); x++ {
				img.SetRGBA(x, y, color.RGBA{clamp(c[0]), clamp(c[1]), clamp(c[2]), 255})
			}
		}
	}
	return img
}

func randColor(r *rand.Rand) [3]float64 {
	return [3]float64{r.Float64() * 255, r.Float64() * 255, r.Float64() * 255}
}

func clamp(v float64) uint8 {
	return uint8(max(0, min(255, math.Round(v))))
}

// Brighten adds delta to every channel.
func Brighten(src image.Image, delta int) *image.RGBA {
	b := src.Bounds()
	out := image.NewRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := src.At(x, y).RGBA()
			out.SetRGBA(x, y, color.RGBA{
				clamp(float64(r>>8) + float64(delta)), clamp(float64(g>>8) + float64(delta)),
				clamp(float64(bl>>8) + float64(delta)), uint8(a >> 8)})
		}
	}
	return out
}

// Crop cuts frac of the width and height away, evenly from each side.
func Crop(src image.Image, frac float64) *image.RGBA {
	b := src.Bounds()
	dx, dy := int(float64(b.Dx())*frac/2), int(float64(b.Dy())*frac/2)
	r := image.Rect(b.Min.X+dx, b.Min.Y+dy, b.Max.X-dx, b.Max.Y-dy)
	out := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	draw.Copy(out, image.Point{}, src, r, draw.Src, nil)
	return out
}

// Scale resizes by factor.
func Scale(src image.Image, factor float64) *image.RGBA {
	b := src.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, int(float64(b.Dx())*factor), int(float64(b.Dy())*factor)))
	draw.CatmullRom.Scale(out, out.Bounds(), src, b, draw.Src, nil)
	return out
}

// JPEG encodes img at quality q.
func JPEG(img image.Image, q int) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		panic(err) // encoding to memory cannot fail
	}
	return buf.Bytes()
}

// PNG encodes img losslessly.
func PNG(img image.Image) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	return buf.Bytes()
}
