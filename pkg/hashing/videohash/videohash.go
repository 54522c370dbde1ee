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
	"image/draw"
	"math"
	"os"
	"slices"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/framing"
	"github.com/takedown-pipeline/takedown/pkg/hashing/pdq"
	"github.com/takedown-pipeline/takedown/pkg/hashing/video"
	"github.com/takedown-pipeline/takedown/pkg/platform/cpu"
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

// hashTrimmed returns the PDQ hash of a frame without its bars, when it
// has some (else the zero result).
func hashTrimmed(h *pdq.Hasher, img image.Image) pdq.Result {
	return hashInside(h, img, framing.Trim(img))
}

// hashInside returns the PDQ hash of img's part t (framing.Trim's answer
// for it), or the zero result when t is all of img or nothing.
func hashInside(h *pdq.Hasher, img image.Image, t image.Rectangle) pdq.Result {
	if b := img.Bounds(); t != b && !t.Empty() {
		if sub, ok := img.(interface {
			SubImage(image.Rectangle) image.Image
		}); ok {
			return h.Image(sub.SubImage(t))
		}
	}
	return pdq.Result{}
}

// uploadFrame hashes an upload's frame: its PDQ hash, the hash of its part
// inside bars (trim, framing.Trim's answer for it) and, for a square frame (every frame is scaled to FrameSide
// x FrameSide), the frame mirrored left to right, top to bottom and both
// (turned 180°). Those are the hashes of the frame actually mirrored
// (pdq.Hasher.ImageDihedralRegions: a flipped DCT is not exact at 256
// pixels, whose blur window is even); the matcher transposes them, and
// the PDQ hash, for the other four dihedral variants (pdq.Transpose). A
// bank video is hashed upright only: mirrored and rotated copies are found
// from the upload's side, at 3 hashes per sampled frame instead of 7 per
// bank frame.
func uploadFrame(h *pdq.Hasher, img image.Image, trim image.Rectangle) events.VideoFrame {
	b := img.Bounds()
	var vf events.VideoFrame
	if b.Dx() == b.Dy() {
		dih, _ := h.ImageDihedralRegions(img, nil)
		vf = events.VideoFrame{PDQ: dih[0].Hash.String(), Quality: dih[0].Quality}
		if dih[0].Quality > 0 && !dih[0].Hash.Banded() {
			vf.FlipY, vf.FlipX, vf.Rot180 = dih[dihFlipY].Hash.String(), dih[dihFlipX].Hash.String(), dih[dihRot180].Hash.String()
		}
	} else {
		whole := h.Image(img)
		vf = events.VideoFrame{PDQ: whole.Hash.String(), Quality: whole.Quality}
	}
	if t := hashInside(h, img, trim); t.Quality > 0 && !t.Hash.Banded() {
		vf.Trim = t.Hash.String()
	}
	return vf
}

// insetWindow is how many sampled frames the first picture-in-picture
// candidates are looked for on (the frames kept meanwhile, at most this
// many 256x256 pictures, wait for them), and how often they are looked for
// again on all the frames seen so far.
const insetWindow = 10

// heldFrame is a kept frame waiting for the inset candidates: its index in
// Result.Frames and a copy of its picture.
type heldFrame struct {
	i   int
	img image.Image
}

// cloneImage copies a frame's picture: video.Frames reuses its buffer.
func cloneImage(img image.Image) image.Image {
	if rgba, ok := img.(*image.RGBA); ok {
		c := *rgba
		c.Pix = slices.Clone(rgba.Pix)
		return &c
	}
	b := img.Bounds()
	c := image.NewRGBA(b)
	draw.Draw(c, b, img, b.Min, draw.Src)
	return c
}

// hashInsets returns the PDQ hashes, of quality MinQuality or more and not
// banded, of img cropped to each rectangle.
func hashInsets(h *pdq.Hasher, img image.Image, rects []image.Rectangle) []string {
	sub, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	})
	if !ok {
		return nil
	}
	var out []string
	for _, r := range rects {
		if res := h.Image(sub.SubImage(r)); res.Quality >= MinQuality && !res.Hash.IsZero() && !res.Hash.Banded() {
			out = append(out, res.Hash.String())
		}
	}
	return out
}

// CentreCrops are the regions of every bank frame hashed besides the whole
// frame (and its trimmed part): the centre of the frame without 10% of each
// edge, so that an upload cropped that way, which PDQ of the whole frame
// does not survive, finds its frames. One blur of the frame serves them
// all (pdq.ImageRegions), and each is a frame hash of the bank video like
// the others, at the frame's time.
var CentreCrops = []pdq.Box{{X0: 0.1, Y0: 0.1, X1: 0.9, Y1: 0.9}}

// bankFrame returns a bank frame's hashes: the whole frame, the centre
// crops and, when the frame has bars, its trimmed part. The derived ones
// (all but the whole frame's) are left out when banded, as a picture's are
// (pdq.Hash.Banded), and so are an upload frame's.
func bankFrame(h *pdq.Hasher, img image.Image) []pdq.Result {
	dih, crops := h.ImageDihedralRegions(img, CentreCrops)
	out := []pdq.Result{dih[0]}
	for _, r := range append(crops, hashTrimmed(h, img)) {
		if !r.Hash.Banded() {
			out = append(out, r)
		}
	}
	return out
}

