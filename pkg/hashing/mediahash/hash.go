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
	"sync"

	"github.com/corona10/goimagehash"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/pdq"
)

// Result is what Hash computed.
type Result struct {
	Signals []events.Signal
	Info    events.MediaInfo
}

// Signal returns the value of the whole-picture signal of type typ (the one
// without a variant), or "".
func (r *Result) Signal(typ string) string {
	for _, s := range r.Signals {
		if s.Type == typ && s.Variant == "" {
			return s.Value
		}
	}
	return ""
}

// Hash computes the signals of one piece of media: sha256 and md5 of the
// bytes always, and for contentType "image" also the perceptual signals of
// PictureSignals, computed on the picture as DecodeForHashing prepares it
// (upright, opaque, reduced). Video gets the byte hashes only.
func Hash(ctx context.Context, data []byte, contentType string, limits Limits) (Result, error) {
	return hash(ctx, data, contentType, limits, PictureSignals)
}

// HashForBank is Hash for media that becomes a bank entry: the perceptual
// signals are BankPictureSignals'.
func HashForBank(ctx context.Context, data []byte, contentType string, limits Limits) (Result, error) {
	return hash(ctx, data, contentType, limits, BankPictureSignals)
}

func hash(ctx context.Context, data []byte, contentType string, limits Limits, perceptual func(image.Image) ([]events.Signal, error)) (Result, error) {
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
	pic, err := decodeForHashing(ctx, data, limits)
	if err != nil {
		return Result{}, err
	}
	res.Info.MimeType = MimeType(pic.Format)
	res.Info.Width, res.Info.Height = pic.Width, pic.Height
	sigs, err := bounded(ctx, limits, func() ([]events.Signal, error) { return perceptual(pic.Image) })
	if err != nil {
		return Result{}, err
	}
	res.Signals = append(res.Signals, sigs...)
	return res, nil
}

// PictureSignals computes the perceptual signals of an upload's decoded
// picture (as DecodeForHashing returns it), each PDQ at the picture's own
// size (see fullSizeHashers): pdq with its quality, the 7 other
// dihedral variants of pdq (from the same DCT), pdq of the symmetric regions
// (regions.go), of the picture without its uniform borders ("trim") and of a
// picture found inside a screenshot ("embedded") when there are such parts,
// then phash and dhash (ImageHashes). Derived pdq hashes that are banded
// are left out (see appendDerived).
func PictureSignals(img image.Image) ([]events.Signal, error) {
	dihedral, parts := pdqDihedralRegions(img, boxes(symmetricRegions))
	p, d, err := ImageHashes(img)
	if err != nil {
		return nil, err
	}
	sigs := make([]events.Signal, 0, len(dihedral)+len(parts)+4)
	sigs = append(sigs, pdqSignal(dihedral[0], ""))
	for i, r := range dihedral[1:] {
		sigs = appendDerived(sigs, r, pdq.DihedralVariants[i+1], false)
	}
	for i, r := range parts {
		sigs = appendDerived(sigs, r, symmetricRegions[i].variant, false)
	}
	sigs = append(sigs, framedSignals(img, true)...)
	return append(sigs,
		events.Signal{Type: events.SignalPHash, Value: FormatHash64(p)},
		events.Signal{Type: events.SignalDHash, Value: FormatHash64(d)},
	), nil
}

// hashSide is the side of the image handed to goimagehash: it resamples
// to 64x64 (pHash) and 9x8 (dHash) itself, slowly for a big image.
const hashSide = 64

// ImageHashes returns the goimagehash perception hash and difference hash of
// img. The image is first area-averaged (box filter, see boxReduce) to
// 64x64, or less on a side shorter than 64, which goimagehash then takes as
// it is for pHash and resamples to 9x8 for dHash. Averaging over the source
// does not alias as nearest-neighbour or approximate bilinear sampling of a
// big image would, and the result does not depend on the image's pixel
// type. Every producer of phash/dhash values for the pipeline (banks
// included) must use this function on the picture DecodeForHashing returns
// (as Hash does), so that values compare.
func ImageHashes(img image.Image) (phash, dhash uint64, err error) {
	small := reduce(img, hashSize(img.Bounds().Size()))
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

// hashSize is the size ImageHashes reduces an image of size to.
func hashSize(size image.Point) image.Point {
	return image.Pt(min(size.X, hashSide), min(size.Y, hashSide))
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

// Every PDQ of a picture is computed at the picture's own size, that of
// DecodeForHashing's reduced decode (448 to about 1,100 pixels on its longer
// side for a picture larger than that), without the reference Python path's
// second shrink to fit 512 pixels: the reduced decode followed by that shrink
// put two of the reference's C++ hashes 12 bits away, over the 10 its
// correctness rule allows, and the pdq the hasher emits is the one shared
// with other platforms. Hashed at its own size, the picture's PDQ is 2 to 8
// bits from those hashes (docs/matching.md, "Hashing images").
var fullSizeHashers = sync.Pool{New: func() any { return pdq.NewFullSizeHasher() }}

// pdqImage is the PDQ of a picture at its own size.
func pdqImage(img image.Image) pdq.Result {
	h := fullSizeHashers.Get().(*pdq.Hasher)
	defer fullSizeHashers.Put(h)
	return h.Image(img)
}

// pdqDihedral is pdq.ImageDihedral at the picture's own size.
func pdqDihedral(img image.Image) [8]pdq.Result {
	h := fullSizeHashers.Get().(*pdq.Hasher)
	defer fullSizeHashers.Put(h)
	return h.ImageDihedral(img)
}

// pdqDihedralRegions is pdq.ImageDihedralRegions at the picture's own size.
func pdqDihedralRegions(img image.Image, boxes []pdq.Box) ([8]pdq.Result, []pdq.Result) {
	h := fullSizeHashers.Get().(*pdq.Hasher)
	defer fullSizeHashers.Put(h)
	return h.ImageDihedralRegions(img, boxes)
}
