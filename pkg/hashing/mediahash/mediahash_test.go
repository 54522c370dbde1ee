package mediahash

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"image"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	xdraw "golang.org/x/image/draw"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

func TestDecodeAndHashFormats(t *testing.T) {
	img := natural(1, 320, 240)
	tests := []struct {
		name      string
		data      []byte
		format    string
		mime      string
		w, h      int
		wantPHash bool
	}{
		{"png", encodePNG(t, img), FormatPNG, "image/png", 320, 240, true},
		{"jpeg", encodeJPEG(t, img, 90), FormatJPEG, "image/jpeg", 320, 240, true},
		{"gif", encodeGIF(t, img), FormatGIF, "image/gif", 320, 240, true},
		{"webp lossless", webpLossless, FormatWebP, "image/webp", 1, 1, true},
		{"webp lossy", webpLossy, FormatWebP, "image/webp", 1, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, format, err := DecodeImage(context.Background(), tt.data, Limits{})
			if err != nil {
				t.Fatalf("DecodeImage: %v", err)
			}
			if format != tt.format {
				t.Errorf("format %q, want %q", format, tt.format)
			}
			if b := got.Bounds(); b.Dx() != tt.w || b.Dy() != tt.h {
				t.Errorf("bounds %v, want %dx%d", b, tt.w, tt.h)
			}
			res, err := Hash(context.Background(), tt.data, events.ContentImage, Limits{})
			if err != nil {
				t.Fatalf("Hash: %v", err)
			}
			checkResult(t, res, tt.data)
			if res.Info.MimeType != tt.mime || res.Info.Width != tt.w || res.Info.Height != tt.h {
				t.Errorf("info %+v, want %s %dx%d", res.Info, tt.mime, tt.w, tt.h)
			}
			if err := checkSignals(res.Signals); err != nil {
				t.Error(err)
			}
		})
	}
}

// checkResult compares the byte hashes with ones computed here.
func checkResult(t *testing.T, res Result, data []byte) {
	t.Helper()
	sha := sha256.Sum256(data)
	md := md5.Sum(data)
	if got := res.Signal(events.SignalSHA256); got != hex.EncodeToString(sha[:]) {
		t.Errorf("sha256 %s, want %x", got, sha)
	}
	if got := res.Signal(events.SignalMD5); got != hex.EncodeToString(md[:]) {
		t.Errorf("md5 %s, want %x", got, md)
	}
	if res.Info.Bytes != int64(len(data)) {
		t.Errorf("bytes %d, want %d", res.Info.Bytes, len(data))
	}
}

func TestGIFFirstFrame(t *testing.T) {
	img := natural(2, 64, 64)
	// The second frame of encodeGIF is blank; hashing the first must give
	// the same result as a one-frame GIF of it.
	multi, err := Hash(context.Background(), encodeGIF(t, img), events.ContentImage, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	decoded, _, err := DecodeImage(context.Background(), encodeGIF(t, img), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := ImageHashes(decoded)
	if err != nil {
		t.Fatal(err)
	}
	if got := multi.Signal(events.SignalPHash); got != FormatHash64(p) {
		t.Errorf("phash %s, want the first frame's %016x", got, p)
	}
	if blank, _, _ := ImageHashes(image.NewRGBA(image.Rect(0, 0, 64, 64))); FormatHash64(blank) == FormatHash64(p) {
		t.Error("first frame hashes like the blank second frame")
	}
}

func TestVideoGetsByteHashesOnly(t *testing.T) {
	// An MP4 "ftyp" box is enough for content sniffing.
	data := append([]byte("\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"), bytes.Repeat([]byte{7}, 100)...)
	res, err := Hash(context.Background(), data, events.ContentVideo, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res, data)
	if len(res.Signals) != 2 {
		t.Errorf("signals %+v, want sha256 and md5 only", res.Signals)
	}
	if res.Info.MimeType != "video/mp4" {
		t.Errorf("mime %q, want video/mp4", res.Info.MimeType)
	}
}

func TestKnownDigests(t *testing.T) {
	res, err := Hash(context.Background(), []byte("abc"), events.ContentVideo, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	// Published test vectors (FIPS 180-2, RFC 1321) for "abc".
	if got := res.Signal(events.SignalSHA256); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("sha256 %s", got)
	}
	if got := res.Signal(events.SignalMD5); got != "900150983cd24fb0d6963f7d28e17f72" {
		t.Errorf("md5 %s", got)
	}
}

func TestBombsRefusedBeforeAllocation(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"png 60000x60000", pngBomb(60000, 60000)},
		{"gif 60000x60000", gifBomb(60000, 60000)},
		{"jpeg 60000x60000", jpegBomb(60000, 60000)},
		{"webp 20000x20000", webpBomb(20000, 20000)},
		{"png 1x60000000", pngBomb(1, 60_000_000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, _, err := DecodeImage(context.Background(), tt.data, Limits{})
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrTooManyPixels) {
				t.Fatalf("DecodeImage = %v, want ErrTooManyPixels", err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 10<<20 {
				t.Errorf("refusing the bomb allocated %d bytes", alloc)
			}
			if _, err := Hash(context.Background(), tt.data, events.ContentImage, Limits{}); !errors.Is(err, ErrTooManyPixels) {
				t.Errorf("Hash = %v, want ErrTooManyPixels", err)
			}
		})
	}
	// The message says what was declared and what the limit is.
	_, _, err := DecodeImage(context.Background(), pngBomb(60000, 60000), Limits{})
	for _, s := range []string{"60000x60000", "3600000000", "50000000"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %s", err, s)
		}
	}
}

