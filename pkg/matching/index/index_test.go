package index

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"maps"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// model256 is the brute-force reference: a map from id to hash, searched by
// computing every distance.
type model256 map[uint32][32]byte

func hamming256(a, b [32]byte) int {
	d := 0
	for i := range a {
		d += bits.OnesCount8(a[i] ^ b[i])
	}
	return d
}

func (m model256) search(q [32]byte, radius int) map[uint32]int {
	out := map[uint32]int{}
	for id, h := range m {
		if d := hamming256(q, h); d <= radius {
			out[id] = d
		}
	}
	return out
}

type model64 map[uint32]uint64

func (m model64) search(q uint64, radius int) map[uint32]int {
	out := map[uint32]int{}
	for id, h := range m {
		if d := bits.OnesCount64(q ^ h); d <= radius {
			out[id] = d
		}
	}
	return out
}

// collect runs a search and fails on an id reported twice.
func collect(t testing.TB, search func(fn func(uint32, int) bool)) map[uint32]int {
	t.Helper()
	got := map[uint32]int{}
	search(func(id uint32, d int) bool {
		if prev, dup := got[id]; dup {
			t.Fatalf("id %d reported twice (distances %d and %d)", id, prev, d)
		}
		got[id] = d
		return true
	})
	return got
}

func sameResults(t testing.TB, what string, got, want map[uint32]int) {
	t.Helper()
	if maps.Equal(got, want) {
		return
	}
	var missing, extra, wrong []string
	for id, d := range want {
		g, ok := got[id]
		switch {
		case !ok:
			missing = append(missing, fmt.Sprintf("%d@%d", id, d))
		case g != d:
			wrong = append(wrong, fmt.Sprintf("%d: %d want %d", id, g, d))
		}
	}
	for id, d := range got {
		if _, ok := want[id]; !ok {
			extra = append(extra, fmt.Sprintf("%d@%d", id, d))
		}
	}
	t.Fatalf("%s: %d results, want %d; missing %v; extra %v; wrong distance %v",
		what, len(got), len(want), first(missing), first(extra), first(wrong))
}

func first(s []string) []string {
	slices.Sort(s)
	return s[:min(len(s), 8)]
}

func rand256(r *rand.Rand) [32]byte {
	var h [32]byte
	for i := 0; i < 32; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			h[i+j] = byte(v >> (8 * j))
		}
	}
	return h
}

// flip256 returns h with k distinct random bits flipped.
func flip256(r *rand.Rand, h [32]byte, k int) [32]byte {
	for _, b := range r.Perm(256)[:k] {
		h[b/8] ^= 1 << (b % 8)
	}
	return h
}

func flip64(r *rand.Rand, h uint64, k int) uint64 {
	for _, b := range r.Perm(64)[:k] {
		h ^= 1 << b
	}
	return h
}

// dataset256 makes n hashes: uniformly random, or in near-duplicate families
// (a random centre and members up to 12 bits from it, as real banks hold
// re-encodes of the same picture), or degenerate (a handful of distinct
// values, including all zeros, repeated many times).
func dataset256(r *rand.Rand, kind string, n int) [][32]byte {
	out := make([][32]byte, n)
	switch kind {
	case "random":
		for i := range out {
			out[i] = rand256(r)
		}
	case "clustered":
		var centre [32]byte
		for i := range out {
			if i%40 == 0 {
				centre = rand256(r)
			}
			out[i] = flip256(r, centre, r.IntN(13))
		}
	case "degenerate":
		vals := [][32]byte{{}, rand256(r), flip256(r, [32]byte{}, 1), flip256(r, [32]byte{}, 17)}
		for i := range out {
			out[i] = vals[r.IntN(len(vals))]
		}
	default:
		panic(kind)
	}
	return out
}

