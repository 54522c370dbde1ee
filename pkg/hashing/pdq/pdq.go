// Package pdq holds PDQ, Meta's 256-bit perceptual image hash, written in
// Go from the published algorithm: shrink to fit 512x512 (as the
// reference's Python path does with PIL's thumbnail), luminance, a two-pass
// Jarosz tent filter, 64x64 decimation, a 16x16 DCT without the DC terms,
// bits against the median, and the reference's quality metric. The seven
// rotated and mirrored hashes come from the same DCT, without hashing again.
//
// Given the same pixels (no shrink needed), the hash is bit for bit what the
// reference C++ gives through its Python binding: every float32 operation of
// the filter, the DCT and the median is done in the reference's order. The
// shrink resamples the luminance in float32 where PIL resamples each 8-bit
// colour channel, so shrunk pictures usually hash identically to the
// reference's Python path and otherwise within a few bits. The tests check
// the reference's published hashes; `make pdq-compare` compares with the
// reference C++ on many more pictures.
package pdq

import (
	"image"
	"sync"
)

// Result is a hash and its quality, 0..100. Reference practice is not to
// trust hashes of quality below 50 for matching.
type Result struct {
	Hash    Hash
	Quality int
}

// DihedralVariants names the transforms in the order ImageDihedral returns
// them; the names equal the events.Variant* constants and the reference's
// names. Rotations are counter-clockwise: rot90 brings the right edge to the
// top. flipx mirrors about the horizontal (x) axis, i.e. top to bottom;
// flipy mirrors about the vertical axis, left to right; flipplus mirrors
// about the main diagonal (a transpose), flipminus about the anti-diagonal.
var DihedralVariants = [8]string{"", "rot90", "rot180", "rot270", "flipx", "flipy", "flipplus", "flipminus"}

const (
	// shrinkTo is the box the reference's Python path shrinks a picture
	// into (PIL's thumbnail((512, 512))) before hashing.
	shrinkTo = 512
	// minDim is the reference's smallest hashable dimension; smaller
	// pictures get the zero hash and quality 0.
	minDim = 5
)

// Hasher holds the buffers of one hash computation, reused from one image to
// the next. It is not safe for concurrent use; Image and ImageDihedral take
// Hashers from a pool.
type Hasher struct {
	luma     []float32 // the shrunk luma, then the first column pass
	tmp      []float32 // the first row pass
	r2       []float32 // the second row pass, at the 64 sampled columns
	rows4    []float32 // four rows of the picture's luma
	sums     []float32 // running sums of a column pass
	rs       resampler
	src      source
	a        [64 * 64]float32
	t        [16 * 64]float32
	b, aux   [16 * 16]float32
	sel      [256]float32
	keepCols [65]int
	keepRows [65]int

	regionRaw, regionPlane, regionTmp, regionSums []float32 // ImageRegions' whole blurred picture

	fullSize bool // ImageFullSize: no shrink to 512x512
	ownSize  bool // every hash at the picture's own size (NewFullSizeHasher)
}

// NewHasher returns a Hasher with no buffers yet; they grow to fit the
// largest picture it hashes (at most 512x512 luma after shrinking, except
// for ImageFullSize).
func NewHasher() *Hasher { return &Hasher{} }

var pool = sync.Pool{New: func() any { return NewHasher() }}

// Image hashes any image, of any size and image.Image type: it shrinks the
// picture to fit 512x512 as the reference does, then hashes its luma.
// Pictures smaller than 5 pixels either way get the zero hash and quality 0.
//
// Alpha is ignored, as the reference's conversion to RGB ignores it: the
// colour channels are hashed as stored (un-premultiplied first for
// premultiplied types, so a fully transparent pixel of an *image.RGBA is
// black). Flatten translucent pictures first, as mediahash does.
func Image(img image.Image) Result {
	h := pool.Get().(*Hasher)
	defer pool.Put(h)
	return h.Image(img)
}

// ImageDihedral returns the hashes of img and of its seven rotations and
// mirror images, in the order of DihedralVariants, from one DCT; [0] equals
// Image(img) and [i] stands for the hash of img transformed by
// DihedralVariants[i]. The quality is the same for all eight.
//
// As in the reference, [i] equals Image of the transformed picture only
// where the blur is symmetric: the box window along a side of n pixels is
// ceil(n/128) wide, and an even window is off centre by half a pixel, so a
// transform that reverses such an axis hashes a picture shifted by a pixel
// or so. On a photo shrunk to 512 pixels wide that is 16-18 bits for the
// transforms that mirror left to right (the reference's own C++ gives the
// same), well within the 31-bit match threshold.
func ImageDihedral(img image.Image) [8]Result {
	h := pool.Get().(*Hasher)
	defer pool.Put(h)
	return h.ImageDihedral(img)
}

// Image is the package's Image using h's buffers.
func (h *Hasher) Image(img image.Image) Result {
	q, ok := h.dct(img)
	if !ok {
		return Result{}
	}
	return Result{Hash: toBits(&h.b, &h.sel), Quality: q}
}

