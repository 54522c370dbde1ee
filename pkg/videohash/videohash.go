// Package videohash holds the frame hashes the pipeline matches videos on
// (see package bank, "Videos"): for an upload or a live stream segment, its
// frames sampled at one a second (events.VideoFrame, as media.hashed
// carries them); for a bank entry, every frame, as pdq signals whose variant
// is the frame's time ("frame@<ms>").
//
// Each frame is hashed with PDQ (package video extracts and decodes it with
// ffmpeg) and, when it has letterbox or pillarbox bars (package framing
// finds them), also without them: a copy re-framed with bars then matches a
// bank video without bars, and the other way round. On the reference's
// sample videos the pattern family's full-frame and letterboxed files are
// 90 or more bits apart frame for frame, and 10-20 bits apart once trimmed.
//
// A bank video is hashed at every frame so that an upload sampled at one
// frame a second, in whatever phase, finds its frames there: the sample
// videos change so fast that frames a tenth of a second apart are often
// more than 31 bits apart. A bank video with more unique hashes than
// MaxPartHashes (a bank update must stay well under Kafka's 1 MB message
// limit) is cut into parts of consecutive frames, each a bank entry of its
// own that matches by the contains and excerpt rules.
package videohash

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"slices"

	"github.com/takedown-pipeline/takedown/pkg/bank"
	"github.com/takedown-pipeline/takedown/pkg/cpu"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/framing"
	"github.com/takedown-pipeline/takedown/pkg/pdq"
	"github.com/takedown-pipeline/takedown/pkg/video"
)

const (
	// MinQuality is the lowest PDQ quality of a frame a bank keeps (the
	// reference's rule for video frames).
	MinQuality = 50
	// MaxPartHashes bounds the frame hashes of one bank entry: at about
	// 110 bytes each in JSON, a part's bank update stays near 700 KB.
	MaxPartHashes = 6000
	// MaxEventBytes bounds the frames of one media.hashed event, in JSON
	// bytes (Thin); the rest of the event is small.
	MaxEventBytes = 800 << 10
)

// Result is an upload's (or a segment's) sampled frames.
type Result struct {
	// Frames are in time order, without a frame whose hashes equal the
	// previous frame's.
	Frames []events.VideoFrame
	Info   video.Info
	// IntervalMs is the time between sampled frames.
	IntervalMs int64
	// DurationMs is the video's length: the container's, else the end of
	// the last sampled frame.
	DurationMs int64
	// Sampled counts the frames hashed, duplicates included.
	Sampled int
}

// hashFrame returns the PDQ hash of a frame and, when the frame has bars,
// of the part without them (else the zero result).
func hashFrame(h *pdq.Hasher, img image.Image) (whole, trimmed pdq.Result) {
	whole = h.Image(img)
	b := img.Bounds()
	if t := framing.Trim(img); t != b && !t.Empty() {
		if sub, ok := img.(interface {
			SubImage(image.Rectangle) image.Image
		}); ok {
			trimmed = h.Image(sub.SubImage(t))
		}
	}
	return whole, trimmed
}

// FrameSide is the side of the square every frame is scaled to before it
// is hashed (ffmpeg's area filter), as the reference vPDQ's downsampling
// option does (its -128x128 files): PDQ reduces a picture to 64x64 anyway.
// On the sample videos 256 decides as the full size does, with closer
// trimmed hashes (the letterboxed pattern files are 6-22 bits from the
// full-frame ones, 20-28 at 128), and hashes a frame about three times
// faster than at full size.
const FrameSide = 256

func frameSize(o video.Options) video.Options {
	if o.ResizeWidth == 0 && o.ResizeHeight == 0 {
		o.ResizeWidth, o.ResizeHeight = FrameSide, FrameSide
	}
	return o
}

