package pdq

import (
	"image"
	"math"
)

// The reference's Python path opens a picture with PIL and calls
// thumbnail((512, 512)) before hashing; its published hashes come from
// that. This file does the same shrink on the luminance: PIL's output size,
// its box pre-reduction for large factors (reducing_gap 2) and its
// convolution resampling, one axis at a time. PIL resamples each RGB channel
// in 8-bit fixed point and rounds between the passes; resampling the luma in
// float32 skips those roundings, which moves a resampled pixel by less than
// one grey level.

// kernel is a resampling filter with its support (radius) at scale 1.
type kernel struct {
	name    string
	support float64
	f       func(x float64) float64
}

// bicubic is PIL's BICUBIC (Keys' cubic with a = -0.5), the default filter
// of PIL's thumbnail and the one the reference's published hashes came from.
var bicubic = kernel{name: "bicubic", support: 2, f: func(x float64) float64 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	switch {
	case x < 1:
		return ((a+2)*x-(a+3))*x*x + 1
	case x < 2:
		return (((x-5)*x+8)*x - 4) * a
	}
	return 0
}}

// bilinear is PIL's BILINEAR (a triangle widened by the shrink factor).
var bilinear = kernel{name: "bilinear", support: 1, f: func(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}}

// shrinkKernel is the filter Image shrinks with.
var shrinkKernel = bicubic

// thumbSize is the size PIL's thumbnail((512, 512)) gives a w x h picture:
// the aspect ratio kept, the free side rounded to whichever of floor and
// ceiling keeps the ratio closer. Pictures that fit are left alone.
func thumbSize(w, h int) (int, int) {
	if w <= shrinkTo && h <= shrinkTo {
		return w, h
	}
	aspect := float64(w) / float64(h)
	x, y := shrinkTo, shrinkTo
	closer := func(n float64, key func(float64) float64) int {
		lo, hi := math.Floor(n), math.Ceil(n)
		if key(hi) < key(lo) {
			lo = hi
		}
		return max(int(lo), 1)
	}
	if float64(x)/float64(y) >= aspect {
		x = closer(float64(y)*aspect, func(n float64) float64 { return math.Abs(aspect - n/float64(y)) })
	} else {
		y = closer(float64(x)/aspect, func(n float64) float64 {
			if n == 0 {
				return 0
			}
			return math.Abs(aspect - float64(x)/n)
		})
	}
	return x, y
}

// coeffs are the filter taps of one axis: output i is the sum over k < n[i]
// of w[i*stride+k] times input start[i]+k.
type coeffs struct {
	start, n []int
	w        []float32
	stride   int
	tmp      []float64
	key      coeffsKey // what the taps were computed for
}

type coeffsKey struct {
	inSize, outSize int
	in0, in1        float64
	kernel          string
}

// compute sets the taps that resample the span [in0, in1) of an axis of
// inSize samples to outSize samples, as PIL's precompute_coeffs does. Taps
// computed last time for the same sizes are reused.
func (c *coeffs) compute(inSize int, in0, in1 float64, outSize int, k kernel) {
	key := coeffsKey{inSize, outSize, in0, in1, k.name}
	if c.key == key {
		return
	}
	c.key = key
	scale := (in1 - in0) / float64(outSize)
	fs := max(scale, 1)
	ss := 1 / fs
	support := k.support * fs
	c.stride = int(math.Ceil(support))*2 + 1
	c.start = growInts(c.start, outSize)
	c.n = growInts(c.n, outSize)
	c.w = grow(c.w, outSize*c.stride)
	if cap(c.tmp) < c.stride {
		c.tmp = make([]float64, c.stride)
	}
	tmp := c.tmp[:c.stride]
	for i := range outSize {
		center := in0 + (float64(i)+0.5)*scale
		lo := max(int(center-support+0.5), 0)
		hi := min(int(center+support+0.5), inSize)
		n := min(hi-lo, c.stride)
		sum := 0.0
		for x := range n {
			v := k.f((float64(x+lo) - center + 0.5) * ss)
			tmp[x] = v
			sum += v
		}
		w := c.w[i*c.stride : (i+1)*c.stride]
		clear(w)
		for x := range n {
			if sum != 0 {
				w[x] = float32(tmp[x] / sum)
			}
		}
		c.start[i], c.n[i] = lo, n
	}
}

func growInts(buf []int, n int) []int {
	if cap(buf) < n {
		return make([]int, n)
	}
	return buf[:n]
}

// resampler holds the shrink's buffers.
type resampler struct {
	x, y coeffs
	row  []float32 // one source row, for the box reduction
	acc  []float32 // sums of the box reduction
	rows []float32 // four rows of the (reduced) picture
	mid  []float32 // rows resampled along x, for the y pass
}

// prepare sets h.src to img and returns the size of the luma to hash:
// the picture's own (its rows are then read as needed), or, if it does not fit
// 512x512, the shrunk size, the luma being in h.luma.
func (h *Hasher) prepare(img image.Image) (rows, cols int, shrunk bool) {
	s := &h.src
	s.reset(img)
	w, ht := s.b.Dx(), s.b.Dy()
	if w <= 0 || ht <= 0 {
		return 0, 0, false
	}
	tw, th := thumbSize(w, ht)
	if h.fullSize || h.ownSize || (tw == w && th == ht) {
		return ht, w, false
	}
	if tw < minDim || th < minDim {
		return th, tw, true
	}
	h.luma = grow(h.luma, tw*th)
	h.shrink(w, ht, tw, th)
	return th, tw, true
}

