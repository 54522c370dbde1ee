package index

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math/bits"
)

// Snapshot format, version 1 (all integers little-endian):
//
//	0   magic      "TKDNMIH\x00"
//	8   version    uint16 (1)
//	10  hash bits  uint16 (256 or 64)
//	12  reserved   uint32 (0)
//	16  slots      uint64: ids 0..slots-1 follow
//	24  count      uint64: live ids
//	32  header CRC uint32: CRC-32C of bytes 0..31
//	36  reserved   uint32 (0)
//	40  live bitmap, ceil(slots/64) uint64 words, bit id%64 of word id/64
//	    hashes, slots of them by id (32 bytes for PDQ in the hash's own byte
//	    order, 8 for 64-bit hashes); a dead slot holds zeros
//	end CRC-32C of everything before it, uint32
//
// Only hashes are stored: tables are rebuilt by a radix sort on load, which
// costs a fraction of inserting, cannot disagree with the hashes, and leaves
// the table layout free to change without a new format version. The header
// has its own checksum so that a damaged size field is refused before
// anything is allocated from it.
const (
	snapMagic     = "TKDNMIH\x00"
	snapVersion   = 1
	snapHeaderLen = 40
	maxSlots      = 1 << 32
	chunkBytes    = 1 << 20
)

var (
	// ErrCorruptSnapshot is returned (wrapped, with details) for a snapshot
	// that is truncated, fails a checksum or contradicts itself.
	ErrCorruptSnapshot = errors.New("index: corrupt snapshot")
	// ErrSnapshotVersion is returned for a snapshot written by a format
	// version this code does not read.
	ErrSnapshotVersion = errors.New("index: unsupported snapshot version")
	// ErrSnapshotKind is returned when a snapshot of one index type is read
	// into another (a 64-bit snapshot into an MIH256, say).
	ErrSnapshotKind = errors.New("index: snapshot is for another index type")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type snapHeader struct {
	hashBits     int
	slots, count uint64
}

// countingWriter counts and checksums what it passes on.
type countingWriter struct {
	w   io.Writer
	crc hash.Hash32
	n   int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.crc.Write(p[:n])
	c.n += int64(n)
	return n, err
}

// writeSnapshot writes a snapshot; putHashes encodes the hashes of ids
// [from, to) into dst and returns it.
func writeSnapshot(w io.Writer, h snapHeader, live bitset, putHashes func(dst []byte, from, to int) []byte, hashSize int) (int64, error) {
	bw := bufio.NewWriterSize(w, chunkBytes)
	cw := &countingWriter{w: bw, crc: crc32.New(castagnoli)}
	var hdr [snapHeaderLen]byte
	copy(hdr[:], snapMagic)
	binary.LittleEndian.PutUint16(hdr[8:], snapVersion)
	binary.LittleEndian.PutUint16(hdr[10:], uint16(h.hashBits))
	binary.LittleEndian.PutUint64(hdr[16:], h.slots)
	binary.LittleEndian.PutUint64(hdr[24:], h.count)
	binary.LittleEndian.PutUint32(hdr[32:], crc32.Checksum(hdr[:32], castagnoli))
	if _, err := cw.Write(hdr[:]); err != nil {
		return cw.n, fmt.Errorf("index: write snapshot: %w", err)
	}
	buf := make([]byte, 0, chunkBytes)
	words := int((h.slots + 63) / 64)
	for i := 0; i < words; i++ {
		var v uint64
		if i < len(live) {
			v = live[i]
		}
		buf = binary.LittleEndian.AppendUint64(buf, v)
		if len(buf) == cap(buf) {
			if _, err := cw.Write(buf); err != nil {
				return cw.n, fmt.Errorf("index: write snapshot: %w", err)
			}
			buf = buf[:0]
		}
	}
	per := chunkBytes / hashSize
	for from := 0; from < int(h.slots); from += per {
		to := min(from+per, int(h.slots))
		// Flush the bitmap remainder first when it would overflow the chunk.
		if len(buf)+(to-from)*hashSize > cap(buf) {
			if _, err := cw.Write(buf); err != nil {
				return cw.n, fmt.Errorf("index: write snapshot: %w", err)
			}
			buf = buf[:0]
		}
		buf = putHashes(buf, from, to)
	}
	if _, err := cw.Write(buf); err != nil {
		return cw.n, fmt.Errorf("index: write snapshot: %w", err)
	}
	var tail [4]byte
	binary.LittleEndian.PutUint32(tail[:], cw.crc.Sum32())
	if _, err := cw.Write(tail[:]); err != nil {
		return cw.n, fmt.Errorf("index: write snapshot: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return cw.n, fmt.Errorf("index: write snapshot: %w", err)
	}
	return cw.n, nil
}

// snapReader reads exact byte counts, checksumming and counting them. It
// never reads past the snapshot, so a snapshot can sit inside a longer stream.
type snapReader struct {
	r   io.Reader
	crc uint32
	n   int64
}

func (s *snapReader) full(p []byte, what string) error {
	n, err := io.ReadFull(s.r, p)
	s.crc = crc32.Update(s.crc, castagnoli, p[:n])
	s.n += int64(n)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: truncated in %s after %d bytes: %w", ErrCorruptSnapshot, what, s.n, io.ErrUnexpectedEOF)
		}
		return fmt.Errorf("index: read snapshot (%s): %w", what, err)
	}
	return nil
}