func dataset64(r *rand.Rand, kind string, n int) []uint64 {
	out := make([]uint64, n)
	switch kind {
	case "random":
		for i := range out {
			out[i] = r.Uint64()
		}
	case "clustered":
		var centre uint64
		for i := range out {
			if i%40 == 0 {
				centre = r.Uint64()
			}
			out[i] = flip64(r, centre, r.IntN(6))
		}
	case "degenerate":
		vals := []uint64{0, ^uint64(0), 1, r.Uint64()}
		for i := range out {
			out[i] = vals[r.IntN(len(vals))]
		}
	default:
		panic(kind)
	}
	return out
}

// churn256 applies random inserts, deletes, re-inserts of deleted ids and
// replacements of live ids to both the index and the model.
func churn256(r *rand.Rand, x *MIH256, m model256, data [][32]byte, ops int) {
	for range ops {
		id := uint32(r.IntN(len(data) + len(data)/4))
		switch r.IntN(4) {
		case 0, 1: // delete
			_, want := m[id]
			if got := x.Delete(id); got != want {
				panic(fmt.Sprintf("Delete(%d) = %v, model says %v", id, got, want))
			}
			delete(m, id)
		case 2: // (re-)insert a dataset hash, often near another one
			h := flip256(r, data[r.IntN(len(data))], r.IntN(4))
			x.Insert(id, h)
			m[id] = h
		case 3: // replace with a fresh random hash
			h := rand256(r)
			x.Insert(id, h)
			m[id] = h
		}
	}
}

func churn64(r *rand.Rand, x *MIH64, m model64, data []uint64, ops int) {
	for range ops {
		id := uint32(r.IntN(len(data) + len(data)/4))
		switch r.IntN(4) {
		case 0, 1:
			_, want := m[id]
			if got := x.Delete(id); got != want {
				panic(fmt.Sprintf("Delete(%d) = %v, model says %v", id, got, want))
			}
			delete(m, id)
		case 2:
			h := flip64(r, data[r.IntN(len(data))], r.IntN(3))
			x.Insert(id, h)
			m[id] = h
		case 3:
			h := r.Uint64()
			x.Insert(id, h)
			m[id] = h
		}
	}
}

// queries256 mixes planted matches (a stored hash with 0..40 bits flipped,
// spanning both sides of every radius under test) with random queries.
func queries256(r *rand.Rand, m model256, n int) [][32]byte {
	ids := slices.Sorted(maps.Keys(m))
	qs := make([][32]byte, n)
	for i := range qs {
		if i%4 == 3 || len(ids) == 0 {
			qs[i] = rand256(r)
			continue
		}
		qs[i] = flip256(r, m[ids[r.IntN(len(ids))]], r.IntN(41))
	}
	return qs
}

func queries64(r *rand.Rand, m model64, n int) []uint64 {
	ids := slices.Sorted(maps.Keys(m))
	qs := make([]uint64, n)
	for i := range qs {
		if i%4 == 3 || len(ids) == 0 {
			qs[i] = r.Uint64()
			continue
		}
		qs[i] = flip64(r, m[ids[r.IntN(len(ids))]], r.IntN(17))
	}
	return qs
}

var (
	radii256 = []int{-1, 0, 1, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 100, 256, 300}
	radii64  = []int{-1, 0, 1, 3, 4, 7, 8, 10, 11, 12, 15, 16, 20, 32, 64, 65}
	modes    = []struct {
		name string
		mode searchMode
	}{{"auto", modeAuto}, {"mih", modeMIH}, {"linear", modeLinear}}
)

