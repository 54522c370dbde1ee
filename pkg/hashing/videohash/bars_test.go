package videohash

import (
	"context"
	"image"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/hashing/pdq"
	"github.com/takedown-pipeline/takedown/pkg/hashing/video"
)

func TestBarFinderShared(t *testing.T) {
	lb := image.Rect(0, 24, 256, 232)
	none := image.Rectangle{}
	for _, c := range []struct {
		name  string
		rects []image.Rectangle
		want  image.Rectangle
	}{
		{"every frame letterboxed", []image.Rectangle{lb, lb, lb, lb}, lb},
		{"dark scenes run into a bar by a line or two", []image.Rectangle{lb, lb, lb.Inset(1), image.Rect(0, 26, 256, 232), lb}, lb},
		{"half the frames: no bars", []image.Rectangle{lb, lb, none, none}, none},
		{"a few dark frames in footage without bars", []image.Rectangle{none, image.Rect(0, 40, 256, 200), none, none, image.Rect(0, 24, 256, 232)}, none},
		{"frames that disagree", []image.Rectangle{lb, image.Rect(0, 60, 256, 200), image.Rect(40, 0, 216, 256), none, lb}, none},
		{"too little left between the bars", []image.Rectangle{image.Rect(0, 100, 256, 150), image.Rect(0, 100, 256, 150)}, none},
		{"no frames", nil, none},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := barFinder{rects: slices.Clone(c.rects)}
			if got := b.shared(FrameSide); got != c.want {
				t.Errorf("shared() = %v, want %v", got, c.want)
			}
		})
	}
}

func TestSourceCrop(t *testing.T) {
	for _, c := range []struct {
		r          image.Rectangle
		side, w, h int
		want       image.Rectangle
	}{
		// A 640x594 letterbox of 640x480 (rows 56-535): its 256 frame's
		// rows 24-230 hold the picture, row 23 and 231 blend it with a bar.
		{image.Rect(0, 24, 256, 231), 256, 640, 594, image.Rect(0, 56, 640, 535)},
		{image.Rect(0, 0, 256, 256), 256, 1920, 1080, image.Rect(0, 0, 1920, 1080)},
		// Inwards: a partial source line is left out.
		{image.Rect(10, 10, 246, 246), 256, 300, 300, image.Rect(12, 12, 288, 288)},
	} {
		if got := sourceCrop(c.r, c.side, c.w, c.h); got != c.want {
			t.Errorf("sourceCrop(%v, %d, %dx%d) = %v, want %v", c.r, c.side, c.w, c.h, got, c.want)
		}
	}
}

// A letterboxed copy of a calm, nearly featureless picture panned slowly:
// trimmed after scaling with its bars, its frames were 26-36 bits from the
// bank's, and the copy was missed; decoded again without the bars they are
// as close as a re-encode.
func TestLetterboxedUploadIsDecodedWithoutItsBars(t *testing.T) {
	orig := photoClip(t, "q0122.jpg", "zoompan=z=1.3:d=1:x='on*2':y='ih/2-(ih/zoom/2)':s=640x480:fps=25", 6)
	boxed := filepath.Join(filepath.Dir(orig), "letterbox.mp4")
	ffmpeg(t, slices.Concat([]string{"-i", orig, "-vf", "pad=iw:trunc(ih*0.62)*2:0:(oh-ih)/2:black"}, clipCodec, []string{boxed})...)

	banked := bankedHashes(t, orig)
	up, err := Upload(context.Background(), boxed, video.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var dist []int
	for _, f := range up.Frames {
		dist = append(dist, nearest(t, banked, f.Trim))
	}
	slices.Sort(dist)
	t.Logf("trimmed frames' distances to the bank video: %v", dist)
	if len(dist) < 5 || dist[len(dist)/2] > 16 || dist[len(dist)*8/10] > 24 {
		t.Errorf("trimmed frames %v bits from the bank video: want a median of 16 at most, 80%% within 24", dist)
	}
}

// bankedHashes banks the video at path and returns its frame hashes.
func bankedHashes(t *testing.T, path string) []pdq.Hash {
	t.Helper()
	parts, _, err := Bank(context.Background(), path, BankOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var banked []pdq.Hash
	for _, p := range parts {
		for _, s := range p.Signals {
			h, err := pdq.ParseHex(s.Value)
			if err != nil {
				t.Fatal(err)
			}
			banked = append(banked, h)
		}
	}
	return banked
}

// nearest returns the distance from the nearest of banked to the closest
// of hashes (hex), 256 when there are none.
func nearest(t *testing.T, banked []pdq.Hash, hashes ...string) int {
	t.Helper()
	d := 256
	for _, s := range hashes {
		h, err := pdq.ParseHex(s)
		if err != nil {
			t.Fatalf("hash %q: %v", s, err)
		}
		for _, b := range banked {
			d = min(d, pdq.Distance(h, b))
		}
	}
	return d
}

// clipCodec are the x264 settings of the tests' clips and their copies, as
// the robustness harness's (constant quality: the same bytes every run).
var clipCodec = []string{"-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-an"}

// photoClip makes a clip of the reference photograph name (of the PDQ test
// data's labelme-subset) moved by zoompan, seconds long at 25 frames a
// second, in a temporary directory, as the robustness video corpus's photo
// clips are made; it skips the test without ffmpeg or the test data.
func photoClip(t *testing.T, name, zoompan string, seconds int) string {
	t.Helper()
	samples(t) // ffmpeg, and the shared test data beside the checkout
	photo, err := filepath.Abs("../../../../shared/testdata/pdq/reg-test-input/labelme-subset/" + name)
	if err != nil {
		t.Fatal(err)
	}
	clip := filepath.Join(t.TempDir(), "orig.mp4")
	ffmpeg(t, slices.Concat([]string{"-loop", "1", "-framerate", "25", "-i", photo, "-vf", "scale=1280:-2," + zoompan,
		"-t", strconv.Itoa(seconds)}, clipCodec, []string{clip})...)
	return clip
}
