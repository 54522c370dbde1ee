package pdq

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// plainHash is the reference algorithm written out plainly (boxAlong is the
// reference's box filter as ImageRegions uses it), every pass in
// full, in the reference's order of float32 operations: what the optimised
// pipeline (the 4-row interleave, the partial second pass, the reciprocal
// multiply, quickselect) must reproduce bit for bit.
func plainHash(luma []float32, rows, cols int) (b [256]float32, q int) {
	var a [64 * 64]float32
	if rows == 64 && cols == 64 {
		copy(a[:], luma)
	} else {
		buf1 := slices.Clone(luma)
		buf2 := make([]float32, len(luma))
		wr, wc := plainWindow(cols), plainWindow(rows)
		for range 2 {
			for i := range rows {
				boxAlong(buf1[i*cols:], buf2[i*cols:], cols, 1, wr)
			}
			for j := range cols {
				boxAlong(buf2[j:], buf1[j:], rows, cols, wc)
			}
		}
		for i := range 64 {
			ini := int((float64(i) + 0.5) * float64(rows) / 64)
			for j := range 64 {
				inj := int((float64(j) + 0.5) * float64(cols) / 64)
				a[i*64+j] = buf1[ini*cols+inj]
			}
		}
	}
	gradients := 0
	for i := range 63 {
		for j := range 64 {
			d := (a[i*64+j] - a[(i+1)*64+j]) * 100 / 255
			gradients += int(math.Abs(float64(int(d))))
		}
	}
	for i := range 64 {
		for j := range 63 {
			d := (a[i*64+j] - a[i*64+j+1]) * 100 / 255
			gradients += int(math.Abs(float64(int(d))))
		}
	}
	q = min(gradients/90, 100)
	var d [16][64]float32
	scale := float32(math.Sqrt(2.0 / 64.0))
	for i := range 16 {
		for j := range 64 {
			d[i][j] = float32(float64(scale) * math.Cos(math.Pi/2/64*float64(i+1)*float64(2*j+1)))
		}
	}
	var t [16][64]float32
	for i := range 16 {
		for j := range 64 {
			var s float32
			for k := range 64 {
				s += float32(d[i][k] * a[k*64+j])
			}
			t[i][j] = s
		}
	}
	for i := range 16 {
		for j := range 16 {
			var s float32
			for k := range 64 {
				s += float32(t[i][k] * d[j][k])
			}
			b[i*16+j] = s
		}
	}
	return b, q
}

func plainWindow(n int) int { return (n + 127) / 128 }

// torben is Torben Mogensen's median selection, which the reference uses;
// for 256 values it returns the 128th smallest.
func torben(m []float32) float32 {
	lo, hi := slices.Min(m), slices.Max(m)
	half := (len(m) + 1) / 2
	for {
		guess := (lo + hi) / 2
		less, greater, equal := 0, 0, 0
		maxlt, mingt := lo, hi
		for _, v := range m {
			switch {
			case v < guess:
				less++
				maxlt = max(maxlt, v)
			case v > guess:
				greater++
				mingt = min(mingt, v)
			default:
				equal++
			}
		}
		if less <= half && greater <= half {
			switch {
			case less >= half:
				return maxlt
			case less+equal >= half:
				return guess
			}
			return mingt
		}
		if less > greater {
			hi = maxlt
		} else {
			lo = mingt
		}
	}
}

func plainBits(b *[256]float32) Hash {
	med := torben(b[:])
	var h Hash
	for k, v := range b {
		if v > med {
			h.setBit(k)
		}
	}
	return h
}

// randomLuma is a smooth random picture (a few gradients and blobs) plus
// noise, as luma.
func randomLuma(rng *rand.Rand, rows, cols int) []float32 {
	l := make([]float32, rows*cols)
	fx, fy := rng.Float64()*0.1, rng.Float64()*0.1
	for i := range rows {
		for j := range cols {
			v := 128 + 60*math.Sin(float64(j)*fx+float64(i)*fy) + 40*math.Cos(float64(i*j)*0.001)
			l[i*cols+j] = float32(v + rng.NormFloat64()*10)
		}
	}
	return l
}

// TestPipelineMatchesPlainReference checks the optimised filter, DCT and
// bits against the plain reference algorithm, bit for bit, over sizes that
// exercise every window width, the 4-row interleave's tail, pictures
// narrower than 64 and the 64x64 special case.
func TestPipelineMatchesPlainReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	sizes := [][2]int{{5, 5}, {7, 300}, {300, 7}, {40, 63}, {64, 64}, {65, 64}, {127, 129}, {128, 128},
		{257, 383}, {384, 512}, {512, 384}, {511, 509}, {321, 512}, {512, 13}}
	h := NewHasher()
	for _, sz := range sizes {
		rows, cols := sz[0], sz[1]
		luma := randomLuma(rng, rows, cols)
		wantB, wantQ := plainHash(luma, rows, cols)
		want := plainBits(&wantB)

		h.luma = append(h.luma[:0], luma...)
		h.downsample(rows, cols, true)
		dct64To16(&h.a, &h.t, &h.b)
		got, gotQ := toBits(&h.b, &h.sel), quality(&h.a)
		if h.b != wantB {
			t.Errorf("%dx%d: DCT differs from the plain reference", cols, rows)
		}
		if got != want || gotQ != wantQ {
			t.Errorf("%dx%d: got %v q%d, plain reference %v q%d", cols, rows, got, gotQ, want, wantQ)
		}
	}
}

