package bank

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/index"
)

// Snapshot format, version 3 (version 1 lacked the default enabled flags and
// the banks' incident flag and severity; version 2, which is still read,
// the banks' video percentages, the variants of parked signals and the
// times of video frame hashes).
//
//	magic    "TKDNBANK" then the format version, uint32 little-endian
//	frames   the body, cut into frames of at most 1 MiB: length uint32,
//	         CRC-32C uint32 of the frame's sequence number (uint64) and data,
//	         then the data; a frame of length 0 ends the body
//
// The body is the Banks' own layout (options, banks, label sets, entries
// with their slot references, the slot owners and exact hashes) followed by
// the three perceptual indexes' own snapshots (pkg/matching/index). Loading restores
// the slots as they were, so it only rebuilds hash maps and index tables and
// never recomputes a fingerprint. A frame is checked before any of its bytes
// is parsed, so damaged input is refused with ErrCorruptSnapshot before it can
// mislead the decoder; the sequence number catches reordered or repeated
// frames and the end frame a truncated file.
const (
	snapMagic    = "TKDNBANK"
	snapVersion  = 3
	maxFrame     = 1 << 20
	maxPrealloc  = 1 << 20 // slices grow past this with the data actually read
	maxStringLen = 1 << 20
)

var (
	// ErrCorruptSnapshot is wrapped by every error about a snapshot that is
	// truncated, fails a checksum or contradicts itself.
	ErrCorruptSnapshot = errors.New("corrupt bank snapshot")
	// ErrSnapshotVersion is wrapped by the error about a snapshot in a format
	// version this code does not read.
	ErrSnapshotVersion = errors.New("unsupported bank snapshot version")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCorruptSnapshot, fmt.Sprintf(format, args...))
}

// frameWriter cuts what is written into checksummed frames.
type frameWriter struct {
	w   io.Writer
	buf []byte
	seq uint64
}

func (f *frameWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		room := maxFrame - len(f.buf)
		k := min(room, len(p))
		f.buf = append(f.buf, p[:k]...)
		p = p[k:]
		if len(f.buf) == maxFrame {
			if err := f.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (f *frameWriter) flush() error {
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[0:], uint32(len(f.buf)))
	binary.LittleEndian.PutUint32(hdr[4:], frameCRC(f.seq, f.buf))
	f.seq++
	if _, err := f.w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := f.w.Write(f.buf)
	f.buf = f.buf[:0]
	return err
}

// close writes the last data frame and the end frame.
func (f *frameWriter) close() error {
	if len(f.buf) > 0 {
		if err := f.flush(); err != nil {
			return err
		}
	}
	return f.flush()
}

func frameCRC(seq uint64, data []byte) uint32 {
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], seq)
	return crc32.Update(crc32.Checksum(s[:], castagnoli), castagnoli, data)
}

// frameReader serves the data of verified frames only.
type frameReader struct {
	r    io.Reader
	buf  []byte
	off  int
	seq  uint64
	done bool
}

func (f *frameReader) Read(p []byte) (int, error) {
	for f.off == len(f.buf) {
		if f.done {
			return 0, io.EOF
		}
		if err := f.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, f.buf[f.off:])
	f.off += n
	return n, nil
}

func (f *frameReader) next() error {
	var hdr [8]byte
	if _, err := io.ReadFull(f.r, hdr[:]); err != nil {
		return corrupt("frame %d: %v (truncated?)", f.seq, eofIsUnexpected(err))
	}
	n := binary.LittleEndian.Uint32(hdr[0:])
	if n > maxFrame {
		return corrupt("frame %d claims %d bytes, at most %d", f.seq, n, maxFrame)
	}
	if cap(f.buf) < int(n) {
		f.buf = make([]byte, n, maxFrame)
	}
	f.buf, f.off = f.buf[:n], 0
	if _, err := io.ReadFull(f.r, f.buf); err != nil {
		return corrupt("frame %d: %v (truncated?)", f.seq, eofIsUnexpected(err))
	}
	if got, want := frameCRC(f.seq, f.buf), binary.LittleEndian.Uint32(hdr[4:]); got != want {
		return corrupt("frame %d: checksum %08x, want %08x", f.seq, got, want)
	}
	f.seq++
	f.done = n == 0
	return nil
}

