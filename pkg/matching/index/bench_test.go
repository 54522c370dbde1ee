package index

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

const benchN = 1_000_000

// benchData256 builds (once) a 1M-hash index of each kind and planted
// queries: a stored hash with up to 25 bits flipped.
var benchData256 = sync.OnceValue(func() map[string]*benchSet256 {
	out := map[string]*benchSet256{}
	for _, kind := range []string{"random", "clustered"} {
		r := rand.New(rand.NewPCG(42, uint64(len(kind))))
		data := dataset256(r, kind, benchN)
		// Families must not sit at consecutive ids (and so side by side in
		// memory): that would flatter the cache.
		r.Shuffle(len(data), func(i, j int) { data[i], data[j] = data[j], data[i] })
		x := NewMIH256()
		x.Reserve(benchN)
		for i, h := range data {
			x.Insert(uint32(i), h)
		}
		qs := make([][32]byte, 1024)
		for i := range qs {
			if i%2 == 0 {
				qs[i] = rand256(r) // no match
			} else {
				qs[i] = flip256(r, data[r.IntN(len(data))], r.IntN(26))
			}
		}
		out[kind] = &benchSet256{x: x, qs: qs}
	}
	return out
})

type benchSet256 struct {
	x  *MIH256
	qs [][32]byte
}

func BenchmarkSearch256(b *testing.B) {
	sets := benchData256()
	for _, kind := range []string{"random", "clustered"} {
		for _, radius := range []int{15, DefaultRadius256, 47} {
			b.Run(fmt.Sprintf("%s/1M/r%d", kind, radius), func(b *testing.B) {
				s := sets[kind]
				found := 0
				i := 0
				for b.Loop() {
					s.x.Search(s.qs[i%len(s.qs)], radius, func(uint32, int) bool { found++; return true })
					i++
				}
				b.ReportMetric(float64(found)/float64(i), "results/op")
			})
		}
	}
}

// BenchmarkSearch256Modes times both strategies at the radii where the
// automatic choice between them changes (see mihCost256).
func BenchmarkSearch256Modes(b *testing.B) {
	s := benchData256()["random"]
	defer s.x.setMode(modeAuto)
	for _, radius := range []int{47, 55, 63, 79} {
		for _, md := range modes {
			b.Run(fmt.Sprintf("1M/r%d/%s", radius, md.name), func(b *testing.B) {
				s.x.setMode(md.mode)
				i := 0
				for b.Loop() {
					s.x.Search(s.qs[i%len(s.qs)], radius, func(uint32, int) bool { return true })
					i++
				}
			})
		}
	}
}

func BenchmarkSearch64(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 64))
	data := dataset64(r, "clustered", benchN)
	x := NewMIH64()
	for i, h := range data {
		x.Insert(uint32(i), h)
	}
	qs := make([]uint64, 1024)
	for i := range qs {
		qs[i] = flip64(r, data[r.IntN(len(data))], r.IntN(12))
	}
	for _, radius := range []int{DefaultRadius64, 15} {
		b.Run(fmt.Sprintf("clustered/1M/r%d", radius), func(b *testing.B) {
			i := 0
			for b.Loop() {
				x.Search(qs[i%len(qs)], radius, func(uint32, int) bool { return true })
				i++
			}
		})
	}
}

// BenchmarkInsert measures inserts into an index that already holds 1M
// hashes (the steady state of a bank), and Delete of the same ids.
func BenchmarkInsert(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 5))
	b.Run("MIH256", func(b *testing.B) {
		x := NewMIH256()
		for i, h := range dataset256(r, "clustered", benchN) {
			x.Insert(uint32(i), h)
		}
		hs := dataset256(r, "random", 4096)
		i := 0
		for b.Loop() {
			id := uint32(benchN + i%4096)
			x.Insert(id, hs[i%4096])
			if i%4096 == 4095 {
				for j := range uint32(4096) {
					x.Delete(benchN + j)
				}
			}
			i++
		}
	})
	b.Run("MIH64", func(b *testing.B) {
		x := NewMIH64()
		for i, h := range dataset64(r, "clustered", benchN) {
			x.Insert(uint32(i), h)
		}
		hs := dataset64(r, "random", 4096)
		i := 0
		for b.Loop() {
			x.Insert(uint32(benchN+i%4096), hs[i%4096])
			if i%4096 == 4095 {
				for j := range uint32(4096) {
					x.Delete(benchN + j)
				}
			}
			i++
		}
	})
}

// BenchmarkBuild256 compares building 1M hashes by Insert, by one
// InsertBatch and by loading a snapshot.
func BenchmarkBuild256(b *testing.B) {
	r := rand.New(rand.NewPCG(6, 6))
	data := dataset256(r, "random", benchN)
	b.Run("insert/1M", func(b *testing.B) {
		for b.Loop() {
			x := NewMIH256()
			for i, h := range data {
				x.Insert(uint32(i), h)
			}
		}
	})
	b.Run("batch/1M", func(b *testing.B) {
		ids := make([]uint32, len(data))
		for i := range ids {
			ids[i] = uint32(i)
		}
		for b.Loop() {
			if err := NewMIH256().InsertBatch(ids, data); err != nil {
				b.Fatal(err)
			}
		}
	})
	x := NewMIH256()
	for i, h := range data {
		x.Insert(uint32(i), h)
	}
	var buf bytes.Buffer
	if _, err := x.WriteTo(&buf); err != nil {
		b.Fatal(err)
	}
	b.Run("snapshot/1M", func(b *testing.B) {
		b.SetBytes(int64(buf.Len()))
		for b.Loop() {
			if _, err := NewMIH256().ReadFrom(bytes.NewReader(buf.Bytes())); err != nil {
				b.Fatal(err)
			}
		}
	})
}