// TestMIH256MatchesBruteForce is the differential test: every search, in
// every mode and at every radius, must return exactly the brute-force set,
// before and after churn.
func TestMIH256MatchesBruteForce(t *testing.T) {
	for _, kind := range []string{"random", "clustered", "degenerate"} {
		for _, n := range []int{0, 1, 300, 5000} {
			t.Run(fmt.Sprintf("%s/%d", kind, n), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(n), uint64(len(kind))))
				data := dataset256(r, kind, n)
				x, m := NewMIH256(), model256{}
				for i, h := range data {
					x.Insert(uint32(i), h)
					m[uint32(i)] = h
				}
				check := func(stage string) {
					if x.Len() != len(m) {
						t.Fatalf("%s: Len() = %d, want %d", stage, x.Len(), len(m))
					}
					for qi, q := range queries256(r, m, 12) {
						for _, radius := range radii256 {
							want := m.search(q, radius)
							for _, md := range modes {
								if md.mode == modeMIH && radius > 64 {
									continue // probes every bucket; TestReferenceFixtures covers it
								}
								x.setMode(md.mode)
								got := collect(t, func(fn func(uint32, int) bool) { x.Search(q, radius, fn) })
								sameResults(t, fmt.Sprintf("%s: query %d radius %d mode %s", stage, qi, radius, md.name), got, want)
							}
							x.setMode(modeAuto)
						}
					}
				}
				check("after inserts")
				if n == 0 {
					return
				}
				churn256(r, x, m, data, 3*n)
				check("after churn")
				x.Compact()
				check("after compact")
				churn256(r, x, m, data, n)
				check("after churn on compacted tables")
			})
		}
	}
}

func TestMIH64MatchesBruteForce(t *testing.T) {
	for _, kind := range []string{"random", "clustered", "degenerate"} {
		for _, n := range []int{0, 1, 300, 5000} {
			t.Run(fmt.Sprintf("%s/%d", kind, n), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(n), uint64(len(kind))+100))
				data := dataset64(r, kind, n)
				x, m := NewMIH64(), model64{}
				for i, h := range data {
					x.Insert(uint32(i), h)
					m[uint32(i)] = h
				}
				check := func(stage string) {
					if x.Len() != len(m) {
						t.Fatalf("%s: Len() = %d, want %d", stage, x.Len(), len(m))
					}
					for qi, q := range queries64(r, m, 12) {
						for _, radius := range radii64 {
							want := m.search(q, radius)
							for _, md := range modes {
								if md.mode == modeMIH && radius > 20 {
									continue // probes every bucket; TestReferenceFixtures covers it
								}
								x.setMode(md.mode)
								got := collect(t, func(fn func(uint32, int) bool) { x.Search(q, radius, fn) })
								sameResults(t, fmt.Sprintf("%s: query %#016x radius %d mode %s (#%d)", stage, q, radius, md.name, qi), got, want)
							}
							x.setMode(modeAuto)
						}
					}
				}
				check("after inserts")
				if n == 0 {
					return
				}
				churn64(r, x, m, data, 3*n)
				check("after churn")
				x.Compact()
				check("after compact")
				churn64(r, x, m, data, n)
				check("after churn on compacted tables")
			})
		}
	}
}

// TestSearchEarlyStop checks that fn returning false ends the search at once.
func TestSearchEarlyStop(t *testing.T) {
	x, y := NewMIH256(), NewMIH64()
	for i := range uint32(3000) {
		x.Insert(i, [32]byte{})
		y.Insert(i, 0)
	}
	for _, md := range modes {
		x.setMode(md.mode)
		y.setMode(md.mode)
		for _, stopAfter := range []int{1, 2, 10} {
			calls := 0
			x.Search([32]byte{}, 31, func(uint32, int) bool { calls++; return calls < stopAfter })
			if calls != stopAfter {
				t.Errorf("MIH256 mode %s: fn called %d times after returning false at call %d", md.name, calls, stopAfter)
			}
			calls = 0
			y.Search(0, 10, func(uint32, int) bool { calls++; return calls < stopAfter })
			if calls != stopAfter {
				t.Errorf("MIH64 mode %s: fn called %d times after returning false at call %d", md.name, calls, stopAfter)
			}
		}
	}
}

