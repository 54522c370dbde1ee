package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// Altered copies of a sample video, made with ffmpeg as a re-uploader
// would, are found through takedownctl match as users run it (issue 15: a
// mirrored, a rotated and a centre-cropped copy were all missed): the
// mirrored and rotated ones through the upload's mirrored frame hashes,
// the match saying how the copy shows the video; the crop through the
// bank's centre-crop frame hashes; a 1.6-second cut on more than two
// frames; a picture-in-picture copy (the video at 60% over moving
// gradients) through the upload's inset hashes. An unrelated video
// mirrored, or shown picture-in-picture, matches nothing.
func TestMatchCommandAlteredVideos(t *testing.T) {
	needFFmpeg(t)
	videos := testenv.SharedTestdata(t, "vpdq/videos")
	ref := filepath.Join(videos, "chair-orig-22-sd-bar.mp4") // 22.4 s, 480x720, letterboxed
	unrelated := filepath.Join(videos, "pattern-hd-no-bar.mp4")
	dir := t.TempDir()
	enc := []string{"-c:v", "libx264", "-preset", "ultrafast", "-crf", "26", "-pix_fmt", "yuv420p", "-an"}
	cases := []struct {
		name, src, filter, cut string
		transform              string // want; "-" for no match
		minFrames              int
	}{
		{"mirror", ref, "hflip", "", "flipy", 15},
		{"rotate-clockwise", ref, "transpose=clock", "", "rot270", 15},
		{"rotate-counter-clockwise", ref, "transpose=cclock", "", "rot90", 15},
		{"upside-down", ref, "hflip,vflip", "", "rot180", 15},
		{"crop-10", ref, "crop=trunc(iw*0.4)*2:trunc(ih*0.4)*2", "", "", 15},
		{"cut-1.6s", ref, "null", "1.6", "", 3},
		{"pip-60", ref, pipGraph(480, 720), "", "", 15},
		{"unrelated-mirrored", unrelated, "hflip", "", "-", 0},
		{"unrelated-pip-60", unrelated, pipGraph(720, 1280), "", "-", 0},
	}
	args := []string{"--json", "--against", ref}
	for _, c := range cases {
		out := filepath.Join(dir, c.name+".mp4")
		a := []string{"-nostdin", "-v", "error", "-y"}
		if c.cut != "" {
			a = append(a, "-ss", "5", "-t", c.cut)
		}
		vf := "-vf"
		if strings.Contains(c.filter, ";") {
			vf = "-filter_complex"
		}
		a = append(append(append(a, "-i", c.src, vf, c.filter), enc...), out)
		if o, err := exec.Command("ffmpeg", a...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg %v: %v\n%s", a, err, o)
		}
		args = append(args, out)
	}
	var out bytes.Buffer
	if err := cmdMatch(context.Background(), args, &out); err != nil {
		t.Fatal(err)
	}
	lines := map[string]matchLine{}
	for dec := json.NewDecoder(&out); dec.More(); {
		var l matchLine
		if err := dec.Decode(&l); err != nil {
			t.Fatal(err)
		}
		lines[strings.TrimSuffix(filepath.Base(l.Query), ".mp4")] = l
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, ok := lines[c.name]
			if !ok {
				t.Fatal("no result")
			}
			var v *events.VideoMatch
			for _, m := range l.Matches {
				v = m.Video
			}
			if v != nil {
				t.Logf("%s (%s): %s %+v", l.Decision, l.Reason, v.Transform, v.Ranges)
			}
			if c.transform == "-" {
				if l.Decision != "no match" || len(l.Matches) != 0 {
					t.Errorf("%s with %+v, want no match", l.Decision, l.Matches)
				}
				return
			}
			if l.Decision == "no match" || v == nil {
				t.Fatalf("%s (%s), want a video match", l.Decision, l.Reason)
			}
			frames := 0
			for _, r := range v.Ranges {
				frames += r.Frames
			}
			if v.Transform != c.transform || frames < c.minFrames {
				t.Errorf("transform %q on %d matched frames, want %q on at least %d", v.Transform, frames, c.transform, c.minFrames)
			}
		})
	}
}
