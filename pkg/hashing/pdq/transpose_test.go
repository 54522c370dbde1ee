package pdq

import (
	"math/rand/v2"
	"testing"
)

// The transposed hash of a square picture is the hash of the picture
// mirrored about its main diagonal, bit for bit, and it is the flipplus
// variant of ImageDihedralRegions; transposing twice is the identity.
func TestTransposeOfSquarePicture(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	h := NewHasher()
	for _, side := range []int{64, 255, 256, 384, 512} {
		img := scene(rng, side, side)
		whole := h.Image(img)
		got := Transpose(whole.Hash)
		if want := h.Image(transform(img, 6)).Hash; got != want {
			t.Errorf("%d px: Transpose is %d bits from the hash of the transposed picture", side, Distance(got, want))
		}
		dih, _ := h.ImageDihedralRegions(img, nil)
		if got != dih[6].Hash {
			t.Errorf("%d px: Transpose is %d bits from the flipplus variant", side, Distance(got, dih[6].Hash))
		}
		if Transpose(got) != whole.Hash {
			t.Errorf("%d px: transposing twice changed the hash", side)
		}
		// A rotation is the transpose of a mirror image (rot90: mirrored
		// left to right, then transposed): what matching a rotated video
		// frame relies on.
		if r, m := h.Image(transform(img, 1)).Hash, Transpose(h.Image(transform(img, 5)).Hash); Distance(r, m) != 0 {
			t.Errorf("%d px: rot90 is %d bits from the transposed flipy", side, Distance(r, m))
		}
	}
}
