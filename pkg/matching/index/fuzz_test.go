package index

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// opReader decodes fuzz input; past the end it yields zeros.
type opReader struct {
	b []byte
	i int
}

func (r *opReader) more() bool { return r.i < len(r.b) }

func (r *opReader) next() byte {
	if r.i >= len(r.b) {
		return 0
	}
	r.i++
	return r.b[r.i-1]
}

// Hashes come from a small palette plus a few flipped bits, so that fuzz
// input produces exact duplicates, near duplicates across sub-string
// boundaries, and the all-zero and all-one hashes.
func paletteHash256(r *opReader) [32]byte {
	var h [32]byte
	switch r.next() % 4 {
	case 1:
		for i := range h {
			h[i] = 0xff
		}
	case 2:
		for i := range h {
			h[i] = byte(i*37 + 11)
		}
	case 3:
		for i := range h {
			h[i] = byte(i*91+5) ^ 0x5a
		}
	}
	for range r.next() % 40 {
		b := r.next()
		h[b/8] ^= 1 << (b % 8)
	}
	return h
}

func paletteHash64(r *opReader) uint64 {
	h := [4]uint64{0, ^uint64(0), 0x9e3779b97f4a7c15, 0x0123456789abcdef}[r.next()%4]
	for range r.next() % 16 {
		h ^= 1 << (r.next() % 64)
	}
	return h
}

// fuzzRadius prefers the radii around the per-table boundaries.
func fuzzRadius(r *opReader, max int) int {
	b := r.next()
	if b&1 == 0 {
		return int(b>>1) % (max + 2)
	}
	return []int{0, 15, 16, 31, 32, 47, 10, 11}[(b>>1)%8]
}

// FuzzMIH256 decodes a sequence of operations (insert, delete, search in
// each mode, snapshot round trip, compact) and checks every result against
// a brute-force model.
func FuzzMIH256(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 2, 1, 31, 0})
	f.Add([]byte{0, 1, 2, 3, 1, 8, 0, 2, 2, 2, 9, 100, 2, 2, 33, 4, 6, 0, 3, 1, 2, 0, 15})
	f.Add(bytes.Repeat([]byte{0, 7, 1, 2, 40, 41, 2, 3, 2, 0, 62}, 8))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &opReader{b: data}
		x, m := NewMIH256(), model256{}
		for step := 0; r.more() && step < 200; step++ {
			switch op := r.next() % 6; op {
			case 0, 1: // insert
				id := uint32(r.next() % 64)
				h := paletteHash256(r)
				x.Insert(id, h)
				m[id] = h
			case 2: // delete
				id := uint32(r.next() % 64)
				_, want := m[id]
				if got := x.Delete(id); got != want {
					t.Fatalf("step %d: Delete(%d) = %v, want %v", step, id, got, want)
				}
				delete(m, id)
			case 3: // search
				q := paletteHash256(r)
				radius := fuzzRadius(r, 256)
				want := m.search(q, radius)
				for _, md := range modes {
					if md.mode == modeMIH && radius > 64 {
						continue // probes nearly every bucket: slow, and covered by TestReferenceFixtures
					}
					x.setMode(md.mode)
					got := collect(t, func(fn func(uint32, int) bool) { x.Search(q, radius, fn) })
					sameResults(t, fmt.Sprintf("step %d radius %d mode %s", step, radius, md.name), got, want)
				}
				x.setMode(modeAuto)
			case 4: // snapshot round trip
				var buf bytes.Buffer
				if _, err := x.WriteTo(&buf); err != nil {
					t.Fatalf("step %d: WriteTo: %v", step, err)
				}
				y := NewMIH256()
				if _, err := y.ReadFrom(&buf); err != nil {
					t.Fatalf("step %d: ReadFrom: %v", step, err)
				}
				x = y
			case 5:
				x.Compact()
			}
			if x.Len() != len(m) {
				t.Fatalf("step %d: Len() = %d, want %d", step, x.Len(), len(m))
			}
		}
		for id, h := range m {
			if got, ok := x.Get(id); !ok || got != h {
				t.Fatalf("Get(%d) = %x, %v; want %x", id, got, ok, h)
			}
		}
	})
}