func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// WriteSnapshot writes the banks to w in a binary form that ReadSnapshot
// loads far faster than the updates that built them can be re-applied. It
// holds the read lock throughout: matching goes on, updates wait.
func (b *Banks) WriteSnapshot(w io.Writer) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var head [12]byte
	copy(head[:], snapMagic)
	binary.LittleEndian.PutUint32(head[8:], snapVersion)
	if _, err := w.Write(head[:]); err != nil {
		return fmt.Errorf("write bank snapshot: %w", err)
	}
	fw := &frameWriter{w: w, buf: make([]byte, 0, maxFrame)}
	bw := bufio.NewWriterSize(fw, 64<<10)
	e := &encoder{w: bw}
	b.encode(e)
	// Each index: a flag (0: never made, no hash of the type ever held),
	// then its own snapshot.
	for _, x := range []io.WriterTo{nilIfNone(b.phash.idx), nilIfNone(b.dhash.idx), nilIfNone(b.pdq.idx)} {
		e.bool(x != nil)
		if x != nil && e.err == nil {
			_, e.err = x.WriteTo(bw)
		}
	}
	if e.err == nil {
		e.err = bw.Flush()
	}
	if e.err == nil {
		e.err = fw.close()
	}
	if e.err != nil {
		return fmt.Errorf("write bank snapshot: %w", e.err)
	}
	return nil
}

// nilIfNone turns a nil index pointer into a nil interface.
func nilIfNone[X interface {
	*index.MIH64 | *index.MIH256
	io.WriterTo
}](x X) io.WriterTo {
	if x == nil {
		return nil
	}
	return x
}

type encoder struct {
	w   *bufio.Writer
	buf [binary.MaxVarintLen64]byte
	err error
}

func (e *encoder) uint(v uint64) {
	if e.err == nil {
		_, e.err = e.w.Write(binary.AppendUvarint(e.buf[:0], v))
	}
}

func (e *encoder) int(v int) {
	if e.err == nil {
		_, e.err = e.w.Write(binary.AppendVarint(e.buf[:0], int64(v)))
	}
}

func (e *encoder) bool(v bool) {
	if v {
		e.uint(1)
	} else {
		e.uint(0)
	}
}

func (e *encoder) string(s string) {
	e.uint(uint64(len(s)))
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
}

func (e *encoder) bytes(p []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(p)
	}
}

func (e *encoder) strings(ss []string) {
	e.uint(uint64(len(ss)))
	for _, s := range ss {
		e.string(s)
	}
}

func (e *encoder) u32s(v []uint32) {
	e.uint(uint64(len(v)))
	var b [4]byte
	for _, x := range v {
		binary.LittleEndian.PutUint32(b[:], x)
		e.bytes(b[:])
	}
}

func (b *Banks) encode(e *encoder) {
	for _, v := range b.defaults {
		e.int(v)
	}
	for _, on := range b.defaultOn {
		e.bool(on)
	}
	e.int(b.minQuality)
	e.int(b.lowQuality)
	e.int(b.lowThr)
	e.uint(b.generation)
	e.uint(b.version)

	e.uint(uint64(len(b.banks)))
	for _, bs := range b.banks {
		e.string(bs.name)
		e.bool(bs.explicit)
		e.bool(bs.cfg.Enabled)
		e.string(bs.cfg.Kind)
		e.strings(bs.cfg.Labels)
		e.bool(bs.cfg.Incident)
		e.string(bs.cfg.Severity)
		e.int(bs.cfg.VideoQueryPercent)
		e.int(bs.cfg.VideoReferencePercent)
		e.uint(uint64(len(bs.cfg.Signals)))
		for _, s := range bs.cfg.Signals {
			e.string(s.Type)
			e.bool(s.Enabled)
			e.int(s.Threshold)
		}
	}

	e.uint(uint64(len(b.labels.sets)))
	for i := 1; i < len(b.labels.sets); i++ {
		s := &b.labels.sets[i]
		if s.refs == 0 {
			e.uint(0) // a free set: no labels
			continue
		}
		e.strings(s.labels)
	}

	// Entries: the ids' lengths, then all ids in one run (they load into one
	// string), then the rest of each entry.
	e.uint(uint64(len(b.entries)))
	for i := range b.entries {
		e.uint(uint64(len(b.entries[i].id)))
	}
	for i := range b.entries {
		if e.err == nil {
			_, e.err = e.w.WriteString(b.entries[i].id)
		}
	}
	for i := range b.entries {
		en := &b.entries[i]
		e.uint(uint64(en.bank))
		e.uint(uint64(en.labels))
		e.uint(uint64(en.nsig))
		if en.disabled() {
			parked := b.parked[uint32(i)]
			e.uint(uint64(len(parked)))
			for _, s := range parked {
				e.string(s.Type)
				e.string(s.Value)
				e.string(s.Variant)
			}
			continue
		}
		for _, r := range b.refs(uint32(i)) {
			e.uint(uint64(r))
		}
	}

	e.u32s(b.sha256.owner)
	for _, h := range b.sha256.hashes {
		e.bytes(h[:])
	}
	e.u32s(b.md5.owner)
	for _, h := range b.md5.hashes {
		e.bytes(h[:])
	}
	e.u32s(b.phash.owner)
	e.u32s(b.dhash.owner)
	e.u32s(b.pdq.owner)
	// Video frame times, by pdq slot in increasing order.
	slots := make([]uint32, 0, len(b.frameMs))
	for s := range b.frameMs {
		slots = append(slots, s)
	}
	slices.Sort(slots)
	e.uint(uint64(len(slots)))
	for _, s := range slots {
		e.uint(uint64(s))
		e.uint(uint64(b.frameMs[s]))
	}
}

