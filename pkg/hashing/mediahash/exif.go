package mediahash

import (
	"bytes"
	"encoding/binary"
)

// Orientation is an EXIF orientation (TIFF tag 0x0112): how the stored
// pixels must be transformed to show the picture upright. Cameras store a
// sensor-oriented image and set the tag instead of rotating the pixels, and
// every browser and photo viewer honours it, so a picture must be hashed as
// displayed: otherwise a phone photo and a screenshot of it would differ by a
// rotation.
type Orientation int

// The eight orientations, named by the transform that displays the image
// upright. Values outside 1-8 are treated as OrientNormal.
const (
	OrientNormal     Orientation = 1 // as stored
	OrientFlipH      Orientation = 2 // mirror left-right
	OrientRotate180  Orientation = 3
	OrientFlipV      Orientation = 4 // mirror top-bottom
	OrientTranspose  Orientation = 5 // mirror along the top-left to bottom-right diagonal
	OrientRotate90   Orientation = 6 // rotate 90 degrees clockwise
	OrientTransverse Orientation = 7 // mirror along the top-right to bottom-left diagonal
	OrientRotate270  Orientation = 8 // rotate 90 degrees anticlockwise
)

// swapsAxes reports whether the orientation exchanges width and height.
func (o Orientation) swapsAxes() bool { return o >= OrientTranspose && o <= OrientRotate270 }

const exifOrientationTag = 0x0112

// exifHeader starts the payload of a JPEG APP1 segment holding EXIF data.
var exifHeader = []byte("Exif\x00\x00")

// parseEXIFOrientation reads the orientation from EXIF data: a TIFF
// structure, optionally preceded by the "Exif\0\0" header. It only reads
// IFD0, the one place the tag belongs. The data is untrusted: every offset is
// bounds-checked, and anything missing, malformed or out of range gives
// OrientNormal, never an error, as viewers then show the stored pixels.
func parseEXIFOrientation(b []byte) Orientation {
	b = bytes.TrimPrefix(b, exifHeader)
	if len(b) < 8 {
		return OrientNormal
	}
	var order binary.ByteOrder
	switch string(b[:4]) {
	case "II*\x00":
		order = binary.LittleEndian
	case "MM\x00*":
		order = binary.BigEndian
	default:
		return OrientNormal
	}
	ifd := uint64(order.Uint32(b[4:8]))
	if ifd < 8 || ifd+2 > uint64(len(b)) {
		return OrientNormal
	}
	n := uint64(order.Uint16(b[ifd:]))
	entries := b[ifd+2:]
	n = min(n, uint64(len(entries)/12)) // a truncated directory keeps its whole entries
	for i := range n {
		e := entries[12*i : 12*i+12]
		if order.Uint16(e[0:2]) != exifOrientationTag {
			continue
		}
		var v uint32
		// The value fits in the entry itself; SHORT is the type the
		// standard gives, LONG is accepted as some writers use it.
		switch typ, count := order.Uint16(e[2:4]), order.Uint32(e[4:8]); {
		case count != 1:
			return OrientNormal
		case typ == 3:
			v = uint32(order.Uint16(e[8:10]))
		case typ == 4:
			v = order.Uint32(e[8:12])
		default:
			return OrientNormal
		}
		if v < 1 || v > 8 {
			return OrientNormal
		}
		return Orientation(v)
	}
	return OrientNormal
}

// webpOrientation returns the orientation in the EXIF chunk of a WebP file
// (an extended-format file, whose VP8X chunk flags EXIF data), or
// OrientNormal. Browsers honour it like JPEG's.
func webpOrientation(data []byte) Orientation {
	if len(data) < 12 || string(data[:4]) != "RIFF" || string(data[8:12]) != "WEBP" {
		return OrientNormal
	}
	// The RIFF size may be wrong; the chunks are read within the data.
	for p := uint64(12); p+8 <= uint64(len(data)); {
		id := string(data[p : p+4])
		size := uint64(binary.LittleEndian.Uint32(data[p+4 : p+8]))
		body := p + 8
		if size > uint64(len(data))-body {
			return OrientNormal
		}
		if id == "EXIF" {
			return parseEXIFOrientation(data[body : body+size])
		}
		p = body + size + size&1 // chunks are padded to an even size
	}
	return OrientNormal
}
