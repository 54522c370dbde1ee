package mediahash

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/mediahash/internal/turboenc"
	"github.com/takedown-pipeline/takedown/pkg/hashing/pdq"
)

// isLowerHex reports whether s is n lower-case hex digits.
// framedVariants are the upload variants that only some pictures have.
var framedVariants = []string{"trim", "trim-tb", "trim-lr", "embedded", "upscaled"}

func isLowerHex(s string, n int) bool {
	if len(s) != n || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// checkSignals checks the signals of an image: one each of sha256, md5,
// phash and dhash without variant or quality, and pdq for the whole picture
// and each dihedral variant, with a quality.
func checkSignals(sigs []events.Signal) error {
	digits := map[string]int{events.SignalSHA256: 64, events.SignalMD5: 32, events.SignalPHash: 16, events.SignalDHash: 16, events.SignalPDQ: 64}
	seen := map[string]int{}
	var whole pdq.Hash
	for _, s := range sigs {
		n, ok := digits[s.Type]
		if !ok {
			return fmt.Errorf("unknown signal type %q", s.Type)
		}
		if !isLowerHex(s.Value, n) {
			return fmt.Errorf("%s %q is not %d lower-case hex digits", s.Type, s.Value, n)
		}
		if s.Type == events.SignalPDQ {
			if s.Quality == nil || *s.Quality < 0 || *s.Quality > 100 {
				return fmt.Errorf("pdq %q: quality %v", s.Variant, s.Quality)
			}
			if !slices.Contains(pdq.DihedralVariants[:], s.Variant) && !slices.ContainsFunc(symmetricRegions, func(r region) bool { return r.variant == s.Variant }) &&
				!slices.Contains(framedVariants, s.Variant) {
				return fmt.Errorf("pdq variant %q", s.Variant)
			}
		} else if s.Quality != nil || s.Variant != "" {
			return fmt.Errorf("%s with quality %v, variant %q", s.Type, s.Quality, s.Variant)
		}
		seen[s.Type+"/"+s.Variant]++
		if s.Type == events.SignalPDQ {
			h, err := pdq.ParseHex(s.Value)
			if err != nil {
				return err
			}
			if s.Variant == "" {
				whole = h
			} else if h.Banded() {
				return fmt.Errorf("pdq %q is banded (%d): derived hashes like it are left out", s.Variant, h.Banding())
			}
		}
	}
	want := map[string]int{"sha256/": 1, "md5/": 1, "phash/": 1, "dhash/": 1, "pdq/": 1}
	// A picture whose own hash is banded (a flat one, a flag) may lose
	// any of its derived hashes; any other keeps every one of these.
	if !whole.Banded() {
		for _, v := range pdq.DihedralVariants {
			want["pdq/"+v] = 1
		}
		for _, r := range symmetricRegions {
			want["pdq/"+r.variant] = 1
		}
	} else {
		for _, v := range append(slices.Clone(pdq.DihedralVariants[:]), regionVariants()...) {
			if seen["pdq/"+v] == 1 {
				want["pdq/"+v] = 1
			}
		}
	}
	// Parts of the frame that only some pictures have.
	for _, v := range framedVariants {
		if seen["pdq/"+v] == 1 {
			want["pdq/"+v] = 1
		}
	}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		return fmt.Errorf("signals %v, want %v", seen, want)
	}
	return nil
}

func regionVariants() []string {
	var out []string
	for _, r := range symmetricRegions {
		out = append(out, r.variant)
	}
	return out
}

// The variant names of pdq are the event vocabulary's.
func TestDihedralNamesAreEventVariants(t *testing.T) {
	want := [8]string{"", events.VariantRot90, events.VariantRot180, events.VariantRot270,
		events.VariantFlipX, events.VariantFlipY, events.VariantFlipPlus, events.VariantFlipMinus}
	if pdq.DihedralVariants != want {
		t.Errorf("pdq.DihedralVariants = %q, want %q", pdq.DihedralVariants, want)
	}
}