// shrink resamples the w x ht picture in h.src into the tw x th h.luma.
func (h *Hasher) shrink(w, ht, tw, th int) {
	r := &h.rs
	// PIL first box-averages by whole factors while the picture stays at
	// least twice the target, then resamples the rest of the way over the
	// exact span the reduced picture covers.
	fx := max(int(float64(w)/float64(tw)/2), 1)
	fy := max(int(float64(ht)/float64(th)/2), 1)
	rw, rh := (w+fx-1)/fx, (ht+fy-1)/fy
	r.x.compute(rw, 0, float64(w)/float64(fx), tw, shrinkKernel)
	r.y.compute(rh, 0, float64(ht)/float64(fy), th, shrinkKernel)

	y0 := r.y.start[0]
	y1 := r.y.start[th-1] + r.y.n[th-1]
	r.mid = grow(r.mid, (y1-y0)*tw)
	r.rows = grow(r.rows, 4*rw)
	r.row = grow(r.row, w)
	r.acc = grow(r.acc, rw)

	// Along x, four rows at a time: they share the taps, and their four
	// independent sums keep the processor busy.
	for ry := y0; ry < y1; ry += 4 {
		nb := min(4, y1-ry)
		for k := range nb {
			dst := r.rows[k*rw : (k+1)*rw]
			if fx > 1 || fy > 1 {
				h.reduceRow(ry+k, w, ht, fx, fy, dst)
			} else {
				h.src.row(ry+k, dst)
			}
		}
		m := r.mid[(ry-y0)*tw:]
		if nb == 4 {
			resampleRows4(r.rows[:4*rw], rw, m[:4*tw], tw, &r.x)
		} else {
			for k := range nb {
				resampleRow(r.rows[k*rw:(k+1)*rw], m[k*tw:(k+1)*tw], &r.x)
			}
		}
	}
	// Along y, four columns at a time, summing in registers.
	for i := range th {
		dst := h.luma[i*tw : (i+1)*tw : (i+1)*tw]
		n := r.y.n[i]
		ws := r.y.w[i*r.y.stride : i*r.y.stride+n : i*r.y.stride+n]
		src := r.mid[(r.y.start[i]-y0)*tw:]
		src = src[: n*tw : n*tw]
		x := 0
		for ; x+4 <= tw; x += 4 {
			var s0, s1, s2, s3 float32
			for k, wk := range ws {
				p := src[k*tw+x : k*tw+x+4 : k*tw+x+4]
				s0 += wk * p[0]
				s1 += wk * p[1]
				s2 += wk * p[2]
				s3 += wk * p[3]
			}
			dst[x], dst[x+1], dst[x+2], dst[x+3] = s0, s1, s2, s3
		}
		for ; x < tw; x++ {
			var s float32
			for k, wk := range ws {
				s += wk * src[k*tw+x]
			}
			dst[x] = s
		}
	}
}

// resampleRow resamples src along x into dst with the taps c.
func resampleRow(src, dst []float32, c *coeffs) {
	for i := range dst {
		lo, n := c.start[i], c.n[i]
		ws := c.w[i*c.stride : i*c.stride+n : i*c.stride+n]
		in := src[lo : lo+n : lo+n]
		var s float32
		for k, wk := range ws {
			s += wk * in[k]
		}
		dst[i] = s
	}
}

// resampleRows4 is resampleRow over the four rows of src (each sw long)
// into the four rows of dst (each dw long).
func resampleRows4(src []float32, sw int, dst []float32, dw int, c *coeffs) {
	r0, r1, r2, r3 := src[:sw:sw], src[sw:2*sw:2*sw], src[2*sw:3*sw:3*sw], src[3*sw:4*sw:4*sw]
	d0, d1, d2, d3 := dst[:dw:dw], dst[dw:2*dw:2*dw], dst[2*dw:3*dw:3*dw], dst[3*dw:4*dw:4*dw]
	for i := range d0 {
		lo, n := c.start[i], c.n[i]
		ws := c.w[i*c.stride : i*c.stride+n : i*c.stride+n]
		a0, a1, a2, a3 := r0[lo:lo+n:lo+n], r1[lo:lo+n:lo+n], r2[lo:lo+n:lo+n], r3[lo:lo+n:lo+n]
		var s0, s1, s2, s3 float32
		for k, wk := range ws {
			s0 += wk * a0[k]
			s1 += wk * a1[k]
			s2 += wk * a2[k]
			s3 += wk * a3[k]
		}
		d0[i], d1[i], d2[i], d3[i] = s0, s1, s2, s3
	}
}

// reduceRow writes row ry of the picture box-averaged by fx x fy into dst;
// boxes cut by the right or bottom edge average the pixels they have, as
// PIL's reduce does.
func (h *Hasher) reduceRow(ry, w, ht, fx, fy int, dst []float32) {
	r := &h.rs
	acc := r.acc
	clear(acc)
	ya, yb := ry*fy, min((ry+1)*fy, ht)
	for y := ya; y < yb; y++ {
		h.src.row(y, r.row)
		for rx := range acc {
			xa, xb := rx*fx, min((rx+1)*fx, w)
			var s float32
			for _, v := range r.row[xa:xb] {
				s += v
			}
			acc[rx] += s
		}
	}
	for rx := range acc {
		n := (min((rx+1)*fx, w) - rx*fx) * (yb - ya)
		dst[rx] = acc[rx] / float32(n)
	}
}
