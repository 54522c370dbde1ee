package framing

import "image"

// Limits on what Embedded accepts as a picture inside a screenshot.
const (
	// backgroundShare: a screenshot's edges are mostly the interface's
	// background colour. A photograph's edges rarely are, and Embedded stops
	// there, which keeps it cheap for the common upload.
	backgroundShare = 0.5
	// minFill: the picture is a solid block of non-background pixels; a
	// paragraph of text, however wide, is mostly background between glyphs
	// and lines.
	minFill = 0.6
	// The picture is a real part of the screenshot, not a glyph and not the
	// whole frame (that is the plain hash's job).
	minWidthShare, minHeightShare = 0.2, 0.1
	minAreaShare, maxAreaShare    = 0.05, 0.9
	// growShare: a line next to the picture belongs to it if this share of
	// its pixels is not background.
	growShare = 0.02
)

// Embedded locates a picture shown inside a screenshot: on an interface of
// one background colour (a feed, a chat, a web page), the largest solid
// rectangular block of other colours. It reports false when img does not
// look like such a screenshot. The rectangle is in img's coordinates.
//
// A picture whose own edge has the background's colour (a white sky on a
// white feed) is found without that part, and the hash of the region will
// then not match; the plain hash of the screenshot is still there.
func Embedded(img image.Image) (image.Rectangle, bool) {
	b := img.Bounds()
	if b.Dx() < 32 || b.Dy() < 32 {
		return image.Rectangle{}, false
	}
	r := newRaster(img)
	bg, ok := r.borderColor()
	if !ok {
		return image.Rectangle{}, false
	}
	r.pack()
	box, ok := r.largestBlock(bg)
	if !ok {
		return image.Rectangle{}, false
	}
	box = r.grow(box, bg)
	if float64(box.Dx()*box.Dy()) > maxAreaShare*float64(r.w*r.h) {
		return image.Rectangle{}, false
	}
	return box.Add(b.Min), true
}

// grow extends box by the lines next to it that still hold some content: a
// picture whose edge is partly the background's colour (a white sky on a
// white feed, a dark corner in dark mode) splits into blocks, of which
// largestBlock finds one. The interface leaves a line of pure background
// between the picture and its neighbours (header, buttons), where growing
// stops.
func (r *raster) grow(box image.Rectangle, bg rgb) image.Rectangle {
	busy := func(x0, y0, x1, y1 int) bool {
		n, off := 0, 0
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				i := 3 * (y*r.w + x)
				n++
				if !near(rgb{r.pix[i], r.pix[i+1], r.pix[i+2]}, bg) {
					off++
				}
			}
		}
		return n > 0 && float64(off) >= growShare*float64(n)
	}
	for changed := true; changed; {
		changed = false
		if box.Min.Y > 0 && busy(box.Min.X, box.Min.Y-1, box.Max.X, box.Min.Y) {
			box.Min.Y--
			changed = true
		}
		if box.Max.Y < r.h && busy(box.Min.X, box.Max.Y, box.Max.X, box.Max.Y+1) {
			box.Max.Y++
			changed = true
		}
		if box.Min.X > 0 && busy(box.Min.X-1, box.Min.Y, box.Min.X, box.Max.Y) {
			box.Min.X--
			changed = true
		}
		if box.Max.X < r.w && busy(box.Max.X, box.Min.Y, box.Max.X+1, box.Max.Y) {
			box.Max.X++
			changed = true
		}
	}
	return box
}

// borderColor is the colour of most of the image's outermost pixels, if one
// colour (within tolerance) covers at least backgroundShare of them.
func (r *raster) borderColor() (rgb, bool) {
	var edge []rgb
	for x := range r.w {
		edge = append(edge, r.at(x, 0), r.at(x, r.h-1))
	}
	for y := 1; y < r.h-1; y++ {
		edge = append(edge, r.at(0, y), r.at(r.w-1, y))
	}
	// The most common colour, at 5 bits per channel so that noise does not
	// split it, then refined to the median of the pixels near it.
	counts := map[rgb]int{}
	var best rgb
	for _, c := range edge {
		q := rgb{c[0] >> 3, c[1] >> 3, c[2] >> 3}
		counts[q]++
		if counts[q] > counts[best] {
			best = q
		}
	}
	centre := rgb{best[0]<<3 | 4, best[1]<<3 | 4, best[2]<<3 | 4}
	var close []rgb
	for _, c := range edge {
		if near(c, centre) {
			close = append(close, c)
		}
	}
	if float64(len(close)) < backgroundShare*float64(len(edge)) {
		return rgb{}, false
	}
	return medianColor(len(close), func(i int) rgb { return close[i] }), true
}

// largestBlock finds the connected regions of non-background pixels and
// returns the bounding box of the largest one that is solid enough to be a
// picture.
func (r *raster) largestBlock(bg rgb) (image.Rectangle, bool) {
	n := r.w * r.h
	// label 0: background; -1: content not yet visited; >0: component id.
	label := make([]int32, n)
	for i := range n {
		if !near(rgb{r.pix[3*i], r.pix[3*i+1], r.pix[3*i+2]}, bg) {
			label[i] = -1
		}
	}
	var (
		best     image.Rectangle
		bestArea int
		stack    []int32
		id       int32
	)
	frame := r.w * r.h
	for start := range n {
		if label[start] != -1 {
			continue
		}
		id++
		label[start] = id
		stack = append(stack[:0], int32(start))
		x0, y0, x1, y1 := r.w, r.h, -1, -1
		count := 0
		for len(stack) > 0 {
			p := int(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
			count++
			x, y := p%r.w, p/r.w
			x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
			if x > 0 && label[p-1] == -1 {
				label[p-1] = id
				stack = append(stack, int32(p-1))
			}
			if x < r.w-1 && label[p+1] == -1 {
				label[p+1] = id
				stack = append(stack, int32(p+1))
			}
			if y > 0 && label[p-r.w] == -1 {
				label[p-r.w] = id
				stack = append(stack, int32(p-r.w))
			}
			if y < r.h-1 && label[p+r.w] == -1 {
				label[p+r.w] = id
				stack = append(stack, int32(p+r.w))
			}
		}
		bw, bh := x1-x0+1, y1-y0+1
		area := bw * bh
		switch {
		case area <= bestArea,
			float64(count) < minFill*float64(area),
			float64(bw) < minWidthShare*float64(r.w),
			float64(bh) < minHeightShare*float64(r.h),
			float64(area) < minAreaShare*float64(frame),
			float64(area) > maxAreaShare*float64(frame):
			continue
		}
		best, bestArea = image.Rect(x0, y0, x1+1, y1+1), area
	}
	return best, bestArea > 0
}
