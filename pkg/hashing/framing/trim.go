package framing

import "image"

// Trim limits: a bar must be a line at least this uniform, and trimming
// stops before it would leave less than minKeep of a side.
const (
	// uniformShare is the share of a line's pixels that must be within
	// tolerance of the bar colour. Not all: a logo or a watermark may sit in
	// a bar.
	uniformShare = 0.97
	// minKeep keeps a picture of a long straight horizon or a plain sky from
	// being trimmed to a sliver.
	minKeep = 0.25
	// minTrim is the smallest total trim (as a share of a side) worth
	// reporting: less is compression noise along an edge, not a bar.
	minTrim = 0.02
)

// Trim returns the bounds of img without its uniform borders: each side loses
// the rows or columns that are nearly all one colour, the colour of that
// side's outermost line (black bars, white padding, a blurred-free solid
// frame). It returns img.Bounds() when there is nothing worth trimming. Each
// side is trimmed on its own, so bars of different widths (a picture placed
// off-centre) are removed too.
func Trim(img image.Image) image.Rectangle {
	b := img.Bounds()
	if b.Dx() < 8 || b.Dy() < 8 {
		return b
	}
	r := newRaster(img)
	top, bottom, left, right := r.trimmed()
	if float64(top+bottom) < minTrim*float64(r.h) && float64(left+right) < minTrim*float64(r.w) {
		return b
	}
	return image.Rect(b.Min.X+left, b.Min.Y+top, b.Max.X-right, b.Max.Y-bottom)
}

// trimmed returns how many lines each side loses.
func (r *raster) trimmed() (top, bottom, left, right int) {
	maxRows := int(float64(r.h) * (1 - minKeep))
	maxCols := int(float64(r.w) * (1 - minKeep))
	row := func(y int) func(i int) rgb { return func(x int) rgb { return r.at(x, y) } }
	col := func(x int) func(i int) rgb { return func(y int) rgb { return r.at(x, y) } }

	top = run(r.w, maxRows, func(k int) func(int) rgb { return row(k) })
	bottom = run(r.w, maxRows-top, func(k int) func(int) rgb { return row(r.h - 1 - k) })
	if top+bottom >= maxRows {
		top, bottom = 0, 0 // nearly all one colour: nothing to tell bars from picture
	}
	left = run(r.h, maxCols, func(k int) func(int) rgb { return col(k) })
	right = run(r.h, maxCols-left, func(k int) func(int) rgb { return col(r.w - 1 - k) })
	if left+right >= maxCols {
		left, right = 0, 0
	}
	return top, bottom, left, right
}

// run counts the lines, from the outermost inwards, that are uniform in the
// outermost line's colour, and the blended line after them if there is
// one (blended); at most limit. line(k) reads the k-th line's n
// pixels.
func run(n, limit int, line func(k int) func(int) rgb) int {
	if limit <= 0 {
		return 0
	}
	ref := medianColor(n, line(0))
	k := 0
	for k < limit && uniform(n, line(k), ref) {
		k++
	}
	if k > 0 && k+1 < limit && blended(n, line(k), line(k+1), ref) {
		k++
	}
	return k
}

// blended reports whether a line, next to the bars, is mostly bar: JPEG
// ringing along the picture's edge, or the scaling of a letterboxed video,
// leaves a line between the two that is not uniform but lies much nearer
// the bar's colour than the picture's line inside it. Kept, that line is
// another picture to PDQ for one of little detail: a calm sea letterboxed
// and re-encoded was 52 bits from its original with it, 12 without it.
func blended(n int, at, inner func(int) rgb, ref rgb) bool {
	var toBar, toInner int
	for i := range n {
		c := at(i)
		toBar += diff(c, ref)
		toInner += diff(c, inner(i))
	}
	return 2*toBar < toInner
}

// diff is the sum of the channels' absolute differences.
func diff(a, b rgb) int {
	s := 0
	for k := range 3 {
		s += max(int(a[k])-int(b[k]), int(b[k])-int(a[k]))
	}
	return s
}

func uniform(n int, at func(int) rgb, ref rgb) bool {
	allowed := n - int(uniformShare*float64(n))
	off := 0
	for i := range n {
		if !near(at(i), ref) {
			off++
			if off > allowed {
				return false
			}
		}
	}
	return true
}