// Indexes of pdq.DihedralVariants.
const (
	dihRot180 = 2
	dihFlipX  = 4
	dihFlipY  = 5
)

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
//
// An upload shorter than MinUploadFrames seconds is sampled again at
// MinUploadFrames frames over its length (a 1.6 s video at 3.1 frames a
// second): at one a second it would be decided on one or two frames,
// which two chance matches would make a copy. Short videos are cheap to
// decode twice.
func Upload(ctx context.Context, path string, opts video.Options) (Result, error) {
	if opts.FPS < 0 {
		return Result{}, fmt.Errorf("%w: an upload is sampled at a positive rate, not every frame", video.ErrInvalidOptions)
	}
	res, err := upload(ctx, path, opts)
	if err != nil || res.Sampled >= MinUploadFrames || res.DurationMs <= 0 {
		return res, err
	}
	fps := min(float64(MinUploadFrames)*1000/float64(res.DurationMs), MaxShortFPS)
	if fps <= 1000/float64(res.IntervalMs) {
		return res, nil
	}
	opts.FPS = fps
	return upload(ctx, path, opts)
}

// MinUploadFrames is the fewest frames an upload is sampled at (see
// Upload); MaxShortFPS bounds the rate that takes for very short videos.
const (
	MinUploadFrames = 5
	MaxShortFPS     = 10
)

func upload(ctx context.Context, path string, opts video.Options) (Result, error) {
	fps := opts.FPS
	if fps == 0 {
		fps = video.DefaultFPS
	}
	res := Result{IntervalMs: int64(math.Round(1000 / fps))}
	h := pdq.NewHasher()
	var (
		last    int64
		insets  insetFinder
		bars    barFinder
		rects   []image.Rectangle
		pending []heldFrame
	)
	// hashPending hashes the held frames' insets, once there are
	// candidates to crop them to.
	hashPending := func() {
		rects = insets.candidates(MaxInsets)
		for _, p := range pending {
			res.Frames[p.i].Insets = hashInsets(h, p.img, rects)
		}
		pending = pending[:0]
	}
	info, err := video.Frames(ctx, path, frameSize(opts), func(f video.Frame) error {
		// A CPU slot per frame, not per video: a long video takes its
		// turn with the pictures hashed meanwhile (package cpu).
		return cpu.Do(ctx, func() {
			trim := framing.Trim(f.Image)
			vf := uploadFrame(h, f.Image, trim)
			insets.add(f.Image)
			bars.add(f.Image.Bounds(), trim)
			res.Sampled++
			vf.Ms = f.Timestamp.Milliseconds()
			last = vf.Ms
			if n := len(res.Frames); n == 0 || res.Frames[n-1].PDQ != vf.PDQ || res.Frames[n-1].Trim != vf.Trim {
				// Until insetWindow frames are seen, the kept frames wait
				// for the candidates; then each frame is cropped to the
				// candidates found so far, looked for again every
				// insetWindow frames.
				if res.Sampled <= insetWindow {
					pending = append(pending, heldFrame{len(res.Frames), cloneImage(f.Image)})
				} else {
					vf.Insets = hashInsets(h, f.Image, rects)
				}
				res.Frames = append(res.Frames, vf)
			}
			if res.Sampled%insetWindow == 0 {
				hashPending()
			}
		})
	})
	res.Info = info
	if err != nil {
		return res, err
	}
	if len(res.Frames) == 0 {
		return res, fmt.Errorf("%w: no frame could be sampled", video.ErrCorrupt)
	}
	if len(pending) > 0 {
		if err := cpu.Do(ctx, hashPending); err != nil {
			return res, err
		}
	}
	opts.FPS = fps
	if r := bars.shared(FrameSide); !r.Empty() {
		if err := rehashTrimmed(ctx, h, path, opts, r, &res); err != nil {
			return res, err
		}
	}
	if rs := insets.candidates(1); len(rs) > 0 {
		if err := rehashInset(ctx, h, path, opts, rs[0], &res); err != nil {
			return res, err
		}
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

// Thin makes the frames' JSON fit maxBytes (MaxEventBytes when 0), so that
// the event carrying them fits a Kafka message: first it drops every
// frame's mirrored hashes (FlipY, FlipX, Rot180; with them a frame takes
// about 330 bytes, so an upload longer than about 40 minutes at one frame
// a second loses them, and with them the matching of mirrored and rotated
// copies), then every other frame, doubling IntervalMs, as often as
// needed. It returns how many times it halved the frames. At one frame a
// second a two-hour video fits without halving (about 100 bytes a frame),
// unless most frames also carry a trimmed hash.
func (r *Result) Thin(maxBytes int) int {
	if maxBytes <= 0 {
		maxBytes = MaxEventBytes
	}
	halved := 0
	if framesBytes(r.Frames) > maxBytes {
		// The mirrored hashes go first: the frames' density matters to
		// every copy, the mirrored hashes only to mirrored or rotated ones.
		for i := range r.Frames {
			r.Frames[i].FlipY, r.Frames[i].FlipX, r.Frames[i].Rot180 = "", "", ""
			r.Frames[i].Insets = nil
		}
	}
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
		ms := f.Timestamp.Milliseconds()
		for _, r := range bankFrame(h, f.Image) {
			keep(r, ms)
		}
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

// PartSignals lists the signals of each part, for bank.VideoEntries.
func PartSignals(parts []Part) [][]events.Signal {
	out := make([][]events.Signal, len(parts))
	for i, p := range parts {
		out[i] = p.Signals
	}
	return out
}
