// Package mediahash holds safe decoding of uploaded media and the hashes the
// pipeline matches on.
//
// Uploaded media is hostile input. An image's header is read first and an
// image that declares more pixels than Limits.MaxPixels is refused before any
// pixel memory is allocated (decompression bombs), as is a JPEG of more than
// Limits.MaxScans scans; decoding runs under a time limit and a decoder panic
// is turned into ErrCorrupt. Only JPEG, PNG, GIF (first frame) and WebP are
// accepted, whatever other decoders the program has registered with package
// image.
//
// Pictures are hashed as a viewer shows them: the EXIF orientation of a JPEG
// or WebP file is applied and transparency is flattened over white.
//
// # JPEG decoding and memory
//
// Built with cgo (the default where a C compiler is present), JPEGs are
// decoded by libjpeg-turbo (Debian's libjpeg62-turbo-dev), about three times
// faster than image/jpeg, and for hashing scaled down in the DCT domain to
// the smallest of 1/8, 2/8 ... 8/8 whose longer side is still at least 512
// pixels (hashScale), so that every later step works on a fraction of the
// pixels. Without cgo, image/jpeg decodes in full and the image is
// box-filtered to the same size. JPEGDecoder says which is in use. Like
// browsers, libjpeg-turbo shows a truncated or slightly damaged JPEG (the
// missing part grey), and such a file is hashed; image/jpeg refuses it.
//
// The memory a decode takes is bounded through MaxPixels: a baseline JPEG
// needs little beyond its output, but a progressive one keeps every DCT
// coefficient of the image until its last scan: up to 6 bytes a pixel with
// libjpeg-turbo and 12 with image/jpeg, which also holds the full-size image.
// So a crafted progressive JPEG within the default 50-megapixel cap can take
// about 300 MB to hash with cgo and 700 MB without. Each scan is a pass over
// the whole image, which is what MaxScans bounds (scans are counted from the
// file's structure before decoding, and libjpeg-turbo checks again as it
// reads); libjpeg-turbo is also given a memory budget matching the header and
// fails rather than exceed it. Lower MaxPixels to lower these bounds.
package mediahash

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/image/webp"
)

// Defaults of Limits.
const (
	DefaultMaxPixels = 50_000_000
	DefaultMaxBytes  = 50 << 20
	DefaultTimeout   = 30 * time.Second
	DefaultMaxScans  = 100
)

// Limits bound the work spent on one piece of media. Zero fields take the
// defaults.
type Limits struct {
	// MaxPixels is the largest width*height decoded; default 50 million.
	MaxPixels int64
	// MaxBytes is the largest input accepted; default 50 MiB.
	MaxBytes int64
	// Timeout bounds decoding and hashing; default 30 s.
	Timeout time.Duration
	// MaxScans is the largest number of scans (SOS segments) of a JPEG;
	// default 100. A baseline JPEG has 1 to 4, a progressive one usually 6
	// to 12 (libjpeg's default script has 10); each costs a pass over the
	// whole image.
	MaxScans int
}

func (l Limits) withDefaults() Limits {
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.MaxScans <= 0 {
		l.MaxScans = DefaultMaxScans
	}
	return l
}

// Errors of decoding; they are wrapped with details, test with errors.Is.
var (
	// ErrUnsupportedFormat: the data is not JPEG, PNG, GIF or WebP (or the
	// declared content type is neither image nor video).
	ErrUnsupportedFormat = errors.New("unsupported media format")
	// ErrTooManyPixels: the image declares more than Limits.MaxPixels (or
	// its decoder needs more memory than that size allows).
	ErrTooManyPixels = errors.New("image has too many pixels")
	// ErrTooManyScans: the JPEG has more than Limits.MaxScans scans.
	ErrTooManyScans = errors.New("JPEG has too many scans")
	// ErrTooLarge: the data is longer than Limits.MaxBytes.
	ErrTooLarge = errors.New("media too large")
	// ErrCorrupt: the data claims a supported format but does not decode.
	ErrCorrupt = errors.New("corrupt image")
	// ErrTimeout: decoding or hashing took longer than Limits.Timeout.
	ErrTimeout = errors.New("media processing timed out")
)

// sentinels are the errors every refusal wraps.
var sentinels = []error{ErrUnsupportedFormat, ErrTooManyPixels, ErrTooManyScans, ErrTooLarge, ErrCorrupt, ErrTimeout}

// Image formats, as returned by DecodeImage.
const (
	FormatJPEG = "jpeg"
	FormatPNG  = "png"
	FormatGIF  = "gif"
	FormatWebP = "webp"
)

type codec struct {
	mime         string
	decodeConfig func(io.Reader) (image.Config, error)
	decode       func(io.Reader) (image.Image, error)
}

var codecs = map[string]codec{
	FormatJPEG: {"image/jpeg", jpeg.DecodeConfig, jpeg.Decode},
	FormatPNG:  {"image/png", png.DecodeConfig, png.Decode},
	FormatGIF:  {"image/gif", gif.DecodeConfig, gif.Decode}, // gif.Decode keeps the first frame only
	FormatWebP: {"image/webp", webp.DecodeConfig, webp.Decode},
}

