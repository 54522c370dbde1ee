package mediahash

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"testing"
)

// byteOrder is binary.LittleEndian or binary.BigEndian.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// tiffIFD0 builds a TIFF structure whose IFD0 holds the given 12-byte
// entries, each (tag, type, count, value).
func tiffIFD0(order byteOrder, entries ...[4]uint32) []byte {
	var b []byte
	if order == byteOrder(binary.LittleEndian) {
		b = []byte("II*\x00")
	} else {
		b = []byte("MM\x00*")
	}
	b = order.AppendUint32(b, 8)
	b = order.AppendUint16(b, uint16(len(entries)))
	for _, e := range entries {
		b = order.AppendUint16(b, uint16(e[0]))
		b = order.AppendUint16(b, uint16(e[1]))
		b = order.AppendUint32(b, e[2])
		if e[1] == 3 { // SHORT: the value sits in the first two bytes
			b = order.AppendUint16(b, uint16(e[3]))
			b = append(b, 0, 0)
		} else {
			b = order.AppendUint32(b, e[3])
		}
	}
	return order.AppendUint32(b, 0) // no next IFD
}

func TestParseEXIFOrientation(t *testing.T) {
	le, be := byteOrder(binary.LittleEndian), byteOrder(binary.BigEndian)
	short := func(v uint32) [4]uint32 { return [4]uint32{0x0112, 3, 1, v} }
	width := [4]uint32{0x0100, 4, 1, 4032}
	tests := []struct {
		name string
		data []byte
		want Orientation
	}{
		{"little-endian 6", tiffIFD0(le, width, short(6)), OrientRotate90},
		{"big-endian 8", tiffIFD0(be, width, short(8)), OrientRotate270},
		{"with Exif header", append([]byte("Exif\x00\x00"), tiffIFD0(le, short(3))...), OrientRotate180},
		{"LONG value", tiffIFD0(be, [4]uint32{0x0112, 4, 1, 5}), OrientTranspose},
		{"first entry", tiffIFD0(le, short(2), width), OrientFlipH},
		{"no tag", tiffIFD0(le, width), OrientNormal},
		{"value 0", tiffIFD0(le, short(0)), OrientNormal},
		{"value 9", tiffIFD0(le, short(9)), OrientNormal},
		{"value 1536 (byte order confused)", tiffIFD0(le, short(0x0600)), OrientNormal},
		{"count 2", tiffIFD0(le, [4]uint32{0x0112, 3, 2, 6}), OrientNormal},
		{"type ASCII", tiffIFD0(le, [4]uint32{0x0112, 2, 1, 6}), OrientNormal},
		{"empty", nil, OrientNormal},
		{"header only", []byte("Exif\x00\x00"), OrientNormal},
		{"bad magic", append([]byte("IM*\x00"), tiffIFD0(le, short(6))[4:]...), OrientNormal},
		{"IFD offset past the end", append([]byte("II*\x00\xff\xff\xff\xff"), tiffIFD0(le, short(6))[8:]...), OrientNormal},
		{"IFD offset into the header", append([]byte("II*\x00\x04\x00\x00\x00"), tiffIFD0(le, short(6))[8:]...), OrientNormal},
		{"truncated entry", tiffIFD0(le, width, short(6))[:8+2+12+6], OrientNormal},
		{"entry count larger than the data", func() []byte {
			b := tiffIFD0(le, short(7))
			b[8], b[9] = 0xff, 0xff
			return b
		}(), OrientTransverse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseEXIFOrientation(tt.data); got != tt.want {
				t.Errorf("orientation %d, want %d", got, tt.want)
			}
		})
	}
	// Every value 1-8 in both byte orders.
	for o := Orientation(1); o <= 8; o++ {
		for _, order := range []byteOrder{le, be} {
			if got := parseEXIFOrientation(tiffIFD0(order, width, short(uint32(o)))); got != o {
				t.Errorf("%v %d: got %d", order, o, got)
			}
		}
	}
}

// jpegWithSegments inserts segments (each a marker byte and its payload)
// after the SOI of a JPEG.
func jpegWithSegments(jpg []byte, segs ...[]byte) []byte {
	out := append([]byte(nil), jpg[:2]...)
	for _, s := range segs {
		out = append(out, 0xff, s[0])
		out = binary.BigEndian.AppendUint16(out, uint16(len(s)+1))
		out = append(out, s[1:]...)
	}
	return append(out, jpg[2:]...)
}

func app1EXIF(o Orientation) []byte {
	return append([]byte{markerAPP1}, append([]byte("Exif\x00\x00"), tiffIFD0(binary.BigEndian, [4]uint32{0x0112, 3, 1, uint32(o)})...)...)
}

