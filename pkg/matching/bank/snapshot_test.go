package bank

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

// randomBanks builds banks from n random updates (with configurations,
// disables, replacements, and disables of never-seen entries that name
// signals), returning them and the generator for more.
func randomBanks(t testing.TB, n int, seed uint64) (*Banks, *gen) {
	g := newGen(seed)
	b, err := New(Options{Thresholds: Thresholds{"phash": 8}, MinPDQQuality: 60, Enabled: map[string]bool{"phash": true}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		u := g.update(n/2 + 1)
		if i%97 == 0 {
			u = disable("stubs", fmt.Sprint("s", i))
			u.Signals = []events.Signal{g.signal()}
		}
		if err := b.Apply(u); err != nil {
			t.Fatal(err)
		}
	}
	return b, g
}

func snapshot(t testing.TB, b *Banks) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := b.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func collect(b *Banks) []Entry {
	var out []Entry
	for e := range b.All() {
		out = append(out, e)
	}
	return out
}

func TestSnapshotRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 6000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			orig, g := randomBanks(t, n, uint64(n)+3)
			data := snapshot(t, orig)
			loaded, err := ReadSnapshot(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			compareBanks(t, "loaded", orig, loaded, g)
			if again := snapshot(t, loaded); !bytes.Equal(again, data) {
				t.Errorf("the loaded banks write a different snapshot (%d vs %d bytes)", len(again), len(data))
			}
			// Both go on alike: the loaded free lists, chains and version
			// bookkeeping work.
			for i := 0; i < n/2+10; i++ {
				u := g.update(n/2 + 10)
				errA, errB := orig.Apply(u), loaded.Apply(u)
				if (errA == nil) != (errB == nil) {
					t.Fatalf("Apply(%s %s): %v vs %v", u.Op, u.Key(), errA, errB)
				}
			}
			compareBanks(t, "after more updates", orig, loaded, g)
		})
	}
}

func compareBanks(t *testing.T, what string, a, b *Banks, g *gen) {
	t.Helper()
	if a.Version() != b.Version() || a.Generation() != b.Generation() || a.Len() != b.Len() {
		t.Fatalf("%s: version/generation/len %x/%d/%d vs %x/%d/%d", what,
			a.Version(), a.Generation(), a.Len(), b.Version(), b.Generation(), b.Len())
	}
	if !reflect.DeepEqual(a.Stats(), b.Stats()) {
		t.Errorf("%s: Stats %+v vs %+v", what, a.Stats(), b.Stats())
	}
	if !reflect.DeepEqual(a.List(), b.List()) {
		t.Errorf("%s: List %+v vs %+v", what, a.List(), b.List())
	}
	if !reflect.DeepEqual(a.Options(), b.Options()) {
		t.Errorf("%s: Options %+v vs %+v", what, a.Options(), b.Options())
	}
	if ea, eb := collect(a), collect(b); !reflect.DeepEqual(ea, eb) {
		t.Errorf("%s: %d entries vs %d, or they differ", what, len(ea), len(eb))
	}
	for i := 0; i < 200; i++ {
		q := g.query()
		if va, vb := a.MatchVerdict(q), b.MatchVerdict(q); !reflect.DeepEqual(va, vb) {
			t.Fatalf("%s: query %+v:\n%+v\nvs\n%+v", what, q, va, vb)
		}
	}
}

func TestSnapshotRefusesDamage(t *testing.T) {
	b, _ := randomBanks(t, 300, 5)
	data := snapshot(t, b)
	if _, err := ReadSnapshot(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	positions := []int{0, 7, 8, 11, 12, 13, 16, 19, 20, len(data) - 9, len(data) - 1}
	for range 300 {
		positions = append(positions, r.IntN(len(data)))
	}
	for _, p := range positions {
		bad := slices.Clone(data)
		bad[p] ^= 1 << r.IntN(8)
		_, err := ReadSnapshot(bytes.NewReader(bad))
		want := ErrCorruptSnapshot
		if p >= 8 && p < 12 {
			want = ErrSnapshotVersion
		}
		if !errors.Is(err, want) {
			t.Fatalf("byte %d of %d flipped: error %v, want %v", p, len(data), err, want)
		}
	}
	for _, n := range []int{0, 5, 12, 15, 20, len(data) / 2, len(data) - 8, len(data) - 1} {
		if _, err := ReadSnapshot(bytes.NewReader(data[:n])); !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("truncated to %d of %d bytes: error %v, want ErrCorruptSnapshot", n, len(data), err)
		}
	}
	if _, err := ReadSnapshot(bytes.NewReader([]byte(`{"not":"a snapshot"}`))); !errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("JSON input: error %v", err)
	}
}