func TestLimits(t *testing.T) {
	data := encodePNG(t, natural(3, 100, 100))
	if _, _, err := DecodeImage(context.Background(), data, Limits{MaxPixels: 9999}); !errors.Is(err, ErrTooManyPixels) {
		t.Errorf("MaxPixels 9999: %v, want ErrTooManyPixels", err)
	}
	if _, _, err := DecodeImage(context.Background(), data, Limits{MaxPixels: 10000}); err != nil {
		t.Errorf("MaxPixels 10000: %v", err)
	}
	if _, err := Hash(context.Background(), data, events.ContentImage, Limits{MaxBytes: int64(len(data) - 1)}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("MaxBytes: %v, want ErrTooLarge", err)
	}
}

func TestBadInput(t *testing.T) {
	png := encodePNG(t, natural(4, 50, 50))
	tests := []struct {
		name    string
		data    []byte
		want    error
		wantMsg string
	}{
		{"empty", nil, ErrUnsupportedFormat, ""},
		{"text", []byte("hello, this is not an image"), ErrUnsupportedFormat, "text/plain"},
		{"html", []byte("<html><body>hi</body></html>"), ErrUnsupportedFormat, "text/html"},
		{"bmp", []byte("BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00"), ErrUnsupportedFormat, "image/bmp"},
		{"png magic only", []byte("\x89PNG\r\n\x1a\n"), ErrCorrupt, "png"},
		{"png bad crc", append(append([]byte(nil), png[:20]...), 0xde, 0xad, 0xbe, 0xef), ErrCorrupt, ""},
		{"png truncated", png[:len(png)/2], ErrCorrupt, "png"},
		{"jpeg garbage", append([]byte{0xff, 0xd8, 0xff}, bytes.Repeat([]byte{0x42}, 100)...), ErrCorrupt, "jpeg"},
		{"gif garbage", []byte("GIF89a\x01"), ErrCorrupt, "gif"},
		{"webp garbage", []byte("RIFF\x04\x00\x00\x00WEBPjunkjunk"), ErrCorrupt, "webp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Hash(context.Background(), tt.data, events.ContentImage, Limits{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Hash = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
		})
	}
	if _, err := Hash(context.Background(), png, "audio", Limits{}); !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("content type audio: %v, want ErrUnsupportedFormat", err)
	}
}

func TestBounded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	block := make(chan struct{})
	defer close(block)
	_, err := bounded(ctx, Limits{Timeout: 50 * time.Millisecond}, func() (int, error) {
		<-block
		return 0, nil
	})
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("blocked decoder: %v, want ErrTimeout", err)
	}

	_, err = bounded(context.Background(), Limits{}, func() (int, error) { panic("decoder bug") })
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "decoder bug") {
		t.Errorf("panicking decoder: %v, want ErrCorrupt", err)
	}

	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	_, err = bounded(cctx, Limits{}, func() (int, error) { <-block; return 0, nil })
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Errorf("cancelled caller: %v, want context.Canceled", err)
	}
}