// ReadSnapshot loads banks written by WriteSnapshot. A snapshot that is
// truncated, damaged or inconsistent gives an error wrapping
// ErrCorruptSnapshot; one from another format version an error wrapping
// ErrSnapshotVersion.
func ReadSnapshot(r io.Reader) (*Banks, error) {
	var head [12]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, corrupt("header: %v", eofIsUnexpected(err))
	}
	if string(head[:8]) != snapMagic {
		return nil, corrupt("not a bank snapshot (magic %q)", head[:8])
	}
	v := binary.LittleEndian.Uint32(head[8:])
	if v != snapVersion && v != 2 {
		return nil, fmt.Errorf("%w: version %d, this code reads 2 and %d", ErrSnapshotVersion, v, snapVersion)
	}
	d := &decoder{r: bufio.NewReaderSize(&frameReader{r: r}, 64<<10), version: v}
	b := d.banks()
	if d.err == nil {
		for _, x := range []func() io.ReaderFrom{
			func() io.ReaderFrom { return b.phash.index() },
			func() io.ReaderFrom { return b.dhash.index() },
			func() io.ReaderFrom { return b.pdq.index() },
		} {
			if !d.bool() {
				continue
			}
			if _, err := x().ReadFrom(d.r); err != nil && d.err == nil {
				d.err = corrupt("index: %v", err)
			}
		}
	}
	if d.err == nil {
		if _, err := d.r.ReadByte(); err != io.EOF {
			d.fail("data after the end of the snapshot")
		}
	}
	if d.err == nil {
		d.err = b.check()
	}
	if d.err != nil {
		if !errors.Is(d.err, ErrCorruptSnapshot) {
			d.err = corrupt("%v", d.err)
		}
		return nil, fmt.Errorf("read bank snapshot: %w", d.err)
	}
	return b, nil
}

type decoder struct {
	r       *bufio.Reader
	err     error
	version uint32
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = corrupt(format, args...)
	}
}

func (d *decoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(d.r)
	if err != nil {
		d.err = eofIsUnexpected(err)
	}
	return v
}

// count reads a length that must not exceed limit.
func (d *decoder) count(limit uint64, what string) int {
	n := d.uint()
	if n > limit {
		d.fail("%s: %d, at most %d", what, n, limit)
		return 0
	}
	return int(n)
}

func (d *decoder) int() int {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadVarint(d.r)
	if err != nil {
		d.err = eofIsUnexpected(err)
	}
	if v < -1<<31 || v > 1<<31 {
		d.fail("integer %d out of range", v)
	}
	return int(v)
}

func (d *decoder) bool() bool { return d.count(1, "boolean") == 1 }

func (d *decoder) bytes(p []byte) {
	if d.err == nil {
		if _, err := io.ReadFull(d.r, p); err != nil {
			d.err = eofIsUnexpected(err)
		}
	}
}

