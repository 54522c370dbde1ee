package pdq

// The reference blurs the luma with a tent filter made of two passes of 1-D
// box filters (rows, then columns, twice; Jarosz, "Fast image convolutions",
// 2001) and then keeps 64x64 samples. The box filter keeps a running sum in
// float32, so its output depends on the exact sequence of additions and
// subtractions: this file repeats that sequence for every value it keeps, and
// skips only values nobody reads. The second pass is needed at just the 64
// sampled columns and, for those, at the 64 sampled rows.

// jaroszWindow is the box width for a dimension of n pixels: a 64th of it
// over two passes, rounded up.
func jaroszWindow(n int) int { return (n + 2*64 - 1) / (2 * 64) }

// div returns s / w for the float32 sum s and inv = 1/w (recip(w)). The
// reference divides in float32; multiplying by the float64 reciprocal and
// rounding to float32 gives the same, correctly rounded quotient and is
// faster than a division. (The product is within 2^-52 of s/w, relative,
// while s/w, for integer w <= 2^20, is never closer to a rounding boundary
// of float32 than 2^-45; TestDivExact checks.)
func div(s float32, inv float64) float32 { return float32(float64(s) * inv) }

func recip(w int) float64 { return 1 / float64(w) }

// boxPhases are the loop counts of the reference's 1-D box filter over n
// values with window w: p1 values are added before the first output, p2
// outputs grow the window, p3 keep it full and p4 shrink it. Output o
// averages inputs o-(w-h) .. o+h-1, h = (w+2)/2, clipped to the vector:
// centred for odd w, one more input to the right for even w.
type boxPhases struct {
	half, p1, p2, p3, p4 int
}

func phases(n, w int) boxPhases {
	half := (w + 2) / 2
	return boxPhases{half: half, p1: half - 1, p2: w - half + 1, p3: n - w, p4: half - 1}
}

// boxRows filters rows rows of n values each, in to out, four rows at a time
// so that their running sums overlap in the processor. If keep is not nil,
// only the outputs at the columns keep lists (ascending, repeats allowed,
// ending with the sentinel n) are stored, packed: out row r gets
// len(keep)-1 values.
func boxRows(in, out []float32, rows, n, w int, keep []int) {
	ph := phases(n, w)
	stride := n
	if keep != nil {
		stride = len(keep) - 1
	}
	r := 0
	for ; r+4 <= rows; r += 4 {
		box4(in[r*n:(r+4)*n], out[r*stride:(r+4)*stride], n, stride, ph, keep)
	}
	for ; r < rows; r++ {
		box1(in[r*n:(r+1)*n], out[r*stride:(r+1)*stride], ph, keep)
	}
}

// emit stores the output at position o: at o itself, or packed at every
// index of keep (from *q on) that names o.
func emit(out []float32, o int, v float32, keep []int, q *int) {
	if keep == nil {
		out[o] = v
		return
	}
	for keep[*q] == o {
		out[*q] = v
		*q++
	}
}

func box1(in, out []float32, ph boxPhases, keep []int) {
	var sum float32
	cw, ri, li, o, q := 0, 0, 0, 0, 0
	for range ph.p1 {
		sum += in[ri]
		cw++
		ri++
	}
	for range ph.p2 {
		sum += in[ri]
		cw++
		emit(out, o, div(sum, recip(cw)), keep, &q)
		ri++
		o++
	}
	fw := recip(cw)
	for range ph.p3 {
		sum += in[ri]
		sum -= in[li]
		emit(out, o, div(sum, fw), keep, &q)
		ri++
		li++
		o++
	}
	for range ph.p4 {
		sum -= in[li]
		cw--
		emit(out, o, div(sum, recip(cw)), keep, &q)
		li++
		o++
	}
}

// box4 is box1 over four consecutive rows of in (each n long) at once,
// writing rows of length stride.
func box4(in, out []float32, n, stride int, ph boxPhases, keep []int) {
	in0, in1, in2, in3 := in[:n:n], in[n:2*n:2*n], in[2*n:3*n:3*n], in[3*n:4*n:4*n]
	out0, out1, out2, out3 := out[:stride:stride], out[stride:2*stride:2*stride], out[2*stride:3*stride:3*stride], out[3*stride:4*stride:4*stride]
	var s0, s1, s2, s3 float32
	cw, ri, li, o, q := 0, 0, 0, 0, 0
	for range ph.p1 {
		s0 += in0[ri]
		s1 += in1[ri]
		s2 += in2[ri]
		s3 += in3[ri]
		cw++
		ri++
	}
	for range ph.p2 {
		s0 += in0[ri]
		s1 += in1[ri]
		s2 += in2[ri]
		s3 += in3[ri]
		cw++
		q = put4(out0, out1, out2, out3, o, q, keep, s0, s1, s2, s3, recip(cw))
		ri++
		o++
	}
	fw := recip(cw)
	if keep == nil {
		// The hot loop of the full pass, without the keep test.
		for ; ri < n; ri, li, o = ri+1, li+1, o+1 {
			s0 += in0[ri]
			s0 -= in0[li]
			s1 += in1[ri]
			s1 -= in1[li]
			s2 += in2[ri]
			s2 -= in2[li]
			s3 += in3[ri]
			s3 -= in3[li]
			out0[o], out1[o], out2[o], out3[o] = div(s0, fw), div(s1, fw), div(s2, fw), div(s3, fw)
		}
	} else {
		for range ph.p3 {
			s0 += in0[ri]
			s0 -= in0[li]
			s1 += in1[ri]
			s1 -= in1[li]
			s2 += in2[ri]
			s2 -= in2[li]
			s3 += in3[ri]
			s3 -= in3[li]
			if keep[q] == o {
				q = put4(out0, out1, out2, out3, o, q, keep, s0, s1, s2, s3, fw)
			}
			ri++
			li++
			o++
		}
	}
	for range ph.p4 {
		s0 -= in0[li]
		s1 -= in1[li]
		s2 -= in2[li]
		s3 -= in3[li]
		cw--
		q = put4(out0, out1, out2, out3, o, q, keep, s0, s1, s2, s3, recip(cw))
		li++
		o++
	}
}