// FuzzMIH64 is FuzzMIH256 for 64-bit hashes.
func FuzzMIH64(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 3, 1, 10, 0})
	f.Add([]byte{0, 1, 2, 3, 1, 8, 0, 2, 2, 2, 9, 40, 2, 2, 33, 4, 6, 0, 3, 1, 2, 0, 15})
	f.Add(bytes.Repeat([]byte{0, 7, 1, 2, 40, 41, 3, 3, 2, 0, 21}, 8))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &opReader{b: data}
		x, m := NewMIH64(), model64{}
		for step := 0; r.more() && step < 200; step++ {
			switch op := r.next() % 6; op {
			case 0, 1:
				id := uint32(r.next() % 64)
				h := paletteHash64(r)
				x.Insert(id, h)
				m[id] = h
			case 2:
				id := uint32(r.next() % 64)
				_, want := m[id]
				if got := x.Delete(id); got != want {
					t.Fatalf("step %d: Delete(%d) = %v, want %v", step, id, got, want)
				}
				delete(m, id)
			case 3:
				q := paletteHash64(r)
				radius := fuzzRadius(r, 64)
				want := m.search(q, radius)
				for _, md := range modes {
					if md.mode == modeMIH && radius > 20 {
						continue // probes nearly every bucket
					}
					x.setMode(md.mode)
					got := collect(t, func(fn func(uint32, int) bool) { x.Search(q, radius, fn) })
					sameResults(t, fmt.Sprintf("step %d query %#x radius %d mode %s", step, q, radius, md.name), got, want)
				}
				x.setMode(modeAuto)
			case 4:
				var buf bytes.Buffer
				if _, err := x.WriteTo(&buf); err != nil {
					t.Fatalf("step %d: WriteTo: %v", step, err)
				}
				y := NewMIH64()
				if _, err := y.ReadFrom(&buf); err != nil {
					t.Fatalf("step %d: ReadFrom: %v", step, err)
				}
				x = y
			case 5:
				x.Compact()
			}
			if x.Len() != len(m) {
				t.Fatalf("step %d: Len() = %d, want %d", step, x.Len(), len(m))
			}
		}
		for id, h := range m {
			if got, ok := x.Get(id); !ok || got != h {
				t.Fatalf("Get(%d) = %#x, %v; want %#x", id, got, ok, h)
			}
		}
	})
}

// FuzzReadSnapshot feeds arbitrary bytes to ReadFrom: it must return an
// error or load an index whose own snapshot is exactly the bytes it read.
func FuzzReadSnapshot(f *testing.F) {
	for _, n := range []int{0, 3, 70} {
		x, y := NewMIH256(), NewMIH64()
		for i := range n {
			x.Insert(uint32(i*3), [32]byte{byte(i), 1})
			y.Insert(uint32(i*2), uint64(i)<<20|7)
		}
		var a, b bytes.Buffer
		if _, err := x.WriteTo(&a); err != nil {
			f.Fatal(err)
		}
		if _, err := y.WriteTo(&b); err != nil {
			f.Fatal(err)
		}
		f.Add(a.Bytes())
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(name string, read func() (int64, error), write func(*bytes.Buffer) error) {
			n, err := read()
			if err != nil {
				if !errors.Is(err, ErrCorruptSnapshot) && !errors.Is(err, ErrSnapshotVersion) && !errors.Is(err, ErrSnapshotKind) {
					t.Fatalf("%s: error %v wraps none of the snapshot errors", name, err)
				}
				return
			}
			var out bytes.Buffer
			if err := write(&out); err != nil {
				t.Fatalf("%s: WriteTo after a good read: %v", name, err)
			}
			if !bytes.Equal(out.Bytes(), data[:n]) {
				t.Fatalf("%s: snapshot of the loaded index differs from the %d bytes read", name, n)
			}
		}
		x := NewMIH256()
		check("MIH256", func() (int64, error) { return x.ReadFrom(bytes.NewReader(data)) },
			func(b *bytes.Buffer) error { _, err := x.WriteTo(b); return err })
		y := NewMIH64()
		check("MIH64", func() (int64, error) { return y.ReadFrom(bytes.NewReader(data)) },
			func(b *bytes.Buffer) error { _, err := y.WriteTo(b); return err })
	})
}
