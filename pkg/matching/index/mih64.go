package index

import (
	"fmt"
	"math/bits"
	"sync"
)

const tables64 = 64 / subBits

// MIH64 is a multi-index hash over 64-bit hashes (pHash, dHash): 4 tables
// keyed by 16-bit sub-strings. The zero value is not usable; call NewMIH64.
type MIH64 struct {
	mu   sync.RWMutex
	hs   []uint64 // by id
	live bitset
	n    int
	tabs []arenaTable // nil until the index holds linearBelow hashes
	mode searchMode
}

// NewMIH64 returns an empty index.
func NewMIH64() *MIH64 {
	return &MIH64{}
}

// key64 is sub-string t: bits 16t to 16t+15.
func key64(h uint64, t int) uint16 {
	return uint16(h >> (uint(t) * subBits))
}

// Reserve makes room for ids below n.
func (x *MIH64) Reserve(n int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if n > cap(x.hs) {
		hs := make([]uint64, len(x.hs), n)
		copy(hs, x.hs)
		x.hs = hs
	}
}

// Insert adds hash h under id. An id holds one hash: inserting an id that is
// present replaces its hash.
func (x *MIH64) Insert(id uint32, h uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.insert(id, h, true)
}

// InsertBatch inserts ids[i] with hashes[i] for every i; see
// MIH256.InsertBatch.
func (x *MIH64) InsertBatch(ids []uint32, hashes []uint64) error {
	if len(ids) != len(hashes) {
		return fmt.Errorf("index: InsertBatch: %d ids but %d hashes", len(ids), len(hashes))
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	rebuild := x.tabs == nil || len(ids) >= max(linearBelow, x.n/4)
	for i, id := range ids {
		x.insert(id, hashes[i], !rebuild)
	}
	if rebuild && (x.tabs != nil || x.n >= linearBelow) {
		x.buildTables()
	}
	return nil
}

func (x *MIH64) insert(id uint32, h uint64, index bool) {
	if x.live.has(id) {
		if x.hs[id] == h {
			return
		}
		if index {
			x.unlink(id)
		}
	} else {
		if int(id) >= len(x.hs) {
			x.hs = growLen(x.hs, int(id)+1)
		}
		x.live.set(id)
		x.n++
	}
	x.hs[id] = h
	if !index {
		return
	}
	if x.tabs == nil {
		if x.n >= linearBelow {
			x.buildTables()
		}
		return
	}
	for t := range x.tabs {
		x.tabs[t].add(key64(h, t), id, 0)
	}
}

// buildTables indexes every live hash; see MIH256.buildTables.
func (x *MIH64) buildTables() {
	x.tabs = make([]arenaTable, tables64)
	for id, h := range x.hs {
		if x.live.has(uint32(id)) {
			for t := range x.tabs {
				x.tabs[t].spans[key64(h, t)].n++
			}
		}
	}
	for t := range x.tabs {
		tab := &x.tabs[t]
		tab.layout()
		for id, h := range x.hs {
			if x.live.has(uint32(id)) {
				tab.put(key64(h, t), uint32(id), 0)
			}
		}
	}
}

// setMode forces a search strategy (tests only).
func (x *MIH64) setMode(m searchMode) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.mode = m
	if m == modeMIH && x.tabs == nil {
		x.buildTables()
	}
}

// Delete removes id and reports whether it was present.
func (x *MIH64) Delete(id uint32) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.live.has(id) {
		return false
	}
	x.unlink(id)
	x.hs[id] = 0
	x.live.clear(id)
	x.n--
	return true
}

func (x *MIH64) unlink(id uint32) {
	h := x.hs[id]
	for t := range x.tabs {
		x.tabs[t].remove(key64(h, t), id, 0)
	}
}

// Len returns the number of ids in the index.
func (x *MIH64) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.n
}

// Get returns the hash stored under id.
func (x *MIH64) Get(id uint32) (uint64, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if !x.live.has(id) {
		return 0, false
	}
	return x.hs[id], true
}

// Compact packs every table into one backing array per table, dropping the
// growth slack and the holes that inserts and deletes leave.
func (x *MIH64) Compact() {
	x.mu.Lock()
	defer x.mu.Unlock()
	for t := range x.tabs {
		x.tabs[t].pack(-1, 0, false)
	}
	if len(x.hs) < cap(x.hs) {
		x.hs = append([]uint64(nil), x.hs...)
	}
}

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
	switch {
	case x.tabs == nil:
		x.searchLinear(q, radius, fn)
		return
	case x.mode == modeMIH:
	case x.mode == modeLinear, rt > 3, x.n < linearBelow:
		// Per-table radius 4 probes 2517 of 65536 buckets in each of 4
		// tables (15% of all entries, at random); a scan of 8-byte hashes
		// is cheaper.
		x.searchLinear(q, radius, fn)
		return
	}
	x.searchMIH(q, radius, rt, fn)
}

func (x *MIH64) searchLinear(q uint64, radius int, fn func(uint32, int) bool) {
	for id, h := range x.hs {
		if d := bits.OnesCount64(h ^ q); d <= radius && x.live.has(uint32(id)) {
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
				xd := hs[id] ^ q
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