// ImageFullSize is Image without the shrink to fit 512x512: the picture is
// hashed at its own size, as the reference vPDQ hashes each video frame (its
// C++ takes the decoded frame's luma as it is; package video). The buffers
// grow to the picture's size, 8 bytes a pixel.
func (h *Hasher) ImageFullSize(img image.Image) Result {
	h.fullSize = true
	defer func() { h.fullSize = false }()
	return h.Image(img)
}

// NewFullSizeHasher returns a Hasher that hashes every picture at its own
// size, without the shrink to fit 512x512, in all its methods (Image,
// ImageDihedral, ImageDihedralRegions...), as the reference C++ hashes the
// pixels it is given. The reference's published C++ hashes were computed
// so, and its correctness rule (within 10 bits for decoded files) is about
// them: a picture shrunk to 512 pixels first lands up to 12 bits away from
// some of them, because along a side of 512 the blur window is 4 pixels,
// even and off centre. The buffers grow to the picture's size, 8 bytes a
// pixel: callers bound the size (package mediahash hashes its reduced
// decode, about 1,100 pixels a side at most).
func NewFullSizeHasher() *Hasher { return &Hasher{ownSize: true} }

// ImageDihedral is the package's ImageDihedral using h's buffers.
func (h *Hasher) ImageDihedral(img image.Image) [8]Result {
	var out [8]Result
	q, ok := h.dct(img)
	if !ok {
		return out
	}
	out[0] = Result{Hash: toBits(&h.b, &h.sel), Quality: q}
	for k := 1; k < len(out); k++ {
		dihedrals[k].apply(&h.b, &h.aux)
		out[k] = Result{Hash: toBits(&h.aux, &h.sel), Quality: q}
	}
	return out
}

// dct leaves the 16x16 DCT of img in h.b and returns the quality; ok is false
// for pictures too small to hash.
func (h *Hasher) dct(img image.Image) (q int, ok bool) {
	rows, cols, shrunk := h.prepare(img)
	if rows < minDim || cols < minDim {
		h.src = source{}
		return 0, false
	}
	h.downsample(rows, cols, shrunk)
	h.src = source{} // a pooled Hasher must not keep the picture alive
	dct64To16(&h.a, &h.t, &h.b)
	return quality(&h.a), true
}

// downsample blurs and decimates the rows x cols luma to the 64x64 image
// h.a: the picture's own rows, or if shrunk the rows in h.luma. A 64x64 luma
// is taken as it is, as the reference's C++ does (it is then a frame some
// other tool already downsampled).
//
// The passes stream: four rows of luma are filtered along the rows as soon as
// they are read, the column pass advances as far as those rows allow, and the
// second row pass follows it, so each row is reused while it is still in the
// processor's cache. Each value still goes through exactly the reference's
// sequence of operations.
func (h *Hasher) downsample(rows, cols int, shrunk bool) {
	n := rows * cols
	if rows == 64 && cols == 64 {
		if !shrunk {
			h.luma = grow(h.luma, n)
			for y := range rows {
				h.src.row(y, h.luma[y*cols:(y+1)*cols])
			}
		}
		copy(h.a[:], h.luma[:n])
		return
	}
	h.luma = grow(h.luma, n) // the shrunk luma, overwritten by the column pass
	h.tmp = grow(h.tmp, n)   // the first row pass
	h.r2 = grow(h.r2, rows*64)
	h.sums = grow(h.sums, max(cols, 64))
	h.rows4 = grow(h.rows4, 4*cols)
	wr, wc := jaroszWindow(cols), jaroszWindow(rows)
	keepCols := samplePoints(cols, &h.keepCols)
	keepRows := samplePoints(rows, &h.keepRows)

	c1 := colBox{ph: phases(rows, wc), n: cols, sums: h.sums[:cols]}
	clear(c1.sums)
	done2 := 0 // rows of the column pass through the second row pass
	for r := 0; r < rows; r += 4 {
		nb := min(4, rows-r)
		in := h.luma[r*cols : (r+nb)*cols]
		if !shrunk {
			in = h.rows4[:nb*cols]
			for k := range nb {
				h.src.row(r+k, in[k*cols:(k+1)*cols])
			}
		}
		boxRows(in, h.tmp[r*cols:(r+nb)*cols], nb, cols, wr, nil)
		c1.run(h.tmp, h.luma, rows, r+nb, nil)
		for ; done2+4 <= c1.emitted(); done2 += 4 {
			boxRows(h.luma[done2*cols:(done2+4)*cols], h.r2[done2*64:(done2+4)*64], 4, cols, wr, keepCols)
		}
	}
	if left := rows - done2; left > 0 {
		boxRows(h.luma[done2*cols:], h.r2[done2*64:], left, cols, wr, keepCols)
	}
	c2 := colBox{ph: phases(rows, wc), n: 64, sums: h.sums[:64]}
	clear(c2.sums)
	c2.run(h.r2, h.a[:], rows, rows, keepRows)
}

// grow returns buf with length at least n, reallocating only when it must.
func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}