func TestScanJPEG(t *testing.T) {
	base := encodeJPEG(t, natural(60, 64, 48), 80)
	xmp := append([]byte{markerAPP1}, "http://ns.adobe.com/xap/1.0/\x00<x/>"...)
	eoi := bytes.LastIndex(base, []byte{0xff, markerEOI})
	tests := []struct {
		name   string
		data   []byte
		scans  int
		orient Orientation
	}{
		{"baseline", base, 1, OrientNormal},
		{"exif", jpegWithSegments(base, app1EXIF(OrientRotate90)), 1, OrientRotate90},
		{"xmp then exif", jpegWithSegments(base, xmp, app1EXIF(OrientRotate270)), 1, OrientRotate270},
		{"first exif wins", jpegWithSegments(base, app1EXIF(OrientFlipV), app1EXIF(OrientRotate90)), 1, OrientFlipV},
		{"exif after the scan ignored", append(append(append([]byte(nil), base[:eoi]...),
			jpegWithSegments([]byte{0xff, markerSOI}, app1EXIF(OrientRotate90))[2:]...), 0xff, markerEOI), 1, OrientNormal},
		{"scans after EOI not counted", append(append([]byte(nil), base...), base[2:]...), 1, OrientNormal},
		{"extra empty scans", append(append([]byte(nil), base[:eoi]...),
			append(bytes.Repeat([]byte{0xff, markerSOS, 0, 8, 1, 1, 0, 0, 63, 0}, 5), 0xff, markerEOI)...), 6, OrientNormal},
		{"fill bytes before a marker", append(append(append([]byte(nil), base[:eoi]...), 0xff, 0xff, 0xff), base[eoi:]...), 1, OrientNormal},
		{"truncated in a segment", base[:30], 0, OrientNormal},
		{"not a JPEG", []byte("GIF89a"), 0, OrientNormal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scanJPEG(tt.data)
			if got.scans != tt.scans || got.orientation != tt.orient {
				t.Errorf("scanJPEG = %+v, want %d scans, orientation %d", got, tt.scans, tt.orient)
			}
		})
	}
}

func TestWebPOrientation(t *testing.T) {
	chunk := func(id string, body []byte) []byte {
		b := append([]byte(id), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
		b = append(b, body...)
		if len(body)%2 == 1 {
			b = append(b, 0)
		}
		return b
	}
	riff := func(chunks ...[]byte) []byte {
		body := []byte("WEBP")
		for _, c := range chunks {
			body = append(body, c...)
		}
		return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
	}
	exif := tiffIFD0(binary.LittleEndian, [4]uint32{0x0112, 3, 1, 6})
	tests := []struct {
		name string
		data []byte
		want Orientation
	}{
		{"exif chunk", riff(chunk("VP8X", make([]byte, 10)), chunk("ICCP", []byte{1, 2, 3}), chunk("EXIF", exif)), OrientRotate90},
		{"exif chunk with Exif header", riff(chunk("VP8X", make([]byte, 10)), chunk("EXIF", append([]byte("Exif\x00\x00"), exif...))), OrientRotate90},
		{"no exif", riff(chunk("VP8X", make([]byte, 10))), OrientNormal},
		{"chunk size past the end", riff(chunk("VP8X", make([]byte, 10)), []byte("EXIF\xff\xff\xff\x7f")), OrientNormal},
		{"not webp", []byte("RIFF\x00\x00\x00\x00WAVE"), OrientNormal},
	}
	for _, tt := range tests {
		if got := webpOrientation(tt.data); got != tt.want {
			t.Errorf("%s: orientation %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestOrient(t *testing.T) {
	// The EXIF definition of each value: which side of the displayed
	// picture the stored image's first row and first column are on.
	type side int
	const (
		top side = iota
		bottom
		left
		right
	)
	spec := map[Orientation][2]side{
		1: {top, left}, 2: {top, right}, 3: {bottom, right}, 4: {bottom, left},
		5: {left, top}, 6: {right, top}, 7: {right, bottom}, 8: {left, bottom},
	}
	const w, h = 5, 3
	src := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			src.SetRGBA(x, y, color.RGBA{uint8(x), uint8(y), 7, 255})
		}
	}
	// A sub-image with an offset must work the same.
	big := image.NewRGBA(image.Rect(-2, -1, w+3, h+4))
	for y := range h {
		for x := range w {
			big.SetRGBA(x+1, y+2, src.RGBAAt(x, y))
		}
	}
	sub := big.SubImage(image.Rect(1, 2, 1+w, 2+h)).(*image.RGBA)
	for o, sides := range spec {
		for name, in := range map[string]*image.RGBA{"image": src, "sub-image": sub} {
			got := orient(in, o)
			gb := got.Bounds()
			// dist is the distance of displayed pixel (x, y) from a side.
			dist := func(s side, x, y int) int {
				switch s {
				case top:
					return y
				case bottom:
					return gb.Dy() - 1 - y
				case left:
					return x
				}
				return gb.Dx() - 1 - x
			}
			if gb.Dx()*gb.Dy() != w*h {
				t.Fatalf("%s orientation %d: bounds %v", name, o, gb)
			}
			for y := range gb.Dy() {
				for x := range gb.Dx() {
					sy, sx := dist(sides[0], x, y), dist(sides[1], x, y)
					want := color.RGBA{uint8(sx), uint8(sy), 7, 255}
					if c := got.RGBAAt(gb.Min.X+x, gb.Min.Y+y); c != want {
						t.Errorf("%s orientation %d: displayed (%d,%d) = %v, want stored (%d,%d)", name, o, x, y, c, sx, sy)
					}
				}
			}
		}
	}
	if got := orient(src, 0); got != src {
		t.Error("orientation 0 changed the image")
	}
}
