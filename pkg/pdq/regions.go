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

// ImageDihedralRegions returns both ImageDihedral(img) and
// ImageRegions(img, boxes) from one blur of the picture, cheaper than the
// two calls: the uploads path wants both.
func (h *Hasher) ImageDihedralRegions(img image.Image, boxes []Box) (whole [8]Result, regions []Result) {
	out := make([]Result, len(boxes))
	rows, cols, shrunk := h.prepare(img)
	if rows < minDim || cols < minDim {
		h.src = source{}
		return whole, out
	}
	n := rows * cols
	plane := grow(h.regionPlane, n)
	if shrunk {
		copy(plane, h.luma[:n])
	} else {
		for y := range rows {
			h.src.row(y, plane[y*cols:(y+1)*cols])
		}
	}
	h.src = source{} // a pooled Hasher must not keep the picture alive
	tmp := grow(h.regionTmp, n)
	h.regionPlane, h.regionTmp = plane, tmp

	// The reference's two passes of box filters, over the whole picture.
	wr, wc := jaroszWindow(cols), jaroszWindow(rows)
	for range 2 {
		for y := range rows {
			boxAlong(plane[y*cols:], tmp[y*cols:], cols, 1, wr)
		}
		h.regionSums = grow(h.regionSums, cols)
		boxColumns(tmp, plane, rows, cols, wc, h.regionSums)
	}

	for k, b := range append([]Box{{0, 0, 1, 1}}, boxes...) {
		x0, x1 := clampFrac(b.X0, cols), clampFrac(b.X1, cols)
		y0, y1 := clampFrac(b.Y0, rows), clampFrac(b.Y1, rows)
		bw, bh := x1-x0, y1-y0
		if bw < minDim || bh < minDim {
			continue
		}
		for i := range 64 {
			row := plane[(y0+int((float64(i)+0.5)*float64(bh)/64))*cols:]
			for j := range 64 {
				h.a[64*i+j] = row[x0+int((float64(j)+0.5)*float64(bw)/64)]
			}
		}
		dct64To16(&h.a, &h.t, &h.b)
		q := quality(&h.a)
		if k > 0 {
			out[k-1] = Result{Hash: toBits(&h.b, &h.sel), Quality: q}
			continue
		}
		whole[0] = Result{Hash: toBits(&h.b, &h.sel), Quality: q}
		for d := 1; d < len(whole); d++ {
			dihedrals[d].apply(&h.b, &h.aux)
			whole[d] = Result{Hash: toBits(&h.aux, &h.sel), Quality: q}
		}
	}
	return whole, out
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
