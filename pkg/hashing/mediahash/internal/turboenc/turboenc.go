//go:build cgo

// Package turboenc writes JPEGs with libjpeg-turbo, for the tests and
// benchmarks of package mediahash: Go's image/jpeg writes no progressive
// JPEGs. Without cgo, Encode returns ErrUnavailable.
package turboenc

/*
#cgo LDFLAGS: -ljpeg
#include <stdlib.h>
#include "turboenc.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"image/draw"
	"unsafe"
)

// ErrUnavailable is returned without cgo.
var ErrUnavailable = errors.New("turboenc: libjpeg-turbo needs cgo")

// Encode writes img as a JPEG of the given quality (1-100), 4:2:0, baseline
// or progressive (libjpeg's default progression, 10 scans).
func Encode(img image.Image, quality int, progressive bool) ([]byte, error) {
	b := img.Bounds()
	if b.Empty() {
		return nil, errors.New("turboenc: empty image")
	}
	rgb := make([]byte, 3*b.Dx()*b.Dy())
	rgba := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
	for i := 0; i < b.Dx()*b.Dy(); i++ {
		copy(rgb[3*i:3*i+3], rgba.Pix[4*i:4*i+3])
	}
	var out *C.uchar
	var n C.ulong
	var msg [200]C.char
	prog := C.int(0)
	if progressive {
		prog = 1
	}
	if C.te_encode((*C.uchar)(unsafe.Pointer(&rgb[0])), C.int(b.Dx()), C.int(b.Dy()), C.int(quality), prog, &out, &n, &msg[0]) != 0 {
		return nil, fmt.Errorf("turboenc: %s", C.GoString(&msg[0]))
	}
	defer C.free(unsafe.Pointer(out))
	return C.GoBytes(unsafe.Pointer(out), C.int(n)), nil
}
