// Package mediahash holds safe decoding of uploaded media and the hashes the
// pipeline matches on.
//
// Uploaded media is hostile input. An image's header is read first and an
// image that declares more pixels than Limits.MaxPixels is refused before any
// pixel memory is allocated (decompression bombs); decoding runs under a time
// limit and a decoder panic is turned into ErrCorrupt. Only JPEG, PNG, GIF
// (first frame) and WebP are accepted, whatever other decoders the program
// has registered with package image.
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
	return l
}

// Errors of decoding; they are wrapped with details, test with errors.Is.
var (
	// ErrUnsupportedFormat: the data is not JPEG, PNG, GIF or WebP (or the
	// declared content type is neither image nor video).
	ErrUnsupportedFormat = errors.New("unsupported media format")
	// ErrTooManyPixels: the image declares more than Limits.MaxPixels.
	ErrTooManyPixels = errors.New("image has too many pixels")
	// ErrTooLarge: the data is longer than Limits.MaxBytes.
	ErrTooLarge = errors.New("media too large")
	// ErrCorrupt: the data claims a supported format but does not decode.
	ErrCorrupt = errors.New("corrupt image")
	// ErrTimeout: decoding or hashing took longer than Limits.Timeout.
	ErrTimeout = errors.New("media processing timed out")
)

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

// DecodeImage decodes a JPEG, PNG, GIF (first frame) or WebP image within
// limits and returns it with its format name ("jpeg", "png", "gif", "webp").
func DecodeImage(ctx context.Context, data []byte, limits Limits) (image.Image, string, error) {
	limits = limits.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, limits.Timeout)
	defer cancel()
	return decodeImage(ctx, data, limits)
}

// decodeImage is DecodeImage under a deadline already set in ctx.
func decodeImage(ctx context.Context, data []byte, limits Limits) (image.Image, string, error) {
	if int64(len(data)) > limits.MaxBytes {
		return nil, "", fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(data), limits.MaxBytes)
	}
	format := sniff(data)
	if format == "" {
		return nil, "", fmt.Errorf("%w: data looks like %s; want JPEG, PNG, GIF or WebP", ErrUnsupportedFormat, detectMime(data))
	}
	c := codecs[format]
	// The header alone says how much memory decoding will take: refuse a
	// bomb before the decoder allocates it.
	cfg, err := c.decodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, "", fmt.Errorf("%w: %s header: %v", ErrCorrupt, format, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, "", fmt.Errorf("%w: %s declares %dx%d pixels", ErrCorrupt, format, cfg.Width, cfg.Height)
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > limits.MaxPixels {
		return nil, "", fmt.Errorf("%w: %s declares %dx%d = %d pixels, the limit is %d",
			ErrTooManyPixels, format, cfg.Width, cfg.Height, px, limits.MaxPixels)
	}
	img, err := bounded(ctx, limits, func() (image.Image, error) {
		return c.decode(ctxReader{ctx: ctx, r: bytes.NewReader(data)})
	})
	if err != nil {
		if errors.Is(err, ErrTimeout) || ctx.Err() != nil {
			return nil, "", err
		}
		return nil, "", fmt.Errorf("%w: %s: %v", ErrCorrupt, format, err)
	}
	if b := img.Bounds(); b.Empty() {
		return nil, "", fmt.Errorf("%w: %s decodes to an empty image", ErrCorrupt, format)
	}
	return img, format, nil
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
// so on timeout f is abandoned; its reader (ctxReader) makes it stop soon
// after, and MaxPixels bounds what it can cost until then. A panic in f (a decoder bug tripped by crafted
// input) is returned as an error rather than killing the process, which the
// handler's own recovery could not prevent since f runs on another goroutine.
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
				r.err = fmt.Errorf("%w: decoder panic: %v", ErrCorrupt, p)
			}
			done <- r
		}()
		r.v, r.err = f()
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return zero, fmt.Errorf("%w (limit %s)", ErrTimeout, limits.Timeout)
		}
		return zero, ctx.Err()
	}
}
