package mediahash

import (
	"encoding/binary"
	"image"

	"golang.org/x/image/draw"
)

// toRGBA returns img as an *image.RGBA whose bounds start at (0, 0): img
// itself when it already is one, else a premultiplied copy (draw.Draw has
// fast paths for the decoders' pixel types).
func toRGBA(img image.Image) *image.RGBA {
	if rgba, ok := img.(*image.RGBA); ok && rgba.Rect.Min == (image.Point{}) {
		return rgba
	}
	b := img.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Bounds(), img, b.Min, draw.Src)
	return dst
}

// reduce returns img at size: box-filtered down (see boxReduce) or, when
// it already has that size, as an RGBA image.
func reduce(img image.Image, size image.Point) *image.RGBA {
	if img.Bounds().Size() == size {
		return toRGBA(img)
	}
	return boxReduce(img, size.X, size.Y)
}

// isOpaque reports whether img has no transparent pixel. Every image type of
// the standard library answers cheaply through its Opaque method.
func isOpaque(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return false
}

// flatten composites a premultiplied RGBA image over white in place, making
// it opaque. A picture is hashed as it is seen, and white is what browsers
// and most viewers and converters show behind transparency; the pixels a
// transparent area happens to store (which PIL's convert("RGB") would keep)
// are invisible, and an uploader could fill them with anything. As the
// colours are premultiplied (r <= a), over white is r + 255 - a.
func flatten(img *image.RGBA) {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := img.Pix[img.PixOffset(b.Min.X, y):img.PixOffset(b.Max.X, y)]
		for i := 0; i+3 < len(row); i += 4 {
			a := row[i+3]
			if a == 255 {
				continue
			}
			t := 255 - a
			row[i] = min(row[i], a) + t
			row[i+1] = min(row[i+1], a) + t
			row[i+2] = min(row[i+2], a) + t
			row[i+3] = 255
		}
	}
}

// orient returns src transformed by o so that it shows upright.
func orient(src *image.RGBA, o Orientation) *image.RGBA {
	if o < OrientFlipH || o > OrientRotate270 {
		return src
	}
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if o.swapsAxes() {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	// Source pixel (x, y) goes to dst at (x0 + x*dx.X + y*dy.X, y0 +
	// x*dx.Y + y*dy.Y): a step along a source row moves by dx in dst, a
	// step down a column by dy.
	var x0, y0 int
	var dx, dy image.Point
	switch o {
	case OrientFlipH:
		x0, dx, dy = w-1, image.Pt(-1, 0), image.Pt(0, 1)
	case OrientRotate180:
		x0, y0, dx, dy = w-1, h-1, image.Pt(-1, 0), image.Pt(0, -1)
	case OrientFlipV:
		y0, dx, dy = h-1, image.Pt(1, 0), image.Pt(0, -1)
	case OrientTranspose:
		dx, dy = image.Pt(0, 1), image.Pt(1, 0)
	case OrientRotate90:
		x0, dx, dy = h-1, image.Pt(0, 1), image.Pt(-1, 0)
	case OrientTransverse:
		x0, y0, dx, dy = h-1, w-1, image.Pt(0, -1), image.Pt(-1, 0)
	case OrientRotate270:
		y0, dx, dy = w-1, image.Pt(0, -1), image.Pt(1, 0)
	}
	step := dx.Y*dst.Stride + dx.X*4 // dst offset of one step along a source row
	for y := range h {
		srow := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):]
		d := (y0+y*dy.Y)*dst.Stride + (x0+y*dy.X)*4
		for x := range w {
			copy(dst.Pix[d:d+4:d+4], srow[4*x:4*x+4])
			d += step
		}
	}
	return dst
}

// boxReduce averages img down to iw x ih (no larger than img): output pixel
// (i, j) is the mean of the source block between columns i*w/iw and
// (i+1)*w/iw and rows j*h/ih and (j+1)*h/ih. The rows of a band of output
// are summed column by column, then the column sums block by block. An RGBA
// source is read in place; any other is converted to RGBA a tile of at most
// 16384 pixels at a time (draw.Draw has fast paths for the decoders' pixel
// types), so memory stays small whatever the image's shape.
func boxReduce(img image.Image, iw, ih int) *image.RGBA {
	const (
		tile = 1 << 14
		// Column sums are added to the block sums before this many rows
		// could overflow them.
		maxRows = 1<<32/256 - 1
	)
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	src, direct := img.(*image.RGBA)
	tw := min(w, tile)
	rows := max(1, tile/tw) // rows per converted tile
	var buf *image.RGBA
	if direct {
		rows = 1
	} else {
		buf = image.NewRGBA(image.Rect(0, 0, tw, rows))
	}
	out := image.NewRGBA(image.Rect(0, 0, iw, ih))
	sums := make([]uint64, 4*iw) // per block of the band
	cols := newColSums(4 * tw)   // per byte of the tile's rows
	edge := func(i, n, in int) int { return int(int64(i) * int64(n) / int64(in)) }
	for j := range ih {
		clear(sums)
		y0, y1 := edge(j, h, ih), edge(j+1, h, ih)
		for x0 := 0; x0 < w; x0 += tw {
			nc := min(tw, w-x0)
			cols.reset(4 * nc)
			n := 0 // rows in cols
			for y := y0; y < y1; y += rows {
				nr := min(rows, y1-y)
				pix, stride := []byte(nil), 0
				if direct {
					pix, stride = src.Pix[src.PixOffset(b.Min.X+x0, b.Min.Y+y):], src.Stride
				} else {
					draw.Draw(buf, image.Rect(0, 0, nc, nr), img, image.Pt(b.Min.X+x0, b.Min.Y+y), draw.Src)
					pix, stride = buf.Pix, buf.Stride
				}
				for r := range nr {
					cols.add(pix[r*stride : r*stride+4*nc])
					if n++; n == maxRows {
						addBlocks(sums, cols.total(), x0, w, iw)
						cols.reset(4 * nc)
						n = 0
					}
				}
			}
			addBlocks(sums, cols.total(), x0, w, iw)
		}
		row := out.Pix[j*out.Stride:]
		for i := range iw {
			n := uint64(edge(i+1, w, iw)-edge(i, w, iw)) * uint64(y1-y0)
			for c := range 4 {
				row[4*i+c] = uint8((sums[4*i+c] + n/2) / n)
			}
		}
	}
	return out
}

