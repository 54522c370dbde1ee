package matcher

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
)

// A matcher snapshot is one file: a header naming the bank topic and the
// next offset of each of its partitions that the banks do not cover, then a
// bank snapshot (bank.WriteSnapshot, which checksums itself).
//
//	magic   "TKDNMSNP" then the format version, uint32 little-endian
//	header  length uint32, CRC-32C uint32 of the JSON, then the JSON
//	banks   bank.WriteSnapshot's output
//
// The file is written to a temporary name, synced and renamed over the old
// one, so a crash leaves either the old snapshot or the new one, never half.
const (
	snapshotFile    = "banks.snapshot"
	snapshotMagic   = "TKDNMSNP"
	snapshotVersion = 1
	maxHeader       = 1 << 20
)

// errBadSnapshot is wrapped by every error about a snapshot that cannot be
// used: damaged, from another topic or made with other matching options.
var errBadSnapshot = errors.New("unusable matcher snapshot")

// snapshotHeader is the part of a snapshot the banks themselves do not hold.
type snapshotHeader struct {
	Topic string `json:"topic"`
	// Offsets maps a partition (decimal) to the next offset to read.
	Offsets   map[string]int64 `json:"offsets"`
	WrittenAt time.Time        `json:"written_at"`
	Entries   int              `json:"entries"`
}

func (h *snapshotHeader) partitionOffsets() (map[int]int64, error) {
	out := make(map[int]int64, len(h.Offsets))
	for p, o := range h.Offsets {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || o < 0 {
			return nil, fmt.Errorf("%w: bad offset %q: %d", errBadSnapshot, p, o)
		}
		out[n] = o
	}
	return out, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// writeSnapshot saves banks with the offsets they cover to dir.
func writeSnapshot(dir, topic string, banks *bank.Banks, offsets map[int]int64) (n int64, err error) {
	h := snapshotHeader{Topic: topic, Offsets: map[string]int64{}, WrittenAt: time.Now().UTC(), Entries: banks.Len()}
	for p, o := range offsets {
		h.Offsets[strconv.Itoa(p)] = o
	}
	js, err := json.Marshal(h)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("snapshot directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, snapshotFile+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("create snapshot: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriterSize(tmp, 1<<20)
	var head [20]byte
	copy(head[:], snapshotMagic)
	binary.LittleEndian.PutUint32(head[8:], snapshotVersion)
	binary.LittleEndian.PutUint32(head[12:], uint32(len(js)))
	binary.LittleEndian.PutUint32(head[16:], crc32.Checksum(js, castagnoli))
	w.Write(head[:])
	w.Write(js)
	if err := banks.WriteSnapshot(w); err != nil {
		return 0, err
	}
	if err := w.Flush(); err != nil {
		return 0, fmt.Errorf("write snapshot: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return 0, fmt.Errorf("sync snapshot: %w", err)
	}
	st, err := tmp.Stat()
	if err != nil {
		return 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("close snapshot: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, snapshotFile)); err != nil {
		return 0, fmt.Errorf("install snapshot: %w", err)
	}
	// The rename is durable only once the directory is.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return st.Size(), nil
}

// readSnapshot loads the snapshot in dir. It returns an error wrapping
// os.ErrNotExist when there is none, and one wrapping errBadSnapshot when it
// cannot be used.
func readSnapshot(dir, topic string, opts bank.Options) (*bank.Banks, *snapshotHeader, error) {
	f, err := os.Open(filepath.Join(dir, snapshotFile))
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var head [20]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, nil, fmt.Errorf("%w: header: %v", errBadSnapshot, err)
	}
	if string(head[:8]) != snapshotMagic {
		return nil, nil, fmt.Errorf("%w: not a matcher snapshot", errBadSnapshot)
	}
	if v := binary.LittleEndian.Uint32(head[8:]); v != snapshotVersion {
		return nil, nil, fmt.Errorf("%w: format version %d, this matcher reads %d", errBadSnapshot, v, snapshotVersion)
	}
	n := binary.LittleEndian.Uint32(head[12:])
	if n > maxHeader {
		return nil, nil, fmt.Errorf("%w: header of %d bytes", errBadSnapshot, n)
	}
	js := make([]byte, n)
	if _, err := io.ReadFull(r, js); err != nil {
		return nil, nil, fmt.Errorf("%w: header: %v", errBadSnapshot, err)
	}
	if crc32.Checksum(js, castagnoli) != binary.LittleEndian.Uint32(head[16:]) {
		return nil, nil, fmt.Errorf("%w: header checksum mismatch", errBadSnapshot)
	}
	var h snapshotHeader
	if err := json.Unmarshal(js, &h); err != nil {
		return nil, nil, fmt.Errorf("%w: header: %v", errBadSnapshot, err)
	}
	if h.Topic != topic {
		return nil, nil, fmt.Errorf("%w: made from topic %q, this matcher follows %q", errBadSnapshot, h.Topic, topic)
	}
	if _, err := h.partitionOffsets(); err != nil {
		return nil, nil, err
	}
	banks, err := bank.ReadSnapshot(r)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errBadSnapshot, err)
	}
	// The snapshot's defaults are baked into its banks (and its Version):
	// after a settings change it would match with the old ones.
	if want, got := optionsKey(opts), optionsKey(banks.Options()); want != got {
		return nil, nil, fmt.Errorf("%w: made with matching options %s, the settings ask for %s", errBadSnapshot, got, want)
	}
	return banks, &h, nil
}

// optionsKey renders options with defaults filled in, for comparison.
func optionsKey(o bank.Options) string {
	b, _ := bank.New(o)
	if b != nil {
		o = b.Options()
	}
	js, _ := json.Marshal(o) // map keys are sorted
	return string(js)
}
