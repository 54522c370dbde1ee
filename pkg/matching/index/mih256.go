package index

import (
	"encoding/binary"
	"math/bits"
)

// A 256-bit hash is cut into 11 disjoint 23-bit sub-strings (the last 3 bits
// are not indexed). Each keys a table by its first 16 bits, and the other 7
// ride along as a tag per id. Why not 16 sub-strings of 16 bits, the classic
// layout: at radius 31 those need per-table radius 1, so every query verifies
// 16 x 17 buckets of N/65536 ids, 41k random reads of the hash array at 10M
// hashes. With 23-bit keys the generalised pigeonhole principle (a hash within
// r has some table i within t_i whenever the t_i+1 sum to more than r) allows
// radius 2 in 10 tables and 1 in the last; the tags cut the candidates that
// reach the hash array to ~3.3k at 10M, for 55 bytes of tables per hash
// instead of 64.
const (
	tables256  = 11
	tagBits    = 7
	tagMask    = 1<<tagBits - 1
	keyBits256 = subBits + tagBits
)

// MIH256 is a multi-index hash over 256-bit hashes (PDQ). The zero value is
// not usable; call NewMIH256.
type MIH256 struct {
	mih256
}

// mih256 names the embedded core, so that the exported type shows no
// internals.
type mih256 = mih[hash256]

// NewMIH256 returns an empty index.
func NewMIH256() *MIH256 {
	return &MIH256{}
}

// hash256 is a PDQ hash as MIH256 stores it: its bytes read as four
// little-endian words.
type hash256 [4]uint64

func words256(h [32]byte) hash256 {
	return hash256{
		binary.LittleEndian.Uint64(h[0:]),
		binary.LittleEndian.Uint64(h[8:]),
		binary.LittleEndian.Uint64(h[16:]),
		binary.LittleEndian.Uint64(h[24:]),
	}
}

func bytes256(w *hash256) [32]byte {
	var h [32]byte
	for i, x := range w {
		binary.LittleEndian.PutUint64(h[i*8:], x)
	}
	return h
}

// chunk256 returns sub-string i: bits 23i to 23i+22 of w.
func chunk256(w *hash256, i int) uint32 {
	o := uint(i) * keyBits256
	word, sh := o>>6, o&63
	v := w[word&3] >> sh
	if sh > 64-keyBits256 {
		v |= w[(word+1)&3] << (64 - sh)
	}
	return uint32(v) & (1<<keyBits256 - 1)
}

// key256 splits sub-string i into its bucket and its tag.
func key256(w *hash256, i int) (uint16, uint8) {
	c := chunk256(w, i)
	return uint16(c), uint8(c >> subBits)
}

func dist256(a, b *hash256) int {
	return bits.OnesCount64(a[0]^b[0]) + bits.OnesCount64(a[1]^b[1]) +
		bits.OnesCount64(a[2]^b[2]) + bits.OnesCount64(a[3]^b[3])
}

func (w hash256) addTo(tabs []arenaTable, id uint32) {
	for t := range tabs {
		k, tag := key256(&w, t)
		tabs[t].add(k, id, tag)
	}
}

func (w hash256) removeFrom(tabs []arenaTable, id uint32) {
	for t := range tabs {
		k, tag := key256(&w, t)
		tabs[t].remove(k, id, tag)
	}
}

func (hash256) chunks(hs []hash256, t int, ks []uint32) {
	for i := range ks {
		ks[i] = chunk256(&hs[i], t)
	}
}

// appendHashes writes each hash in its own byte order.
func (hash256) appendHashes(b []byte, hs []hash256) []byte {
	for i := range hs {
		for _, v := range hs[i] {
			b = binary.LittleEndian.AppendUint64(b, v)
		}
	}
	return b
}

func (hash256) decodeHashes(hs []hash256, b []byte) {
	for i := range hs {
		hs[i] = words256([32]byte(b[i*32:]))
	}
}