// colSums sums rows of bytes column by column. It adds eight bytes at a
// time, spread over the 16-bit lanes of two words (bytes 0, 2, 4, 6 and 1,
// 3, 5, 7), and moves the lanes to 32-bit sums before 256 rows could
// overflow them: four times fewer operations than a byte at a time.
type colSums struct {
	lanes []uint64
	sums  []uint32
	n     int // bytes per row
	rows  int // rows in lanes
}

func newColSums(n int) *colSums {
	return &colSums{lanes: make([]uint64, n/8*2), sums: make([]uint32, n)}
}

// reset starts sums of rows of n bytes (at most newColSums's n).
func (c *colSums) reset(n int) {
	c.n, c.rows = n, 0
	clear(c.lanes[:n/8*2])
	clear(c.sums[:n])
}

const laneMask = 0x00ff00ff00ff00ff

// add adds a row of c.n bytes.
func (c *colSums) add(row []byte) {
	row = row[:c.n]
	lanes := c.lanes[:c.n/8*2]
	for q := 0; q+1 < len(lanes); q += 2 {
		x := binary.LittleEndian.Uint64(row[4*q:])
		lanes[q] += x & laneMask
		lanes[q+1] += x >> 8 & laneMask
	}
	tail := c.sums[len(lanes)*4 : c.n]
	for k, v := range row[len(lanes)*4:] {
		tail[k] += uint32(v)
	}
	if c.rows++; c.rows == 256 {
		c.spill()
	}
}

// spill moves the lanes to the 32-bit sums.
func (c *colSums) spill() {
	lanes := c.lanes[:c.n/8*2]
	for q := 0; q+1 < len(lanes); q += 2 {
		lo, hi := lanes[q], lanes[q+1]
		s := c.sums[4*q : 4*q+8 : 4*q+8]
		for l := range 4 {
			s[2*l] += uint32(lo >> (16 * l) & 0xffff)
			s[2*l+1] += uint32(hi >> (16 * l) & 0xffff)
		}
	}
	clear(lanes)
	c.rows = 0
}

// total returns the column sums of the rows added since reset.
func (c *colSums) total() []uint32 {
	c.spill()
	return c.sums[:c.n]
}

// addBlocks adds the column sums acc of the columns from x0 on to the sums
// of the blocks they fall in, when w columns make iw blocks.
func addBlocks(sums []uint64, acc []uint32, x0, w, iw int) {
	i := int(int64(x0) * int64(iw) / int64(w)) // block of column x0
	next := int(int64(i+1) * int64(w) / int64(iw))
	for k := 0; k+3 < len(acc); k += 4 {
		for x0+k/4 >= next {
			i++
			next = int(int64(i+1) * int64(w) / int64(iw))
		}
		s := sums[4*i : 4*i+4 : 4*i+4]
		s[0] += uint64(acc[k])
		s[1] += uint64(acc[k+1])
		s[2] += uint64(acc[k+2])
		s[3] += uint64(acc[k+3])
	}
}

// cmykToRGBA converts libjpeg's CMYK output to RGB in place, the way PIL and
// image/color do: R = (255-C)(255-K)/255 and so on. Adobe's files store the
// ink values inverted.
func cmykToRGBA(pix []byte, inverted bool) {
	for i := 0; i+3 < len(pix); i += 4 {
		c, m, y, k := uint32(pix[i]), uint32(pix[i+1]), uint32(pix[i+2]), uint32(pix[i+3])
		if inverted {
			c, m, y, k = 255-c, 255-m, 255-y, 255-k
		}
		w := 255 - k
		pix[i] = uint8(((255-c)*w + 127) / 255)
		pix[i+1] = uint8(((255-m)*w + 127) / 255)
		pix[i+2] = uint8(((255-y)*w + 127) / 255)
		pix[i+3] = 255
	}
}