// TestSelectKthIsTorbenMedian checks the median against Torben's selection,
// with ties and negative values.
func TestSelectKthIsTorbenMedian(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for n := range 500 {
		var v [256]float32
		for i := range v {
			switch n % 3 {
			case 0:
				v[i] = float32(rng.NormFloat64() * 100)
			case 1:
				v[i] = float32(rng.IntN(5) - 2) // many ties
			default:
				v[i] = float32(rng.IntN(1000))
			}
		}
		want := torben(v[:])
		sorted := slices.Clone(v[:])
		slices.Sort(sorted)
		if want != sorted[127] {
			t.Fatalf("torben %v != sorted[127] %v", want, sorted[127])
		}
		scratch := v
		if got := selectKth(scratch[:], 127); got != want {
			t.Fatalf("case %d: selectKth = %v, Torben median %v", n, got, want)
		}
	}
}

// TestLumMatchesFloat64Formula checks every RGB colour against the
// luminance the reference's Python binding computes: numpy's float64
// r*0.299 + g*0.587 + b*0.114, rounded to float32.
func TestLumMatchesFloat64Formula(t *testing.T) {
	bad := 0
	for r := range 256 {
		for g := range 256 {
			for b := range 256 {
				want := float32(float64(r)*0.299 + float64(g)*0.587 + float64(b)*0.114)
				if got := lum(uint8(r), uint8(g), uint8(b)); got != want {
					if bad++; bad < 5 {
						t.Errorf("lum(%d,%d,%d) = %v, want %v", r, g, b, got, want)
					}
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d colours differ", bad)
	}
}

// TestLumYCbCrMatchesStdlib checks every YCbCr colour against
// color.YCbCrToRGB followed by lum.
func TestLumYCbCrMatchesStdlib(t *testing.T) {
	bad := 0
	for y := range 256 {
		for cb := range 256 {
			for cr := range 256 {
				want := lum(color.YCbCrToRGB(uint8(y), uint8(cb), uint8(cr)))
				if got := lumYCbCr(uint8(y), uint8(cb), uint8(cr)); got != want {
					if bad++; bad < 5 {
						t.Errorf("lumYCbCr(%d,%d,%d) = %v, want %v", y, cb, cr, got, want)
					}
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d colours differ", bad)
	}
}

// TestDivExact checks that multiplying by the float64 reciprocal gives the
// float32 quotient the reference computes, for the window sizes that occur
// (up to 8 for a 1024-pixel side; far more are checked) and sums of every
// magnitude a luma window can reach.
func TestDivExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for w := 1; w <= 64; w++ {
		inv := recip(w)
		for range 200_000 {
			s := float32(rng.Float64() * 255 * float64(w))
			if rng.IntN(4) == 0 {
				s = math.Float32frombits(rng.Uint32() & 0x7fffffff) // any finite magnitude
				if math.IsInf(float64(s), 0) || math.IsNaN(float64(s)) || s < 1e-30 {
					continue
				}
			}
			if got, want := div(s, inv), s/float32(w); got != want {
				t.Fatalf("div(%v, 1/%d) = %v, want %v", s, w, got, want)
			}
		}
	}
}

func TestThumbSizeMatchesPIL(t *testing.T) {
	// Sizes PIL 13's Image.thumbnail((512, 512)) gives.
	cases := []struct{ w, h, tw, th int }{
		{1600, 1004, 512, 321}, {1004, 1600, 321, 512}, {1432, 812, 512, 290}, {513, 10, 512, 10},
		{10, 5000, 1, 512}, {700, 700, 512, 512}, {1000, 333, 512, 170}, {1155, 866, 512, 384},
		{578, 433, 512, 384}, {2000, 1999, 512, 512}, {5000, 7, 512, 1}, {640, 480, 512, 384},
		{3000, 2000, 512, 341}, {1001, 999, 512, 511}, {1023, 511, 512, 256}, {512, 512, 512, 512},
		{300, 20, 300, 20},
	}
	for _, c := range cases {
		if tw, th := thumbSize(c.w, c.h); tw != c.tw || th != c.th {
			t.Errorf("thumbSize(%d, %d) = %dx%d, PIL gives %dx%d", c.w, c.h, tw, th, c.tw, c.th)
		}
	}
}

// hidden hides an image's concrete type, so Image takes the generic path.
type hidden struct{ image.Image }

// TestFastPathsMatchGeneric checks that every fast path reads the same
// luminance as the generic color.Color path, with bounds not at the
// origin, translucent pixels and every YCbCr subsampling.
func TestFastPathsMatchGeneric(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	// NRGBA is compared opaque: the generic path sees colours only
	// premultiplied and cannot give back the exact stored colour of a
	// translucent pixel. RGBA is compared with translucent pixels.
	base := image.NewNRGBA(image.Rect(-3, 5, 197, 155))
	for i := range base.Pix {
		base.Pix[i] = uint8(rng.IntN(256))
	}
	b := base.Bounds()
	rgba := image.NewRGBA(b)
	opaque := image.NewNRGBA(b)
	gray := image.NewGray(b)
	pal := image.NewPaletted(b, nil)
	for range 200 {
		pal.Palette = append(pal.Palette, color.NRGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256))})
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := base.NRGBAAt(x, y)
			rgba.Set(x, y, c)
			gray.Set(x, y, c)
			c.A = 255
			opaque.SetNRGBA(x, y, c)
			pal.SetColorIndex(x, y, uint8(rng.IntN(len(pal.Palette))))
		}
	}
	imgs := map[string]image.Image{"NRGBA": opaque, "RGBA": rgba, "Gray": gray, "Paletted": pal}
	for _, r := range []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422,
		image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410} {
		for _, rect := range []image.Rectangle{b, image.Rect(3, 1, 203, 151)} {
			m := image.NewYCbCr(rect, r)
			for i := range m.Y {
				m.Y[i] = uint8(rng.IntN(256))
			}
			for i := range m.Cb {
				m.Cb[i], m.Cr[i] = uint8(rng.IntN(256)), uint8(rng.IntN(256))
			}
			imgs["YCbCr"+r.String()+rect.String()] = m
			imgs["YCbCr"+r.String()+rect.String()+"sub"] = m.SubImage(image.Rect(5, 7, 150, 140))
		}
	}
	imgs["RGBAsub"] = rgba.SubImage(image.Rect(0, 10, 100, 90))
	var fast, slow source
	for name, img := range imgs {
		fast.reset(img)
		slow.reset(hidden{img})
		w, ht := fast.b.Dx(), fast.b.Dy()
		got, want := make([]float32, w), make([]float32, w)
		for y := range ht {
			fast.row(y, got)
			slow.row(y, want)
			if !slices.Equal(got, want) {
				t.Errorf("%s: row %d differs from the generic path", name, y)
				break
			}
		}
		if Image(img) != Image(hidden{img}) {
			t.Errorf("%s: hash differs from the generic path", name)
		}
	}
}

