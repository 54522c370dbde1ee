package videohash

import (
	"context"
	"errors"
	"fmt"
	"image"
	"slices"

	"github.com/takedown-pipeline/takedown/pkg/hashing/framing"
	"github.com/takedown-pipeline/takedown/pkg/hashing/pdq"
	"github.com/takedown-pipeline/takedown/pkg/hashing/video"
	"github.com/takedown-pipeline/takedown/pkg/platform/cpu"
)

// Letterboxed uploads. Every frame is scaled to FrameSide x FrameSide with
// its bars, so the picture between them is scaled otherwise than the bank
// video's frames were, and the trimmed part of such a frame (hashTrimmed)
// can be far from every bank frame: 26-62 bits for a calm sea and for
// frames of fine cells. When most sampled frames share one rectangle inside
// bars, the upload is decoded again cropped to it, in the video's own
// pixels (video.Options.Crop), and each frame of that pass, scaled as a
// bank frame is, gives the frame's Trim hash instead.

// placingFrames is how many sampled frames, from the start, bars and an
// inset are placed to the pixel on (sourceBars, sourceInset): the
// placement needs a few frames, the hashes that follow every one, and a
// long video's decode at its own size stops there.
const placingFrames = 3 * insetWindow

// errPlaced stops placingPass's decode.
var errPlaced = errors.New("placed")

// placingPass decodes the first placingFrames sampled frames of the video at
// path at its own size (ffmpeg decodes every frame at that size anyway;
// only the sampled ones are delivered) and hands each to look, in a CPU
// slot.
func placingPass(ctx context.Context, path string, opts video.Options, look func(img image.Image)) error {
	opts.ResizeWidth, opts.ResizeHeight = 0, 0
	n := 0
	_, err := video.Frames(ctx, path, opts, func(f video.Frame) error {
		if err := cpu.Do(ctx, func() { look(f.Image) }); err != nil {
			return err
		}
		if n++; n == placingFrames {
			return errPlaced
		}
		return nil
	})
	if errors.Is(err, errPlaced) {
		return nil
	}
	return err
}

// barSlack is how far (pixels of a FrameSide frame) a frame's rectangle
// inside its bars may be from the others' and still count as the same:
// a dark scene runs into a bar by a line or two.
const barSlack = 2

// barFinder collects the rectangle inside the bars of every sampled frame.
type barFinder struct {
	// rects holds one rectangle per sampled frame, relative to the frame;
	// empty for a frame without bars.
	rects []image.Rectangle
}

// add records the bars of one frame: trim is framing.Trim's answer for a
// frame of the given bounds.
func (b *barFinder) add(bounds, trim image.Rectangle) {
	if trim == bounds || trim.Empty() {
		b.rects = append(b.rects, image.Rectangle{})
		return
	}
	b.rects = append(b.rects, trim.Sub(bounds.Min))
}

// shared returns the rectangle inside the bars that more than half of the
// sampled frames have (each side within barSlack of the median frame's),
// of at least a quarter of the frame; else the empty rectangle.
func (b *barFinder) shared(side int) image.Rectangle {
	var x0, y0, x1, y1 []int
	for _, r := range b.rects {
		if !r.Empty() {
			x0, y0, x1, y1 = append(x0, r.Min.X), append(y0, r.Min.Y), append(x1, r.Max.X), append(y1, r.Max.Y)
		}
	}
	if 2*len(x0) <= len(b.rects) {
		return image.Rectangle{}
	}
	median := func(v []int) int {
		slices.Sort(v)
		return v[len(v)/2]
	}
	m := image.Rect(median(x0), median(y0), median(x1), median(y1))
	n := 0
	for _, r := range b.rects {
		if !r.Empty() && near(r, m, barSlack) {
			n++
		}
	}
	if 2*n <= len(b.rects) || 4*m.Dx()*m.Dy() < side*side {
		return image.Rectangle{}
	}
	return m
}

