package index

import "unsafe"

// span locates a bucket in its table's arena: ids[off : off+n].
type span struct{ off, n uint32 }

// arenaTable maps a 16-bit key to a bucket of ids, all buckets living in one
// backing array (and, for tagged tables, one parallel array of tags).
//
// Why not a slice per bucket: at 10M hashes that is 720k small objects whose
// 35 MB of slice headers the garbage collector scans on every cycle (most of
// the build time went there), each bucket rounds up to an allocator size
// class, and a probe reads a 48-byte header from a 3 MB array. Here the
// table is pointer-free, a probe reads 8 bytes from a 512 KiB array, and
// the slack is ours to bound.
//
// A bucket that outgrows its capacity moves to the end of the arena with a
// quarter more room; the hole it leaves is counted, and the table is
// repacked (with a quarter of headroom) when holes pass a quarter of the
// arena or the arena is full, so holes and slack stay bounded and repacking
// is amortised O(1) per insert. Offsets are uint32: a table holds at most
// ~3G entries (ids are uint32 anyway).
type arenaTable struct {
	spans  [numBuckets]span
	caps   [numBuckets]uint32
	ids    []uint32
	tags   []uint8 // parallel to ids when tagged
	tagged bool
	holes  int
}

// arenaCap is the room a bucket of n ids gets when a table is packed: an
// eighth spare, so that a trickle of inserts after a snapshot load or a
// Compact lands in place instead of moving buckets.
func arenaCap(n int) int {
	if n == 0 {
		return 0
	}
	return n + n/8 + 1
}

// add inserts id into bucket k. In a tagged table a bucket is kept sorted by
// tag, so that a probe for one tag reads one cache line, not the bucket.
func (t *arenaTable) add(k uint16, id uint32, tag uint8) {
	if t.spans[k].n == t.caps[k] {
		t.regrow(k)
	}
	s := &t.spans[k]
	end := s.off + s.n
	s.n++
	if !t.tagged {
		t.ids[end] = id
		return
	}
	ids, tags := t.ids[s.off:s.off+s.n], t.tags[s.off:s.off+s.n]
	j := upperBound(tags[:len(tags)-1], tag)
	copy(ids[j+1:], ids[j:])
	copy(tags[j+1:], tags[j:])
	ids[j], tags[j] = id, tag
}

// lowerBound returns the first position in sorted tags whose tag is >= tag;
// upperBound the first whose tag is > tag.
func lowerBound(tags []uint8, tag uint8) int {
	lo, hi := 0, len(tags)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if tags[m] < tag {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

func upperBound(tags []uint8, tag uint8) int {
	lo, hi := 0, len(tags)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if tags[m] <= tag {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

func (t *arenaTable) regrow(k uint16) {
	s := &t.spans[k]
	n := int(s.n)
	c := n + n/4 + 4
	end := len(t.ids)
	if t.caps[k] > 0 && int(s.off)+int(t.caps[k]) == end && int(s.off)+c <= cap(t.ids) {
		// The last bucket of the arena grows in place.
		t.ids = t.ids[:int(s.off)+c]
		if t.tagged {
			t.tags = t.tags[:int(s.off)+c]
		}
		t.caps[k] = uint32(c)
		return
	}
	if end+c > cap(t.ids) || t.holes > end/4 {
		// Out of room or too many holes: repack, with a quarter of
		// headroom for the buckets that move next.
		t.pack(int(k), c, true)
		return
	}
	t.ids = t.ids[:end+c]
	copy(t.ids[end:], t.ids[s.off:s.off+s.n])
	if t.tagged {
		t.tags = t.tags[:end+c]
		copy(t.tags[end:], t.tags[s.off:s.off+s.n])
	}
	t.holes += int(t.caps[k])
	s.off, t.caps[k] = uint32(end), uint32(c)
}

// remove deletes id (whose tag is tag) from bucket k and reports whether it
// was there. Untagged buckets take the last entry into the hole; tagged ones
// shift, to stay sorted.
func (t *arenaTable) remove(k uint16, id uint32, tag uint8) bool {
	s := &t.spans[k]
	ids := t.ids[s.off : s.off+s.n]
	if !t.tagged {
		// From the end: recently inserted ids sit there.
		for i := len(ids) - 1; i >= 0; i-- {
			if ids[i] == id {
				ids[i] = ids[len(ids)-1]
				s.n--
				return true
			}
		}
		return false
	}
	tags := t.tags[s.off : s.off+s.n]
	for i := lowerBound(tags, tag); i < len(tags) && tags[i] == tag; i++ {
		if ids[i] == id {
			copy(ids[i:], ids[i+1:])
			copy(tags[i:], tags[i+1:])
			s.n--
			return true
		}
	}
	return false
}

// pack copies every bucket into fresh arrays with arenaCap room each (bucket
// grow gets at least c; -1 for none), dropping holes and growth slack. With
// headroom the arrays get a quarter of spare capacity at the end, where
// growing buckets move without reallocating.
func (t *arenaTable) pack(grow, c int, headroom bool) {
	total := 0
	for k := range t.spans {
		total += arenaCap(int(t.spans[k].n))
	}
	if grow >= 0 {
		total += max(0, c-arenaCap(int(t.spans[grow].n)))
	}
	spare := 0
	if headroom {
		// At least a few KiB, or a small table would repack (a pass over
		// all 65536 buckets) on almost every insert.
		spare = max(total/4, 1024)
	}
	ids := make([]uint32, total, total+spare)
	var tags []uint8
	if t.tagged {
		tags = make([]uint8, total, total+spare)
	}
	off := 0
	for k := range t.spans {
		s := &t.spans[k]
		copy(ids[off:], t.ids[s.off:s.off+s.n])
		if t.tagged {
			copy(tags[off:], t.tags[s.off:s.off+s.n])
		}
		bc := arenaCap(int(s.n))
		if k == grow {
			bc = max(bc, c)
		}
		s.off, t.caps[k] = uint32(off), uint32(bc)
		off += bc
	}
	t.ids, t.tags, t.holes = ids, tags, 0
	t.adviseHuge()
}

// layout prepares a table whose spans[k].n hold bucket sizes (a counting
// pass) for filling with put: it allocates the arrays and sets every bucket
// empty with arenaCap room.
func (t *arenaTable) layout() {
	total := 0
	for k := range t.spans {
		total += arenaCap(int(t.spans[k].n))
	}
	t.ids = make([]uint32, total)
	if t.tagged {
		t.tags = make([]uint8, total)
	}
	off := 0
	for k := range t.spans {
		c := arenaCap(int(t.spans[k].n))
		t.spans[k] = span{off: uint32(off)}
		t.caps[k] = uint32(c)
		off += c
	}
	t.holes = 0
	t.adviseHuge()
}

// put appends to a bucket that has room (after layout); a tagged table must
// be filled in tag order.
func (t *arenaTable) put(k uint16, id uint32, tag uint8) {
	s := &t.spans[k]
	i := s.off + s.n
	t.ids[i] = id
	if t.tagged {
		t.tags[i] = tag
	}
	s.n++
}

// adviseHuge asks for huge pages under the table's arrays (see
// adviseHugePages).
func (t *arenaTable) adviseHuge() {
	adviseHugePages(unsafe.Pointer(unsafe.SliceData(t.ids)), cap(t.ids)*4)
	adviseHugePages(unsafe.Pointer(unsafe.SliceData(t.tags)), cap(t.tags))
}
