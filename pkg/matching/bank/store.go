package bank

import (
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/index"
)

// sigType numbers the supported signal types, so per-type state lives in
// arrays rather than maps.
type sigType uint8

const (
	tSHA256 sigType = iota
	tMD5
	tPHash
	tDHash
	tPDQ
	numTypes
)

var typeNames = [numTypes]string{
	tSHA256: events.SignalSHA256,
	tMD5:    events.SignalMD5,
	tPHash:  events.SignalPHash,
	tDHash:  events.SignalDHash,
	tPDQ:    events.SignalPDQ,
}

func typeOf(name string) (sigType, bool) {
	for t, n := range typeNames {
		if n == name {
			return sigType(t), true
		}
	}
	return 0, false
}

func (t sigType) String() string { return typeNames[t] }

func (t sigType) exact() bool { return t == tSHA256 || t == tMD5 }

// sigRef names one stored signal: its type in the top 3 bits, its slot in the
// type's table in the low 29.
type sigRef uint32

const (
	slotBits = 29
	maxSlots = 1 << slotBits
	// noSlot ends a chain of exact slots sharing one hash; noEntry marks a
	// free slot.
	noSlot  = ^uint32(0)
	noEntry = ^uint32(0)
)

func mkRef(t sigType, slot uint32) sigRef { return sigRef(uint32(t)<<slotBits | slot) }
func (r sigRef) typ() sigType             { return sigType(uint32(r) >> slotBits) }
func (r sigRef) slot() uint32             { return uint32(r) & (maxSlots - 1) }

// slots hands out dense slot numbers, reusing freed ones first so that the
// per-slot arrays (and the index's hash array, which is indexed by slot) stay
// as long as the most signals ever held at once, not as all ever added.
type slots struct {
	owner []uint32 // entry slot, noEntry when the slot is free
	free  []uint32
}

func (s *slots) alloc(owner uint32) uint32 {
	if n := len(s.free); n > 0 {
		id := s.free[n-1]
		s.free = s.free[:n-1]
		s.owner[id] = owner
		return id
	}
	s.owner = append(s.owner, owner)
	return uint32(len(s.owner) - 1)
}

func (s *slots) release(id uint32) {
	s.owner[id] = noEntry
	s.free = append(s.free, id)
}

func (s *slots) live() int { return len(s.owner) - len(s.free) }

// exactTable holds the hashes of one cryptographic type. The map is keyed by
// the hash's first 8 bytes (12-byte map slots instead of 20 or 36); entries
// whose hashes share that key (the same file in two banks, or a rare prefix
// collision) form a chain through next, and walkers compare the full hash.
// Removing one is a walk of its chain, never of the table.
type exactTable[H [16]byte | [32]byte] struct {
	slots
	hashes []H
	next   []uint32
	head   map[uint64]uint32
}

func newExactTable[H [16]byte | [32]byte]() *exactTable[H] {
	return &exactTable[H]{head: map[uint64]uint32{}}
}

func prefix[H [16]byte | [32]byte](h *H) uint64 {
	switch v := any(h).(type) {
	case *[16]byte:
		return binary.LittleEndian.Uint64(v[:8])
	case *[32]byte:
		return binary.LittleEndian.Uint64(v[:8])
	}
	return 0
}

func (x *exactTable[H]) insert(h H, owner uint32) uint32 {
	s := x.alloc(owner)
	if int(s) == len(x.hashes) {
		x.hashes = append(x.hashes, h)
		x.next = append(x.next, noSlot)
	}
	x.hashes[s] = h
	x.next[s] = noSlot
	k := prefix(&h)
	if first, ok := x.head[k]; ok {
		x.next[s] = first
	}
	x.head[k] = s
	return s
}

func (x *exactTable[H]) remove(s uint32) {
	k := prefix(&x.hashes[s])
	if first := x.head[k]; first == s {
		if x.next[s] == noSlot {
			delete(x.head, k)
		} else {
			x.head[k] = x.next[s]
		}
	} else {
		for p := first; p != noSlot; p = x.next[p] {
			if x.next[p] == s {
				x.next[p] = x.next[s]
				break
			}
		}
	}
	var zero H
	x.hashes[s] = zero
	x.next[s] = noSlot
	x.release(s)
}

// each calls fn with the owner of every slot holding h.
func (x *exactTable[H]) each(h H, fn func(owner uint32)) {
	s, ok := x.head[prefix(&h)]
	if !ok {
		return
	}
	for ; s != noSlot; s = x.next[s] {
		if x.hashes[s] == h {
			fn(x.owner[s])
		}
	}
}

