package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"testing"
)

func churned256(t testing.TB, n int) (*MIH256, model256) {
	t.Helper()
	r := rand.New(rand.NewPCG(7, uint64(n)))
	data := dataset256(r, "clustered", n)
	x, m := NewMIH256(), model256{}
	for i, h := range data {
		x.Insert(uint32(i), h)
		m[uint32(i)] = h
	}
	churn256(r, x, m, data, n)
	return x, m
}

func churned64(t testing.TB, n int) (*MIH64, model64) {
	t.Helper()
	r := rand.New(rand.NewPCG(8, uint64(n)))
	data := dataset64(r, "clustered", n)
	x, m := NewMIH64(), model64{}
	for i, h := range data {
		x.Insert(uint32(i), h)
		m[uint32(i)] = h
	}
	churn64(r, x, m, data, n)
	return x, m
}

func TestSnapshotRoundTrip256(t *testing.T) {
	// 40000 hashes take more than one 1 MiB write chunk.
	for _, n := range []int{0, 1, 100, 4000, 40000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			x, m := churned256(t, n)
			var buf bytes.Buffer
			wn, err := x.WriteTo(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if wn != int64(buf.Len()) {
				t.Fatalf("WriteTo returned %d, wrote %d bytes", wn, buf.Len())
			}
			// Read into an index that already holds something: it is replaced.
			y := NewMIH256()
			y.Insert(1<<20, [32]byte{9})
			rn, err := y.ReadFrom(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if rn != wn {
				t.Fatalf("ReadFrom read %d bytes of %d", rn, wn)
			}
			if y.Len() != len(m) {
				t.Fatalf("Len() = %d after load, want %d", y.Len(), len(m))
			}
			if _, ok := y.Get(1 << 20); ok {
				t.Fatal("entry from before the load survived it")
			}
			for id, h := range m {
				if got, ok := y.Get(id); !ok || got != h {
					t.Fatalf("Get(%d) after load = %x, %v", id, got, ok)
				}
			}
			r := rand.New(rand.NewPCG(1, 1))
			for _, q := range queries256(r, m, 20) {
				for _, md := range modes {
					y.setMode(md.mode)
					got := collect(t, func(fn func(uint32, int) bool) { y.Search(q, DefaultRadius256, fn) })
					sameResults(t, "after load, mode "+md.name, got, m.search(q, DefaultRadius256))
				}
			}
			// The loaded index keeps working under churn.
			y.setMode(modeAuto)
			data := dataset256(r, "random", 50)
			churn256(r, y, m, data, 500)
			for _, q := range queries256(r, m, 20) {
				got := collect(t, func(fn func(uint32, int) bool) { y.Search(q, DefaultRadius256, fn) })
				sameResults(t, "after load and churn", got, m.search(q, DefaultRadius256))
			}
		})
	}
}

func TestSnapshotRoundTrip64(t *testing.T) {
	for _, n := range []int{0, 1, 100, 4000, 200000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			x, m := churned64(t, n)
			var buf bytes.Buffer
			wn, err := x.WriteTo(&buf)
			if err != nil {
				t.Fatal(err)
			}
			y := NewMIH64()
			rn, err := y.ReadFrom(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if rn != wn || y.Len() != len(m) {
				t.Fatalf("read %d of %d bytes, Len() = %d, want %d", rn, wn, y.Len(), len(m))
			}
			r := rand.New(rand.NewPCG(2, 2))
			for _, q := range queries64(r, m, 30) {
				for _, md := range modes {
					y.setMode(md.mode)
					got := collect(t, func(fn func(uint32, int) bool) { y.Search(q, DefaultRadius64, fn) })
					sameResults(t, "after load, mode "+md.name, got, m.search(q, DefaultRadius64))
				}
			}
		})
	}
}

// TestSnapshotInStream checks that ReadFrom stops at the snapshot's end, so a
// snapshot can be followed by other data.
func TestSnapshotInStream(t *testing.T) {
	x, _ := churned64(t, 500)
	var buf bytes.Buffer
	if _, err := x.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	buf.WriteString("after")
	if _, err := NewMIH64().ReadFrom(&buf); err != nil {
		t.Fatal(err)
	}
	if rest, _ := io.ReadAll(&buf); string(rest) != "after" {
		t.Fatalf("bytes after the snapshot = %q, want %q", rest, "after")
	}
}

// reader is what both index types offer for loading.
type reader interface {
	ReadFrom(io.Reader) (int64, error)
	Len() int
}

