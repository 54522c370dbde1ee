package pdq

import (
	"image"
	"math/rand/v2"
	"testing"
)

// TestImageFullSize checks that ImageFullSize hashes a picture larger than
// 512 pixels at its own size, bit for bit as the plain reference algorithm
// does on its full luma (what the reference vPDQ does with a video frame),
// that it equals Image on pictures Image does not shrink, and that the
// Hasher shrinks again afterwards.
func TestImageFullSize(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	h := NewHasher()
	for _, sz := range [][2]int{{720, 1280}, {1080, 1080}, {513, 700}, {300, 200}, {512, 512}} {
		rows, cols := sz[0], sz[1]
		luma := randomLuma(rng, rows, cols)
		img := image.NewGray(image.Rect(0, 0, cols, rows))
		for i, v := range luma {
			img.Pix[i] = uint8(max(0, min(255, v)))
			luma[i] = float32(img.Pix[i])
		}
		wantB, wantQ := plainHash(luma, rows, cols)
		want := plainBits(&wantB)
		got := h.ImageFullSize(img)
		if got.Hash != want || got.Quality != wantQ {
			t.Errorf("%dx%d: ImageFullSize %v q%d, plain reference at full size %v q%d", cols, rows, got.Hash, got.Quality, want, wantQ)
		}
		shrunk := h.Image(img)
		if fresh := NewHasher().Image(img); shrunk != fresh {
			t.Errorf("%dx%d: Image after ImageFullSize %v, a fresh Hasher %v", cols, rows, shrunk.Hash, fresh.Hash)
		}
		if fits := rows <= 512 && cols <= 512; fits != (shrunk == got) {
			t.Errorf("%dx%d: Image %v and ImageFullSize %v: equal %v, want %v", cols, rows, shrunk.Hash, got.Hash, shrunk == got, fits)
		}
	}
}

// A NewFullSizeHasher hashes at the picture's own size in every method, and
// keeps doing so after ImageFullSize.
func TestNewFullSizeHasher(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	h := NewFullSizeHasher()
	for _, sz := range [][2]int{{377, 600}, {1004, 1600}, {300, 200}} {
		rows, cols := sz[0], sz[1]
		luma := randomLuma(rng, rows, cols)
		img := image.NewGray(image.Rect(0, 0, cols, rows))
		for i, v := range luma {
			img.Pix[i] = uint8(max(0, min(255, v)))
			luma[i] = float32(img.Pix[i])
		}
		wantB, wantQ := plainHash(luma, rows, cols)
		want := Result{Hash: plainBits(&wantB), Quality: wantQ}
		if got := h.Image(img); got != want {
			t.Errorf("%dx%d: Image %v q%d, plain reference at full size %v q%d", cols, rows, got.Hash, got.Quality, want.Hash, want.Quality)
		}
		if got := h.ImageDihedral(img)[0]; got != want {
			t.Errorf("%dx%d: ImageDihedral[0] %v, want %v", cols, rows, got.Hash, want.Hash)
		}
		if whole, _ := h.ImageDihedralRegions(img, nil); whole[0] != want {
			t.Errorf("%dx%d: ImageDihedralRegions[0] %v, want %v", cols, rows, whole[0].Hash, want.Hash)
		}
		h.ImageFullSize(img)
		if got := h.Image(img); got != want {
			t.Errorf("%dx%d: Image after ImageFullSize %v, want %v", cols, rows, got.Hash, want.Hash)
		}
	}
}