// near64 and near256 hold the hashes of one perceptual type in a
// multi-index hash; the index keeps the hash itself, by slot. The index is
// made on the first insert: an empty one is ~25 MB of bucket headers, which
// banks without that type (and short-lived banks in tools) need not pay.
type near64 struct {
	slots
	idx *index.MIH64 // nil until the first insert
}

func (n *near64) index() *index.MIH64 {
	if n.idx == nil {
		n.idx = index.NewMIH64()
	}
	return n.idx
}

func (n *near64) search(q uint64, radius int, fn func(uint32, int) bool) {
	if n.idx != nil {
		n.idx.Search(q, radius, fn)
	}
}

type near256 struct {
	slots
	idx *index.MIH256 // nil until the first insert
}

func (n *near256) index() *index.MIH256 {
	if n.idx == nil {
		n.idx = index.NewMIH256()
	}
	return n.idx
}

func (n *near256) search(q [32]byte, radius int, fn func(uint32, int) bool) {
	if n.idx != nil {
		n.idx.Search(q, radius, fn)
	}
}

// entry is one bank entry, kept small because the matcher may hold ten
// million: the id is the only string, labels are an interned set, and the
// first two signals sit inline (the rest in Banks.more).
type entry struct {
	id     string
	labels uint32
	bank   uint16
	// nsig counts the entry's live signals; 0 means disabled (a disabled
	// entry's signals are parked in Banks.parked, out of every index).
	nsig uint16
	sig  [2]sigRef
}

const maxEntrySignals = 1<<16 - 1

func (e *entry) disabled() bool { return e.nsig == 0 }

type entryKey struct {
	bank uint16
	id   string
}

// labelSets interns label sets: most of a large bank's entries share one, so
// an entry holds a number instead of a slice of strings. Set 0 is the empty
// set and is never released.
type labelSets struct {
	sets []labelSet
	ids  map[string]uint32
	free []uint32
}

type labelSet struct {
	labels []string
	key    string
	refs   uint32
}

func newLabelSets() *labelSets {
	return &labelSets{sets: []labelSet{{labels: []string{}}}, ids: map[string]uint32{"": 0}}
}

// normLabels sorts and de-duplicates labels and drops empty ones.
func normLabels(in []string) []string {
	out := make([]string, 0, len(in))
	for _, l := range in {
		if l != "" {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// intern returns the id of the (normalised) set and takes a reference on it.
func (ls *labelSets) intern(labels []string) uint32 {
	if len(labels) == 0 {
		return 0
	}
	key := strings.Join(labels, "\x00")
	if id, ok := ls.ids[key]; ok {
		ls.sets[id].refs++
		return id
	}
	set := labelSet{labels: slices.Clip(slices.Clone(labels)), key: key, refs: 1}
	var id uint32
	if n := len(ls.free); n > 0 {
		id = ls.free[n-1]
		ls.free = ls.free[:n-1]
		ls.sets[id] = set
	} else {
		id = uint32(len(ls.sets))
		ls.sets = append(ls.sets, set)
	}
	ls.ids[key] = id
	return id
}

func (ls *labelSets) release(id uint32) {
	if id == 0 {
		return
	}
	s := &ls.sets[id]
	if s.refs--; s.refs == 0 {
		delete(ls.ids, s.key)
		*s = labelSet{}
		ls.free = append(ls.free, id)
	}
}

func (ls *labelSets) get(id uint32) []string { return ls.sets[id].labels }

// mergeLabels returns the sorted union of two sorted, de-duplicated lists as a
// new slice (the caller may change it).
func mergeLabels(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch c := strings.Compare(a[i], b[j]); {
		case c < 0:
			out = append(out, a[i])
			i++
		case c > 0:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// parsed is a normalised signal decoded to bytes, ready for a table.
type parsed struct {
	t   sigType
	u64 uint64   // phash, dhash
	b32 [32]byte // sha256, pdq
	b16 [16]byte // md5
}

// parse decodes a signal that Normalize accepted.
func parse(sig events.Signal) parsed {
	t, _ := typeOf(sig.Type)
	p := parsed{t: t}
	switch t {
	case tPHash, tDHash:
		p.u64, _ = strconv.ParseUint(sig.Value, 16, 64)
	case tMD5:
		_, _ = hex.Decode(p.b16[:], []byte(sig.Value))
	default:
		_, _ = hex.Decode(p.b32[:], []byte(sig.Value))
	}
	return p
}

func (p *parsed) value() string {
	switch p.t {
	case tPHash, tDHash:
		return formatU64(p.u64)
	case tMD5:
		return hex.EncodeToString(p.b16[:])
	default:
		return hex.EncodeToString(p.b32[:])
	}
}

func formatU64(v uint64) string {
	const digits = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[v&15]
		v >>= 4
	}
	return string(b[:])
}
