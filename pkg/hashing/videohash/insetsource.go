package videohash

import (
	"context"
	"fmt"
	"image"
	"slices"

	"github.com/takedown-pipeline/takedown/pkg/hashing/pdq"
	"github.com/takedown-pipeline/takedown/pkg/hashing/video"
)

// Picture-in-picture uploads, in the video's own pixels. An inset found on
// the FrameSide frames (insetFinder) is placed to within a line or two of
// those frames, several pixels of a larger video, and its crop is scaled
// twice (into the frame, then by PDQ) where a bank frame is scaled once. For
// some pictures that is another picture to PDQ: a zoom into a photograph at
// 60% was 32-34 bits from its bank frames in every frame, 10-16 when cropped
// from the video's own pixels at its exact border. So the best candidate's
// border is placed to the pixel on frames decoded at the video's own size
// (sourceInset), and the upload is decoded once more cropped to it and
// scaled as a bank frame is (rehashInset); each frame's hash there is one
// more of its inset hashes.

// insetStepsMin is the share of a side's pixels, over the frames, at which
// the line of most steps must step for the border to count as found there.
const insetStepsMin = 0.25

// insetSides counts, for each side of an approximate inset rectangle, the
// luma steps across each line near it: side 0 and 2 are the left and right
// (columns), 1 and 3 the top and bottom (rows). steps[s][k] counts the
// pixels of the side's span, over all frames, where the luma changes by
// insetEdge or more between line at-slack+k-1 and line at-slack+k.
type insetSides struct {
	approx image.Rectangle
	slack  int
	frames int
	spans  [4]int
	steps  [4][]int
	lum    []int16
}

func newInsetSides(approx image.Rectangle, slack int) *insetSides {
	s := &insetSides{approx: approx, slack: slack}
	for i := range s.steps {
		s.steps[i] = make([]int, 2*slack+1)
	}
	return s
}

// at returns the approximate position of side i: the first line past the
// border (Min) or the end of the lines before it (Max).
func (s *insetSides) at(i int) int {
	return [4]int{s.approx.Min.X, s.approx.Min.Y, s.approx.Max.X, s.approx.Max.Y}[i]
}

// add counts one frame's steps. The span of a side leaves out a slack at
// either end, where the other sides' borders (and corners) lie.
func (s *insetSides) add(img image.Image) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if len(s.lum) != w*h {
		s.lum = make([]int16, w*h)
	}
	lumaOf(img, s.lum)
	s.frames++
	step := func(a, b int16) bool { d := a - b; return d >= insetEdge || d <= -insetEdge }
	for i := range s.steps {
		vertical := i%2 == 0
		lo, hi := s.approx.Min.Y+s.slack, s.approx.Max.Y-s.slack
		if !vertical {
			lo, hi = s.approx.Min.X+s.slack, s.approx.Max.X-s.slack
		}
		// n bounds the lines, along the bounds the positions on a line.
		n, along := w, h
		if !vertical {
			n, along = h, w
		}
		lo, hi = max(lo, 0), min(hi, along)
		for k := range s.steps[i] {
			line := s.at(i) - s.slack + k
			if line < 1 || line >= n {
				continue
			}
			for p := lo; p < hi; p++ {
				var a, c int16
				if vertical {
					a, c = s.lum[p*w+line-1], s.lum[p*w+line]
				} else {
					a, c = s.lum[(line-1)*w+p], s.lum[line*w+p]
				}
				if step(a, c) {
					s.steps[i][k]++
				}
			}
		}
		s.spans[i] = max(hi-lo, 0)
	}
}

// placed returns the rectangle whose sides are each the outermost line near
// the approximate side that steps at least half as often as the line of
// most steps there, and whether every side stepped in at least
// insetStepsMin of its pixels over the frames. The outermost, not the
// line of most steps: the inset's own picture may be as persistent as its
// border (a still photograph, a slow zoom into one), and a textured one
// steps just inside the border as often as the border does, while outside
// it lies footage that moves.
func (s *insetSides) placed() (image.Rectangle, bool) {
	if s.frames == 0 {
		return s.approx, false
	}
	var at [4]int
	for i, counts := range s.steps {
		top := slices.Max(counts)
		if s.spans[i] == 0 || float64(top) < insetStepsMin*float64(s.frames*s.spans[i]) {
			return s.approx, false
		}
		k := slices.IndexFunc(counts, func(n int) bool { return 2*n >= top })
		if i >= 2 {
			// A Max side: the outermost line is the last.
			for k = len(counts) - 1; 2*counts[k] < top; k-- {
			}
		}
		at[i] = s.at(i) - s.slack + k
	}
	return image.Rect(at[0], at[1], at[2], at[3]), true
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// sourceInset places an inset's border to the pixel on the first
// placingFrames sampled frames at the video's own size (placingPass):
// approx is the inset found on the FrameSide frames, mapped to the video's
// pixels. It returns false when a side is not a clear border there.
func sourceInset(ctx context.Context, path string, opts video.Options, approx image.Rectangle, w, h int) (image.Rectangle, bool, error) {
	// Two lines of a FrameSide frame, and one for rounding.
	slack := 2*max(w, h)/FrameSide + 1
	if approx.Dx() <= 4*slack || approx.Dy() <= 4*slack {
		return approx, false, nil
	}
	sides := newInsetSides(approx, slack)
	err := placingPass(ctx, path, opts, func(img image.Image) {
		if b := img.Bounds(); b.Dx() == w && b.Dy() == h {
			sides.add(img)
		}
	})
	if err != nil {
		return approx, false, err
	}
	r, ok := sides.placed()
	return r, ok && r.In(image.Rect(0, 0, w, h)) && !r.Empty(), nil
}

// rehashInset decodes the upload at path again at the same rate, cropped to
// the inset r (of its FrameSide frames) placed to the pixel, and adds the
// hash of each kept frame's crop to its insets. Nothing is added when the
// border cannot be placed.
func rehashInset(ctx context.Context, h *pdq.Hasher, path string, opts video.Options, r image.Rectangle, res *Result) error {
	w, ht := res.Info.Width, res.Info.Height
	crop, ok, err := sourceInset(ctx, path, opts, sourceCrop(r, FrameSide, w, ht), w, ht)
	if err != nil {
		return fmt.Errorf("placing the inset of a picture-in-picture video: %w", err)
	}
	if !ok || crop.Dx() < 16 || crop.Dy() < 16 {
		return nil
	}
	hashes, err := hashCropped(ctx, h, path, opts, crop, func(r pdq.Result) bool {
		return r.Quality >= MinQuality && !r.Hash.IsZero() && !r.Hash.Banded()
	})
	if err != nil {
		return fmt.Errorf("the inset of a picture-in-picture video: %w", err)
	}
	for i := range res.Frames {
		if in, ok := hashes[res.Frames[i].Ms]; ok {
			res.Frames[i].Insets = append(res.Frames[i].Insets, in)
		}
	}
	return nil
}