// TestSnapshotRefusesContradictions writes snapshots of damaged banks, whose
// frames checksum fine, and checks that loading finds the contradiction.
func TestSnapshotRefusesContradictions(t *testing.T) {
	build := func() *Banks {
		b := testBanks(nil)
		mustApply(t, b,
			add("a", "1", []string{"x"}, sig("pdq", pdqBase), sig("md5", md5A)),
			add("a", "2", nil, sig("phash", hex16(ph)), sig("sha256", shaA), sig("dhash", hex16(ph)), sig("pdq", pdqOther(1))),
			add("b", "3", []string{"x"}, sig("md5", md5A)))
		return b
	}
	cases := []struct {
		name string
		mut  func(b *Banks)
	}{
		{"slot owned by another entry", func(b *Banks) { b.pdq.owner[0] = 1 }},
		{"md5 slot without entry", func(b *Banks) { b.md5.owner = append(b.md5.owner, 0); b.md5.hashes = append(b.md5.hashes, [16]byte{1}) }},
		{"reference past the slots", func(b *Banks) { b.entries[0].sig[0] = mkRef(tPDQ, 77) }},
		{"reference to an unknown type", func(b *Banks) { b.entries[0].sig[0] = mkRef(7, 0) }},
		{"index lost a hash", func(b *Banks) { b.phash.idx.Delete(0) }},
		{"a reference repeated", func(b *Banks) { b.entries[0].sig[1] = b.entries[0].sig[0] }},
	}
	for _, tc := range cases {
		b := build()
		tc.mut(b)
		_, err := ReadSnapshot(bytes.NewReader(snapshot(t, b)))
		if !errors.Is(err, ErrCorruptSnapshot) {
			t.Errorf("%s: error %v, want ErrCorruptSnapshot", tc.name, err)
		}
	}
	if _, err := ReadSnapshot(bytes.NewReader(snapshot(t, build()))); err != nil {
		t.Fatalf("undamaged: %v", err)
	}
}