// TestLargeBuckets fills single buckets far past one candidate batch (a
// family of identical hashes) and checks every member is reported once at
// radii that take each probing path.
func TestLargeBuckets(t *testing.T) {
	const n = 3000
	x, y := NewMIH256(), NewMIH64()
	r := rand.New(rand.NewPCG(4, 4))
	h256, h64 := rand256(r), r.Uint64()
	for i := range uint32(n) {
		x.Insert(i, h256)
		y.Insert(i, h64)
	}
	x.setMode(modeMIH)
	y.setMode(modeMIH)
	for _, radius := range []int{0, 31, 100, 200} {
		got := collect(t, func(fn func(uint32, int) bool) { x.Search(flip256(r, h256, radius/2), radius, fn) })
		if len(got) != n {
			t.Errorf("MIH256 radius %d: %d results, want %d", radius, len(got), n)
		}
	}
	for _, radius := range []int{0, 10, 20} {
		got := collect(t, func(fn func(uint32, int) bool) { y.Search(flip64(r, h64, radius/2), radius, fn) })
		if len(got) != n {
			t.Errorf("MIH64 radius %d: %d results, want %d", radius, len(got), n)
		}
	}
}

func TestInsertDeleteGet(t *testing.T) {
	x := NewMIH256()
	x.Reserve(16)
	a, b := [32]byte{1}, [32]byte{2}
	tests := []struct {
		name    string
		op      func() bool
		want    bool
		wantLen int
	}{
		{"delete absent", func() bool { return x.Delete(7) }, false, 0},
		{"insert", func() bool { x.Insert(7, a); return true }, true, 1},
		{"same again", func() bool { x.Insert(7, a); return true }, true, 1},
		{"replace", func() bool { x.Insert(7, b); return true }, true, 1},
		{"get replaced", func() bool { h, ok := x.Get(7); return ok && h == b }, true, 1},
		{"get absent", func() bool { _, ok := x.Get(8); return ok }, false, 1},
		{"get past end", func() bool { _, ok := x.Get(1 << 30); return ok }, false, 1},
		{"delete", func() bool { return x.Delete(7) }, true, 0},
		{"delete twice", func() bool { return x.Delete(7) }, false, 0},
		{"get deleted", func() bool { _, ok := x.Get(7); return ok }, false, 0},
	}
	for _, tt := range tests {
		if got := tt.op(); got != tt.want {
			t.Fatalf("%s: got %v, want %v", tt.name, got, tt.want)
		}
		if x.Len() != tt.wantLen {
			t.Fatalf("%s: Len() = %d, want %d", tt.name, x.Len(), tt.wantLen)
		}
	}
	// The old hash of a replaced id must not be found any more.
	x.Insert(3, a)
	x.Insert(3, b)
	x.setMode(modeMIH)
	if got := collect(t, func(fn func(uint32, int) bool) { x.Search(a, 0, fn) }); len(got) != 0 {
		t.Fatalf("replaced hash still found: %v", got)
	}
}

func TestMIH64InsertDeleteGet(t *testing.T) {
	x := NewMIH64()
	x.Reserve(16)
	if _, ok := x.Get(3); ok {
		t.Fatal("Get on an empty index found something")
	}
	x.Insert(5, 0xdead)
	x.Insert(5, 0xbeef)
	if h, ok := x.Get(5); !ok || h != 0xbeef {
		t.Fatalf("Get(5) = %#x, %v; want 0xbeef, true", h, ok)
	}
	if x.Len() != 1 {
		t.Fatalf("Len() = %d, want 1", x.Len())
	}
	x.setMode(modeMIH)
	if got := collect(t, func(fn func(uint32, int) bool) { x.Search(0xdead, 0, fn) }); len(got) != 0 {
		t.Fatalf("replaced hash still found: %v", got)
	}
	if !x.Delete(5) || x.Delete(5) || x.Len() != 0 {
		t.Fatalf("Delete: want true then false and an empty index, Len() = %d", x.Len())
	}
}

// testdataDir is the shared reference data, beside the project root.
func testdataDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "..", "shared", "testdata", "pdq", "reg-test-input"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared test data not found: %v", err)
	}
	return dir
}

func readHexLines(t testing.TB, path string, digits int) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if len(line) != digits {
			t.Fatalf("%s: line %q is not %d hex digits", path, line, digits)
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func parse256(t testing.TB, s string) [32]byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("bad PDQ hash %q: %v", s, err)
	}
	return [32]byte(b)
}

