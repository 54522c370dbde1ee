//go:build !cgo

package mediahash

import (
	"context"
	"image"
)

// JPEGDecoder names the JPEG decoder this build uses: libjpeg-turbo through
// cgo, or Go's image/jpeg when built without cgo.
const JPEGDecoder = "image/jpeg"

// decodeJPEG decodes a JPEG with image/jpeg and, for a scale below 8/8,
// box-filters it to size: what libjpeg-turbo's DCT-domain scaling computes
// in the cgo build, at the cost of a full decode. image/jpeg returns its own
// pixel types (YCbCr, Gray, CMYK...).
func decodeJPEG(ctx context.Context, data []byte, _ header, scale int, size image.Point, _ Limits) (image.Image, error) {
	img, err := decodeStd(ctx, data, FormatJPEG)
	if err != nil || scale == 8 {
		return img, err
	}
	return boxReduce(img, size.X, size.Y), nil
}