// sourceCrop maps r, in a side x side frame, to a w x h video's own pixels,
// rounded inwards: a line of bar blended into the picture by scaling is
// left out rather than kept.
func sourceCrop(r image.Rectangle, side, w, h int) image.Rectangle {
	return image.Rect((r.Min.X*w+side-1)/side, (r.Min.Y*h+side-1)/side, r.Max.X*w/side, r.Max.Y*h/side).
		Intersect(image.Rect(0, 0, w, h))
}

// sourceBars places the bars to the pixel. A line of a FrameSide frame is
// several lines of a larger video, and r mapped to the video's pixels can
// be a line off, which for a picture of little detail or of fine
// detail is another picture to PDQ (a calm sea and frames of 2-pixel
// cells cropped one line short at the bottom were 26 bits from the bank's
// frames, 10 and 2 cropped exactly). It looks at the first placingFrames
// sampled frames at the video's own size (placingPass) and returns, side
// by side, the most frequent
// place of the rectangles inside the bars that agree with approx (r mapped
// to the video's pixels): a dark scene runs into a bar in some frames. It
// returns approx when no frame agrees.
func sourceBars(ctx context.Context, path string, opts video.Options, approx image.Rectangle) (image.Rectangle, error) {
	var sides [4]map[int]int
	for i := range sides {
		sides[i] = map[int]int{}
	}
	agree := 0
	err := placingPass(ctx, path, opts, func(img image.Image) {
		b := img.Bounds()
		// barSlack lines of a FrameSide frame, and one for rounding.
		slack := (barSlack+1)*max(b.Dx(), b.Dy())/FrameSide + 1
		if t := framing.Trim(img).Sub(b.Min); near(t, approx, slack) {
			agree++
			for i, v := range [4]int{t.Min.X, t.Min.Y, t.Max.X, t.Max.Y} {
				sides[i][v]++
			}
		}
	})
	if err != nil || agree == 0 {
		return approx, err
	}
	var at [4]int
	for i, counts := range sides {
		best := -1
		for v, n := range counts {
			if best < 0 || n > counts[best] || (n == counts[best] && v < best) {
				best = v
			}
		}
		at[i] = best
	}
	return image.Rect(at[0], at[1], at[2], at[3]), nil
}

// rehashTrimmed decodes the upload at path again at the same rate, cropped
// to r (a rectangle of its FrameSide frames inside the bars), and gives each
// kept frame of res the hash of its cropped frame as its Trim.
func rehashTrimmed(ctx context.Context, h *pdq.Hasher, path string, opts video.Options, r image.Rectangle, res *Result) error {
	crop, err := sourceBars(ctx, path, opts, sourceCrop(r, FrameSide, res.Info.Width, res.Info.Height))
	if err != nil {
		return fmt.Errorf("placing the bars of a letterboxed video: %w", err)
	}
	if crop.Dx() < 16 || crop.Dy() < 16 {
		return nil
	}
	trims, err := hashCropped(ctx, h, path, opts, crop, func(t pdq.Result) bool { return t.Quality > 0 && !t.Hash.Banded() })
	if err != nil {
		return fmt.Errorf("the letterboxed video without its bars: %w", err)
	}
	for i := range res.Frames {
		if t, ok := trims[res.Frames[i].Ms]; ok {
			res.Frames[i].Trim = t
		}
	}
	return nil
}

// hashCropped decodes the upload at path again at opts' rate, cropped to
// crop (in the video's own pixels) and scaled as a bank frame is, and
// returns the hashes keep accepts by their frames' times.
func hashCropped(ctx context.Context, h *pdq.Hasher, path string, opts video.Options, crop image.Rectangle, keep func(pdq.Result) bool) (map[int64]string, error) {
	opts = frameSize(opts)
	opts.Crop = crop
	out := map[int64]string{}
	_, err := video.Frames(ctx, path, opts, func(f video.Frame) error {
		return cpu.Do(ctx, func() {
			if r := h.Image(f.Image); keep(r) {
				out[f.Timestamp.Milliseconds()] = r.Hash.String()
			}
		})
	})
	return out, err
}