// fuzzSeeds are small valid images of each format, and broken ones.
func fuzzSeeds(t testing.TB) [][]byte {
	small := natural(40, 24, 16)
	jpg := encodeJPEG(t, small, 75)
	alpha := image.NewNRGBA(image.Rect(0, 0, 12, 9))
	for i := range alpha.Pix {
		alpha.Pix[i] = uint8(i * 37)
	}
	valid := [][]byte{
		encodePNG(t, small),
		encodePNG(t, alpha),
		jpg,
		jpegWithSegments(jpg, app1EXIF(OrientRotate90)),
		encodeGIF(t, small),
		webpLossless,
		webpLossy,
	}
	if prog, err := turboenc.Encode(natural(41, 40, 24), 80, true); err == nil {
		valid = append(valid, prog)
	}
	seeds := slices.Clone(valid)
	for _, v := range valid {
		seeds = append(seeds, v[:len(v)/2], v[:len(v)-2]) // truncated
		m := slices.Clone(v)
		for i := len(m) / 3; i < len(m); i += 29 {
			m[i] ^= 0x5a // scattered damage
		}
		seeds = append(seeds, m)
	}
	eoi := bytes.LastIndex(jpg, []byte{0xff, markerEOI})
	many := append(slices.Clone(jpg[:eoi]), bytes.Repeat([]byte{0xff, markerSOS, 0, 8, 1, 1, 0, 0, 63, 0}, 120)...)
	return append(seeds,
		append(many, 0xff, markerEOI),
		pngBomb(60000, 60000), gifBomb(60000, 60000), jpegBomb(60000, 60000), webpBomb(20000, 20000),
		[]byte("not an image"), []byte{},
	)
}

func FuzzDecodeAndHash(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	limits := Limits{MaxPixels: 1 << 20, Timeout: 10 * time.Second, MaxScans: 40}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkErr := func(what string, err error) {
			for _, s := range sentinels {
				if errors.Is(err, s) {
					// A panic is recovered as ErrCorrupt, but it is a bug.
					if strings.Contains(err.Error(), "panic:") {
						t.Fatalf("%s: %v", what, err)
					}
					return
				}
			}
			t.Fatalf("%s: error wraps no sentinel: %v", what, err)
		}
		res, err := Hash(context.Background(), data, events.ContentImage, limits)
		if err != nil {
			checkErr("Hash", err)
		} else {
			if err := checkSignals(res.Signals); err != nil {
				t.Fatal(err)
			}
			sha := sha256.Sum256(data)
			if res.Signal(events.SignalSHA256) != hex.EncodeToString(sha[:]) {
				t.Fatal("sha256 is not that of the data")
			}
			if res.Info.Width <= 0 || res.Info.Height <= 0 || int64(res.Info.Width)*int64(res.Info.Height) > limits.MaxPixels ||
				res.Info.Bytes != int64(len(data)) || !strings.HasPrefix(res.Info.MimeType, "image/") {
				t.Fatalf("bad info for %d bytes: %+v", len(data), res.Info)
			}
		}
		img, _, err := DecodeImage(context.Background(), data, limits)
		if err != nil {
			checkErr("DecodeImage", err)
			return
		}
		if b := img.Bounds(); b.Empty() || int64(b.Dx())*int64(b.Dy()) > limits.MaxPixels || !isOpaque(img) {
			t.Fatalf("DecodeImage: %T %v, opaque %v", img, b, isOpaque(img))
		}
	})
}

