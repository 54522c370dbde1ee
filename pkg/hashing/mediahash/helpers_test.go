package mediahash

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"testing"
)

// Tiny valid WebP files (1x1), as used by browsers' feature detection.
var (
	webpLossless = []byte("RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00")
	webpLossy    = []byte("RIFF\x22\x00\x00\x00WEBPVP8 \x16\x00\x00\x00\x30\x01\x00\x9d\x01\x2a\x01\x00\x01\x00\x0e\xc0\xfe\x25\xa4\x00\x03\x70\x00\x00\x00\x00")
)

// natural draws a deterministic image with the broad structure of a photo:
// smooth low-frequency shading, a few soft-edged shapes and a little noise.
// Different seeds give unrelated images.
func natural(seed uint64, w, h int) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, seed*0x9e3779b97f4a7c15+1))
	type wave struct{ fx, fy, phase, amp float64 }
	var waves [3][4]wave
	for c := range waves {
		for i := range waves[c] {
			waves[c][i] = wave{
				fx: r.Float64()*3 - 1.5, fy: r.Float64()*3 - 1.5,
				phase: r.Float64() * 2 * math.Pi, amp: 20 + r.Float64()*30,
			}
		}
	}
	type blob struct {
		cx, cy, rad float64
		col         [3]float64
	}
	blobs := make([]blob, 5)
	for i := range blobs {
		blobs[i] = blob{cx: r.Float64() * float64(w), cy: r.Float64() * float64(h),
			rad: (0.08 + r.Float64()*0.2) * float64(min(w, h)),
			col: [3]float64{r.Float64() * 255, r.Float64() * 255, r.Float64() * 255}}
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			var px [3]float64
			for c := range 3 {
				v := 128.0
				for _, wv := range waves[c] {
					v += wv.amp * math.Sin(2*math.Pi*(wv.fx*float64(x)/float64(w)+wv.fy*float64(y)/float64(h))+wv.phase)
				}
				px[c] = v
			}
			for _, b := range blobs {
				d := math.Hypot(float64(x)-b.cx, float64(y)-b.cy)
				a := 1 / (1 + math.Exp((d-b.rad)/3)) // soft edge
				for c := range 3 {
					px[c] = px[c]*(1-a) + b.col[c]*a
				}
			}
			var out [3]uint8
			for c := range 3 {
				out[c] = clamp(px[c] + r.NormFloat64()*3)
			}
			img.SetRGBA(x, y, color.RGBA{out[0], out[1], out[2], 255})
		}
	}
	return img
}

func clamp(v float64) uint8 {
	return uint8(math.Round(math.Max(0, math.Min(255, v))))
}

func brighter(src *image.RGBA, d float64) *image.RGBA {
	out := image.NewRGBA(src.Bounds())
	for i, v := range src.Pix {
		if i%4 == 3 {
			out.Pix[i] = v
			continue
		}
		out.Pix[i] = clamp(float64(v) + d)
	}
	return out
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image, quality int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeGIF(t testing.TB, img image.Image) []byte {
	t.Helper()
	pal := image.NewPaletted(img.Bounds(), palette.Plan9)
	draw.FloydSteinberg.Draw(pal, pal.Bounds(), img, img.Bounds().Min)
	var b bytes.Buffer
	// Two frames: only the first is hashed.
	second := image.NewPaletted(img.Bounds(), palette.Plan9)
	if err := gif.EncodeAll(&b, &gif.GIF{Image: []*image.Paletted{pal, second}, Delay: []int{10, 10}}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Decompression bombs: headers that declare width x height pixels and no
// pixel data worth mentioning.

func pngBomb(width, height uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], width)
	binary.BigEndian.PutUint32(ihdr[4:], height)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	writeChunk := func(typ string, data []byte) {
		_ = binary.Write(&b, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		b.WriteString(typ)
		b.Write(data)
		_ = binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	writeChunk("IHDR", ihdr)
	// The start of a zlib stream of zeros, as a real bomb would have.
	writeChunk("IDAT", []byte{0x78, 0x9c, 0xed, 0xc1, 0x01, 0x0d, 0x00, 0x00})
	return b.Bytes()
}

func gifBomb(width, height uint16) []byte {
	b := []byte("GIF89a")
	b = binary.LittleEndian.AppendUint16(b, width)
	b = binary.LittleEndian.AppendUint16(b, height)
	b = append(b, 0x00, 0x00, 0x00) // no global colour table
	// One image descriptor covering the whole screen, 2-bit LZW.
	b = append(b, 0x2c, 0, 0, 0, 0)
	b = binary.LittleEndian.AppendUint16(b, width)
	b = binary.LittleEndian.AppendUint16(b, height)
	b = append(b, 0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b)
	return b
}

func jpegBomb(width, height uint16) []byte {
	b := []byte{0xff, 0xd8}
	b = append(b, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0) // APP0 JFIF
	b = append(b, 0xff, 0xc0, 0x00, 0x11, 0x08)
	b = binary.BigEndian.AppendUint16(b, height)
	b = binary.BigEndian.AppendUint16(b, width)
	b = append(b, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01)
	return append(b, 0xff, 0xd9)
}

func webpBomb(width, height uint32) []byte {
	chunk := make([]byte, 10)
	chunk[0] = 0
	w, h := width-1, height-1
	chunk[4], chunk[5], chunk[6] = byte(w), byte(w>>8), byte(w>>16)
	chunk[7], chunk[8], chunk[9] = byte(h), byte(h>>8), byte(h>>16)
	b := []byte("RIFF")
	b = binary.LittleEndian.AppendUint32(b, uint32(4+8+len(chunk)))
	b = append(b, "WEBPVP8X"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(chunk)))
	return append(b, chunk...)
}
