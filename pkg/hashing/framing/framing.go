// Package framing finds the part of an image that is the picture, so that a
// re-framed copy hashes like the original: Trim removes uniform borders
// (letterbox and pillarbox bars, padding), Embedded locates a picture shown
// inside a screenshot of a feed or a chat.
//
// Perceptual hashes such as PDQ see the whole frame: black bars or the
// interface around a screenshotted picture move every coefficient, and the
// copy no longer matches. Both functions only look at pixels, return a
// rectangle of the image they were given, and are deterministic, so a bank
// entry and an upload put through them agree.
package framing

import (
	"image"
	"image/color"
)

// tolerance is how far, per colour channel, a pixel may stray from a border
// colour and still count as that colour: JPEG ringing along a bar's edge and
// the noise of a re-encoded flat area stay well inside it, picture content
// rarely does.
const tolerance = 24

// raster reads an image's pixels as RGB. Trim and the first test of
// Embedded read only a few lines, so pixels are converted as they are read;
// Embedded's full scan packs the whole image once (pack).
type raster struct {
	w, h int
	at   func(x, y int) rgb // x, y from 0
	pix  []uint8            // set by pack: 3 bytes per pixel, rows of 3*w bytes
}

func newRaster(img image.Image) raster {
	b := img.Bounds()
	r := raster{w: b.Dx(), h: b.Dy()}
	switch m := img.(type) {
	case *image.YCbCr:
		r.at = func(x, y int) rgb {
			yi, ci := m.YOffset(b.Min.X+x, b.Min.Y+y), m.COffset(b.Min.X+x, b.Min.Y+y)
			cr, cg, cb := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
			return rgb{cr, cg, cb}
		}
	case *image.RGBA:
		r.at = func(x, y int) rgb {
			i := m.PixOffset(b.Min.X+x, b.Min.Y+y)
			return rgb{m.Pix[i], m.Pix[i+1], m.Pix[i+2]}
		}
	case *image.Gray:
		r.at = func(x, y int) rgb {
			v := m.Pix[m.PixOffset(b.Min.X+x, b.Min.Y+y)]
			return rgb{v, v, v}
		}
	default:
		r.at = func(x, y int) rgb {
			c := color.RGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.RGBA)
			return rgb{c.R, c.G, c.B}
		}
	}
	return r
}

// pack reads every pixel into r.pix.
func (r *raster) pack() {
	r.pix = make([]uint8, 3*r.w*r.h)
	i := 0
	for y := range r.h {
		for x := range r.w {
			c := r.at(x, y)
			r.pix[i], r.pix[i+1], r.pix[i+2] = c[0], c[1], c[2]
			i += 3
		}
	}
}

type rgb [3]uint8

func near(a, b rgb) bool {
	for k := range 3 {
		d := int(a[k]) - int(b[k])
		if d > tolerance || d < -tolerance {
			return false
		}
	}
	return true
}

// median3 is the per-channel median colour of n pixels read by at(i).
func medianColor(n int, at func(i int) rgb) rgb {
	var hist [3][256]int
	for i := range n {
		c := at(i)
		for k := range 3 {
			hist[k][c[k]]++
		}
	}
	var m rgb
	for k := range 3 {
		seen := 0
		for v := range 256 {
			seen += hist[k][v]
			if 2*seen > n {
				m[k] = uint8(v)
				break
			}
		}
	}
	return m
}
