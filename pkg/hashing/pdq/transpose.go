package pdq

// Transpose returns the hash of the picture mirrored about its main
// diagonal (the dihedral variant "flipplus"), from the hash of a square
// picture alone: transposing a square picture transposes its DCT, which
// keeps the median, so bit 16i+j of the result is bit 16j+i of h. It is
// exact for a square picture (both sides blurred and sampled alike); for
// any other it is only the reference's transposed DCT. Video frames are
// hashed square (package videohash), so a rotated frame is matched with
// the transpose of a mirrored frame's hash, which costs no pixels.
func Transpose(h Hash) Hash {
	var out Hash
	for i := range 16 {
		for j := range 16 {
			if h.bit(16*i + j) {
				out.setBit(16*j + i)
			}
		}
	}
	return out
}
