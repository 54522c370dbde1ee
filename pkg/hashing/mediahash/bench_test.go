package mediahash

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"image/jpeg"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/mediahash/internal/turboenc"
	"github.com/takedown-pipeline/takedown/pkg/hashing/pdq"
)

// bench1MP are 1-megapixel JPEGs of natural-looking content at quality 85:
// three baseline (Go's encoder, 4:2:0) and, when cgo is available, one
// progressive (libjpeg-turbo's default progression).
var bench1MP = sync.OnceValues(func() ([][]byte, error) {
	var out [][]byte
	for i, size := range [][2]int{{1280, 800}, {1152, 864}, {1000, 1000}} {
		var b bytes.Buffer
		if err := jpeg.Encode(&b, natural(uint64(100+i), size[0], size[1]), &jpeg.Options{Quality: 85}); err != nil {
			return nil, err
		}
		out = append(out, b.Bytes())
	}
	prog, err := turboenc.Encode(natural(103, 1224, 816), 85, true)
	switch {
	case err == nil:
		out = append(out, prog)
	case err != turboenc.ErrUnavailable:
		return nil, err
	}
	return out, nil
})

func benchImages(b *testing.B) [][]byte {
	imgs, err := bench1MP()
	if err != nil {
		b.Fatal(err)
	}
	if len(imgs) < 4 {
		b.Logf("no progressive JPEG without cgo: %d baseline images", len(imgs))
	}
	return imgs
}

// cpuTime is the CPU time the process has used. On a shared machine a
// benchmark's wall-clock rate understates its speed; with -cpu 1 the
// process's CPU time is the benchmark's work (and its garbage collection).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportRate reports images/s of wall-clock time and of CPU time.
func reportRate(b *testing.B, n int, cpu0 time.Duration) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "images/s")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(n)/cpu.Seconds(), "images/cpu-s")
	}
}

// BenchmarkHashJPEG1MP is the pipeline's whole work on an image upload:
// decoding (libjpeg-turbo scaled in the DCT domain with cgo, image/jpeg and
// a box filter without), PDQ with its 8 dihedral variants, pHash, dHash, MD5
// and SHA-256.
func BenchmarkHashJPEG1MP(b *testing.B) {
	imgs := benchImages(b)
	b.Logf("JPEG decoder: %s", JPEGDecoder)
	n, cpu0 := 0, cpuTime()
	for b.Loop() {
		if _, err := Hash(context.Background(), imgs[n%len(imgs)], events.ContentImage, Limits{}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportRate(b, n, cpu0)
}

// BenchmarkHashJPEG1MPStdlib is the same work the plain way, for the ratio:
// image/jpeg decoding in full, the same hashes of the full-size image.
func BenchmarkHashJPEG1MPStdlib(b *testing.B) {
	imgs := benchImages(b)
	n, cpu0 := 0, cpuTime()
	for b.Loop() {
		data := imgs[n%len(imgs)]
		sha256.Sum256(data)
		md5.Sum(data)
		img, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := PictureSignals(img); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportRate(b, n, cpu0)
}

// BenchmarkHashJPEG1MPCore is the work issue 3 names and no more: decoding,
// PDQ with its 8 dihedral variants, pHash, dHash, MD5 and SHA-256. Hash also
// computes the region and framing hashes that the robustness evaluation
// needs (docs/matching.md, "Robustness"); this benchmark and BenchmarkHashJPEG1MP
// together measure what those cost.
func BenchmarkHashJPEG1MPCore(b *testing.B) {
	imgs := benchImages(b)
	n, cpu0 := 0, cpuTime()
	for b.Loop() {
		data := imgs[n%len(imgs)]
		sha256.Sum256(data)
		md5.Sum(data)
		pic, err := DecodeForHashing(context.Background(), data, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		pdqDihedral(pic.Image)
		if _, _, err := ImageHashes(pic.Image); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportRate(b, n, cpu0)
}

// benchOver512 are JPEGs whose reduced decode (hashScale) is over 512 pixels
// on its longer side, so that PDQ works on more pixels than 512x512: 1600x1004
// (the reference's bridge photo's size; decoded at 600x377), 1152x864
// (576x432), 3000x2000 (750x500) and 4000x3000 (500x375, for comparison).
var benchOver512 = sync.OnceValues(func() ([][]byte, error) {
	var out [][]byte
	for i, size := range [][2]int{{1600, 1004}, {1152, 864}, {3000, 2000}, {4000, 3000}} {
		var b bytes.Buffer
		if err := jpeg.Encode(&b, natural(uint64(200+i), size[0], size[1]), &jpeg.Options{Quality: 85}); err != nil {
			return nil, err
		}
		out = append(out, b.Bytes())
	}
	return out, nil
})

// BenchmarkHashJPEGOver512 is BenchmarkHashJPEG1MP on benchOver512.
func BenchmarkHashJPEGOver512(b *testing.B) {
	imgs, err := benchOver512()
	if err != nil {
		b.Fatal(err)
	}
	n, cpu0 := 0, cpuTime()
	for b.Loop() {
		if _, err := Hash(context.Background(), imgs[n%len(imgs)], events.ContentImage, Limits{}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportRate(b, n, cpu0)
}

// The parts of BenchmarkHashJPEG1MP.
func BenchmarkHashParts(b *testing.B) {
	imgs := benchImages(b)
	data := imgs[0]
	pic, err := DecodeForHashing(context.Background(), data, Limits{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, err := DecodeForHashing(context.Background(), data, Limits{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pdq-dihedral", func(b *testing.B) {
		for b.Loop() {
			pdqDihedral(pic.Image)
		}
	})
	b.Run("phash-dhash", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := ImageHashes(pic.Image); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sha256-md5", func(b *testing.B) {
		for b.Loop() {
			sha256.Sum256(data)
			md5.Sum(data)
		}
	})
}

// BenchmarkBankRegions is what a bank entry's region hashes cost to compute
// (`bank add`; uploads do not compute them), with and without the centre
// crops, and with the 90% crop grid at 7x7 positions as before: one blur of the picture, then a decimation and a DCT per region.
func BenchmarkBankRegions(b *testing.B) {
	imgs := benchImages(b)
	pic, err := DecodeForHashing(context.Background(), imgs[0], Limits{})
	if err != nil {
		b.Fatal(err)
	}
	sets := []struct {
		name string
		rs   []region
	}{
		{"grid+symmetric", append(append([]region{}, symmetricRegions...), cropGrid...)},
		{"grid+symmetric+centre", append(append(append([]region{}, symmetricRegions...), cropGrid...), centreCrops...)},
		// Before the 90% grid went from 7x7 to 13x13 positions.
		{"grid7+symmetric+centre", append(append(append([]region{}, symmetricRegions...), makeCropGrid([]int{95, 90}, 7)...), centreCrops...)},
	}
	for _, s := range sets {
		bx := boxes(s.rs)
		b.Run(s.name, func(b *testing.B) {
			n, cpu0 := 0, cpuTime()
			for b.Loop() {
				pdq.ImageDihedralRegions(pic.Image, bx)
				n++
			}
			reportRate(b, n, cpu0)
		})
	}
	b.Run("BankPictureSignals", func(b *testing.B) {
		n, cpu0 := 0, cpuTime()
		for b.Loop() {
			if _, err := BankPictureSignals(pic.Image); err != nil {
				b.Fatal(err)
			}
			n++
		}
		reportRate(b, n, cpu0)
	})
}
