//go:build cgo

package mediahash

/*
#cgo LDFLAGS: -ljpeg
#include <jerror.h>
#include "jpegturbo.h"
*/
import "C"

import (
	"context"
	"fmt"
	"image"
	"sync/atomic"
	"unsafe"
)

// JPEGDecoder names the JPEG decoder this build uses: libjpeg-turbo through
// cgo, or Go's image/jpeg when built without cgo.
const JPEGDecoder = "libjpeg-turbo"

// turboBytesPerCoefficient is what a progressive JPEG costs libjpeg: every
// DCT coefficient of the image (64 a block, 2 bytes each) is kept until the
// last scan.
const turboBytesPerCoefficient = 2

// decodeJPEG decodes a JPEG with libjpeg-turbo, scaled in the DCT domain by
// scale/8, into an opaque RGBA image of exactly size.
func decodeJPEG(ctx context.Context, data []byte, hdr header, scale int, size image.Point, limits Limits) (image.Image, error) {
	if len(data) == 0 || size.X <= 0 || size.Y <= 0 {
		return nil, fmt.Errorf("%w: jpeg: empty", ErrCorrupt)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := image.NewRGBA(image.Rectangle{Max: size})
	// Set from another goroutine when ctx ends; libjpeg polls it. It lives
	// in Go memory, which C may read during the call.
	cancel := new(int32)
	stop := context.AfterFunc(ctx, func() { atomic.StoreInt32(cancel, 1) })
	defer stop()
	var res C.td_result
	code := C.td_decode(
		(*C.uchar)(unsafe.Pointer(&data[0])), C.size_t(len(data)), C.int(scale),
		(*C.uchar)(unsafe.Pointer(&out.Pix[0])), C.size_t(len(out.Pix)), C.int(size.X), C.int(size.Y),
		C.int(limits.MaxScans), C.long(turboMemoryBudget(hdr)), (*C.int32_t)(unsafe.Pointer(cancel)), &res)
	switch code {
	case C.TD_OK:
	case C.TD_ERR_CANCELLED:
		return nil, ctx.Err()
	case C.TD_ERR_SCANS:
		return nil, fmt.Errorf("%w: more than %d (libjpeg)", ErrTooManyScans, limits.MaxScans)
	case C.TD_ERR_SIZE:
		return nil, fmt.Errorf("%w: jpeg: libjpeg decodes %dx%d at scale %d/8, the header said %dx%d",
			ErrCorrupt, int(res.width), int(res.height), scale, hdr.width, hdr.height)
	default:
		msg := C.GoString(&res.msg[0])
		if res.msg_code == C.JERR_NO_BACKING_STORE || res.msg_code == C.JERR_OUT_OF_MEMORY {
			return nil, fmt.Errorf("%w: jpeg: libjpeg needs more than its memory budget of %d bytes (%s)",
				ErrTooManyPixels, turboMemoryBudget(hdr), msg)
		}
		return nil, fmt.Errorf("%w: jpeg: %s", ErrCorrupt, msg)
	}
	if res.cmyk != 0 {
		cmykToRGBA(out.Pix, res.adobe != 0)
	}
	return out, nil
}

// turboMemoryBudget is what libjpeg may allocate for its working arrays:
// enough for any JPEG of the size its header declares (at worst a
// progressive file of four full-resolution components, blocks padded to
// 32-pixel MCUs), so that only data at odds with its header reaches it. A
// variable for tests.
var turboMemoryBudget = func(hdr header) int64 {
	const slack = 16 << 20
	return 4*turboBytesPerCoefficient*int64(hdr.width+32)*int64(hdr.height+32) + slack
}