// MimeType returns the media type of an image format name.
func MimeType(format string) string { return codecs[format].mime }

// sniff names the image format of data from its magic bytes, or "".
func sniff(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xd8\xff")):
		return FormatJPEG
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return FormatPNG
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return FormatGIF
	case len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return FormatWebP
	}
	return ""
}

// detectMime is http.DetectContentType without parameters.
func detectMime(data []byte) string {
	mt, _, _ := strings.Cut(http.DetectContentType(data), ";")
	return mt
}

// header is what is known of an image before decoding it.
type header struct {
	format        string
	width, height int // as stored, before orientation
	orient        Orientation
}

// readHeader checks data against limits from its header alone.
func readHeader(data []byte, limits Limits) (header, error) {
	if int64(len(data)) > limits.MaxBytes {
		return header{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(data), limits.MaxBytes)
	}
	format := sniff(data)
	if format == "" {
		return header{}, fmt.Errorf("%w: data looks like %s; want JPEG, PNG, GIF or WebP", ErrUnsupportedFormat, detectMime(data))
	}
	// The header alone says how much memory decoding will take: refuse a
	// bomb before the decoder allocates it.
	cfg, err := codecs[format].decodeConfig(bytes.NewReader(data))
	if err != nil {
		return header{}, fmt.Errorf("%w: %s header: %v", ErrCorrupt, format, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return header{}, fmt.Errorf("%w: %s declares %dx%d pixels", ErrCorrupt, format, cfg.Width, cfg.Height)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > limits.MaxPixels {
		return header{}, fmt.Errorf("%w: %s declares %dx%d = %d pixels, the limit is %d",
			ErrTooManyPixels, format, cfg.Width, cfg.Height, px, limits.MaxPixels)
	}
	hdr := header{format: format, width: cfg.Width, height: cfg.Height, orient: OrientNormal}
	switch format {
	case FormatJPEG:
		info := scanJPEG(data)
		if info.scans > limits.MaxScans {
			return header{}, fmt.Errorf("%w: %d scans, the limit is %d", ErrTooManyScans, info.scans, limits.MaxScans)
		}
		hdr.orient = info.orientation
	case FormatWebP:
		hdr.orient = webpOrientation(data)
	}
	return hdr, nil
}

// DecodeImage decodes a JPEG, PNG, GIF (first frame) or WebP image within
// limits and returns it in full, upright (EXIF orientation applied) and
// opaque (transparency flattened over white), with its format name ("jpeg",
// "png", "gif", "webp"). The image type depends on the format and the build;
// Hash uses the cheaper DecodeForHashing.
func DecodeImage(ctx context.Context, data []byte, limits Limits) (image.Image, string, error) {
	limits = limits.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, limits.Timeout)
	defer cancel()
	hdr, err := readHeader(data, limits)
	if err != nil {
		return nil, "", err
	}
	img, err := bounded(ctx, limits, func() (image.Image, error) {
		var img image.Image
		var err error
		if hdr.format == FormatJPEG {
			img, err = decodeJPEG(ctx, data, hdr, 8, image.Pt(hdr.width, hdr.height), limits)
		} else {
			img, err = decodeStd(ctx, data, hdr.format)
		}
		if err != nil {
			return nil, err
		}
		if hdr.format != FormatJPEG && !isOpaque(img) { // JPEG has no transparency
			rgba := toRGBA(img)
			flatten(rgba)
			img = rgba
		}
		if hdr.orient != OrientNormal {
			img = orient(toRGBA(img), hdr.orient)
		}
		return img, nil
	})
	if err != nil {
		return nil, "", decodeError(hdr.format, err)
	}
	return img, hdr.format, nil
}

// Picture is an image decoded for hashing.
type Picture struct {
	// Image is the picture upright (EXIF orientation applied), opaque
	// (transparency flattened over white) and reduced: its longer side is
	// the shortest that is still at least 512 pixels (see hashScale), or
	// the image's own if shorter. Its bounds start at (0, 0).
	Image *image.RGBA
	// Width and Height are those of the full picture, upright.
	Width, Height int
	// Format is the image format: "jpeg", "png", "gif" or "webp".
	Format string
}

// hashMinSide is the longer side hashing needs. PDQ's blur window along a
// side is a 128th of it, rounded up: 4 pixels for any side from 385 to 512,
// as for a picture shrunk to 512. Decoding at the smallest
// scale that keeps the longer side at 448 or more lets libjpeg-turbo use its
// fast 1/2 and 1/8 scalings more often and spares PDQ its shrink for most
// 1-megapixel photos, which made the benchmark's decode and hashes about
// 40% faster. Measured on the 37 JPEGs of the PDQ reference data, PDQ of the
// picture decoded at hashScale differs from PDQ of the full decode by 2.6
// bits on average (2.1 with 512), 8 at most (of 256; matching allows 31).
const hashMinSide = 448

// hashScale returns the smallest scale s/8 (s = 1..8, the factors
// libjpeg-turbo can decode at) that keeps the longer side of a w x h image at
// least hashMinSide pixels, and the size of the image at that scale
// (rounded up, as libjpeg does).
func hashScale(w, h int) (scale int, size image.Point) {
	scale = 8
	for s := 1; s < 8; s++ {
		if ceilDiv(max(w, h)*s, 8) >= hashMinSide {
			scale = s
			break
		}
	}
	return scale, image.Pt(ceilDiv(w*scale, 8), ceilDiv(h*scale, 8))
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// DecodeForHashing decodes a JPEG, PNG, GIF (first frame) or WebP image
// within limits, reduced to what hashing needs (see Picture).
func DecodeForHashing(ctx context.Context, data []byte, limits Limits) (Picture, error) {
	limits = limits.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, limits.Timeout)
	defer cancel()
	return decodeForHashing(ctx, data, limits)
}

// decodeForHashing is DecodeForHashing under a deadline already set in ctx.
func decodeForHashing(ctx context.Context, data []byte, limits Limits) (Picture, error) {
	hdr, err := readHeader(data, limits)
	if err != nil {
		return Picture{}, err
	}
	pic, err := bounded(ctx, limits, func() (Picture, error) {
		var small *image.RGBA
		var w, h int
		if hdr.format == FormatJPEG {
			scale, size := hashScale(hdr.width, hdr.height)
			img, err := decodeJPEG(ctx, data, hdr, scale, size, limits)
			if err != nil {
				return Picture{}, err
			}
			small, w, h = reduce(img, size), hdr.width, hdr.height
		} else {
			img, err := decodeStd(ctx, data, hdr.format)
			if err != nil {
				return Picture{}, err
			}
			// A GIF's first frame may be smaller than its screen: the
			// frame is the picture.
			b := img.Bounds()
			_, size := hashScale(b.Dx(), b.Dy())
			small, w, h = reduce(img, size), b.Dx(), b.Dy()
		}
		if hdr.format != FormatJPEG { // JPEG has no transparency
			flatten(small)
		}
		if hdr.orient != OrientNormal {
			small = orient(small, hdr.orient)
			if hdr.orient.swapsAxes() {
				w, h = h, w
			}
		}
		return Picture{Image: small, Width: w, Height: h, Format: hdr.format}, nil
	})
	if err != nil {
		return Picture{}, decodeError(hdr.format, err)
	}
	return pic, nil
}

// decodeStd decodes data with Go's decoder of format, reading through
// ctxReader so that an abandoned decode stops.
func decodeStd(ctx context.Context, data []byte, format string) (image.Image, error) {
	img, err := codecs[format].decode(ctxReader{ctx: ctx, r: bytes.NewReader(data)})
	if err != nil {
		return nil, err
	}
	if img.Bounds().Empty() {
		return nil, fmt.Errorf("%w: %s decodes to an empty image", ErrCorrupt, format)
	}
	return img, nil
}

// decodeError types an error of decoding: a decoder's own errors mean
// corrupt data.
func decodeError(format string, err error) error {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return err
		}
	}
	if errors.Is(err, context.Canceled) {
		return err // the caller gave up: not the media's fault
	}
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, format, err)
}