// TestReferenceFixtures runs the PDQ reference project's index fixtures (real
// PDQ hashes: a haystack with near-duplicate families, needles, and the
// edge-case lists) through both search paths against brute force.
func TestReferenceFixtures(t *testing.T) {
	dir := testdataDir(t)
	t.Run("haystack-needles", func(t *testing.T) {
		x, m := NewMIH256(), model256{}
		for i, s := range readHexLines(t, filepath.Join(dir, "haystack.txt"), 64) {
			h := parse256(t, s)
			x.Insert(uint32(i), h)
			m[uint32(i)] = h
		}
		needles := readHexLines(t, filepath.Join(dir, "needles.txt"), 64)
		total := 0
		for _, s := range needles {
			q := parse256(t, s)
			for _, radius := range []int{0, 10, 31, 32, 47, 63} {
				want := m.search(q, radius)
				if radius == DefaultRadius256 {
					total += len(want)
				}
				for _, md := range modes {
					x.setMode(md.mode)
					got := collect(t, func(fn func(uint32, int) bool) { x.Search(q, radius, fn) })
					sameResults(t, fmt.Sprintf("needle %s radius %d mode %s", s, radius, md.name), got, want)
				}
			}
		}
		// The fixture is only a test if needles do find something.
		if total == 0 {
			t.Fatal("no needle matched the haystack at radius 31")
		}
		t.Logf("%d needles, %d matches at radius 31", len(needles), total)
	})
	for _, name := range []string{"short256.dat", "long256.dat", "order256.dat"} {
		t.Run(name, func(t *testing.T) {
			x, m := NewMIH256(), model256{}
			lines := readHexLines(t, filepath.Join(dir, name), 64)
			for i, s := range lines {
				h := parse256(t, s)
				x.Insert(uint32(i), h)
				m[uint32(i)] = h
			}
			for _, s := range lines {
				q := parse256(t, s)
				radii := []int{0, 1, 16, 31, 64}
				if len(lines) < 10 {
					radii = append(radii, 128) // probes most buckets in mode mih
				}
				for _, radius := range radii {
					for _, md := range modes {
						x.setMode(md.mode)
						got := collect(t, func(fn func(uint32, int) bool) { x.Search(q, radius, fn) })
						sameResults(t, fmt.Sprintf("%s radius %d mode %s", s, radius, md.name), got, m.search(q, radius))
					}
				}
			}
		})
	}
	for _, name := range []string{"short64.dat", "long64.dat"} {
		t.Run(name, func(t *testing.T) {
			x, m := NewMIH64(), model64{}
			lines := readHexLines(t, filepath.Join(dir, name), 16)
			for i, s := range lines {
				h, err := strconv.ParseUint(s, 16, 64)
				if err != nil {
					t.Fatal(err)
				}
				x.Insert(uint32(i), h)
				m[uint32(i)] = h
			}
			for _, s := range lines {
				q, _ := strconv.ParseUint(s, 16, 64)
				radii := []int{0, 1, 4, 10, 16}
				if len(lines) < 10 {
					radii = append(radii, 32, 64)
				}
				for _, radius := range radii {
					for _, md := range modes {
						x.setMode(md.mode)
						got := collect(t, func(fn func(uint32, int) bool) { x.Search(q, radius, fn) })
						sameResults(t, fmt.Sprintf("%s radius %d mode %s", s, radius, md.name), got, m.search(q, radius))
					}
				}
			}
		})
	}
}

