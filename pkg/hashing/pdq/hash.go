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
