package index

import (
	"encoding/binary"
	"math/bits"
)

const tables64 = 64 / subBits

// MIH64 is a multi-index hash over 64-bit hashes (pHash, dHash): 4 tables
// keyed by 16-bit sub-strings. The zero value is not usable; call NewMIH64.
type MIH64 struct {
	mih64
}

// mih64 names the embedded core (see mih256).
type mih64 = mih[hash64]

// NewMIH64 returns an empty index.
func NewMIH64() *MIH64 {
	return &MIH64{}
}

type hash64 uint64

// key64 is sub-string t: bits 16t to 16t+15.
func key64(h uint64, t int) uint16 {
	return uint16(h >> (uint(t) * subBits))
}

func (h hash64) addTo(tabs []arenaTable, id uint32) {
	for t := range tabs {
		tabs[t].add(key64(uint64(h), t), id, 0)
	}
}

func (h hash64) removeFrom(tabs []arenaTable, id uint32) {
	for t := range tabs {
		tabs[t].remove(key64(uint64(h), t), id, 0)
	}
}

func (hash64) chunks(hs []hash64, t int, ks []uint32) {
	for i := range ks {
		ks[i] = uint32(key64(uint64(hs[i]), t))
	}
}

func (hash64) appendHashes(b []byte, hs []hash64) []byte {
	for _, h := range hs {
		b = binary.LittleEndian.AppendUint64(b, uint64(h))
	}
	return b
}

func (hash64) decodeHashes(hs []hash64, b []byte) {
	for i := range hs {
		hs[i] = hash64(binary.LittleEndian.Uint64(b[i*8:]))
	}
}

func (hash64) layout() layout { return layout{bits: 64, tables: tables64} }

// Reserve makes room for ids below n.
func (x *MIH64) Reserve(n int) { x.reserve(n) }

// Insert adds hash h under id. An id holds one hash: inserting an id that is
// present replaces its hash.
func (x *MIH64) Insert(id uint32, h uint64) { x.put(id, hash64(h)) }

// InsertBatch inserts ids[i] with hashes[i] for every i; see
// MIH256.InsertBatch.
func (x *MIH64) InsertBatch(ids []uint32, hashes []uint64) error {
	return x.putBatch(ids, len(hashes), func(i int) hash64 { return hash64(hashes[i]) })
}

// Delete removes id and reports whether it was present.
func (x *MIH64) Delete(id uint32) bool { return x.remove(id) }

// Len returns the number of ids in the index.
func (x *MIH64) Len() int { return x.count() }

// Get returns the hash stored under id.
func (x *MIH64) Get(id uint32) (uint64, bool) {
	h, ok := x.get(id)
	return uint64(h), ok
}

// Compact packs every table into one backing array per table, dropping the
// growth slack and the holes that inserts and deletes leave.
func (x *MIH64) Compact() { x.compact() }

// Search calls fn for every id whose hash is within Hamming distance radius
// of q (radius 0..64; larger is treated as 64, negative finds nothing),
// exactly once each and in no particular order, with its distance. fn
// returning false stops the search. fn runs under the index's read lock: it
// must not call the index's write methods.
func (x *MIH64) Search(q uint64, radius int, fn func(id uint32, dist int) bool) {
	if radius < 0 || fn == nil {
		return
	}
	radius = min(radius, 64)
	x.mu.RLock()
	defer x.mu.RUnlock()
	rt := radius / tables64
	// Per-table radius 4 probes 2517 of 65536 buckets in each of 4 tables
	// (15% of all entries, at random); a scan of 8-byte hashes is cheaper.
	if !x.useTables(func() bool { return rt <= 3 }) {
		x.searchLinear(q, radius, fn)
		return
	}
	x.searchMIH(q, radius, rt, fn)
}

func (x *MIH64) searchLinear(q uint64, radius int, fn func(uint32, int) bool) {
	for id, h := range x.hs {
		if d := bits.OnesCount64(uint64(h) ^ q); d <= radius && x.live.has(uint32(id)) {
			if !fn(uint32(id), d) {
				return
			}
		}
	}
}

func (x *MIH64) searchMIH(q uint64, radius, rt int, fn func(uint32, int) bool) {
	masks := probeMasks(rt)
	hs := x.hs
	for t := range x.tabs {
		tab := &x.tabs[t]
		k := key64(q, t)
		for _, m := range masks {
			sp := tab.spans[k^m]
			for _, id := range tab.ids[sp.off : sp.off+sp.n] {
				xd := uint64(hs[id]) ^ q
				d := bits.OnesCount64(xd)
				if d > radius {
					continue
				}
				// Only the first table within rt reports an id (see MIH256).
				if t > 0 && foundBefore64(xd, t, rt) {
					continue
				}
				if !fn(id, d) {
					return
				}
			}
		}
	}
}

func foundBefore64(xd uint64, t, rt int) bool {
	for u := 0; u < t; u++ {
		if bits.OnesCount16(uint16(xd>>(uint(u)*subBits))) <= rt {
			return true
		}
	}
	return false
}