// ctxReader fails every read once ctx is done. Go's decoders cannot be
// interrupted, but they read as they go: a decode abandoned at its deadline
// then stops at its next read instead of running on in the background,
// holding its memory. (A crafted progressive JPEG of thousands of tiny scans
// was measured decoding for minutes and holding 700 MB after its timeout.)
// Reads are kept small so the check comes often.
type ctxReader struct {
	ctx context.Context
	r   *bytes.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	if len(p) > 4096 {
		p = p[:4096]
	}
	return c.r.Read(p)
}

// bounded runs f until ctx's deadline. Go's decoders cannot be interrupted,
// so on timeout f is abandoned; its reader (ctxReader) or libjpeg's progress
// hook makes it stop soon after, and MaxPixels bounds what it can cost until
// then. A panic in f (a decoder bug tripped by crafted input) is returned as
// ErrCorrupt rather than killing the process, which the handler's own
// recovery could not prevent since f runs on another goroutine. An error of f
// once ctx is done is reported as the deadline's, whatever f made of it.
func bounded[T any](ctx context.Context, limits Limits, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.err = fmt.Errorf("%w: panic: %v", ErrCorrupt, p)
			}
			done <- r
		}()
		r.v, r.err = f()
	}()
	var zero T
	select {
	case r := <-done:
		if r.err != nil && ctx.Err() != nil {
			return zero, doneError(ctx, limits)
		}
		return r.v, r.err
	case <-ctx.Done():
		return zero, doneError(ctx, limits)
	}
}

func doneError(ctx context.Context, limits Limits) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w (limit %s)", ErrTimeout, limits.Timeout)
	}
	return ctx.Err()
}