// pdqMD5Update is a typical imported entry: one pdq and one md5 hash, and
// the label set most of a bank shares.
func pdqMD5Update(r *rand.Rand, i int) events.BankUpdate {
	var p [32]byte
	for k := 0; k < 4; k++ {
		binary.LittleEndian.PutUint64(p[8*k:], r.Uint64()|1)
	}
	return events.BankUpdate{Op: events.BankOpAdd, Bank: "tat", EntryID: fmt.Sprintf("pdq-%016x", r.Uint64()),
		Labels: []string{"source:tat", "ideology:islamist"},
		Signals: []events.Signal{
			{Type: "pdq", Value: fmt.Sprintf("%x", p)},
			{Type: "md5", Value: fmt.Sprintf("%016x%016x", r.Uint64(), uint64(i))},
		}}
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	for range 2 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestMemoryPerEntry reports the heap that an entry with a pdq and an md5
// hash costs, and holds it to a budget: 10M entries must fit a matcher.
func TestMemoryPerEntry(t *testing.T) {
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	r := rand.New(rand.NewPCG(9, 9))
	// The empty indexes' fixed tables (~37 MB) are not per entry.
	b := testBanks(nil)
	before := heapInUse()
	for i := range n {
		if err := b.Apply(pdqMD5Update(r, i)); err != nil {
			t.Fatal(err)
		}
	}
	after := heapInUse()
	per := float64(after-before) / float64(n)
	t.Logf("%d entries with pdq+md5: %.0f bytes/entry (heap %d MB)", n, per, (after-before)>>20)
	runtime.KeepAlive(b)
	// Hashes alone are 48 bytes and the pdq index's id tables 64 (16 x 4);
	// at this size most of its buckets hold a handful of ids and carry
	// proportionally more slack than at 1M (~300 bytes/entry there, see
	// BenchmarkBanksApply1M).
	if per > 450 {
		t.Errorf("%.0f bytes per entry, budget 450", per)
	}
	loaded, err := ReadSnapshot(bytes.NewReader(snapshot(t, b)))
	if err != nil {
		t.Fatal(err)
	}
	b = nil
	after = heapInUse()
	t.Logf("after a snapshot load: %.0f bytes/entry", float64(after-before)/float64(n))
	runtime.KeepAlive(loaded)
}

func build1M(b *testing.B) (*Banks, []events.BankUpdate) {
	b.Helper()
	r := rand.New(rand.NewPCG(1, 1))
	updates := make([]events.BankUpdate, 1_000_000)
	for i := range updates {
		updates[i] = pdqMD5Update(r, i)
	}
	banks := testBanks(nil)
	for _, u := range updates {
		if err := banks.Apply(u); err != nil {
			b.Fatal(err)
		}
	}
	return banks, updates
}

// BenchmarkBanksApply1M applies 1M pdq+md5 adds to empty banks and reports
// the heap per entry.
func BenchmarkBanksApply1M(b *testing.B) {
	const n = 1_000_000
	for b.Loop() {
		r := rand.New(rand.NewPCG(1, 1))
		banks := testBanks(nil)
		before := heapInUse()
		start := time.Now()
		for i := range n {
			if err := banks.Apply(pdqMD5Update(r, i)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(time.Since(start).Nanoseconds())/n, "ns/update")
		b.ReportMetric(float64(heapInUse()-before)/n, "bytes/entry")
		runtime.KeepAlive(banks)
	}
}

// BenchmarkBanksDecodeApply1M is what a matcher without a snapshot does at
// start: decode every update's JSON and apply it.
func BenchmarkBanksDecodeApply1M(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	msgs := make([][]byte, 1_000_000)
	for i := range msgs {
		u := pdqMD5Update(r, i)
		u.Meta = events.NewMeta(events.TypeBankUpdate, u.Key(), "")
		msgs[i], _ = json.Marshal(u)
	}
	for b.Loop() {
		banks := testBanks(nil)
		for _, m := range msgs {
			var u events.BankUpdate
			if err := events.Decode(m, events.TypeBankUpdate, &u); err != nil {
				b.Fatal(err)
			}
			if err := banks.Apply(u); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkSnapshotLoad1M loads a snapshot of 1M pdq+md5 entries.
func BenchmarkSnapshotLoad1M(b *testing.B) {
	banks, _ := build1M(b)
	var buf bytes.Buffer
	start := time.Now()
	if err := banks.WriteSnapshot(&buf); err != nil {
		b.Fatal(err)
	}
	b.Logf("snapshot: %d MB, written in %v", buf.Len()>>20, time.Since(start).Round(time.Millisecond))
	banks = nil
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		loaded, err := ReadSnapshot(bytes.NewReader(buf.Bytes()))
		if err != nil {
			b.Fatal(err)
		}
		runtime.KeepAlive(loaded)
	}
}

// BenchmarkMatchPDQ1M matches one pdq signal and an md5 against 1M entries.
// The queries change every time (one in eight is a bank hash with a few bits
// flipped), so the index is not served from the CPU cache as a repeated
// query would be.
func BenchmarkMatchPDQ1M(b *testing.B) {
	banks, updates := build1M(b)
	r := rand.New(rand.NewPCG(5, 5))
	queries := make([][]events.Signal, 4096)
	planted := 0
	for i := range queries {
		var h [32]byte
		if i%8 == 0 {
			v, _ := hex.DecodeString(updates[r.IntN(len(updates))].Signals[0].Value)
			copy(h[:], v)
			for k := r.IntN(20); k > 0; k-- {
				bit := r.IntN(256)
				h[bit/8] ^= 1 << (bit % 8)
			}
			planted++
		} else {
			for k := range h {
				h[k] = byte(r.Uint32())
			}
		}
		queries[i] = []events.Signal{{Type: "pdq", Value: hex.EncodeToString(h[:])}, {Type: "md5", Value: md5A}}
	}
	matched := 0
	i := 0
	for b.Loop() {
		if len(banks.Match(queries[i%len(queries)])) > 0 {
			matched++
		}
		i++
	}
	if i >= len(queries) && matched < i/8 {
		b.Fatalf("%d of %d queries matched, want at least the planted eighth", matched, i)
	}
}