// Upload samples the video at path at opts.FPS (video.DefaultFPS, one a
// second, when 0) and hashes each sampled frame.
func Upload(ctx context.Context, path string, opts video.Options) (Result, error) {
	if opts.FPS < 0 {
		return Result{}, fmt.Errorf("%w: an upload is sampled at a positive rate, not every frame", video.ErrInvalidOptions)
	}
	fps := opts.FPS
	if fps == 0 {
		fps = video.DefaultFPS
	}
	res := Result{IntervalMs: int64(math.Round(1000 / fps))}
	h := pdq.NewHasher()
	var last int64
	info, err := video.Frames(ctx, path, frameSize(opts), func(f video.Frame) error {
		// A CPU slot per frame, not per video: a long video takes its
		// turn with the pictures hashed meanwhile (package cpu).
		var whole, trimmed pdq.Result
		if err := cpu.Do(ctx, func() { whole, trimmed = hashFrame(h, f.Image) }); err != nil {
			return err
		}
		res.Sampled++
		vf := events.VideoFrame{Ms: f.Timestamp.Milliseconds(), PDQ: whole.Hash.String(), Quality: whole.Quality}
		if trimmed.Quality > 0 {
			vf.Trim = trimmed.Hash.String()
		}
		last = vf.Ms
		if n := len(res.Frames); n > 0 && res.Frames[n-1].PDQ == vf.PDQ && res.Frames[n-1].Trim == vf.Trim {
			return nil
		}
		res.Frames = append(res.Frames, vf)
		return nil
	})
	res.Info = info
	if err != nil {
		return res, err
	}
	if len(res.Frames) == 0 {
		return res, fmt.Errorf("%w: no frame could be sampled", video.ErrCorrupt)
	}
	res.DurationMs = max(info.Duration.Milliseconds(), last+res.IntervalMs)
	return res, nil
}

// UploadBytes is Upload of a video held in memory, through a private
// temporary file in opts.TempDir (ffmpeg needs to seek: an MP4's index is
// often at its end), removed before it returns.
func UploadBytes(ctx context.Context, data []byte, opts video.Options) (Result, error) {
	var res Result
	err := withTempFile(data, opts.TempDir, func(path string) error {
		var err error
		res, err = Upload(ctx, path, opts)
		return err
	})
	return res, err
}

func withTempFile(data []byte, dir string, fn func(path string) error) error {
	f, err := os.CreateTemp(dir, "takedown-video-*") // mode 0600
	if err != nil {
		return fmt.Errorf("video: temporary file: %w", err)
	}
	name := f.Name()
	defer os.Remove(name)
	_, werr := f.Write(data)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("video: temporary file: %w", werr)
	}
	return fn(name)
}

// Shift moves every frame by ms: a stream segment's frames into stream
// time.
func (r *Result) Shift(ms int64) {
	for i := range r.Frames {
		r.Frames[i].Ms += ms
	}
}

// Thin drops every other frame, doubling IntervalMs, until the frames'
// JSON fits maxBytes (MaxEventBytes when 0), so that the event carrying
// them fits a Kafka message. It returns how many times it halved them. At
// one frame a second a two-hour video fits without thinning (about 100
// bytes a frame), unless most frames also carry a trimmed hash.
func (r *Result) Thin(maxBytes int) int {
	if maxBytes <= 0 {
		maxBytes = MaxEventBytes
	}
	halved := 0
	for len(r.Frames) > 1 && framesBytes(r.Frames) > maxBytes {
		kept := r.Frames[:0]
		for i, f := range r.Frames {
			if i%2 == 0 {
				kept = append(kept, f)
			}
		}
		r.Frames = kept
		r.IntervalMs *= 2
		halved++
	}
	return halved
}

func framesBytes(frames []events.VideoFrame) int {
	b, _ := json.Marshal(frames) // a slice of plain structs always encodes
	return len(b)
}

// BankOptions shape a bank video's hashing.
type BankOptions struct {
	// Video bounds the extraction; its FPS is ignored (every frame is
	// hashed) unless FPS is set below.
	Video video.Options
	// FPS, when positive, samples the bank video at that rate instead of
	// every frame.
	FPS float64
	// MaxPartHashes is the largest number of frame hashes of one entry
	// (MaxPartHashes when 0).
	MaxPartHashes int
}