// TestCorruptSnapshotRefused damages a snapshot in every byte and at every
// length: each must be refused with ErrCorruptSnapshot and leave the index
// as it was.
func TestCorruptSnapshotRefused(t *testing.T) {
	x256, _ := churned256(t, 40)
	x64, _ := churned64(t, 40)
	for _, tc := range []struct {
		name  string
		write func(io.Writer) (int64, error)
		fresh func() reader
	}{
		{"MIH256", x256.WriteTo, func() reader { y := NewMIH256(); y.Insert(3, [32]byte{3}); return y }},
		{"MIH64", x64.WriteTo, func() reader { y := NewMIH64(); y.Insert(3, 3); return y }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if _, err := tc.write(&buf); err != nil {
				t.Fatal(err)
			}
			good := buf.Bytes()
			try := func(what string, data []byte) {
				t.Helper()
				y := tc.fresh()
				_, err := y.ReadFrom(bytes.NewReader(data))
				if !errors.Is(err, ErrCorruptSnapshot) {
					t.Fatalf("%s: err = %v, want ErrCorruptSnapshot", what, err)
				}
				if y.Len() != 1 {
					t.Fatalf("%s: failed load changed the index (Len() = %d)", what, y.Len())
				}
			}
			for i := range good {
				for _, mask := range []byte{0x01, 0x80, 0xff} {
					bad := bytes.Clone(good)
					bad[i] ^= mask
					try(fmt.Sprintf("byte %d ^ %#x", i, mask), bad)
				}
			}
			for n := range len(good) {
				try(fmt.Sprintf("truncated to %d bytes", n), good[:n])
			}
			_, err := tc.fresh().ReadFrom(bytes.NewReader(good[:len(good)-1]))
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("truncated snapshot: err = %v, want it to wrap io.ErrUnexpectedEOF", err)
			}
		})
	}
}

// withHeader rewrites header fields of a snapshot and re-seals the header
// checksum, to reach the checks behind it.
func withHeader(snap []byte, edit func(h []byte)) []byte {
	b := bytes.Clone(snap)
	edit(b[:snapHeaderLen])
	binary.LittleEndian.PutUint32(b[32:], crc32.Checksum(b[:32], castagnoli))
	return b
}

func TestSnapshotHeaderChecks(t *testing.T) {
	x, _ := churned256(t, 30)
	var buf bytes.Buffer
	if _, err := x.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	snap := buf.Bytes()
	var buf64 bytes.Buffer
	y, _ := churned64(t, 30)
	if _, err := y.WriteTo(&buf64); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		data    []byte
		into    reader
		wantErr error
	}{
		{"empty input", nil, NewMIH256(), ErrCorruptSnapshot},
		{"not a snapshot", []byte("PK\x03\x04 this is a zip file, not an index snapshot at all"), NewMIH256(), ErrCorruptSnapshot},
		{"newer version", withHeader(snap, func(h []byte) { binary.LittleEndian.PutUint16(h[8:], 2) }), NewMIH256(), ErrSnapshotVersion},
		{"64-bit snapshot into MIH256", buf64.Bytes(), NewMIH256(), ErrSnapshotKind},
		{"256-bit snapshot into MIH64", snap, NewMIH64(), ErrSnapshotKind},
		{"count above slots", withHeader(snap, func(h []byte) { binary.LittleEndian.PutUint64(h[24:], 1<<40) }), NewMIH256(), ErrCorruptSnapshot},
		{"slots above 2^32", withHeader(snap, func(h []byte) { binary.LittleEndian.PutUint64(h[16:], 1<<33) }), NewMIH256(), ErrCorruptSnapshot},
		// A sealed header that promises 2^32 slots over a short body must
		// fail on the missing bytes, not try to allocate 128 GiB first.
		{"huge slots, short body", withHeader(snap, func(h []byte) { binary.LittleEndian.PutUint64(h[16:], 1<<32) }), NewMIH256(), ErrCorruptSnapshot},
		{"count disagrees with bitmap", withHeader(snap, func(h []byte) { binary.LittleEndian.PutUint64(h[24:], binary.LittleEndian.Uint64(h[24:])-1) }), NewMIH256(), ErrCorruptSnapshot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.into.ReadFrom(bytes.NewReader(tt.data))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.into.Len() != 0 {
				t.Fatalf("failed load left %d entries", tt.into.Len())
			}
		})
	}
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.after {
		n := w.after
		w.after = 0
		return n, errors.New("disk full")
	}
	w.after -= len(p)
	return len(p), nil
}

func TestWriteToError(t *testing.T) {
	x, _ := churned256(t, 3000)
	for _, after := range []int{0, 10, 50, 100_000} {
		if _, err := x.WriteTo(&failWriter{after: after}); err == nil {
			t.Errorf("WriteTo into a writer that fails after %d bytes: no error", after)
		}
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// TestReadFromReaderError checks that an I/O error is passed on as such, not
// reported as a corrupt snapshot.
func TestReadFromReaderError(t *testing.T) {
	boom := errors.New("connection reset")
	var buf bytes.Buffer
	x, _ := churned64(t, 100)
	if _, err := x.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	r := io.MultiReader(bytes.NewReader(buf.Bytes()[:100]), errReader{boom})
	_, err := NewMIH64().ReadFrom(r)
	if !errors.Is(err, boom) || errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("err = %v, want the reader's error and not ErrCorruptSnapshot", err)
	}
}
