package videohash

import (
	"context"
	"image"
	"image/color"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/hashing/framing"
	"github.com/takedown-pipeline/takedown/pkg/hashing/pdq"
	"github.com/takedown-pipeline/takedown/pkg/hashing/video"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
)

// synthFrame draws frame k of a synthetic video: a background moving
// diagonal gradient and, inside inset (when not empty), footage of
// discs at random places with random shades; without an inset the discs
// fill the frame.
func synthFrame(k int, inset image.Rectangle, bgDiscs bool) *image.RGBA {
	const side = FrameSide
	img := image.NewRGBA(image.Rect(0, 0, side, side))
	rng := rand.New(rand.NewPCG(uint64(k), 7))
	for y := range side {
		for x := range side {
			v := uint8((x + y + 9*k) % 256 / 2)
			img.Set(x, y, color.RGBA{v, 100, 200 - v, 255})
		}
	}
	area := inset
	if area.Empty() {
		area = img.Bounds()
	}
	disc := func(in image.Rectangle, r *rand.Rand) {
		cx, cy := in.Min.X+r.IntN(in.Dx()), in.Min.Y+r.IntN(in.Dy())
		rad := 5 + r.IntN(30)
		c := color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
		for y := max(in.Min.Y, cy-rad); y < min(in.Max.Y, cy+rad); y++ {
			for x := max(in.Min.X, cx-rad); x < min(in.Max.X, cx+rad); x++ {
				if (x-cx)*(x-cx)+(y-cy)*(y-cy) <= rad*rad {
					img.Set(x, y, c)
				}
			}
		}
	}
	if !inset.Empty() {
		// The inset's own footage: a backdrop of its own, then discs.
		shade := color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}
		for y := inset.Min.Y; y < inset.Max.Y; y++ {
			for x := inset.Min.X; x < inset.Max.X; x++ {
				img.Set(x, y, shade)
			}
		}
	}
	for range 40 {
		disc(area, rng)
	}
	if bgDiscs && !inset.Empty() {
		// Footage outside the inset too, which must not draw a side.
		for range 10 {
			disc(img.Bounds(), rng)
		}
	}
	return img
}

// stillFrame draws frame k of a video whose inset (the whole frame when
// inset is empty) shows the same finely textured picture in every frame
// (pixels of random shades), over the moving gradient of synthFrame:
// every line inside it is an edge in nearly every frame, as the inset's
// border is.
func stillFrame(k int, inset image.Rectangle) *image.RGBA {
	img := synthFrame(k, image.Rectangle{}, false)
	if inset.Empty() {
		inset = img.Bounds()
	}
	rng := rand.New(rand.NewPCG(3, 5))
	for y := inset.Min.Y; y < inset.Max.Y; y++ {
		for x := inset.Min.X; x < inset.Max.X; x++ {
			img.Set(x, y, color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255})
		}
	}
	return img
}

func TestInsetFinder(t *testing.T) {
	inset := image.Rect(21, 72, 174, 226) // 60% of the frame per side
	moving := func(bgDiscs bool) func(int, image.Rectangle) *image.RGBA {
		return func(k int, r image.Rectangle) *image.RGBA { return synthFrame(k, r, bgDiscs) }
	}
	for _, c := range []struct {
		name  string
		frame func(int, image.Rectangle) *image.RGBA
		n     int
		inset image.Rectangle
		want  bool
		// tol is how far (pixels) a found side may be from the inset's:
		// where the inset's inside is an edge everywhere, the lines next
		// to its border fire as often as the border does.
		tol int
	}{
		{"inset over a moving gradient", moving(false), 10, inset, true, 1},
		{"inset over footage", moving(true), 10, inset, true, 1},
		{"inset on too few frames", moving(false), insetMinFrames - 1, inset, false, 0},
		{"full-frame footage", moving(false), 10, image.Rectangle{}, false, 0},
		// The inside of a still, detailed inset is as persistent as its
		// border: a side stands out from the footage outside only.
		{"still textured inset over a moving gradient", stillFrame, 10, inset, true, 2},
		{"still textured full frame", stillFrame, 10, image.Rectangle{}, false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var f insetFinder
			for k := range c.n {
				f.add(c.frame(k, c.inset))
			}
			got := f.candidates(MaxInsets)
			t.Logf("candidates %v", got)
			if !c.want {
				if len(got) > 0 {
					t.Errorf("candidates %v, want none", got)
				}
				return
			}
			if len(got) == 0 || !near(got[0], inset, c.tol) {
				t.Errorf("candidates %v, want %v first (within %d pixels)", got, inset, c.tol)
			}
		})
	}
}