// Part is one bank entry's share of a bank video: consecutive frames.
type Part struct {
	// Signals are the unique PDQ hashes of quality MinQuality or more of
	// the part's frames (the trimmed hashes too), each with the variant
	// frame@<ms> of its first frame.
	Signals []events.Signal
	// FromMs and ToMs bound the part's frames' times.
	FromMs, ToMs int64
}

// ErrNoUsableFrames is returned for a bank video none of whose frames has a
// PDQ quality of MinQuality or more: a flat or dark video cannot be matched.
var ErrNoUsableFrames = errors.New("no frame of the video has a usable PDQ hash")

// Bank hashes the video at path for a bank entry: every frame (or
// opts.FPS), its unique PDQ hashes of quality MinQuality or more with their
// first times, in parts of about equal size, each at most opts.MaxPartHashes.
func Bank(ctx context.Context, path string, opts BankOptions) ([]Part, video.Info, error) {
	vo := opts.Video
	vo.FPS = -1
	if opts.FPS > 0 {
		vo.FPS = opts.FPS
	}
	limit := opts.MaxPartHashes
	if limit <= 0 {
		limit = MaxPartHashes
	}
	h := pdq.NewHasher()
	type frameHash struct {
		hash pdq.Hash
		ms   int64
	}
	var all []frameHash
	unique := map[pdq.Hash]bool{}
	keep := func(r pdq.Result, ms int64) {
		if r.Quality >= MinQuality && !r.Hash.IsZero() {
			all = append(all, frameHash{r.Hash, ms})
			unique[r.Hash] = true
		}
	}
	info, err := video.Frames(ctx, path, frameSize(vo), func(f video.Frame) error {
		whole, trimmed := hashFrame(h, f.Image)
		ms := f.Timestamp.Milliseconds()
		keep(whole, ms)
		keep(trimmed, ms)
		return nil
	})
	if err != nil {
		return nil, info, err
	}
	if len(all) == 0 {
		return nil, info, ErrNoUsableFrames
	}
	// Parts of about equal size, so that the last is not a short tail that
	// no rule can match on its own.
	n := (len(unique) + limit - 1) / limit
	size := (len(unique) + n - 1) / n
	var parts []Part
	seen := map[pdq.Hash]bool{}
	for _, fh := range all {
		if seen[fh.hash] {
			continue
		}
		if len(parts) == 0 || len(parts[len(parts)-1].Signals) >= size {
			parts = append(parts, Part{FromMs: fh.ms})
			// Each part stands alone: a hash seen in an earlier part may
			// appear again in this one.
			clear(seen)
		}
		p := &parts[len(parts)-1]
		seen[fh.hash] = true
		p.Signals = append(p.Signals, events.Signal{Type: events.SignalPDQ, Value: fh.hash.String(), Variant: events.FrameVariant(fh.ms)})
		p.ToMs = fh.ms
	}
	return parts, info, nil
}

// BankBytes is Bank of a video held in memory (see UploadBytes).
func BankBytes(ctx context.Context, data []byte, opts BankOptions) ([]Part, video.Info, error) {
	var (
		parts []Part
		info  video.Info
	)
	err := withTempFile(data, opts.Video.TempDir, func(path string) error {
		var err error
		parts, info, err = Bank(ctx, path, opts)
		return err
	})
	return parts, info, err
}

// BankUpdates makes the bank entries of a video: the first holds the file's
// own signals (its sha256 and md5) and the first part's frame hashes, and
// is named after the file's SHA-256 as a picture's entry is
// (events.NewBankAdd); a long video's later parts are entries of their own,
// "<id>-part<N>", with the same labels.
func BankUpdates(bankName string, labels []string, fileSignals []events.Signal, parts []Part) []events.BankUpdate {
	sigs := slices.Concat(fileSignals, parts[0].Signals)
	first := events.NewBankAdd(bankName, labels, bank.Bankable(sigs))
	out := []events.BankUpdate{first}
	for i, p := range parts[1:] {
		u := events.NewBankAdd(bankName, labels, p.Signals)
		u.EntryID = fmt.Sprintf("%s-part%d", first.EntryID, i+1)
		u.ContentID = u.EntryID
		out = append(out, u)
	}
	return out
}