func (d *decoder) string() string {
	n := d.count(maxStringLen, "string length")
	if n == 0 || d.err != nil {
		return ""
	}
	p := make([]byte, n)
	d.bytes(p)
	return string(p)
}

func (d *decoder) strings() []string {
	n := d.count(1<<16, "list length")
	out := make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.string())
	}
	return out
}

func (d *decoder) u32s(limit uint64, what string) []uint32 {
	n := d.count(limit, what)
	out := make([]uint32, 0, min(n, maxPrealloc))
	var b [4]byte
	for i := 0; i < n && d.err == nil; i++ {
		d.bytes(b[:])
		out = append(out, binary.LittleEndian.Uint32(b[:]))
	}
	return out
}

func (d *decoder) banks() *Banks {
	var opts Options
	opts.Thresholds = Thresholds{}
	var defaults [numTypes]int
	for t := range defaults {
		defaults[t] = d.int()
		opts.Thresholds[typeNames[t]] = defaults[t]
	}
	opts.Enabled = map[string]bool{}
	for t := range numTypes {
		opts.Enabled[typeNames[t]] = d.bool()
	}
	opts.MinPDQQuality = d.int()
	opts.LowPDQQuality = d.int()
	if opts.LowPDQQuality < 0 {
		opts.LowPDQQuality = -1
	}
	opts.LowPDQThreshold = d.int()
	if opts.LowPDQThreshold == 0 {
		opts.LowPDQThreshold = -1
	}
	if d.err != nil {
		return nil
	}
	if _, err := New(opts); err != nil {
		d.fail("%v", err)
		return nil
	}
	if opts.MinPDQQuality == 0 {
		d.fail("options: minimum pdq quality 0 (a written snapshot holds 50 or -1)")
		return nil
	}
	b := newBanks(opts)
	b.generation = d.uint()
	version := d.uint()

	nb := d.count(1<<16, "banks")
	for i := 0; i < nb && d.err == nil; i++ {
		name := d.string()
		explicit := d.bool()
		cfg := events.BankConfig{Enabled: d.bool(), Kind: d.string(), Labels: d.strings(), Incident: d.bool(), Severity: d.string()}
		if d.version >= 3 {
			cfg.VideoQueryPercent, cfg.VideoReferencePercent = d.int(), d.int()
		}
		ns := d.count(uint64(numTypes), "bank signal settings")
		cfg.Signals = make([]events.BankSignalConfig, 0, ns)
		for j := 0; j < ns && d.err == nil; j++ {
			cfg.Signals = append(cfg.Signals, events.BankSignalConfig{Type: d.string(), Enabled: d.bool(), Threshold: d.int()})
		}
		if d.err != nil {
			break
		}
		if err := cfg.Validate(); err != nil {
			d.fail("bank %q: %v", name, err)
			break
		}
		if _, dup := b.bankIdx[name]; dup || name == "" {
			d.fail("bank name %q empty or repeated", name)
			break
		}
		bi, _ := b.bankFor(name)
		b.banks[bi].set(normConfig(cfg), explicit, b)
	}
	b.updateRadius()

	nl := d.count(1<<32-1, "label sets")
	if nl == 0 && d.err == nil {
		d.fail("no label sets (set 0 is always there)")
	}
	for i := 1; i < nl && d.err == nil; i++ {
		labels := d.strings()
		if len(labels) == 0 {
			b.labels.sets = append(b.labels.sets, labelSet{})
			continue
		}
		set := labelSet{labels: labels, key: strings.Join(labels, "\x00")}
		if _, dup := b.labels.ids[set.key]; dup || !slices.IsSorted(labels) {
			d.fail("label set %d repeated or unsorted", i)
			break
		}
		b.labels.ids[set.key] = uint32(len(b.labels.sets))
		b.labels.sets = append(b.labels.sets, set)
	}

	ne := d.count(1<<32-2, "entries")
	lens := make([]int, 0, min(ne, maxPrealloc))
	total := 0
	for i := 0; i < ne && d.err == nil; i++ {
		n := d.count(maxStringLen, "entry id length")
		lens = append(lens, n)
		total += n
	}
	var ids string
	if d.err == nil {
		ids = d.blob(total)
	}
	b.entries = make([]entry, 0, min(ne, maxPrealloc))
	b.byKey = make(map[uint64]uint32, min(ne, 16*maxPrealloc))
	for i, off := 0, 0; i < ne && d.err == nil; i++ {
		id := ids[off : off+lens[i]]
		off += lens[i]
		en := entry{id: id}
		if id == "" || len(b.banks) == 0 {
			d.fail("entry %d: empty id, or no banks", i)
			break
		}
		en.bank = uint16(d.count(uint64(len(b.banks)-1), "entry bank"))
		en.labels = uint32(d.count(uint64(len(b.labels.sets)-1), "entry label set"))
		en.nsig = uint16(d.count(maxEntrySignals, "entry signals"))
		slot := uint32(i)
		if en.nsig == 0 {
			np := d.count(maxEntrySignals, "parked signals")
			var parked []events.Signal
			for j := 0; j < np && d.err == nil; j++ {
				s := events.Signal{Type: d.string(), Value: d.string()}
				if d.version >= 3 {
					s.Variant = d.string()
				}
				s, err := Normalize(s)
				if err == nil {
					_, err = frameVariant(s)
				}
				if err != nil && d.err == nil {
					d.fail("entry %q: parked signal: %v", id, err)
				}
				parked = append(parked, s)
			}
			if len(parked) > 0 {
				b.parked[slot] = parked
			}
			b.banks[en.bank].disabled++
		} else {
			var extra []sigRef
			for j := 0; j < int(en.nsig) && d.err == nil; j++ {
				r := sigRef(d.count(1<<32-1, "signal reference"))
				if j < len(en.sig) {
					en.sig[j] = r
				} else {
					extra = append(extra, r)
				}
			}
			if extra != nil {
				b.more[slot] = extra
			}
			b.banks[en.bank].entries++
			b.enabled++
		}
		if b.labels.sets[en.labels].key == "" && en.labels != 0 {
			d.fail("entry %q uses a free label set", id)
		}
		b.labels.sets[en.labels].refs++
		b.entries = append(b.entries, en)
		if !b.addKey(en.bank, id, slot) {
			d.fail("entry %s/%s repeated", b.banks[en.bank].name, id)
		}
	}
	for i := 1; i < len(b.labels.sets) && d.err == nil; i++ {
		if b.labels.sets[i].refs == 0 {
			if b.labels.sets[i].key != "" {
				d.fail("label set %d is not used by any entry", i)
			}
			b.labels.free = append(b.labels.free, uint32(i))
		}
	}

	b.sha256.owner = d.u32s(maxSlots, "sha256 slots")
	b.sha256.hashes = make([][32]byte, 0, min(len(b.sha256.owner), maxPrealloc))
	for range b.sha256.owner {
		var h [32]byte
		d.bytes(h[:])
		b.sha256.hashes = append(b.sha256.hashes, h)
	}
	b.md5.owner = d.u32s(maxSlots, "md5 slots")
	b.md5.hashes = make([][16]byte, 0, min(len(b.md5.owner), maxPrealloc))
	for range b.md5.owner {
		var h [16]byte
		d.bytes(h[:])
		b.md5.hashes = append(b.md5.hashes, h)
	}
	b.phash.owner = d.u32s(maxSlots, "phash slots")
	b.dhash.owner = d.u32s(maxSlots, "dhash slots")
	b.pdq.owner = d.u32s(maxSlots, "pdq slots")
	if d.version >= 3 {
		nf := d.count(uint64(len(b.pdq.owner)), "video frame times")
		prev := -1
		for i := 0; i < nf && d.err == nil; i++ {
			s, ms := d.uint(), d.uint()
			switch {
			case int(s) <= prev || s >= uint64(len(b.pdq.owner)) || b.pdq.owner[s] == noEntry:
				d.fail("video frame time of pdq slot %d: out of order, or not a live slot", s)
			case ms > math.MaxUint32:
				d.fail("video frame time %d ms: at most 2^32-1", ms)
			}
			prev = int(s)
			b.frameMs[uint32(s)] = uint32(ms)
		}
	}
	if d.err != nil {
		return nil
	}
	rebuildExact(b.sha256)
	rebuildExact(b.md5)
	for _, s := range []*slots{&b.phash.slots, &b.dhash.slots, &b.pdq.slots} {
		for i, o := range s.owner {
			if o == noEntry {
				s.free = append(s.free, uint32(i))
			}
		}
	}
	b.version = version
	return b
}

