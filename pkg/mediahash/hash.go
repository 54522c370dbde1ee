package mediahash

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"math/bits"
	"strconv"

	"github.com/corona10/goimagehash"
	"golang.org/x/image/draw"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

// Result is what Hash computed.
type Result struct {
	Signals []events.Signal
	Info    events.MediaInfo
}

// Signal returns the value of the signal of type typ, or "".
func (r *Result) Signal(typ string) string {
	for _, s := range r.Signals {
		if s.Type == typ {
			return s.Value
		}
	}
	return ""
}

// Hash computes the signals of one piece of media: sha256 and md5 of the
// bytes always, and for contentType "image" also the 64-bit perceptual hashes
// phash and dhash. Video gets the byte hashes only.
func Hash(ctx context.Context, data []byte, contentType string, limits Limits) (Result, error) {
	limits = limits.withDefaults()
	if contentType != events.ContentImage && contentType != events.ContentVideo {
		return Result{}, fmt.Errorf("%w: content type %q; want %q or %q",
			ErrUnsupportedFormat, contentType, events.ContentImage, events.ContentVideo)
	}
	if int64(len(data)) > limits.MaxBytes {
		return Result{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(data), limits.MaxBytes)
	}
	sha := sha256.Sum256(data)
	md := md5.Sum(data)
	res := Result{
		Signals: []events.Signal{
			{Type: events.SignalSHA256, Value: hex.EncodeToString(sha[:])},
			{Type: events.SignalMD5, Value: hex.EncodeToString(md[:])},
		},
		Info: events.MediaInfo{Bytes: int64(len(data))},
	}
	if contentType == events.ContentVideo {
		res.Info.MimeType = detectMime(data)
		return res, nil
	}

	ctx, cancel := context.WithTimeout(ctx, limits.Timeout)
	defer cancel()
	img, format, err := decodeImage(ctx, data, limits)
	if err != nil {
		return Result{}, err
	}
	b := img.Bounds()
	res.Info.MimeType = MimeType(format)
	res.Info.Width, res.Info.Height = b.Dx(), b.Dy()
	hs, err := bounded(ctx, limits, func() ([2]uint64, error) {
		p, d, err := ImageHashes(img)
		return [2]uint64{p, d}, err
	})
	if err != nil {
		return Result{}, err
	}
	res.Signals = append(res.Signals,
		events.Signal{Type: events.SignalPHash, Value: FormatHash64(hs[0])},
		events.Signal{Type: events.SignalDHash, Value: FormatHash64(hs[1])},
	)
	return res, nil
}

// hashSide is the largest side handed to goimagehash, whose own resampling
// of a big image is slow; it needs 64x64 at most.
const hashSide = 256

// ImageHashes returns the goimagehash perception hash and difference hash of
// img. The image is first reduced so that no side is longer than 256 pixels:
// a side of 512 or more is area-averaged (box filter) by the integer factor
// side/256, which leaves it between 256 and 511, then Catmull-Rom scales to
// 256. Both steps average over the source, so unlike
// nearest-neighbour or approximate bilinear sampling they do not alias, and
// the result does not depend on the image's pixel type. Every producer of
// phash/dhash values for the pipeline (banks included) must use this
// function so that values compare.
func ImageHashes(img image.Image) (phash, dhash uint64, err error) {
	small := shrink(img)
	p, err := goimagehash.PerceptionHash(small)
	if err != nil {
		return 0, 0, fmt.Errorf("phash: %w", err)
	}
	d, err := goimagehash.DifferenceHash(small)
	if err != nil {
		return 0, 0, fmt.Errorf("dhash: %w", err)
	}
	return p.GetHash(), d.GetHash(), nil
}

func shrink(img image.Image) *image.RGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	// Catmull-Rom's cost grows with the source (seconds for 50 megapixels);
	// a box filter by an integer factor is cheap and leaves it little to do.
	if w >= 2*hashSide || h >= 2*hashSide {
		img = boxReduce(img, w/max(1, w/hashSide), h/max(1, h/hashSide))
		b = img.Bounds()
	}
	dst := image.NewRGBA(image.Rect(0, 0, min(w, hashSide), min(h, hashSide)))
	if dst.Bounds().Size() == b.Size() {
		draw.Draw(dst, dst.Bounds(), img, b.Min, draw.Src)
	} else {
		draw.CatmullRom.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	}
	return dst
}

// boxReduce averages img down to iw x ih: output pixel (i, j) is the mean of
// the source block between columns i*w/iw and (i+1)*w/iw and rows j*h/ih and
// (j+1)*h/ih. The source is converted to RGBA a tile of at most 16384 pixels
// at a time (draw.Draw has fast paths for the decoders' pixel types), so
// memory stays small whatever the image's shape.
func boxReduce(img image.Image, iw, ih int) *image.RGBA {
	const tile = 1 << 14
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	tw := min(w, tile)
	rows := max(1, tile/tw) // rows per tile
	buf := image.NewRGBA(image.Rect(0, 0, tw, rows))
	out := image.NewRGBA(image.Rect(0, 0, iw, ih))
	sums := make([]uint64, 4*iw)
	edge := func(i, n, in int) int { return int(int64(i) * int64(n) / int64(in)) }
	for j := range ih {
		clear(sums)
		y0, y1 := edge(j, h, ih), edge(j+1, h, ih)
		for y := y0; y < y1; y += rows {
			nr := min(rows, y1-y)
			for x0 := 0; x0 < w; x0 += tw {
				nc := min(tw, w-x0)
				draw.Draw(buf, image.Rect(0, 0, nc, nr), img, image.Pt(b.Min.X+x0, b.Min.Y+y), draw.Src)
				for r := range nr {
					// i is the block of column x0+k; next is where block i+1 starts.
					i := x0 * iw / w
					next := edge(i+1, w, iw)
					p := buf.Pix[r*buf.Stride : r*buf.Stride+4*nc]
					for k := 0; k < nc; k, p = k+1, p[4:] {
						for x0+k >= next {
							i++
							next = edge(i+1, w, iw)
						}
						s := sums[4*i : 4*i+4 : 4*i+4]
						s[0] += uint64(p[0])
						s[1] += uint64(p[1])
						s[2] += uint64(p[2])
						s[3] += uint64(p[3])
					}
				}
			}
		}
		row := out.Pix[j*out.Stride:]
		for i := range iw {
			n := uint64(edge(i+1, w, iw)-edge(i, w, iw)) * uint64(y1-y0)
			for c := range 4 {
				row[4*i+c] = uint8((sums[4*i+c] + n/2) / n)
			}
		}
	}
	return out
}

// FormatHash64 writes a 64-bit hash as 16 lower-case hex digits.
func FormatHash64(v uint64) string {
	return fmt.Sprintf("%016x", v)
}

// ParseHash64 reads a 64-bit hash written as 16 hex digits.
func ParseHash64(s string) (uint64, error) {
	if len(s) != 16 {
		return 0, fmt.Errorf("hash %q: want 16 hex digits, got %d characters", s, len(s))
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("hash %q: not hexadecimal", s)
	}
	return v, nil
}

// Distance64 is the Hamming distance between two 64-bit hashes.
func Distance64(a, b uint64) int { return bits.OnesCount64(a ^ b) }
