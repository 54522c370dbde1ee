package pdq

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
)

// Hash is a 256-bit PDQ hash. Its bytes are those of the hex form, so
// String() == hex.EncodeToString(h[:]), and the hex form is the reference's:
// the sixteen 16-bit words w[15] .. w[0], each as 4 hex digits. Read as one
// big-endian 256-bit number, bit k is the bit of DCT coefficient (k/16, k%16).
type Hash [32]byte

// ErrInvalidHash is wrapped by every error that parses a hash.
var ErrInvalidHash = errors.New("invalid PDQ hash")

// ParseHex parses 64 hex digits, in either case.
func ParseHex(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) {
		return Hash{}, fmt.Errorf("%w: %d characters %s, want 64 hex digits", ErrInvalidHash, len(s), quoteShort(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return Hash{}, fmt.Errorf("%w: %s: %v", ErrInvalidHash, quoteShort(s), err)
	}
	return h, nil
}

// quoteShort quotes s for an error message, cut short so that a huge bad
// input does not end up whole in a log line.
func quoteShort(s string) string {
	const max = 80
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}

// String returns the hash as 64 lower-case hex digits.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalBinary returns the 32 bytes of the hash.
func (h Hash) MarshalBinary() ([]byte, error) {
	b := make([]byte, len(h))
	copy(b, h[:])
	return b, nil
}

// UnmarshalBinary sets h from exactly 32 bytes.
func (h *Hash) UnmarshalBinary(b []byte) error {
	if len(b) != len(h) {
		return fmt.Errorf("%w: %d bytes, want %d", ErrInvalidHash, len(b), len(h))
	}
	copy(h[:], b)
	return nil
}

// IsZero reports whether every bit is clear. The reference gives the zero
// hash to images too small to hash; a real picture never hashes to it.
func (h Hash) IsZero() bool { return h == Hash{} }

// Distance returns the Hamming distance between a and b, 0..256. The
// reference counts a and b as a match at distance <= 31.
func Distance(a, b Hash) int {
	n := 0
	for i := 0; i < len(a); i += 8 {
		n += bits.OnesCount64(binary.BigEndian.Uint64(a[i:]) ^ binary.BigEndian.Uint64(b[i:]))
	}
	return n
}

// setBit sets bit k (0..255) of h, bit k of word w[k/16] in the reference's
// numbering.
func (h *Hash) setBit(k int) { h[31-k>>3] |= 1 << (k & 7) }

// bit reports whether bit k (0..255) of h is set.
func (h *Hash) bit(k int) bool { return h[31-k>>3]&(1<<(k&7)) != 0 }

// Banding returns how many bits of h differ from a product pattern: one in
// which every row of the 16x16 bit matrix (bit 16i+j is row i, column j) is
// one same row or its complement. The pattern's row is taken from h's own
// rows, each in turn, each other row counted at its distance to that row or
// to its complement, whichever is nearer, and the least total kept.
//
// The bits of a picture made of straight bands, or of one blob or edge on a
// plain ground (flags, pictograms, an empty margin with one border) are
// such a pattern: its DCT is nearly a product u_i v_j, and the bits are the
// signs sign(u_i) sign(v_j). Every such picture then shares most of the
// bits of every other: a tricolour flag was 4 bits from a rainbow flag, a
// plain flag's crops 0 bits from the trim of a dashed circle. Natural pictures are at 30 and more (the robustness corpus's
// least, a crop of a rocket photograph, 32; the median 84); the flags' and
// pictograms' hashes that matched each other were at 16 or less, a plain
// flag's whole-picture hash at 8, the hash of a plain band's edge at 0.
func (h Hash) Banding() int {
	var rows [16]uint16
	for i := range rows {
		rows[i] = uint16(h[30-2*i])<<8 | uint16(h[31-2*i])
	}
	best := 256
	for _, ref := range rows {
		total := 0
		for _, r := range rows {
			d := bits.OnesCount16(r ^ ref)
			total += min(d, 16-d)
		}
		best = min(best, total)
	}
	return best
}

// MaxDerivedBanding is the most Banding a derived hash may have to be used:
// any hash but a picture's or a frame's plain whole one (its mirrors and
// rotations, regions, crops, trims, insets). Those are this project's own,
// never shared, and each one more chance for an unrelated picture to
// match; a banded one matches every other picture of bands (the reasons
// and measurements are in docs/matching.md, "Robustness"). The whole
// hash is kept whatever its banding, as the reference has it.
const MaxDerivedBanding = 16

// Banded reports whether h is too near a product pattern to serve as a
// derived hash (Banding at most MaxDerivedBanding).
func (h Hash) Banded() bool { return h.Banding() <= MaxDerivedBanding }