func (hash256) layout() layout {
	return layout{bits: 256, tables: tables256, tagged: true, hugeHashes: true}
}

// Reserve makes room for ids below n, so that building a large index does not
// reallocate (and briefly double) the hash array.
func (x *MIH256) Reserve(n int) { x.reserve(n) }

// Insert adds hash h under id. An id holds one hash: inserting an id that is
// present replaces its hash.
func (x *MIH256) Insert(id uint32, h [32]byte) { x.put(id, words256(h)) }

// InsertBatch inserts ids[i] with hashes[i] for every i, as that many calls
// of Insert would, but when the batch is large next to the index (an initial
// load) it rebuilds the tables by a radix sort instead, which is an order of
// magnitude faster and leaves them compact. Slices of different lengths are
// an error, and nothing is inserted.
func (x *MIH256) InsertBatch(ids []uint32, hashes [][32]byte) error {
	return x.putBatch(ids, len(hashes), func(i int) hash256 { return words256(hashes[i]) })
}

// Delete removes id and reports whether it was present.
func (x *MIH256) Delete(id uint32) bool { return x.remove(id) }

// Len returns the number of ids in the index.
func (x *MIH256) Len() int { return x.count() }

// Get returns the hash stored under id.
func (x *MIH256) Get(id uint32) ([32]byte, bool) {
	w, ok := x.get(id)
	return bytes256(&w), ok
}

// Compact packs every table into one backing array per table, dropping the
// growth slack and the holes that inserts and deletes leave. It takes the
// write lock for a copy of the id tables (~0.3 s at 10M hashes).
func (x *MIH256) Compact() { x.compact() }

// Search calls fn for every id whose hash is within Hamming distance radius
// of q (radius 0..256; larger is treated as 256, negative finds nothing),
// exactly once each and in no particular order, with its distance. fn
// returning false stops the search. fn runs under the index's read lock: it
// must not call the index's write methods.
func (x *MIH256) Search(q [32]byte, radius int, fn func(id uint32, dist int) bool) {
	if radius < 0 || fn == nil {
		return
	}
	radius = min(radius, 256)
	qw := words256(q)
	x.mu.RLock()
	defer x.mu.RUnlock()
	plan := plan256(radius)
	// A sequential pass costs about a quarter of a random read per hash (32
	// bytes of 64-byte lines, prefetched).
	if x.useTables(func() bool { return mihCost256(&plan, x.n) < float64(x.n)/4 }) {
		x.searchMIH(&qw, radius, &plan, fn)
		return
	}
	x.searchLinear(&qw, radius, fn)
}

// plan256 spreads a query radius over the tables: radius t_i in table i
// with the t_i+1 summing to radius+1, as evenly as possible; -1 skips a
// table (radius 0 needs one table, radius 10 one exact probe in each).
func plan256(radius int) [tables256]int {
	var ts [tables256]int
	units := radius + 1
	for i := range ts {
		u := units / tables256
		if i < units%tables256 {
			u++
		}
		ts[i] = u - 1
	}
	return ts
}

// mihCost256 estimates the work of a multi-index search in units of one
// random read: a bucket visit (its header, then its tags) and every id whose
// tag passes, assuming uniformly spread hashes.
func mihCost256(plan *[tables256]int, n int) float64 {
	perBucket := float64(n) / numBuckets
	cost := 0.0
	for _, t := range plan {
		for w := 0; w <= min(t, subBits); w++ {
			buckets := binom(subBits, w)
			tags := 0.0
			for v := 0; v <= min(t-w, tagBits); v++ {
				tags += binom(tagBits, v)
			}
			cost += buckets * (2 + perBucket/8 + perBucket*tags/(1<<tagBits))
		}
	}
	return cost
}

func binom(n, k int) float64 {
	r := 1.0
	for i := range k {
		r = r * float64(n-i) / float64(i+1)
	}
	return r
}