// TestConcurrentSearchAndWrite runs searches while one writer churns; under
// -race it checks the locking. Ids below stable are never touched, so every
// search must still find them.
func TestConcurrentSearchAndWrite(t *testing.T) {
	const stable = 500
	r := rand.New(rand.NewPCG(1, 2))
	x, y := NewMIH256(), NewMIH64()
	data := dataset256(r, "clustered", 3000)
	data64 := dataset64(r, "clustered", 3000)
	for i := range data {
		x.Insert(uint32(i), data[i])
		y.Insert(uint32(i), data64[i])
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		wr := rand.New(rand.NewPCG(3, 4))
		var buf strings.Builder
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := uint32(stable + wr.IntN(len(data)-stable))
			if wr.IntN(2) == 0 {
				x.Delete(id)
				y.Delete(id)
			} else {
				x.Insert(id, flip256(wr, data[id], wr.IntN(8)))
				y.Insert(id, flip64(wr, data64[id], wr.IntN(3)))
			}
			if i%500 == 0 {
				buf.Reset()
				if _, err := x.WriteTo(&buf); err != nil {
					t.Errorf("WriteTo during churn: %v", err)
					return
				}
				x.Compact()
			}
		}
	})
	errs := make(chan string, 4)
	var searchers sync.WaitGroup
	for g := range 4 {
		searchers.Go(func() {
			sr := rand.New(rand.NewPCG(uint64(g), 9))
			for range 300 {
				id := uint32(sr.IntN(stable))
				found := false
				x.Search(flip256(sr, data[id], sr.IntN(20)), DefaultRadius256, func(got uint32, _ int) bool {
					found = found || got == id
					return true
				})
				found64 := false
				y.Search(flip64(sr, data64[id], sr.IntN(6)), DefaultRadius64, func(got uint32, _ int) bool {
					found64 = found64 || got == id
					return true
				})
				if !found || !found64 {
					errs <- fmt.Sprintf("stable id %d not found (256: %v, 64: %v)", id, found, found64)
					return
				}
				_ = x.Len() + y.Len()
			}
		})
	}
	searchers.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestInsertBatch checks that InsertBatch equals one Insert per element, in
// order (so a later duplicate id wins), whether it takes the incremental or
// the rebuilding path.
func TestInsertBatch(t *testing.T) {
	for _, start := range []int{0, 100, 5000} {
		for _, batch := range []int{10, 3000, 12000} {
			t.Run(fmt.Sprintf("%d+%d", start, batch), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(start), uint64(batch)))
				x, y := NewMIH256(), NewMIH64()
				m, m64 := model256{}, model64{}
				data := dataset256(r, "clustered", start+batch)
				data64 := dataset64(r, "clustered", start+batch)
				for i := range start {
					x.Insert(uint32(i), data[i])
					y.Insert(uint32(i), data64[i])
					m[uint32(i)], m64[uint32(i)] = data[i], data64[i]
				}
				ids := make([]uint32, batch)
				hs, hs64 := make([][32]byte, batch), make([]uint64, batch)
				for i := range ids {
					// Some ids replace stored ones, some repeat within the batch.
					ids[i] = uint32(r.IntN(start + batch))
					hs[i], hs64[i] = data[start+i], data64[start+i]
					m[ids[i]], m64[ids[i]] = hs[i], hs64[i]
				}
				if err := x.InsertBatch(ids, hs); err != nil {
					t.Fatal(err)
				}
				if err := y.InsertBatch(ids, hs64); err != nil {
					t.Fatal(err)
				}
				if err := x.InsertBatch(ids[:1], nil); err == nil {
					t.Fatal("InsertBatch with 1 id and 0 hashes: no error")
				}
				if err := y.InsertBatch(nil, hs64[:1]); err == nil {
					t.Fatal("InsertBatch with 0 ids and 1 hash: no error")
				}
				if x.Len() != len(m) || y.Len() != len(m64) {
					t.Fatalf("Len() = %d, %d; want %d, %d", x.Len(), y.Len(), len(m), len(m64))
				}
				for _, md := range modes {
					x.setMode(md.mode)
					y.setMode(md.mode)
					for _, q := range queries256(r, m, 10) {
						got := collect(t, func(fn func(uint32, int) bool) { x.Search(q, DefaultRadius256, fn) })
						sameResults(t, "MIH256 mode "+md.name, got, m.search(q, DefaultRadius256))
					}
					for _, q := range queries64(r, m64, 10) {
						got := collect(t, func(fn func(uint32, int) bool) { y.Search(q, DefaultRadius64, fn) })
						sameResults(t, "MIH64 mode "+md.name, got, m64.search(q, DefaultRadius64))
					}
				}
			})
		}
	}
}