func FuzzParseHash64(f *testing.F) {
	for _, s := range []string{"0000000000000000", "ffffffffffffffff", "ABCDEF0123456789", "", "fff",
		"p:0000000000000000", "000000000000000g", "+000000000000000", "-000000000000001", "0x00000000000000", "0_00000000000000", "00000000000000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseHash64(s)
		if err != nil {
			if v != 0 {
				t.Fatalf("ParseHash64(%q) = %x with error %v", s, v, err)
			}
			return
		}
		if got := FormatHash64(v); got != strings.ToLower(s) {
			t.Fatalf("ParseHash64(%q) = %x, formatted %q", s, v, got)
		}
		if w, err := ParseHash64(FormatHash64(v)); err != nil || w != v {
			t.Fatalf("round trip of %x: %x, %v", v, w, err)
		}
	})
}

func FuzzEXIF(f *testing.F) {
	le, be := byteOrder(binary.LittleEndian), byteOrder(binary.BigEndian)
	for o := uint32(1); o <= 8; o++ {
		f.Add(tiffIFD0(le, [4]uint32{0x0100, 4, 1, 640}, [4]uint32{0x0112, 3, 1, o}))
		f.Add(append([]byte("Exif\x00\x00"), tiffIFD0(be, [4]uint32{0x0112, 3, 1, o})...))
	}
	f.Add(tiffIFD0(le, [4]uint32{0x0112, 4, 1, 6})[:20])
	f.Add([]byte("II*\x00\xff\xff\xff\xff"))
	f.Add([]byte("MM\x00*\x00\x00\x00\x08\xff\xff"))
	// The EXIF segments of the reference photos, when present.
	if dir, err := filepath.Abs(filepath.Join("..", "..", "..", "..", "shared", "testdata", "pdq", "reg-test-input", "exif-rotn")); err == nil {
		for _, n := range []string{"1", "6"} {
			if data, err := os.ReadFile(filepath.Join(dir, "exif-rotn-"+n+".jpg")); err == nil && len(data) > 6 {
				n := int(binary.BigEndian.Uint16(data[4:]))
				f.Add(data[6:min(len(data), 4+n)])
			}
		}
	}
	base := encodeJPEG(f, natural(42, 16, 8), 70)
	f.Fuzz(func(t *testing.T, data []byte) {
		o := parseEXIFOrientation(data)
		if o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
		// The same data in a JPEG's APP1 segment and a WebP's EXIF chunk.
		seg := append([]byte("Exif\x00\x00"), data...)
		want := parseEXIFOrientation(seg)
		if len(seg) <= 0xffff-2 {
			jpg := jpegWithSegments(base, append([]byte{markerAPP1}, seg...))
			if got := scanJPEG(jpg); got.orientation != want || got.scans != 1 {
				t.Fatalf("scanJPEG of the APP1 segment: %+v, want orientation %d, 1 scan", got, want)
			}
		}
		chunk := binary.LittleEndian.AppendUint32([]byte("EXIF"), uint32(len(data)))
		webp := append(append([]byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00"), make([]byte, 10)...), append(chunk, data...)...)
		if got, want := webpOrientation(webp), parseEXIFOrientation(data); got != want {
			t.Fatalf("webpOrientation %d, want %d", got, want)
		}
		// Arbitrary bytes as a JPEG's or WebP's structure.
		_ = scanJPEG(append([]byte{0xff, markerSOI}, data...))
		_ = webpOrientation(append([]byte("RIFF\x00\x00\x00\x00WEBP"), data...))
		// Applying the orientation keeps every pixel.
		src := image.NewRGBA(image.Rect(0, 0, 3, 2))
		for i := range src.Pix {
			src.Pix[i] = uint8(i)
		}
		got := orient(src, o)
		if got.Bounds().Dx()*got.Bounds().Dy() != 6 {
			t.Fatalf("orient %d: %v", o, got.Bounds())
		}
		var sum int
		for y := range got.Bounds().Dy() {
			for x := range got.Bounds().Dx() {
				c := got.RGBAAt(got.Rect.Min.X+x, got.Rect.Min.Y+y)
				sum += int(c.R) + int(c.G) + int(c.B) + int(c.A)
			}
		}
		if sum != 276 {
			t.Fatalf("orient %d lost pixels (sum %d)", o, sum)
		}
	})
}
