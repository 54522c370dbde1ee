package mediahash

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
)

// Every decoder must stop when its reader fails, or an abandoned decode
// would run on after its deadline: a cancelled context must end each one.
func TestDecodersStopWhenTheirDeadlinePassed(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 300, 200))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	enc := map[string]func() []byte{
		FormatJPEG: func() []byte { var b bytes.Buffer; _ = jpeg.Encode(&b, img, nil); return b.Bytes() },
		FormatPNG:  func() []byte { var b bytes.Buffer; _ = png.Encode(&b, img); return b.Bytes() },
		FormatGIF: func() []byte {
			var b bytes.Buffer
			p := image.NewPaletted(img.Bounds(), color.Palette{color.Black, color.White})
			_ = gif.Encode(&b, p, nil)
			return b.Bytes()
		},
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for format, data := range enc {
		d := data()
		if _, err := codecs[format].decode(ctxReader{ctx: context.Background(), r: bytes.NewReader(d)}); err != nil {
			t.Fatalf("%s: the reader breaks a live decode: %v", format, err)
		}
		// Some decoders flatten the reader's error into text.
		if _, err := codecs[format].decode(ctxReader{ctx: cancelled, r: bytes.NewReader(d)}); err == nil ||
			!(errors.Is(err, context.Canceled) || strings.Contains(err.Error(), context.Canceled.Error())) {
			t.Errorf("%s: decode after the deadline returned %v, want context.Canceled", format, err)
		}
	}
}
