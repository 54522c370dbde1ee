package videohash

import (
	"context"
	"image"
	"path/filepath"
	"slices"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/hashing/video"
)

func TestInsetSidesPlaced(t *testing.T) {
	inset := image.Rect(21, 72, 174, 226)
	slack := 2*FrameSide/FrameSide + 1
	for _, c := range []struct {
		name   string
		frame  func(k int) *image.RGBA
		approx image.Rectangle
		want   bool
	}{
		// Noise inside the inset steps at every line, as often as its
		// border does: the border is the outermost of them.
		{"still noise inset, found a little inside", func(k int) *image.RGBA { return stillFrame(k, inset) },
			image.Rect(23, 74, 172, 225), true},
		{"still noise inset, found a little outside", func(k int) *image.RGBA { return stillFrame(k, inset) },
			image.Rect(19, 71, 176, 228), true},
		{"moving inset over a moving gradient", func(k int) *image.RGBA { return synthFrame(k, inset, false) },
			image.Rect(22, 70, 173, 227), true},
		{"footage without an inset", func(k int) *image.RGBA { return synthFrame(k, image.Rectangle{}, true) },
			image.Rect(22, 70, 173, 227), false},
		{"no frame", nil, image.Rect(22, 70, 173, 227), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newInsetSides(c.approx, slack)
			for k := range 10 {
				if c.frame != nil {
					s.add(c.frame(k))
				}
			}
			got, ok := s.placed()
			if ok != c.want || (ok && got != inset) {
				t.Errorf("placed %v, %v; want %v, %v (steps per line: %v)", got, ok, inset, c.want, s.steps)
			}
		})
	}
}

// TestPictureInPictureIsCroppedFromTheVideosPixels shows a slow zoom into a
// photograph at 60% of its size over moving gradients (the robustness
// harness's pip-60 of its photo-zoom-q2821): cropped from the 256x256
// frames its inset was 32-34 bits from the bank video in every frame; cut
// from the video's own pixels at its border, it must be close.
func TestPictureInPictureIsCroppedFromTheVideosPixels(t *testing.T) {
	orig := photoClip(t, "q2821.jpg", "zoompan=z='min(zoom+0.0015,1.4)':d=1:x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':s=640x480:fps=25", 8)
	pip := filepath.Join(filepath.Dir(orig), "pip.mp4")
	ffmpeg(t, slices.Concat([]string{"-i", orig, "-filter_complex",
		"nullsrc=s=128x72:r=25,format=yuv444p,geq=lum='128+90*sin(2*PI*(X/W*cos(T*0.2)+Y/H*sin(T*0.2)+T*0.05))':cb='128+60*sin(2*PI*(X/W+T*0.03))':cr='128+60*cos(2*PI*(Y/H-T*0.04))'," +
			"scale=640x480,format=yuv420p[bg];[0:v]scale=trunc(iw*0.3)*2:trunc(ih*0.3)*2[fg];[bg][fg]overlay=x=W*0.08:y=H*0.28:shortest=1"}, clipCodec, []string{pip})...)

	banked := bankedHashes(t, orig)
	up, err := Upload(context.Background(), pip, video.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var dist []int
	for _, f := range up.Frames {
		dist = append(dist, nearest(t, banked, f.Insets...))
	}
	slices.Sort(dist)
	t.Logf("frames' nearest inset hash to the bank video: %v", dist)
	if len(dist) < 5 || dist[len(dist)*8/10] > 24 {
		t.Errorf("inset hashes %v bits from the bank video: want 80%% within 24", dist)
	}
}
