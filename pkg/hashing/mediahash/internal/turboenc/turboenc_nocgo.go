//go:build !cgo

package turboenc

import (
	"errors"
	"image"
)

// ErrUnavailable is returned without cgo.
var ErrUnavailable = errors.New("turboenc: libjpeg-turbo needs cgo")

// Encode needs cgo; here it returns ErrUnavailable.
func Encode(image.Image, int, bool) ([]byte, error) { return nil, ErrUnavailable }
