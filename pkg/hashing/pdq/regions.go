package pdq

import "image"

// Box is a region of a picture as fractions of its width and height:
// Box{0, 0, 1, 0.8} is the top 80%.
type Box struct{ X0, Y0, X1, Y1 float64 }

// ImageRegions returns a PDQ-style hash of each region of img. They are not
// the reference's hashes of cropped pictures: the picture is shrunk and
// blurred once, whole, and each region is decimated to 64x64 from that, so a
// hundred regions cost little more than one hash. A region hash compares with
// the plain hash of a picture that shows just that region (a cropped copy)
// as well as with the same region hashed here, which is what makes them
// useful against crops and overlays; but only within this project: a shared
// hash list holds plain hashes only.
//
// Boxes are clamped to the picture; a region less than 5 pixels either way
// after shrinking gets the zero hash and quality 0.
func ImageRegions(img image.Image, boxes []Box) []Result {
	h := pool.Get().(*Hasher)
	defer pool.Put(h)
	return h.ImageRegions(img, boxes)
}

// ImageRegions is the package's ImageRegions using h's buffers.
func (h *Hasher) ImageRegions(img image.Image, boxes []Box) []Result {
	_, out := h.ImageDihedralRegions(img, boxes)
	return out
}

// ImageDihedralRegions returns the eight dihedral hashes of img and
// ImageRegions(img, boxes), from as few blurs of the picture as it can.
//
// Unlike ImageDihedral, a dihedral hash here is the hash of the picture
// actually turned or mirrored, not the reference's flip of the DCT: along a
// side whose blur window is even (4 pixels on a side of 512) the window is
// off centre, so the flipped DCT is 16-20 bits from the mirrored picture's
// hash, enough to lose mirrored copies at the match threshold; so is an axis
// whose 64 sample points are not symmetric (see flipExact). Such an axis is
// mirrored in the luma and blurred again (one more blur for a typical
// photo); other flips and the transposes stay DCT operations, which are
// exact there. [0] is Image(img) either way.
func (h *Hasher) ImageDihedralRegions(img image.Image, boxes []Box) (whole [8]Result, regions []Result) {
	out := make([]Result, len(boxes))
	rows, cols, shrunk := h.prepare(img)
	if rows < minDim || cols < minDim {
		h.src = source{}
		return whole, out
	}
	n := rows * cols
	raw := grow(h.regionRaw, n)
	if shrunk {
		copy(raw, h.luma[:n])
	} else {
		for y := range rows {
			h.src.row(y, raw[y*cols:(y+1)*cols])
		}
	}
	h.src = source{} // a pooled Hasher must not keep the picture alive
	plane := grow(h.regionPlane, n)
	h.regionTmp = grow(h.regionTmp, n)
	h.regionSums = grow(h.regionSums, cols)
	h.regionRaw, h.regionPlane = raw, plane

	wr, wc := jaroszWindow(cols), jaroszWindow(rows)
	if len(boxes) > 0 {
		h.blur(raw, plane, rows, cols, wr, wc)
		for k, b := range boxes {
			if !boxFits(b, rows, cols) {
				continue
			}
			h.decimate(plane, rows, cols, b)
			dct64To16(&h.a, &h.t, &h.b)
			out[k] = Result{Hash: toBits(&h.b, &h.sel), Quality: quality(&h.a)}
		}
	}

	// The whole picture, and its mirror images along even-window axes,
	// through the main hash's streaming blur, which computes only what the
	// 64x64 decimation reads (downsample consumes h.luma, so each pass gets
	// a fresh copy).
	var (
		dcts [2][2][16 * 16]float32 // [mirrored x][mirrored y]
		have [2][2]bool
		q    int
	)
	inexactX, inexactY := !flipExact(cols, wr), !flipExact(rows, wc)
	for d := range whole {
		dh := dihedrals[d]
		ax, ay := dh.negOddCols && inexactX, dh.negOddRows && inexactY
		ix, iy := b2i(ax), b2i(ay)
		if !have[ix][iy] {
			h.luma = grow(h.luma, n)
			mirror(raw, h.luma, rows, cols, ax, ay)
			h.downsample(rows, cols, true)
			if d == 0 {
				q = quality(&h.a)
			}
			dct64To16(&h.a, &h.t, &dcts[ix][iy])
			have[ix][iy] = true
		}
		rest := dihedral{transpose: dh.transpose, negOddRows: dh.negOddRows && !ay, negOddCols: dh.negOddCols && !ax}
		rest.apply(&dcts[ix][iy], &h.aux)
		whole[d] = Result{Hash: toBits(&h.aux, &h.sel), Quality: q}
	}
	return whole, out
}