// blob reads n bytes into one string, in steps, so that a damaged length
// cannot make it allocate more than the input holds.
func (d *decoder) blob(n int) string {
	buf := make([]byte, 0, min(n, 16*maxPrealloc))
	for len(buf) < n && d.err == nil {
		k := min(n-len(buf), 1<<20)
		buf = slices.Grow(buf, k)
		start := len(buf)
		buf = buf[:start+k]
		d.bytes(buf[start:])
	}
	return string(buf)
}

// rebuildExact restores the free list, the chains and the map of an exact
// table from its owners and hashes.
func rebuildExact[H [16]byte | [32]byte](x *exactTable[H]) {
	x.next = make([]uint32, len(x.owner))
	x.head = make(map[uint64]uint32, len(x.owner))
	for i := len(x.owner) - 1; i >= 0; i-- {
		s := uint32(i)
		x.next[s] = noSlot
		if x.owner[s] == noEntry {
			x.free = append(x.free, s)
			continue
		}
		k := prefix(&x.hashes[s])
		if first, ok := x.head[k]; ok {
			x.next[s] = first
		}
		x.head[k] = s
	}
}

// check verifies that entries and slots agree: every signal reference of an
// enabled entry names a live slot owned by that entry, every live slot is
// referenced, and the perceptual indexes hold exactly the live slots.
func (b *Banks) check() error {
	owners := [numTypes][]uint32{
		tSHA256: b.sha256.owner, tMD5: b.md5.owner,
		tPHash: b.phash.owner, tDHash: b.dhash.owner, tPDQ: b.pdq.owner,
	}
	referenced := [numTypes]int{}
	var seen [numTypes][]bool
	for t := range seen {
		seen[t] = make([]bool, len(owners[t]))
	}
	for i := range b.entries {
		en := &b.entries[i]
		if en.disabled() {
			continue
		}
		for _, r := range b.refs(uint32(i)) {
			t, s := r.typ(), r.slot()
			if t >= numTypes || int(s) >= len(owners[t]) || owners[t][s] != uint32(i) || seen[t][s] {
				return corrupt("entry %q: signal reference %08x does not point back at it, or repeats", en.id, uint32(r))
			}
			seen[t][s] = true
			referenced[t]++
		}
	}
	live := [numTypes]int{
		tSHA256: b.sha256.live(), tMD5: b.md5.live(),
		tPHash: b.phash.live(), tDHash: b.dhash.live(), tPDQ: b.pdq.live(),
	}
	for t := range numTypes {
		if referenced[t] != live[t] {
			return corrupt("%s: %d live slots, %d referenced by entries", t, live[t], referenced[t])
		}
		for _, o := range owners[t] {
			if o != noEntry && int(o) >= len(b.entries) {
				return corrupt("%s: slot owned by entry %d of %d", t, o, len(b.entries))
			}
		}
	}
	indexed := [numTypes]int{}
	if b.phash.idx != nil {
		indexed[tPHash] = b.phash.idx.Len()
		for i, o := range b.phash.owner {
			if _, ok := b.phash.idx.Get(uint32(i)); ok != (o != noEntry) {
				return corrupt("phash slot %d and the index disagree", i)
			}
		}
	}
	if b.dhash.idx != nil {
		indexed[tDHash] = b.dhash.idx.Len()
		for i, o := range b.dhash.owner {
			if _, ok := b.dhash.idx.Get(uint32(i)); ok != (o != noEntry) {
				return corrupt("dhash slot %d and the index disagree", i)
			}
		}
	}
	if b.pdq.idx != nil {
		indexed[tPDQ] = b.pdq.idx.Len()
		for i, o := range b.pdq.owner {
			if _, ok := b.pdq.idx.Get(uint32(i)); ok != (o != noEntry) {
				return corrupt("pdq slot %d and the index disagree", i)
			}
		}
	}
	for _, t := range []sigType{tPHash, tDHash, tPDQ} {
		if indexed[t] != live[t] {
			return corrupt("%s index holds %d hashes for %d live slots", t, indexed[t], live[t])
		}
	}
	return nil
}
