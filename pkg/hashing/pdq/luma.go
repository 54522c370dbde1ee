package pdq

import (
	"image"
	"image/color"
)

// Luminance is Y = 0.299 R + 0.587 G + 0.114 B rounded to float32, as the
// reference's Python binding (pdqhash.compute, through numpy) computes it in
// float64 and hands to its C++ core. That value is always the float32
// nearest (299 R + 587 G + 114 B) / 1000: the exact quotient never comes
// closer than 2^-35 (relative) to a point halfway between two float32 values,
// far more than the float64 errors of either computation, so lum computes it
// from the integer sum. (The C++ command-line tool sums in float32 and can
// differ in the last place.) Grey v has luminance v exactly.
func lum(r, g, b uint8) float32 {
	return lumN(299*uint32(r) + 587*uint32(g) + 114*uint32(b))
}

// lumN is the luminance of the weighted sum n = 299 R + 587 G + 114 B.
func lumN(n uint32) float32 { return float32(float64(int32(n)) * 0.001) }

// lumUnpremul is the luminance of a premultiplied 16-bit colour (what
// color.Color.RGBA returns) after undoing the premultiplication as
// color.NRGBAModel does: the colour channels are hashed and alpha is
// ignored, like the reference's conversion to RGB.
func lumUnpremul(r, g, b, a uint32) float32 {
	switch a {
	case 0xffff:
	case 0:
		return 0
	default:
		r = r * 0xffff / a
		g = g * 0xffff / a
		b = b * 0xffff / a
	}
	return lum(uint8(r>>8), uint8(g>>8), uint8(b>>8))
}

// source reads rows of luminance from an image, with fast paths for the
// types decoders return.
type source struct {
	img   image.Image
	b     image.Rectangle
	ycc   *image.YCbCr
	rgba  *image.RGBA
	nrgba *image.NRGBA
	gray  *image.Gray
	pal   *image.Paletted
	// palLum is the luminance of each palette index; indices past the
	// palette are black.
	palLum [256]float32
}

func (s *source) reset(img image.Image) {
	*s = source{img: img, b: img.Bounds()}
	switch m := img.(type) {
	case *image.YCbCr:
		s.ycc = m
	case *image.RGBA:
		s.rgba = m
	case *image.NRGBA:
		s.nrgba = m
	case *image.Gray:
		s.gray = m
	case *image.Paletted:
		s.pal = m
		for i, c := range m.Palette {
			if i == len(s.palLum) {
				break
			}
			if c != nil {
				s.palLum[i] = lumUnpremul(c.RGBA())
			}
		}
	}
}

// row writes the luminance of row y (counted from the top of the bounds)
// into dst, one value per column.
func (s *source) row(y int, dst []float32) {
	b := s.b
	w := b.Dx()
	dst = dst[:w:w]
	py := b.Min.Y + y
	switch {
	case s.ycc != nil:
		s.yccRow(py, dst)
	case s.rgba != nil:
		m := s.rgba
		off := m.PixOffset(b.Min.X, py)
		pix := m.Pix[off : off+4*w : off+4*w]
		for x := range dst {
			p := pix[:4:4]
			pix = pix[4:]
			if p[3] == 0xff {
				dst[x] = lum(p[0], p[1], p[2])
			} else {
				dst[x] = lumUnpremul(uint32(p[0])*0x101, uint32(p[1])*0x101, uint32(p[2])*0x101, uint32(p[3])*0x101)
			}
		}
	case s.nrgba != nil:
		m := s.nrgba
		off := m.PixOffset(b.Min.X, py)
		pix := m.Pix[off : off+4*w : off+4*w]
		for x := range dst {
			p := pix[:3:3]
			pix = pix[4:]
			dst[x] = lum(p[0], p[1], p[2])
		}
	case s.gray != nil:
		m := s.gray
		off := m.PixOffset(b.Min.X, py)
		pix := m.Pix[off : off+w : off+w]
		for x, v := range pix {
			dst[x] = float32(v)
		}
	case s.pal != nil:
		m := s.pal
		off := m.PixOffset(b.Min.X, py)
		pix := m.Pix[off : off+w : off+w]
		for x, v := range pix {
			dst[x] = s.palLum[v]
		}
	default:
		for x := range dst {
			dst[x] = lumUnpremul(s.img.At(b.Min.X+x, py).RGBA())
		}
	}
}

// yccRow converts a row of a YCbCr image to RGB as image.YCbCr.At does and
// takes its luminance. Taking the decoded Y plane as the luminance would
// skip the conversion, but it is not what the reference hashes: RGB is
// rounded and clamped to 0..255, which matters in saturated and dark areas.
// Measured on the reference's test images decoded by image/jpeg, the Y plane
// moved the low-quality q0003.jpg from 16 to 36 bits off the published hash
// (its test allows 20) and others by 2-4 bits.
func (s *source) yccRow(py int, dst []float32) {
	m := s.ycc
	b := s.b
	yOff := m.YOffset(b.Min.X, py)
	ys := m.Y[yOff : yOff+len(dst) : yOff+len(dst)]
	// The chroma sample of pixel x is at COffset(x, py); within a row it
	// moves with x/2, x/4 or x depending on the subsampling, which for
	// the non-negative x of decoded images is a shift.
	var sh int
	switch m.SubsampleRatio {
	case image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420:
		sh = 1
	case image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410:
		sh = 2
	}
	if m.Rect.Min.X < 0 {
		for x := range dst {
			c := m.YCbCrAt(b.Min.X+x, py)
			dst[x] = lum(color.YCbCrToRGB(c.Y, c.Cb, c.Cr))
		}
		return
	}
	c0 := m.COffset(b.Min.X, py)
	base := b.Min.X >> sh
	cw := (b.Min.X+len(dst)-1)>>sh - base + 1
	cbs := m.Cb[c0 : c0+cw : c0+cw]
	crs := m.Cr[c0 : c0+cw : c0+cw]
	for x, yv := range ys {
		ci := (b.Min.X+x)>>sh - base
		dst[x] = lumYCbCr(yv, cbs[ci], crs[ci])
	}
}

// lumYCbCr is the luminance of a JFIF YCbCr colour converted to 8-bit RGB
// as color.YCbCrToRGB converts it (a test checks every colour).
func lumYCbCr(y, cb, cr uint8) float32 {
	yy := int32(y) * 0x10101
	cb1 := int32(cb) - 128
	cr1 := int32(cr) - 128
	r := clamp16(yy + 91881*cr1)
	g := clamp16(yy - 22554*cb1 - 46802*cr1)
	b := clamp16(yy + 116130*cb1)
	return lumN(299*r + 587*g + 114*b)
}

// clamp16 returns v >> 16 clamped to 0..255.
func clamp16(v int32) uint32 {
	if uint32(v)&0xff000000 == 0 {
		return uint32(v) >> 16
	}
	return uint32(^(v >> 31)) & 0xff
}