func (x *MIH256) searchLinear(q *hash256, radius int, fn func(uint32, int) bool) {
	for id := range x.hs {
		h := &x.hs[id]
		if d := dist256(h, q); d <= radius && x.live.has(uint32(id)) {
			if !fn(uint32(id), d) {
				return
			}
		}
	}
}

// probe is one bucket to scan: its place in the arena, the tag distance it
// allows, and tag words loaded early (see searchMIH): for an exact-tag probe
// the 8 tags around where the query's tag should sit (win is their offset
// in the bucket), otherwise one word from each of the first three cache
// lines.
type probe struct {
	off, n uint32
	budget int
	win    uint32
	head   [3]uint64
}

// searchMIH probes every table in the plan. At 10M hashes nearly every
// bucket, tag line, id and hash it touches is a cache miss, so it works in
// phases of independent loads instead of following one bucket's chain of
// misses (span, tags, id, hash) at a time: the misses of a phase overlap.
func (x *MIH256) searchMIH(q *hash256, radius int, plan *[tables256]int, fn func(uint32, int) bool) {
	var pbuf [256]probe
	var posBuf [1024]uint32
	for i := range x.tabs {
		t := plan[i]
		if t < 0 {
			continue
		}
		tab := &x.tabs[i]
		pk, qt := key256(q, i)
		s := tableScan{x: x, tab: tab, q: q, radius: radius, table: i, plan: plan, fn: fn,
			qt: qt, pos: posBuf[:0]}
		probes := pbuf[:0]
		for w := 0; w <= min(t, subBits); w++ {
			for _, m := range masksOfWeight(w) {
				sp := tab.spans[pk^m]
				if sp.n == 0 {
					continue
				}
				probes = append(probes, probe{off: sp.off, n: sp.n, budget: t - w})
				if len(probes) == cap(probes) {
					if !s.run(probes) {
						return
					}
					probes = probes[:0]
				}
			}
		}
		if !s.run(probes) || !s.flush() {
			return
		}
	}
}

// tableScan is the state of one table's probes.
type tableScan struct {
	x      *MIH256
	tab    *arenaTable
	q      *hash256
	radius int
	table  int
	plan   *[tables256]int
	fn     func(uint32, int) bool
	qt     uint8
	pos    []uint32 // arena positions whose tag passed
}

// run scans the tags of a batch of probes, collecting positions.
func (s *tableScan) run(probes []probe) bool {
	tags := s.tab.tags
	qt := s.qt
	// Phase 1: load the tag words each probe will need, back to back. A
	// bucket is sorted by tag and tags are near uniform, so the query's tag
	// sits near n*qt/128: an exact-tag probe usually needs just that line.
	for j := range probes {
		p := &probes[j]
		if p.budget == 0 {
			if p.n >= 8 {
				est := uint32(qt) * p.n >> tagBits
				p.win = min(est-min(est, 4), p.n-8)
				p.head[0] = binary.LittleEndian.Uint64(tags[p.off+p.win:])
			}
			continue
		}
		for w, at := range [3]uint32{0, 64, 128} {
			if at+8 > p.n {
				break
			}
			p.head[w] = binary.LittleEndian.Uint64(tags[p.off+at:])
		}
	}
	// Phase 2: match tags.
	const hi8 = 0x8080808080808080
	pat := uint64(qt) * 0x0101010101010101
	for j := range probes {
		p := &probes[j]
		bt := tags[p.off : p.off+p.n]
		switch {
		case p.budget == 0:
			// The run of tags equal to qt starts at the lower bound. Within
			// the loaded window the count of tags below qt gives it at once
			// (a byte (tag|0x80)-qt keeps its high bit iff tag >= qt); only
			// a window wholly below or above it (skewed tags, as in a
			// family of near duplicates) needs a binary search.
			var lo int
			if p.n >= 8 {
				less := 8 - bits.OnesCount64(((p.head[0]|hi8)-pat)&hi8)
				lo = int(p.win) + less
				switch less {
				case 0:
					lo = lowerBound(bt[:lo], qt)
				case 8:
					lo += lowerBound(bt[lo:], qt)
				}
			} else {
				lo = lowerBound(bt, qt)
			}
			for ; lo < len(bt) && bt[lo] == qt; lo++ {
				if !s.add(p.off + uint32(lo)) {
					return false
				}
			}
		case p.budget >= tagBits:
			for k := range bt {
				if !s.add(p.off + uint32(k)) {
					return false
				}
			}
		default:
			k := 0
			for ; k+8 <= len(bt); k += 8 {
				var v uint64
				switch k {
				case 0, 64, 128:
					v = p.head[k/64]
				default:
					v = binary.LittleEndian.Uint64(bt[k:])
				}
				for b := range 8 {
					if bits.OnesCount8(uint8(v>>(8*b))^qt) <= p.budget {
						if !s.add(p.off + uint32(k+b)) {
							return false
						}
					}
				}
			}
			for ; k < len(bt); k++ {
				if bits.OnesCount8(bt[k]^qt) <= p.budget {
					if !s.add(p.off + uint32(k)) {
						return false
					}
				}
			}
		}
	}
	return true
}