// TestPalettedIndexPastPalette checks that a malformed paletted image (an
// index past its palette, which makes image.Paletted.At panic) hashes with
// such pixels black instead of panicking.
func TestPalettedIndexPastPalette(t *testing.T) {
	pal := image.NewPaletted(image.Rect(0, 0, 100, 80), color.Palette{color.White, color.Gray{100}})
	black := image.NewGray(pal.Rect)
	for i := range pal.Pix {
		switch i % 7 {
		case 0:
			pal.Pix[i] = 1
			black.Pix[i] = 100
		case 1:
			black.Pix[i] = 255
		default:
			pal.Pix[i] = 200 // past the palette
		}
	}
	if got, want := Image(pal), Image(black); got != want {
		t.Errorf("got %v, want %v (the same picture with past-palette pixels black)", got.Hash, want.Hash)
	}
}

func TestTinyImagesHashToZero(t *testing.T) {
	for _, r := range []image.Rectangle{image.Rect(0, 0, 4, 100), image.Rect(0, 0, 100, 4), image.Rect(0, 0, 0, 0),
		image.Rect(0, 0, 2000, 3)} {
		img := image.NewGray(r)
		for i := range img.Pix {
			img.Pix[i] = uint8(i * 37)
		}
		if got := Image(img); got != (Result{}) {
			t.Errorf("%v: got %v q%d, want the zero hash, quality 0", r, got.Hash, got.Quality)
		}
		for k, got := range ImageDihedral(img) {
			if got != (Result{}) {
				t.Errorf("%v: dihedral %d: got %v, want the zero hash", r, k, got.Hash)
			}
		}
	}
	// 5x5 is the smallest hashable picture.
	img := image.NewGray(image.Rect(0, 0, 5, 5))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 37)
	}
	if Image(img).Hash.IsZero() {
		t.Error("5x5: got the zero hash")
	}
}

// TestHasherReuse checks that a Hasher's leftovers from a larger picture do
// not leak into the next one.
func TestHasherReuse(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	mk := func(w, h int) *image.Gray {
		img := image.NewGray(image.Rect(0, 0, w, h))
		for i := range img.Pix {
			img.Pix[i] = uint8(rng.IntN(256))
		}
		return img
	}
	imgs := []*image.Gray{mk(900, 700), mk(40, 30), mk(512, 384), mk(64, 64), mk(2100, 90), mk(33, 800)}
	h := NewHasher()
	for round := range 2 {
		for i, img := range imgs {
			if got, want := h.Image(img), NewHasher().Image(img); got != want {
				t.Errorf("round %d, image %d: reused Hasher gives %v, fresh one %v", round, i, got.Hash, want.Hash)
			}
		}
	}
}