// put4 stores the four outputs at position o (see emit) and returns the
// next keep index.
func put4(out0, out1, out2, out3 []float32, o, q int, keep []int, s0, s1, s2, s3 float32, f float64) int {
	if keep == nil {
		out0[o], out1[o], out2[o], out3[o] = div(s0, f), div(s1, f), div(s2, f), div(s3, f)
		return q
	}
	for keep[q] == o {
		out0[q], out1[q], out2[q], out3[q] = div(s0, f), div(s1, f), div(s2, f), div(s3, f)
		q++
	}
	return q
}

// colBox filters the columns of a rows x n matrix (row-major), as rows of
// it become available. A column's running sum lives in sums[j]; walking the
// rows in order keeps each column's sequence of operations that of the
// reference while the inner loops run along memory.
//
// Step s of the filter adds input row s (while s < rows), subtracts row
// s-w (once the window is full) and, from step p1 on, writes output row
// s-p1: rows+p1 steps in all.
type colBox struct {
	ph   boxPhases
	n    int
	sums []float32
	step int
}

// emitted is the number of output rows written so far.
func (c *colBox) emitted() int { return max(c.step-c.ph.p1, 0) }

// run takes as many steps as the first avail rows of in allow, writing output
// rows to out: all of them, or if keepRows is not nil only those it lists
// (ascending, repeats allowed, ending with the sentinel rows), packed.
func (c *colBox) run(in, out []float32, rows, avail int, keepRows []int) {
	ph, n := c.ph, c.n
	w := ph.p1 + ph.p2
	total := rows + ph.p1
	q := 0
	if keepRows != nil {
		for keepRows[q] < c.emitted() {
			q++
		}
	}
	for ; c.step < total; c.step++ {
		s := c.step
		if s < rows && s >= avail {
			return
		}
		o := s - ph.p1
		var inv float64
		switch {
		case s < ph.p1:
			addRow(c.sums, in[s*n:s*n+n])
			continue
		case s < w:
			addRow(c.sums, in[s*n:s*n+n])
			inv = recip(s - ph.p1 + ph.half)
		case s < rows:
			if keepRows == nil {
				slideRow(c.sums, in[s*n:s*n+n], in[(s-w)*n:(s-w)*n+n], out[o*n:o*n+n], recip(w))
				continue
			}
			slideRow(c.sums, in[s*n:s*n+n], in[(s-w)*n:(s-w)*n+n], nil, 0)
			inv = recip(w)
		default:
			subRow(c.sums, in[(s-w)*n:(s-w)*n+n])
			inv = recip(w - (s - rows) - 1)
		}
		if keepRows == nil {
			divRow(c.sums, out[o*n:o*n+n], inv)
			continue
		}
		for ; keepRows[q] == o; q++ {
			divRow(c.sums, out[q*n:q*n+n], inv)
		}
	}
}

func addRow(sums, src []float32) {
	src = src[:len(sums)]
	for j, v := range src {
		sums[j] += v
	}
}

func subRow(sums, src []float32) {
	src = src[:len(sums)]
	for j, v := range src {
		sums[j] -= v
	}
}

// slideRow adds row add and subtracts row sub, in that order, and if dst is
// not nil writes the new averages there: all in one sweep.
func slideRow(sums, add, sub, dst []float32, inv float64) {
	add, sub = add[:len(sums)], sub[:len(sums)]
	if dst == nil {
		for j := range sums {
			s := sums[j] + add[j]
			s -= sub[j]
			sums[j] = s
		}
		return
	}
	dst = dst[:len(sums)]
	for j := range sums {
		s := sums[j] + add[j]
		s -= sub[j]
		sums[j] = s
		dst[j] = div(s, inv)
	}
}

func divRow(sums, dst []float32, inv float64) {
	dst = dst[:len(sums)]
	for j, s := range sums {
		dst[j] = div(s, inv)
	}
}

// samplePoints lists the 64 indices the reference's decimation keeps out of
// n, the centres of 64 equal cells, followed by the sentinel n.
func samplePoints(n int, dst *[65]int) []int {
	for i := range 64 {
		dst[i] = int((float64(i) + 0.5) * float64(n) / 64)
	}
	dst[64] = n
	return dst[:]
}