func (s *tableScan) add(pos uint32) bool {
	s.pos = append(s.pos, pos)
	if len(s.pos) < cap(s.pos) {
		return true
	}
	return s.flush()
}

// flush verifies the collected positions: ids, then hashes, each phase a
// loop of independent loads.
func (s *tableScan) flush() bool {
	var cbuf [1024]uint32
	ids := s.tab.ids
	cands := cbuf[:0]
	for _, p := range s.pos {
		cands = append(cands, ids[p])
	}
	s.pos = s.pos[:0]
	return s.x.verify(cands, s.q, s.radius, s.table, s.plan, s.fn)
}

// verify reports the candidates of table i within radius that no earlier
// table of the plan reaches: those were reported there, so no visited set is
// needed. It returns false if fn asked to stop.
func (x *MIH256) verify(cands []uint32, q *hash256, radius, i int, plan *[tables256]int, fn func(uint32, int) bool) bool {
	var hbuf [64]uint32
	for len(cands) > 0 {
		var hits []uint32
		hits, cands = scan256(cands, x.hs, q, radius, hbuf[:0])
		for _, id := range hits {
			h := &x.hs[id]
			if i > 0 && foundBefore256(q, h, i, plan) {
				continue
			}
			if !fn(id, dist256(q, h)) {
				return false
			}
		}
	}
	return true
}

// scan256 is the hot loop: it verifies candidate ids against their full
// hashes and collects those within radius into hits, stopping early when hits
// is full; it returns the ids not yet scanned. Kept small and free of calls
// so that the compiler keeps the query in registers and the CPU can overlap
// the cache misses of many candidates.
func scan256(ids []uint32, hs []hash256, q *hash256, radius int, hits []uint32) ([]uint32, []uint32) {
	q0, q1, q2, q3 := q[0], q[1], q[2], q[3]
	for i, id := range ids {
		h := &hs[id]
		d := bits.OnesCount64(h[0]^q0) + bits.OnesCount64(h[1]^q1) +
			bits.OnesCount64(h[2]^q2) + bits.OnesCount64(h[3]^q3)
		if d <= radius {
			hits = append(hits, id)
			if len(hits) == cap(hits) {
				return hits, ids[i+1:]
			}
		}
	}
	return hits, nil
}

// foundBefore256 reports whether a table before i also reaches h under the
// plan.
func foundBefore256(q, h *hash256, i int, plan *[tables256]int) bool {
	xw := hash256{q[0] ^ h[0], q[1] ^ h[1], q[2] ^ h[2], q[3] ^ h[3]}
	for j := range i {
		if plan[j] >= 0 && bits.OnesCount32(chunk256(&xw, j)) <= plan[j] {
			return true
		}
	}
	return false
}
