package pdq_test

import (
	"image"
	"image/color"
	"math/rand/v2"
	"testing"

	"golang.org/x/image/draw"

	"github.com/takedown-pipeline/takedown/pkg/demo"
	"github.com/takedown-pipeline/takedown/pkg/hashing/pdq"
)

func TestImageRegions(t *testing.T) {
	for _, size := range []image.Point{{400, 300}, {1024, 768}, {300, 700}} {
		img := demo.Scene(uint64(size.X), size.X, size.Y)
		whole := pdq.Image(img)
		crop := image.Rect(size.X/10, size.Y/20, size.X*9/10, size.Y*17/20)
		cropped := image.NewRGBA(image.Rect(0, 0, crop.Dx(), crop.Dy()))
		draw.Draw(cropped, cropped.Rect, img, crop.Min, draw.Src)
		got := pdq.ImageRegions(img, []pdq.Box{
			{0, 0, 1, 1},
			{0.1, 0.05, 0.9, 0.85},
			{0.5, 0.5, 0.5001, 0.5001}, // too small to hash
		})
		// The whole picture as a region is the plain hash, bit for bit:
		// same blur, same sampling.
		if got[0] != whole {
			t.Errorf("%v: whole-picture region %v q%d, plain hash %v q%d", size, got[0].Hash, got[0].Quality, whole.Hash, whole.Quality)
		}
		// A region stands for the picture cropped to it, within the match
		// threshold: the blur window follows the whole picture's size, not
		// the crop's, which is most of the difference on small pictures.
		if d := pdq.Distance(got[1].Hash, pdq.Image(cropped).Hash); d > 31 {
			t.Errorf("%v: region vs cropped picture: distance %d, want <= 31", size, d)
		}
		if d := pdq.Distance(got[1].Hash, whole.Hash); d < 40 {
			t.Errorf("%v: region vs whole picture: distance %d; a region should hash differently", size, d)
		}
		// The dihedral hashes are those of the picture turned and mirrored
		// (up to the order of float operations of a transposed blur).
		wholeD, _ := pdq.ImageDihedralRegions(img, nil)
		if wholeD[0] != whole {
			t.Errorf("%v: whole-picture hash %v, plain %v", size, wholeD[0].Hash, whole.Hash)
		}
		for k, v := range pdq.DihedralVariants {
			if d := pdq.Distance(wholeD[k].Hash, pdq.Image(transform(img, v)).Hash); d > 4 {
				t.Errorf("%v: %s hash is %d bits from the hash of the %s picture, want <= 4", size, v, d, v)
			}
		}
		if got[2] != (pdq.Result{}) {
			t.Errorf("%v: a sub-pixel region hashed as %v", size, got[2])
		}
	}
}

// transform turns or mirrors img as the dihedral variant v names
// (rotations counter-clockwise; flipx top to bottom, flipy left to right).
func transform(img *image.RGBA, v string) *image.RGBA {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	// src maps a pixel of the output (of size ow x oh) to one of img.
	var (
		ow, oh = w, h
		src    func(u, v int) (int, int)
	)
	switch v {
	case "":
		src = func(u, v int) (int, int) { return u, v }
	case "flipy":
		src = func(u, v int) (int, int) { return w - 1 - u, v }
	case "flipx":
		src = func(u, v int) (int, int) { return u, h - 1 - v }
	case "rot180":
		src = func(u, v int) (int, int) { return w - 1 - u, h - 1 - v }
	case "flipplus":
		ow, oh = h, w
		src = func(u, v int) (int, int) { return v, u }
	case "rot90":
		ow, oh = h, w
		src = func(u, v int) (int, int) { return w - 1 - v, u }
	case "rot270":
		ow, oh = h, w
		src = func(u, v int) (int, int) { return v, h - 1 - u }
	case "flipminus":
		ow, oh = h, w
		src = func(u, v int) (int, int) { return w - 1 - v, h - 1 - u }
	}
	out := image.NewRGBA(image.Rect(0, 0, ow, oh))
	for y := range oh {
		for x := range ow {
			sx, sy := src(x, y)
			copy(out.Pix[out.PixOffset(x, y):][:4], img.Pix[img.PixOffset(sx, sy):][:4])
		}
	}
	return out
}

func BenchmarkImageRegions(b *testing.B) {
	img := demo.Scene(1, 512, 384)
	boxes := []pdq.Box{{0, 0, 1, 0.8}, {0, 0.2, 1, 1}, {0, 0, 0.75, 1}, {0.25, 0, 1, 1}}
	for b.Loop() {
		pdq.ImageRegions(img, boxes)
	}
}

// Fine detail (text, brickwork) shows a one-pixel shift of the 64 sample
// points: the dihedral hashes of such pictures must still be those of the
// picture mirrored and turned, at sizes whose sample points are not
// symmetric (384 = 64*6) as well as at those that are.
func TestDihedralOfFineDetail(t *testing.T) {
	for _, size := range []image.Point{{384, 191}, {512, 384}, {320, 200}, {450, 333}} {
		img := textLike(uint64(size.X*size.Y), size.X, size.Y)
		whole, _ := pdq.ImageDihedralRegions(img, nil)
		for k, v := range pdq.DihedralVariants {
			if d := pdq.Distance(whole[k].Hash, pdq.Image(transform(img, v)).Hash); d > 4 {
				t.Errorf("%v: %s hash is %d bits from the hash of the %s picture, want <= 4", size, v, d, v)
			}
		}
	}
}

// textLike draws dark word-sized blocks in lines on a light page.
func textLike(seed uint64, w, h int) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, 7))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Rect, image.NewUniform(color.RGBA{240, 240, 235, 255}), image.Point{}, draw.Src)
	for y := 4; y+6 < h; y += 9 {
		for x := 3; x < w-3; {
			n := 2 + r.IntN(12)
			draw.Draw(img, image.Rect(x, y, min(x+n, w-3), y+6), image.NewUniform(color.RGBA{20, 20, 30, 255}), image.Point{}, draw.Src)
			x += n + 2 + r.IntN(3)
		}
	}
	return img
}
