package pdq

import (
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"testing"
)

// benchScene draws a w x h picture with gradients, discs and noise, the kind
// of content that exercises every stage (nothing is constant or trivially
// compressible).
func benchScene(w, h int) *image.RGBA {
	rng := rand.New(rand.NewPCG(1, 2))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	type disc struct {
		x, y, r2 int
		c        color.RGBA
	}
	var discs []disc
	for range 12 {
		r := 10 + rng.IntN(w/4)
		discs = append(discs, disc{rng.IntN(w), rng.IntN(h), r * r,
			color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}})
	}
	for y := range h {
		for x := range w {
			c := color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x + y) * 127 / (w + h)), 255}
			for _, d := range discs {
				if dx, dy := x-d.x, y-d.y; dx*dx+dy*dy < d.r2 {
					c = d.c
				}
			}
			n := uint8(rng.IntN(16))
			c.R, c.G, c.B = c.R|n, c.G^n, c.B+n
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func toYCbCr(src *image.RGBA) *image.YCbCr {
	b := src.Bounds()
	dst := image.NewYCbCr(b, image.YCbCrSubsampleRatio420)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := src.RGBAAt(x, y)
			yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
			dst.Y[dst.YOffset(x, y)] = yy
			ci := dst.COffset(x, y)
			dst.Cb[ci], dst.Cr[ci] = cb, cr
		}
	}
	return dst
}

func benchImages(w, h int) []struct {
	name string
	img  image.Image
} {
	rgba := benchScene(w, h)
	return []struct {
		name string
		img  image.Image
	}{{"YCbCr", toYCbCr(rgba)}, {"RGBA", rgba}}
}

// BenchmarkImage hashes a 512x384 picture: the size the decoder usually
// hands over, so no shrink.
func BenchmarkImage(b *testing.B) {
	for _, tc := range benchImages(512, 384) {
		b.Run(tc.name, func(b *testing.B) {
			h := NewHasher()
			b.ReportAllocs()
			for b.Loop() {
				h.Image(tc.img)
			}
		})
	}
}

// BenchmarkImageShrink hashes RGBA pictures (what the production decoder
// returns) that are first shrunk to 512x384: 578x433 is a 1-megapixel JPEG
// decoded at 4/8 scale, the usual case; 1024x768 the largest the decoder
// hands over. The shrink filter is bicubic, as the reference's; bilinear is
// measured for comparison.
func BenchmarkImageShrink(b *testing.B) {
	for _, sz := range [][2]int{{578, 433}, {1024, 768}} {
		img := benchScene(sz[0], sz[1])
		for _, k := range []struct {
			name string
			k    kernel
		}{{"bicubic", bicubic}, {"bilinear", bilinear}} {
			b.Run(fmt.Sprintf("%dx%d/%s", sz[0], sz[1], k.name), func(b *testing.B) {
				defer func(old kernel) { shrinkKernel = old }(shrinkKernel)
				shrinkKernel = k.k
				h := NewHasher()
				b.ReportAllocs()
				for b.Loop() {
					h.Image(img)
				}
			})
		}
	}
}

// BenchmarkImageDihedral is BenchmarkImage with all eight hashes, through
// the package function (and its pool).
func BenchmarkImageDihedral(b *testing.B) {
	for _, tc := range benchImages(512, 384) {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ImageDihedral(tc.img)
			}
		})
	}
}

// BenchmarkBanding: what mediahash pays per derived hash to leave the
// banded ones out (a bank entry has about 229).
func BenchmarkBanding(b *testing.B) {
	h, err := ParseHex(bridgeHex)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for b.Loop() {
		n += h.Banding()
	}
	_ = n
}