// flipExact reports whether flipping the DCT along an axis of n pixels,
// blurred with window w, gives the hash of the mirrored picture: the window
// must be odd (centred) and the 64 sample points symmetric about the middle.
// At n = 64k they are symmetric only for odd k: the text of a 384-pixel-wide
// page, mirrored, came out 40 bits from the flipped DCT.
func flipExact(n, w int) bool {
	if w%2 == 0 {
		return false
	}
	var pts [65]int
	p := samplePoints(n, &pts)
	for i := range 64 {
		if n-1-p[i] != p[63-i] {
			return false
		}
	}
	return true
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// blur runs the reference's two passes of box filters over the whole
// rows x cols picture in, into out.
func (h *Hasher) blur(in, out []float32, rows, cols, wr, wc int) {
	tmp := h.regionTmp
	src := in
	for range 2 {
		for y := range rows {
			boxAlong(src[y*cols:], tmp[y*cols:], cols, 1, wr)
		}
		boxColumns(tmp, out, rows, cols, wc, h.regionSums)
		src = out
	}
}

// decimate samples the box of the blurred plane to the 64x64 h.a, zero when
// the box is too small to hash.
func (h *Hasher) decimate(plane []float32, rows, cols int, b Box) {
	if !boxFits(b, rows, cols) {
		h.a = [64 * 64]float32{}
		return
	}
	x0, x1 := clampFrac(b.X0, cols), clampFrac(b.X1, cols)
	y0, y1 := clampFrac(b.Y0, rows), clampFrac(b.Y1, rows)
	bw, bh := x1-x0, y1-y0
	for i := range 64 {
		row := plane[(y0+int((float64(i)+0.5)*float64(bh)/64))*cols:]
		for j := range 64 {
			h.a[64*i+j] = row[x0+int((float64(j)+0.5)*float64(bw)/64)]
		}
	}
}

func boxFits(b Box, rows, cols int) bool {
	return clampFrac(b.X1, cols)-clampFrac(b.X0, cols) >= minDim && clampFrac(b.Y1, rows)-clampFrac(b.Y0, rows) >= minDim
}

// mirror writes in, reversed left to right if mx and top to bottom if my,
// into out.
func mirror(in, out []float32, rows, cols int, mx, my bool) {
	for y := range rows {
		sy := y
		if my {
			sy = rows - 1 - y
		}
		src, dst := in[sy*cols:(sy+1)*cols], out[y*cols:(y+1)*cols]
		if !mx {
			copy(dst, src)
			continue
		}
		for x := range cols {
			dst[x] = src[cols-1-x]
		}
	}
}

// ImageDihedralRegions is the method of a pooled Hasher.
func ImageDihedralRegions(img image.Image, boxes []Box) ([8]Result, []Result) {
	h := pool.Get().(*Hasher)
	defer pool.Put(h)
	return h.ImageDihedralRegions(img, boxes)
}

func clampFrac(f float64, n int) int {
	return max(0, min(n, int(f*float64(n)+0.5)))
}

// boxAlong is the reference's 1-D box filter over n values spaced stride
// apart: the window grows at the start, stays w wide in the middle and
// shrinks at the end, and each sum is divided by the current window size.
func boxAlong(in, out []float32, n, stride, w int) {
	w = min(w, n)
	half := (w + 2) / 2
	var sum float32
	cur, ri, li, oi := 0, 0, 0, 0
	for range half - 1 {
		sum += in[ri]
		cur++
		ri += stride
	}
	for range w - half + 1 {
		sum += in[ri]
		cur++
		out[oi] = sum / float32(cur)
		ri += stride
		oi += stride
	}
	for range n - w {
		sum += in[ri]
		sum -= in[li]
		out[oi] = sum / float32(cur)
		ri += stride
		li += stride
		oi += stride
	}
	for range half - 1 {
		sum -= in[li]
		cur--
		out[oi] = sum / float32(cur)
		li += stride
		oi += stride
	}
}

// boxColumns is boxAlong down every column at once, a row at a time, which
// reads memory in order; each column sees the same operations in the same
// order as boxAlong would give it.
func boxColumns(in, out []float32, rows, cols, w int, sums []float32) {
	w = min(w, rows)
	half := (w + 2) / 2
	clear(sums)
	row := func(r int) []float32 { return in[r*cols : (r+1)*cols] }
	emit := func(o, cur int) {
		dst := out[o*cols : (o+1)*cols]
		c := float32(cur)
		for x, s := range sums {
			dst[x] = s / c
		}
	}
	cur, ri, li, oi := 0, 0, 0, 0
	for range half - 1 {
		for x, v := range row(ri) {
			sums[x] += v
		}
		cur++
		ri++
	}
	for range w - half + 1 {
		for x, v := range row(ri) {
			sums[x] += v
		}
		cur++
		emit(oi, cur)
		ri++
		oi++
	}
	for range rows - w {
		add, sub := row(ri), row(li)
		for x := range sums {
			sums[x] += add[x]
			sums[x] -= sub[x]
		}
		emit(oi, cur)
		ri++
		li++
		oi++
	}
	for range half - 1 {
		for x, v := range row(li) {
			sums[x] -= v
		}
		cur--
		emit(oi, cur)
		li++
		oi++
	}
}
