package pdq

import "math"

// dctMatrix is the 16x64 matrix D of DCT-II basis rows 1..16 (the DC row 0
// is left out), row-major: D[i][j] = sqrt(2/64) * cos(pi/128 * (i+1) * (2j+1)).
// It is rounded the way the reference's C++ rounds it (a float scale factor
// times a double cosine, stored as float), so that a hash of the same luma
// buffer comes out bit for bit the same.
var dctMatrix = func() (d [16 * 64]float32) {
	scale := float64(float32(math.Sqrt(2.0 / 64.0)))
	for i := range 16 {
		for j := range 64 {
			d[i*64+j] = float32(scale * math.Cos(math.Pi/2.0/64.0*float64(i+1)*float64(2*j+1)))
		}
	}
	return d
}()

// dct64To16 computes B = D A D^T for the 64x64 image A, through T = D A.
// Each sum runs over k in ascending order in float32 like the reference's,
// and every product is rounded before it is added (the explicit float32
// conversions forbid the compiler to fuse them into FMAs, which the
// reference does not use either).
func dct64To16(a *[64 * 64]float32, t *[16 * 64]float32, b *[16 * 16]float32) {
	for i := range 16 {
		ti := t[i*64 : i*64+64 : i*64+64]
		clear(ti)
		di := dctMatrix[i*64 : i*64+64 : i*64+64]
		for k := range 64 {
			d := di[k]
			ak := a[k*64 : k*64+64 : k*64+64]
			for j := range ti {
				ti[j] += float32(d * ak[j])
			}
		}
	}
	for i := range 16 {
		ti := t[i*64 : i*64+64 : i*64+64]
		// Four dot products at a time: their sums are independent, so the
		// processor overlaps them; each one keeps the reference's order.
		for j := 0; j < 16; j += 4 {
			d0 := dctMatrix[(j+0)*64 : (j+0)*64+64 : (j+0)*64+64]
			d1 := dctMatrix[(j+1)*64 : (j+1)*64+64 : (j+1)*64+64]
			d2 := dctMatrix[(j+2)*64 : (j+2)*64+64 : (j+2)*64+64]
			d3 := dctMatrix[(j+3)*64 : (j+3)*64+64 : (j+3)*64+64]
			var s0, s1, s2, s3 float32
			for k, v := range ti {
				s0 += float32(v * d0[k])
				s1 += float32(v * d1[k])
				s2 += float32(v * d2[k])
				s3 += float32(v * d3[k])
			}
			b[i*16+j], b[i*16+j+1], b[i*16+j+2], b[i*16+j+3] = s0, s1, s2, s3
		}
	}
}

// quality is the reference's image-domain quality metric: the sum of the
// significant luma gradients between neighbours of the 64x64 image, scaled
// to 0..100. Flat, blank or nearly blank pictures score low; reference
// practice is not to trust hashes of quality below 50.
func quality(a *[64 * 64]float32) int {
	sum := 0
	for i := range 63 {
		for j := range 64 {
			sum += absInt(int((a[i*64+j] - a[(i+1)*64+j]) * 100 / 255))
		}
	}
	for i := range 64 {
		for j := range 63 {
			sum += absInt(int((a[i*64+j] - a[i*64+j+1]) * 100 / 255))
		}
	}
	return min(sum/90, 100)
}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// toBits sets bit 16i+j where B[i][j] is above the median of the 256 values.
// The median is the 128th smallest value, which the reference's Torben
// selection returns; scratch receives a copy of b.
func toBits(b *[16 * 16]float32, scratch *[256]float32) Hash {
	*scratch = *b
	med := selectKth(scratch[:], 127)
	var h Hash
	for k, v := range b {
		if v > med {
			h.setBit(k)
		}
	}
	return h
}

// selectKth returns the k-th smallest (0-based) value of v, reordering v
// (Hoare's quickselect with a median-of-three pivot).
func selectKth(v []float32, k int) float32 {
	lo, hi := 0, len(v)-1
	for hi > lo {
		mid := lo + (hi-lo)/2
		// Order v[lo] <= v[mid] <= v[hi] and pivot on the middle one.
		if v[mid] < v[lo] {
			v[mid], v[lo] = v[lo], v[mid]
		}
		if v[hi] < v[lo] {
			v[hi], v[lo] = v[lo], v[hi]
		}
		if v[hi] < v[mid] {
			v[hi], v[mid] = v[mid], v[hi]
		}
		p := v[mid]
		i, j := lo, hi
		for i <= j {
			for v[i] < p {
				i++
			}
			for v[j] > p {
				j--
			}
			if i <= j {
				v[i], v[j] = v[j], v[i]
				i++
				j--
			}
		}
		// Now v[lo..j] <= p <= v[i..hi], and v[j+1..i-1] == p.
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return v[k]
		}
	}
	return v[k]
}

// A dihedral transform of the picture acts on its DCT coefficients as a
// transpose (for the four transforms that swap the axes) and a sign change of
// the odd-frequency rows or columns along each reversed axis: coefficient
// (i, j) is of frequencies (i+1, j+1), and the basis function of an odd
// frequency changes sign when its axis is reversed. B[i][j] is of vertical
// frequency i+1 and horizontal frequency j+1.
type dihedral struct {
	transpose bool
	// negate the coefficients of odd vertical (rows) or odd horizontal
	// (cols) frequency of the input matrix.
	negOddRows, negOddCols bool
}

// dihedrals[k] turns the DCT of a picture into the DCT of the picture
// transformed by DihedralVariants[k]; they are the reference's
// dct16OriginalTo* functions. Rotations are counter-clockwise (rot90 brings
// the right edge to the top); flipx reverses the rows (top to bottom, a
// mirror about the horizontal x axis), flipy the columns (left to right);
// flipplus is the transpose (a mirror about the main diagonal) and flipminus
// the mirror about the anti-diagonal.
var dihedrals = [8]dihedral{
	{},                                   // original
	{transpose: true, negOddCols: true},  // rot90
	{negOddRows: true, negOddCols: true}, // rot180
	{transpose: true, negOddRows: true},  // rot270
	{negOddRows: true},                   // flipx
	{negOddCols: true},                   // flipy
	{transpose: true},                    // flipplus
	{transpose: true, negOddRows: true, negOddCols: true}, // flipminus
}

// apply writes the transformed coefficients of a into out. Frequency i+1 is
// odd where the 0-based index i is even.
func (d dihedral) apply(a, out *[16 * 16]float32) {
	for i := range 16 {
		for j := range 16 {
			v := a[i*16+j]
			if (d.negOddRows && i&1 == 0) != (d.negOddCols && j&1 == 0) {
				v = -v
			}
			if d.transpose {
				out[j*16+i] = v
			} else {
				out[i*16+j] = v
			}
		}
	}
}
