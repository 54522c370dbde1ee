//go:build cgo

package mediahash

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/mediahash/internal/turboenc"
)

func headerOf(t testing.TB, data []byte) header {
	t.Helper()
	hdr, err := readHeader(data, Limits{}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	return hdr
}

// libjpeg's output size at each scale must be the one hashScale computes,
// for sizes that do not divide by 8 too, and its scaled output must be close
// to the full decode box-filtered to that size.
func TestLibjpegScaledSizes(t *testing.T) {
	limits := Limits{}.withDefaults()
	for _, sz := range []image.Point{{1, 1}, {7, 3}, {17, 9}, {100, 61}, {1023, 767}, {640, 481}, {4097, 10}} {
		data := encodeJPEG(t, natural(uint64(sz.X), sz.X, sz.Y), 90)
		hdr := headerOf(t, data)
		full := jpegDecode(t, data)
		for scale := 1; scale <= 8; scale++ {
			size := image.Pt(ceilDiv(sz.X*scale, 8), ceilDiv(sz.Y*scale, 8))
			img, err := decodeJPEG(context.Background(), data, hdr, scale, size, limits)
			if err != nil {
				t.Fatalf("%v at %d/8: %v", sz, scale, err)
			}
			if img.Bounds() != (image.Rectangle{Max: size}) {
				t.Fatalf("%v at %d/8: bounds %v, want %v", sz, scale, img.Bounds(), size)
			}
			if sz.X < 200 || sz.Y < 200 {
				continue // mostly edges, where the filters differ most
			}
			if d := meanPixelDiff(t, img, boxReduce(full, size.X, size.Y)); d > 4 {
				t.Errorf("%v at %d/8: %.2f from image/jpeg's decode box-filtered", sz, scale, d)
			}
		}
	}
	// A size other than libjpeg's is refused, not written out of bounds.
	data := encodeJPEG(t, natural(3, 100, 61), 90)
	if _, err := decodeJPEG(context.Background(), data, headerOf(t, data), 4, image.Pt(50, 30), limits); !errors.Is(err, ErrCorrupt) {
		t.Errorf("wrong size: %v, want ErrCorrupt", err)
	}
}

func TestLibjpegMatchesImageJPEG(t *testing.T) {
	for _, q := range []int{50, 90} {
		data := encodeJPEG(t, natural(5, 640, 480), q)
		img, _, err := DecodeImage(context.Background(), data, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := img.(*image.RGBA); !ok {
			t.Errorf("libjpeg decodes to %T", img)
		}
		// The decoders differ in chroma upsampling and IDCT rounding.
		if d := meanPixelDiff(t, img, jpegDecode(t, data)); d > 2 {
			t.Errorf("quality %d: libjpeg and image/jpeg differ by %.2f", q, d)
		}
	}
}

func TestProgressiveJPEG(t *testing.T) {
	src := natural(7, 800, 600)
	data, err := turboenc.Encode(src, 85, true)
	if err != nil {
		t.Fatal(err)
	}
	if n := scanJPEG(data).scans; n != 10 {
		t.Errorf("%d scans, want libjpeg's default progression of 10", n)
	}
	img, _, err := DecodeImage(context.Background(), data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if d := meanPixelDiff(t, img, jpegDecode(t, data)); d > 2 {
		t.Errorf("libjpeg and image/jpeg differ by %.2f", d)
	}
	if d := meanPixelDiff(t, img, src); d > 4 {
		t.Errorf("decoded picture is %.2f from the source", d)
	}
	if _, err := Hash(context.Background(), data, events.ContentImage, Limits{MaxScans: 9}); !errors.Is(err, ErrTooManyScans) {
		t.Errorf("MaxScans 9: %v, want ErrTooManyScans", err)
	}
	// libjpeg's own check, should the header scan ever count fewer.
	hdr := headerOf(t, data)
	_, err = decodeJPEG(context.Background(), data, hdr, 4, image.Pt(400, 300), Limits{MaxScans: 3}.withDefaults())
	if !errors.Is(err, ErrTooManyScans) || !strings.Contains(err.Error(), "libjpeg") {
		t.Errorf("libjpeg with MaxScans 3: %v, want ErrTooManyScans", err)
	}
}

func TestLibjpegMemoryBudget(t *testing.T) {
	data, err := turboenc.Encode(natural(8, 800, 600), 85, true)
	if err != nil {
		t.Fatal(err)
	}
	defer func(f func(header) int64) { turboMemoryBudget = f }(turboMemoryBudget)
	// Too small for the coefficients of the whole image, which a
	// progressive decode keeps.
	turboMemoryBudget = func(header) int64 { return 400 << 10 }
	_, err = DecodeForHashing(context.Background(), data, Limits{})
	if !errors.Is(err, ErrTooManyPixels) || !strings.Contains(err.Error(), "memory budget") {
		t.Errorf("budget of 400 KiB: %v, want ErrTooManyPixels", err)
	}
	// A baseline file needs no such memory.
	if _, err := DecodeForHashing(context.Background(), encodeJPEG(t, natural(8, 800, 600), 85), Limits{}); err != nil {
		t.Errorf("baseline within 400 KiB: %v", err)
	}
}

func TestLibjpegStopsWhenCancelled(t *testing.T) {
	data := encodeJPEG(t, natural(9, 300, 200), 85)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := decodeJPEG(ctx, data, headerOf(t, data), 8, image.Pt(300, 200), Limits{}.withDefaults())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled decode: %v, want context.Canceled", err)
	}
}

func TestLibjpegBadData(t *testing.T) {
	data := encodeJPEG(t, natural(10, 320, 240), 85)
	// Truncated in the middle of its scan: libjpeg, like browsers, shows
	// what arrived and paints the rest grey; the picture is hashed.
	if _, err := Hash(context.Background(), data[:len(data)*2/3], events.ContentImage, Limits{}); err != nil {
		t.Errorf("truncated: %v", err)
	}
	// A Huffman table that claims more codes than fit: libjpeg's error,
	// as ErrCorrupt.
	i := bytes.Index(data, []byte{0xff, 0xc4})
	if i < 0 {
		t.Fatal("no DHT segment")
	}
	bad := bytes.Clone(data)
	for k := i + 5; k < i+5+16; k++ {
		bad[k] = 0xff
	}
	_, err := Hash(context.Background(), bad, events.ContentImage, Limits{})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "jpeg") {
		t.Errorf("bad Huffman table: %v, want ErrCorrupt", err)
	}
	// A header whose size libjpeg reads differently from image/jpeg's
	// (two frame headers) is refused, not decoded into a wrong buffer.
	sof := bytes.Index(data, []byte{0xff, 0xc0})
	n := int(binary.BigEndian.Uint16(data[sof+2:]))
	second := bytes.Clone(data[sof : sof+2+n])
	binary.BigEndian.PutUint16(second[5:], 16) // height
	twice := append(append(bytes.Clone(data[:sof+2+n]), second...), data[sof+2+n:]...)
	if _, err := DecodeForHashing(context.Background(), twice, Limits{}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("two frame headers: %v, want ErrCorrupt", err)
	}
}