func phashOf(t *testing.T, data []byte) uint64 {
	t.Helper()
	res, err := Hash(context.Background(), data, events.ContentImage, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := ParseHash64(res.Signal(events.SignalPHash))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPerceptualRobustness(t *testing.T) {
	orig := natural(10, 640, 480)
	base := phashOf(t, encodePNG(t, orig))
	similar := map[string][]byte{
		"jpeg quality 85":  encodeJPEG(t, orig, 85),
		"brightness +5":    encodePNG(t, brighter(orig, 5)),
		"jpeg 85 and +5":   encodeJPEG(t, brighter(orig, 5), 85),
		"gif (256 colour)": encodeGIF(t, orig),
	}
	for name, data := range similar {
		d := Distance64(base, phashOf(t, data))
		t.Logf("%s: distance %d", name, d)
		if d > 6 {
			t.Errorf("%s: pHash distance %d, want <= 6", name, d)
		}
	}
	for _, seed := range []uint64{11, 12, 13} {
		other := phashOf(t, encodePNG(t, natural(seed, 640, 480)))
		d := Distance64(base, other)
		t.Logf("unrelated %d: distance %d", seed, d)
		if d <= 16 {
			t.Errorf("unrelated image %d: pHash distance %d, want > 16", seed, d)
		}
	}
}

func TestLargeImageIsShrunkFirst(t *testing.T) {
	// A big image hashes like its own small copy: the shrinking step
	// preserves what the perceptual hashes look at.
	// Upscaled from a smaller rendering: drawing 6 million pixels of
	// natural() directly would dominate the package's test time.
	big := image.NewRGBA(image.Rect(0, 0, 3000, 2000))
	xdraw.BiLinear.Scale(big, big.Bounds(), natural(20, 750, 500), image.Rect(0, 0, 750, 500), xdraw.Src, nil)
	res, err := Hash(context.Background(), encodeJPEG(t, big, 90), events.ContentImage, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Info.Width != 3000 || res.Info.Height != 2000 {
		t.Errorf("info %+v", res.Info)
	}
	p, _ := ParseHash64(res.Signal(events.SignalPHash))
	q := phashOf(t, encodeJPEG(t, natural(20, 600, 400), 85))
	if d := Distance64(p, q); d > 6 {
		t.Errorf("3000x2000 vs 600x400 rendering: distance %d, want <= 6", d)
	}
}

func TestBoxReduce(t *testing.T) {
	// Odd sizes, a sub-image with a non-zero origin, bands of more rows
	// than the column sums' 16-bit lanes hold (256), translucent pixels:
	// against a direct computation of each block's mean.
	full := natural(50, 60, 40)
	tall := natural(52, 9, 700)
	for i := 3; i < len(tall.Pix); i += 4 {
		tall.Pix[i] = uint8(i * 13) // any alpha: boxReduce averages bytes
	}
	tests := []struct {
		name   string
		src    *image.RGBA
		iw, ih int
	}{
		{"sub-image 37x23 to 5x4", full.SubImage(image.Rect(7, 5, 44, 28)).(*image.RGBA), 5, 4},
		{"60x40 to 60x40", full, 60, 40},
		{"60x40 to 1x1", full, 1, 1},
		{"9x700 to 2x1", tall, 2, 1},
		{"9x700 to 4x3", tall, 4, 3},
	}
	for _, tt := range tests {
		got := boxReduce(tt.src, tt.iw, tt.ih)
		b := tt.src.Bounds()
		w, h := b.Dx(), b.Dy()
		for j := range tt.ih {
			for i := range tt.iw {
				x0, x1 := b.Min.X+i*w/tt.iw, b.Min.X+(i+1)*w/tt.iw
				y0, y1 := b.Min.Y+j*h/tt.ih, b.Min.Y+(j+1)*h/tt.ih
				var sum [4]int
				for y := y0; y < y1; y++ {
					for x := x0; x < x1; x++ {
						p := tt.src.Pix[tt.src.PixOffset(x, y):]
						for c := range 4 {
							sum[c] += int(p[c])
						}
					}
				}
				n := (x1 - x0) * (y1 - y0)
				want := [4]uint8{}
				for c := range 4 {
					want[c] = uint8((sum[c] + n/2) / n)
				}
				g := got.Pix[got.PixOffset(i, j):]
				if [4]uint8(g[:4]) != want {
					t.Errorf("%s: block (%d,%d) = %v, want %v", tt.name, i, j, g[:4], want)
				}
			}
		}
	}
	// The same through a YCbCr image (image/jpeg's type), which
	// boxReduce converts tile by tile.
	ycc := jpegDecode(t, encodeJPEG(t, natural(51, 1030, 700), 90))
	rgba := image.NewRGBA(ycc.Bounds())
	xdraw.Draw(rgba, rgba.Bounds(), ycc, image.Point{}, xdraw.Src)
	a, c := boxReduce(ycc, 257, 350), boxReduce(rgba, 257, 350)
	if !bytes.Equal(a.Pix, c.Pix) {
		t.Error("box reduction of a YCbCr image differs from that of its RGBA copy")
	}
}

func TestHashesAreDeterministic(t *testing.T) {
	data := encodeJPEG(t, natural(30, 400, 300), 80)
	a, err := Hash(context.Background(), data, events.ContentImage, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Hash(context.Background(), data, events.ContentImage, Limits{})
	if len(a.Signals) != len(b.Signals) {
		t.Fatalf("%d signals, then %d", len(a.Signals), len(b.Signals))
	}
	for i := range a.Signals {
		x, y := a.Signals[i], b.Signals[i]
		if x.Type != y.Type || x.Value != y.Value || x.Variant != y.Variant || (x.Quality == nil) != (y.Quality == nil) ||
			x.Quality != nil && *x.Quality != *y.Quality {
			t.Errorf("signal %d differs: %+v vs %+v", i, x, y)
		}
	}
}

func TestParseHash64(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0000000000000000", 0, true},
		{"ffffffffffffffff", ^uint64(0), true},
		{"8000000000000001", 1<<63 | 1, true},
		{"ABCDEF0123456789", 0xabcdef0123456789, true},
		{"", 0, false},
		{"fff", 0, false},
		{"p:0000000000000000", 0, false},
		{"000000000000000g", 0, false},
		{"+000000000000000", 0, false},
		{"00000000000000000", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseHash64(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseHash64(%q) = %x, %v; want %x ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if tt.ok && strings.ToLower(tt.in) != FormatHash64(got) {
			t.Errorf("FormatHash64(%x) = %s", got, FormatHash64(got))
		}
	}
	if d := Distance64(0, ^uint64(0)); d != 64 {
		t.Errorf("Distance64 all bits = %d", d)
	}
	if d := Distance64(0b1011, 0b0110); d != 3 {
		t.Errorf("Distance64(1011, 0110) = %d", d)
	}
}

// TestSharedWebP decodes real WebP files (lossy and lossless, produced by
// another encoder) from the shared test data, when it is present. They are
// read in place, never copied into the project.
func TestSharedWebP(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "..", "shared", "testdata", "pdq", "misc-images", "modes")
	orig, err := os.ReadFile(filepath.Join(dir, "original.jpg"))
	if err != nil {
		t.Skipf("shared test data not available: %v", err)
	}
	want, err := Hash(context.Background(), orig, events.ContentImage, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.webp"))
	if len(files) == 0 {
		t.Skip("no WebP files in shared test data")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Hash(context.Background(), data, events.ContentImage, Limits{})
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		if res.Info.MimeType != "image/webp" || res.Info.Width != want.Info.Width || res.Info.Height != want.Info.Height {
			t.Errorf("%s: info %+v, want image/webp %dx%d", filepath.Base(f), res.Info, want.Info.Width, want.Info.Height)
		}
		if res.Signal(events.SignalPHash) == "" || res.Signal(events.SignalDHash) == "" {
			t.Errorf("%s: no perceptual hashes: %+v", filepath.Base(f), res.Signals)
		}
	}
}
