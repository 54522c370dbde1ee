package bank

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

// mediaUpdate is an entry as `takedownctl bank add` makes it from a picture:
// sha256, md5, phash, dhash, the whole picture's pdq and regions more pdq
// hashes (crop grid, centre crops, symmetric regions, small...). A region's
// hash is the whole's with 20-70 bits flipped, as real region hashes lie
// around the whole picture's, so that families of near hashes share index
// buckets as in a real bank.
func mediaUpdate(r *rand.Rand, i, regions int) events.BankUpdate {
	var base [32]byte
	for k := range base {
		base[k] = byte(r.Uint32())
	}
	pdqOf := func(h [32]byte) events.Signal {
		return events.Signal{Type: "pdq", Value: hex.EncodeToString(h[:])}
	}
	sigs := []events.Signal{
		{Type: "sha256", Value: fmt.Sprintf("%016x%016x%016x%016x", r.Uint64(), r.Uint64(), r.Uint64(), uint64(i))},
		{Type: "md5", Value: fmt.Sprintf("%016x%016x", r.Uint64(), uint64(i))},
		{Type: "phash", Value: fmt.Sprintf("%016x", r.Uint64()|1)},
		{Type: "dhash", Value: fmt.Sprintf("%016x", r.Uint64()|1)},
		pdqOf(base),
	}
	for v := range regions {
		h := base
		for range 20 + r.IntN(51) {
			bit := r.IntN(256)
			h[bit/8] ^= 1 << (bit % 8)
		}
		s := pdqOf(h)
		s.Variant = fmt.Sprintf("r%d", v)
		sigs = append(sigs, s)
	}
	return events.BankUpdate{Op: events.BankOpAdd, Bank: "media", EntryID: fmt.Sprintf("e%d", i),
		Labels: []string{"source:media"}, Signals: sigs}
}

// uploadQueries are uploads as the hasher sends them: 14 pdq signals (the 8
// dihedral hashes, 4 symmetric regions, trim and embedded), of pictures not
// in the bank, except one in eight, a bank entry's whole hash with a few
// bits flipped.
func uploadQueries(r *rand.Rand, bank []events.BankUpdate) [][]events.Signal {
	out := make([][]events.Signal, 512)
	for i := range out {
		var sigs []events.Signal
		for k := range 14 {
			var h [32]byte
			if i%8 == 0 && k == 0 {
				v, _ := hex.DecodeString(bank[r.IntN(len(bank))].Signals[4].Value)
				copy(h[:], v)
				for range r.IntN(12) {
					bit := r.IntN(256)
					h[bit/8] ^= 1 << (bit % 8)
				}
			} else {
				for j := range h {
					h[j] = byte(r.Uint32())
				}
			}
			q := 100
			sigs = append(sigs, events.Signal{Type: "pdq", Value: hex.EncodeToString(h[:]), Quality: &q, Variant: fmt.Sprintf("v%d", k)})
		}
		out[i] = sigs
	}
	return out
}

// BenchmarkMediaEntries measures what the region hashes of entries made
// from media cost: the heap per entry and the time to match an upload (14
// pdq signals) against entries holding the whole picture's pdq and 103
// (crop grid, symmetric regions, small: before issue 15), 108 (with the
// five centre crops) or 228 (with the 90% crop grid at 13x13 positions
// instead of 7x7) region hashes. TAKEDOWN_BENCH_MEDIA_ENTRIES sets the
// number of entries (default 20,000).
func BenchmarkMediaEntries(b *testing.B) {
	n := envInt("TAKEDOWN_BENCH_MEDIA_ENTRIES", 20_000)
	for _, regions := range []int{0, 103, 108, 228} {
		b.Run(fmt.Sprintf("entries=%d/regions=%d", n, regions), func(b *testing.B) {
			r := rand.New(rand.NewPCG(7, uint64(regions)))
			updates := make([]events.BankUpdate, n)
			for i := range updates {
				updates[i] = mediaUpdate(r, i, regions)
			}
			before := heapInUse()
			banks := testBanks(nil)
			for _, u := range updates {
				if err := banks.Apply(u); err != nil {
					b.Fatal(err)
				}
			}
			heap := float64(heapInUse() - before)
			queries := uploadQueries(r, updates)
			i, cpu0 := 0, cpuTime()
			for b.Loop() {
				banks.Match(queries[i%len(queries)])
				i++
			}
			// CPU time, not wall time: the machines measured on are shared.
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(i), "cpu-ns/upload")
			b.ReportMetric(heap/float64(n), "bytes/entry")
			b.ReportMetric(float64(n*(1+regions)), "pdq-hashes")
			runtime.KeepAlive(banks)
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
