package pdq

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"testing"
)

// transform returns src rotated or mirrored as DihedralVariants[k] names
// it, written pixel by pixel: out(x, y) = src(sx, sy).
func transform(src *image.RGBA, k int) *image.RGBA {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	ow, oh := w, h
	if dihedrals[k].transpose {
		ow, oh = h, w
	}
	out := image.NewRGBA(image.Rect(0, 0, ow, oh))
	for y := range oh {
		for x := range ow {
			var sx, sy int
			switch DihedralVariants[k] {
			case "":
				sx, sy = x, y
			case "rot90": // counter-clockwise: the right edge comes to the top
				sx, sy = w-1-y, x
			case "rot180":
				sx, sy = w-1-x, h-1-y
			case "rot270": // clockwise: the left edge comes to the top
				sx, sy = y, h-1-x
			case "flipx": // top to bottom
				sx, sy = x, h-1-y
			case "flipy": // left to right
				sx, sy = w-1-x, y
			case "flipplus": // about the main diagonal
				sx, sy = y, x
			case "flipminus": // about the anti-diagonal
				sx, sy = w-1-y, h-1-x
			}
			si := src.PixOffset(src.Rect.Min.X+sx, src.Rect.Min.Y+sy)
			di := out.PixOffset(x, y)
			copy(out.Pix[di:di+4], src.Pix[si:si+4])
		}
	}
	return out
}

// scene draws a w x h picture of soft shapes over a gradient, with some
// noise and thin strokes: structure at every scale the hash sees.
func scene(rng *rand.Rand, w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	type blob struct{ x, y, r, cr, cg, cb float64 }
	blobs := make([]blob, 3+rng.IntN(6))
	for i := range blobs {
		blobs[i] = blob{rng.Float64() * float64(w), rng.Float64() * float64(h), (0.05 + 0.3*rng.Float64()) * float64(min(w, h)),
			rng.Float64() * 255, rng.Float64() * 255, rng.Float64() * 255}
	}
	gx, gy := rng.Float64()*2-1, rng.Float64()*2-1
	stroke := 2 + rng.IntN(6)
	for y := range h {
		for x := range w {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			r := 100 + 80*gx*fx + 60*gy*fy
			g, b := r*0.9, r*1.1
			for _, bl := range blobs {
				d := math.Hypot(float64(x)-bl.x, float64(y)-bl.y) / bl.r
				if d < 1 {
					a := 1 - d*d
					r, g, b = r*(1-a)+bl.cr*a, g*(1-a)+bl.cg*a, b*(1-a)+bl.cb*a
				}
			}
			if (x/stroke+y/(3*stroke))%11 == 0 {
				r, g, b = r*0.3, g*0.3, b*0.3
			}
			n := rng.NormFloat64() * 6
			img.SetRGBA(x, y, color.RGBA{clamp8(r + n), clamp8(g + n), clamp8(b + n), 255})
		}
	}
	return img
}

func clamp8(v float64) uint8 { return uint8(max(0, min(255, math.Round(v)))) }

// TestDihedralMatchesTransformedPixels checks that the k-th dihedral hash,
// derived from the picture's DCT, is the hash of the picture actually
// rotated or mirrored that way.
//
// It is that to within rounding only where the blur is symmetric. The box
// filter's window is ceil(side/128) pixels; an even window reaches one pixel
// further right (down) than left (up), so reversing that axis moves the
// blurred picture by a pixel per pass against the 64 sampling points. That is
// the reference's own behaviour: its C++ (pdqhash.compute_dihedral) on the
// reference's bridge photo shrunk to 512x321 (window 4 along x) is 16-18
// bits from its hash of the photo mirrored left to right, and 0 bits for the
// transforms that keep the x axis. So pictures with odd windows on both axes
// (sides up to 128, or 257-384, and not multiples of 128, where the sampling
// points are symmetric) must match within a few bits; for others the right
// transform must be the nearest by far (other transforms are ~128 bits off),
// the distance bounded loosely: these synthetic scenes, with their hard thin
// strokes, move more than photos do.
func TestDihedralMatchesTransformedPixels(t *testing.T) {
	const (
		maxSymmetric = 4  // measured: 0 bits
		maxEven      = 64 // measured: at most 58 bits
	)
	rng := rand.New(rand.NewPCG(11, 12))
	sizes := [][2]int{{300, 270}, {270, 300}, {100, 120}, {383, 257}, {333, 97}, {99, 99},
		{512, 384}, {200, 150}, {1000, 700}, {700, 1000}}
	worst := map[bool]int{}
	for _, sz := range sizes {
		img := scene(rng, sz[0], sz[1])
		tw, th := thumbSize(sz[0], sz[1])
		symmetric := jaroszWindow(tw)%2 == 1 && jaroszWindow(th)%2 == 1 && tw%128 != 0 && th%128 != 0
		bound := maxEven
		if symmetric {
			bound = maxSymmetric
		}
		dih := ImageDihedral(img)
		if dih[0] != Image(img) {
			t.Errorf("%v: ImageDihedral[0] != Image", sz)
		}
		for k := range dih {
			got := Image(transform(img, k))
			d := Distance(got.Hash, dih[k].Hash)
			worst[symmetric] = max(worst[symmetric], d)
			if d > bound {
				t.Errorf("%v %q: hash of the transformed pixels is %d bits from the dihedral hash (allowed %d)",
					sz, DihedralVariants[k], d, bound)
			}
			for j := range dih {
				if j != k && Distance(got.Hash, dih[j].Hash) <= d {
					t.Errorf("%v %q: dihedral %q is as close (%d bits) as the right one (%d)",
						sz, DihedralVariants[k], DihedralVariants[j], Distance(got.Hash, dih[j].Hash), d)
				}
			}
		}
	}
	t.Logf("largest distance: %d bits with symmetric windows, %d with an even window", worst[true], worst[false])
}
