package index

import (
	"math/bits"
	"slices"
	"sync"
)

const (
	subBits    = 16
	numBuckets = 1 << subBits

	// DefaultRadius256 is the PDQ match radius used by Meta's reference
	// matcher: 31 bits of 256.
	DefaultRadius256 = 31
	// DefaultRadius64 is the usual pHash/dHash match radius: 10 bits of 64.
	DefaultRadius64 = 10
)

// searchMode forces one search strategy; only tests set it, to run the
// multi-index path on inputs where the automatic choice would scan.
type searchMode uint8

const (
	modeAuto searchMode = iota
	modeMIH
	modeLinear
)

// Below this many live hashes a linear scan beats probing: the probes touch
// hundreds of scattered bucket headers while the scan reads a few KiB.
const linearBelow = 2048

// bitset marks the live ids.
type bitset []uint64

func (s bitset) has(id uint32) bool {
	w := int(id >> 6)
	return w < len(s) && s[w]&(1<<(id&63)) != 0
}

func (s *bitset) set(id uint32) {
	w := int(id >> 6)
	if w >= len(*s) {
		*s = append(*s, make([]uint64, w+1-len(*s))...)
	}
	(*s)[w] |= 1 << (id & 63)
}

func (s bitset) clear(id uint32) {
	if w := int(id >> 6); w < len(s) {
		s[w] &^= 1 << (id & 63)
	}
}

// growLen returns s extended to length n (n > len(s)), keeping Go's growth
// for the capacity so that appending ids one by one stays amortised O(1).
func growLen[T any](s []T, n int) []T {
	if n <= cap(s) {
		return s[:n]
	}
	return append(s[:cap(s)], make([]T, n-cap(s))...)[:n]
}

// masksOfWeight returns the 16-bit masks with exactly w bits set.
func masksOfWeight(w int) []uint16 {
	all, ends := sortedMasks()
	if w == 0 {
		return all[:1]
	}
	return all[ends[w-1]:ends[w]]
}

// probeMasks returns every 16-bit mask of at most r set bits, lightest
// first: XORed with a query sub-string they enumerate the buckets within
// per-table radius r.
func probeMasks(r int) []uint16 {
	all, ends := sortedMasks()
	r = min(max(r, 0), subBits)
	return all[:ends[r]]
}

var sortedMasks = sync.OnceValues(func() ([]uint16, [subBits + 1]int) {
	all := make([]uint16, numBuckets)
	for i := range all {
		all[i] = uint16(i)
	}
	slices.SortStableFunc(all, func(a, b uint16) int {
		return bits.OnesCount16(a) - bits.OnesCount16(b)
	})
	var ends [subBits + 1]int
	for _, m := range all {
		ends[bits.OnesCount16(m)]++
	}
	for i := 1; i <= subBits; i++ {
		ends[i] += ends[i-1]
	}
	return all, ends
})