// TestPictureInPictureMatches shows a sample video at 60% of its size over
// moving gradients (the robustness harness's pip-60) and checks that the
// upload's frames carry inset hashes, that it matches the sample video
// through them and not the other family's video, and that the sample video
// itself, uploaded as it is, carries none.
func TestPictureInPictureMatches(t *testing.T) {
	dir := samples(t)
	chair := filepath.Join(dir, "chair-orig-22-sd-bar.mp4")
	pip := filepath.Join(t.TempDir(), "pip.mp4")
	ffmpeg(t, slices.Concat([]string{"-i", chair, "-t", "10", "-filter_complex",
		"gradients=s=480x720:speed=0.03:seed=5,format=yuv420p[bg];[0:v]scale=trunc(iw*0.3)*2:trunc(ih*0.3)*2[fg];[bg][fg]overlay=x=W*0.08:y=H*0.28:shortest=1"},
		clipCodec, []string{pip})...)
	b := bank.NewBanks(nil)
	for _, n := range []string{"chair-orig-22-sd-bar", "pattern-hd-no-bar"} {
		for _, u := range bankEntries(t, "samples", n, filepath.Join(dir, n+".mp4")) {
			if err := b.Apply(u); err != nil {
				t.Fatal(err)
			}
		}
	}
	up, err := Upload(context.Background(), pip, video.Options{})
	if err != nil {
		t.Fatal(err)
	}
	withInsets := 0
	for _, f := range up.Frames {
		if len(f.Insets) > 0 {
			withInsets++
		}
	}
	if withInsets < len(up.Frames)*8/10 {
		t.Errorf("%d of %d frames carry inset hashes", withInsets, len(up.Frames))
	}
	h := b.MatchVideo(query(up), bank.VideoRules{})
	if len(h.Block) != 1 || h.Block[0].EntryID != "chair-orig-22-sd-bar" {
		t.Fatalf("picture-in-picture copy matched %+v, want chair-orig-22-sd-bar alone", h.Block)
	}
	t.Logf("matched %s: %s, %d%% of the frames, distance %d", h.Block[0].EntryID, h.Block[0].Video.Rule, h.Block[0].Video.QueryPercent, h.Block[0].Distance)

	plain, err := Upload(context.Background(), chair, video.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range plain.Frames {
		if len(f.Insets) > 0 {
			t.Errorf("the sample video itself: frame at %d ms has inset hashes %v", f.Ms, f.Insets)
			break
		}
	}
}

// BenchmarkUploadFrameInsets measures, per sampled frame, what the
// picture-in-picture signal adds to the hashing of a frame: counting its
// edges (every frame), and hashing its crops to MaxInsets candidates (the
// frames of a video where candidates are found), beside uploadFrame itself.
func BenchmarkUploadFrameInsets(b *testing.B) {
	inset := image.Rect(21, 72, 174, 226)
	frames := make([]*image.RGBA, insetWindow)
	for k := range frames {
		frames[k] = synthFrame(k, inset, true)
	}
	var f insetFinder
	for _, fr := range frames {
		f.add(fr)
	}
	rects := f.candidates(MaxInsets)
	h := pdq.NewHasher()
	b.Run("frame", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			uploadFrame(h, frames[i%len(frames)], framing.Trim(frames[i%len(frames)]))
		}
	})
	b.Run("edges", func(b *testing.B) {
		var g insetFinder
		for i := 0; b.Loop(); i++ {
			g.add(frames[i%len(frames)])
		}
	})
	b.Run("candidates", func(b *testing.B) {
		for b.Loop() {
			f.candidates(MaxInsets)
		}
	})
	b.Run("crops", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			hashInsets(h, frames[i%len(frames)], rects)
		}
		b.ReportMetric(float64(len(rects)), "crops/frame")
	})
}