func readHeader(s *snapReader, wantBits int) (snapHeader, error) {
	var hdr [snapHeaderLen]byte
	if err := s.full(hdr[:], "header"); err != nil {
		return snapHeader{}, err
	}
	if string(hdr[:8]) != snapMagic {
		return snapHeader{}, fmt.Errorf("%w: bad magic %q (not an index snapshot)", ErrCorruptSnapshot, hdr[:8])
	}
	if got, want := binary.LittleEndian.Uint32(hdr[32:]), crc32.Checksum(hdr[:32], castagnoli); got != want {
		return snapHeader{}, fmt.Errorf("%w: header checksum %08x, want %08x", ErrCorruptSnapshot, got, want)
	}
	if v := binary.LittleEndian.Uint16(hdr[8:]); v != snapVersion {
		return snapHeader{}, fmt.Errorf("%w: version %d (this build reads %d)", ErrSnapshotVersion, v, snapVersion)
	}
	h := snapHeader{
		hashBits: int(binary.LittleEndian.Uint16(hdr[10:])),
		slots:    binary.LittleEndian.Uint64(hdr[16:]),
		count:    binary.LittleEndian.Uint64(hdr[24:]),
	}
	if h.hashBits != wantBits {
		return snapHeader{}, fmt.Errorf("%w: %d-bit hashes, want %d-bit", ErrSnapshotKind, h.hashBits, wantBits)
	}
	if r := binary.LittleEndian.Uint32(hdr[12:]) | binary.LittleEndian.Uint32(hdr[36:]); r != 0 {
		return snapHeader{}, fmt.Errorf("%w: reserved header fields set (%#x)", ErrCorruptSnapshot, r)
	}
	if h.slots > maxSlots || h.count > h.slots {
		return snapHeader{}, fmt.Errorf("%w: %d live ids in %d slots", ErrCorruptSnapshot, h.count, h.slots)
	}
	return h, nil
}

