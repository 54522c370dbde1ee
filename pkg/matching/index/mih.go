package index

import (
	"fmt"
	"sync"
	"unsafe"
)

// storedHash is a hash as an index stores it. MIH256 and MIH64 differ in
// their width, their table layout and their search; everything else (ids,
// the live set, table upkeep, snapshots) is mih, written once over this.
//
// Calls through a type parameter are indirect and never inlined, so each
// method here does a whole hash's or a whole slice's work: one call per
// insert, or per table of a build, rather than one per key. The methods that
// take a slice ignore their receiver.
type storedHash[H any] interface {
	comparable
	// addTo files id, whose hash this is, in every table; removeFrom takes
	// it out.
	addTo(tabs []arenaTable, id uint32)
	removeFrom(tabs []arenaTable, id uint32)
	// chunks sets ks[i] to sub-string t of hs[i] for every i: its bucket in
	// the low 16 bits, and above them its tag in a tagged layout.
	chunks(hs []H, t int, ks []uint32)
	// appendHashes appends the snapshot form of hs to b; decodeHashes reads
	// len(hs) hashes back from it.
	appendHashes(b []byte, hs []H) []byte
	decodeHashes(hs []H, b []byte)
	layout() layout
}

// layout describes a width.
type layout struct {
	bits   int // hash width, which also names the snapshot kind
	tables int
	tagged bool // buckets carry a tag per id, sorted (see arenaTable)
	// hugeHashes advises the hash array onto huge pages (see
	// adviseHugePages), which was measured for MIH256 only: for MIH64 the
	// MADV_COLLAPSE adds half to a 1M-hash build, for a search gain no one
	// has measured.
	hugeHashes bool
}

func layoutOf[H storedHash[H]]() layout {
	var h H
	return h.layout()
}

// mih holds the hashes by id and their tables. Searches are not here: they
// are where the widths differ and where the time goes, so each index has its
// own, written for its hash (see MIH256.searchMIH). Methods take no lock
// unless they say so.
type mih[H storedHash[H]] struct {
	mu   sync.RWMutex
	hs   []H // by id
	live bitset
	n    int
	tabs []arenaTable // nil until the index holds linearBelow hashes
	mode searchMode
}

// reserve makes room for ids below n; it takes the write lock.
func (x *mih[H]) reserve(n int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if n > cap(x.hs) {
		hs := make([]H, len(x.hs), n)
		copy(hs, x.hs)
		x.hs = hs
	}
}

// put inserts one hash; it takes the write lock.
func (x *mih[H]) put(id uint32, h H) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.insert(id, h, true)
}

// putBatch inserts ids[i] with hash at(i) for every i < n; it takes the
// write lock. See MIH256.InsertBatch.
func (x *mih[H]) putBatch(ids []uint32, n int, at func(i int) H) error {
	if len(ids) != n {
		return fmt.Errorf("index: InsertBatch: %d ids but %d hashes", len(ids), n)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	rebuild := x.tabs == nil || len(ids) >= max(linearBelow, x.n/4)
	for i, id := range ids {
		x.insert(id, at(i), !rebuild)
	}
	if rebuild && (x.tabs != nil || x.n >= linearBelow) {
		x.buildTables()
	}
	return nil
}

// insert stores h under id; with index false it leaves the tables alone
// (the caller rebuilds them).
func (x *mih[H]) insert(id uint32, h H, index bool) {
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
	h.addTo(x.tabs, id)
}

// buildTables indexes every live hash. Small indexes have no tables (a scan
// is faster, and 11 empty tables of MIH256 would cost 35 MB): they are built
// once the index grows past linearBelow, and kept from then on.
func (x *mih[H]) buildTables() {
	lay := layoutOf[H]()
	x.adviseHashes()
	x.tabs = make([]arenaTable, lay.tables)
	// A radix sort per table: take every hash's key for the table (at once,
	// into ks, which then costs 4 bytes a slot while building) and count
	// bucket sizes; then, for a tagged table, order the ids by tag (128
	// streams) and deal them out to their buckets in that order (65536
	// streams, few enough to stay in cache), which leaves every bucket
	// sorted by tag.
	type keyed struct {
		id  uint32
		pre uint16
		tag uint8
	}
	var byTag []keyed
	if lay.tagged {
		byTag = make([]keyed, x.n)
	}
	var zero H
	ks := make([]uint32, len(x.hs))
	for t := range x.tabs {
		tab := &x.tabs[t]
		tab.tagged = lay.tagged
		zero.chunks(x.hs, t, ks)
		var tagCount [tagMask + 2]int
		for id, k := range ks {
			if x.live.has(uint32(id)) {
				tab.spans[uint16(k)].n++
				tagCount[k>>subBits+1]++
			}
		}
		tab.layout()
		if !lay.tagged {
			for id, k := range ks {
				if x.live.has(uint32(id)) {
					tab.put(uint16(k), uint32(id), 0)
				}
			}
			continue
		}
		for v := 1; v < len(tagCount); v++ {
			tagCount[v] += tagCount[v-1]
		}
		for id, k := range ks {
			if x.live.has(uint32(id)) {
				tag := k >> subBits
				byTag[tagCount[tag]] = keyed{uint32(id), uint16(k), uint8(tag)}
				tagCount[tag]++
			}
		}
		for _, e := range byTag {
			tab.put(e.pre, e.id, e.tag)
		}
	}
}

// adviseHashes asks for huge pages under the hash array, which a search
// reads at random, if the layout wants them.
func (x *mih[H]) adviseHashes() {
	if lay := layoutOf[H](); lay.hugeHashes {
		adviseHugePages(unsafe.Pointer(unsafe.SliceData(x.hs)), cap(x.hs)*lay.bits/8)
	}
}

// setMode forces a search strategy (tests only).
func (x *mih[H]) setMode(m searchMode) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.mode = m
	if m == modeMIH && x.tabs == nil {
		x.buildTables()
	}
}

// useTables reports whether a search should probe the tables rather than
// scan: when forced to, or when mihCheaper says so of an index large enough
// to have them.
func (x *mih[H]) useTables(mihCheaper func() bool) bool {
	switch {
	case x.tabs == nil, x.mode == modeLinear:
		return false
	case x.mode == modeMIH:
		return true
	}
	return x.n >= linearBelow && mihCheaper()
}

// remove deletes id and reports whether it was present; it takes the write
// lock.
func (x *mih[H]) remove(id uint32) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.live.has(id) {
		return false
	}
	x.unlink(id)
	var zero H
	x.hs[id] = zero
	x.live.clear(id)
	x.n--
	return true
}

func (x *mih[H]) unlink(id uint32) {
	x.hs[id].removeFrom(x.tabs, id)
}

// count returns the number of ids; it takes the read lock.
func (x *mih[H]) count() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.n
}

// get returns the hash under id; it takes the read lock.
func (x *mih[H]) get(id uint32) (H, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if !x.live.has(id) {
		var zero H
		return zero, false
	}
	return x.hs[id], true
}

// compact packs every table and drops the hash array's slack; it takes the
// write lock.
func (x *mih[H]) compact() {
	x.mu.Lock()
	defer x.mu.Unlock()
	for t := range x.tabs {
		x.tabs[t].pack(-1, 0, false)
	}
	if len(x.hs) < cap(x.hs) {
		x.hs = append([]H(nil), x.hs...)
	}
	x.adviseHashes()
}
