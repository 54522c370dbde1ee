package mediahash

import (
	"bytes"
	"encoding/binary"
)

// jpegInfo is what scanJPEG finds in a JPEG's marker structure.
type jpegInfo struct {
	scans       int         // SOS segments before the first EOI
	orientation Orientation // of the first EXIF APP1 segment before the first scan
}

// JPEG markers scanJPEG tells apart.
const (
	markerSOI  = 0xd8
	markerEOI  = 0xd9
	markerSOS  = 0xda
	markerAPP1 = 0xe1
	markerTEM  = 0x01
	markerRST0 = 0xd0
	markerRST7 = 0xd7
)

// scanJPEG walks the markers of a JPEG without decoding it: a linear pass
// that allocates nothing. It reads markers the way image/jpeg and libjpeg
// do: segments are skipped by their length, bytes that are not a marker
// (entropy-coded data, which escapes 0xff as ff 00, and stray bytes) are
// skipped up to the next 0xff, fill bytes (ff ff) and restart markers are
// passed over. So it counts at least the scans either decoder would read.
// Malformed structure ends the walk with what was found; the decoders judge
// it.
func scanJPEG(data []byte) jpegInfo {
	info := jpegInfo{orientation: OrientNormal}
	if !bytes.HasPrefix(data, []byte{0xff, markerSOI}) {
		return info
	}
	sawEXIF := false
	for p := 2; p < len(data); {
		if data[p] != 0xff {
			i := bytes.IndexByte(data[p:], 0xff)
			if i < 0 {
				break
			}
			p += i
		}
		for p+1 < len(data) && data[p+1] == 0xff {
			p++
		}
		if p+1 >= len(data) {
			break
		}
		marker := data[p+1]
		p += 2
		switch {
		case marker == 0x00, marker == markerTEM, markerRST0 <= marker && marker <= markerRST7:
			continue // stuffed byte or a marker without a length
		case marker == markerEOI, marker == markerSOI:
			return info // the end, or a second SOI that both decoders refuse
		}
		if p+2 > len(data) {
			break
		}
		n := int(binary.BigEndian.Uint16(data[p:]))
		if n < 2 {
			break
		}
		seg := data[p+2 : min(p+n, len(data))]
		switch marker {
		case markerSOS:
			info.scans++
		case markerAPP1:
			if !sawEXIF && info.scans == 0 && bytes.HasPrefix(seg, exifHeader) {
				sawEXIF = true
				info.orientation = parseEXIFOrientation(seg)
			}
		}
		p += n
	}
	return info
}