// readBody reads the bitmap, the hashes and the trailing checksum. Slices grow
// with the bytes actually read, never straight to the header's sizes, so a
// short stream cannot make it allocate much more than it delivered.
func readBody[H storedHash[H]](s *snapReader, h snapHeader) ([]H, bitset, error) {
	hashSize := layoutOf[H]().bits / 8
	words := int((h.slots + 63) / 64)
	buf := make([]byte, min(chunkBytes, max(8*words, int(h.slots)*hashSize)))
	live := bitset{}
	for len(live) < words {
		n := min(words-len(live), chunkBytes/8)
		if err := s.full(buf[:n*8], "live bitmap"); err != nil {
			return nil, nil, err
		}
		live = appendCapped(live, words, n)
		base := len(live) - n
		for i := range n {
			live[base+i] = binary.LittleEndian.Uint64(buf[i*8:])
		}
	}
	var count uint64
	for _, w := range live {
		count += uint64(bits.OnesCount64(w))
	}
	if rem := h.slots % 64; rem != 0 && live[words-1]>>rem != 0 {
		return nil, nil, fmt.Errorf("%w: live bitmap marks ids beyond %d slots", ErrCorruptSnapshot, h.slots)
	}
	if count != h.count {
		return nil, nil, fmt.Errorf("%w: live bitmap has %d ids, header says %d", ErrCorruptSnapshot, count, h.count)
	}
	slots := int(h.slots)
	var hs []H
	var zero H
	per := chunkBytes / hashSize
	for len(hs) < slots {
		n := min(slots-len(hs), per)
		if err := s.full(buf[:n*hashSize], "hashes"); err != nil {
			return nil, nil, err
		}
		hs = appendCapped(hs, slots, n)
		base := len(hs) - n
		zero.decodeHashes(hs[base:], buf[:n*hashSize])
		for i, v := range hs[base:] {
			if v != zero && !live.has(uint32(base+i)) {
				return nil, nil, fmt.Errorf("%w: dead id %d holds a hash", ErrCorruptSnapshot, base+i)
			}
		}
	}
	want := s.crc
	var tail [4]byte
	if err := s.full(tail[:], "checksum"); err != nil {
		return nil, nil, err
	}
	if got := binary.LittleEndian.Uint32(tail[:]); got != want {
		return nil, nil, fmt.Errorf("%w: checksum %08x, want %08x", ErrCorruptSnapshot, got, want)
	}
	return hs, live, nil
}

// appendCapped extends s by n zero elements, doubling capacity but never past
// limit, so that the final slice has no slack.
func appendCapped[T any](s []T, limit, n int) []T {
	if len(s)+n > cap(s) {
		c := min(max(2*cap(s), len(s)+n), limit)
		ns := make([]T, len(s), c)
		copy(ns, s)
		s = ns
	}
	return s[:len(s)+n]
}

// writeTo writes a snapshot of the index to w. It holds the read lock
// throughout: searches go on, writes wait.
func (x *mih[H]) writeTo(w io.Writer) (int64, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	lay := layoutOf[H]()
	h := snapHeader{hashBits: lay.bits, slots: uint64(len(x.hs)), count: uint64(x.n)}
	var zero H
	return writeSnapshot(w, h, x.live, func(dst []byte, from, to int) []byte {
		return zero.appendHashes(dst, x.hs[from:to])
	}, lay.bits/8)
}

// readFrom replaces the contents of the index with a snapshot read from r,
// or leaves them as they were on error; it takes the write lock only to swap
// them in.
func (x *mih[H]) readFrom(r io.Reader) (int64, error) {
	lay := layoutOf[H]()
	s := &snapReader{r: r}
	h, err := readHeader(s, lay.bits)
	if err != nil {
		return s.n, err
	}
	hs, live, err := readBody[H](s, h)
	if err != nil {
		return s.n, err
	}
	y := &mih[H]{hs: hs, live: live, n: int(h.count)}
	if y.n >= linearBelow {
		y.buildTables()
	}
	x.mu.Lock()
	x.hs, x.live, x.n, x.tabs = y.hs, y.live, y.n, y.tabs
	x.mu.Unlock()
	return s.n, nil
}

// WriteTo writes a snapshot of the index to w. It holds the read lock
// throughout: searches go on, writes wait.
func (x *MIH256) WriteTo(w io.Writer) (int64, error) { return x.writeTo(w) }

// ReadFrom replaces the contents of the index with a snapshot read from r.
// On error the index is left as it was; corrupt input gives an error wrapping
// ErrCorruptSnapshot, never a panic.
func (x *MIH256) ReadFrom(r io.Reader) (int64, error) { return x.readFrom(r) }

// WriteTo writes a snapshot of the index to w. It holds the read lock
// throughout: searches go on, writes wait.
func (x *MIH64) WriteTo(w io.Writer) (int64, error) { return x.writeTo(w) }

// ReadFrom replaces the contents of the index with a snapshot read from r.
// On error the index is left as it was; corrupt input gives an error wrapping
// ErrCorruptSnapshot, never a panic.
func (x *MIH64) ReadFrom(r io.Reader) (int64, error) { return x.readFrom(r) }
