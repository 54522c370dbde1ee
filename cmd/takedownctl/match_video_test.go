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

// takedownctl match takes videos, as references and as queries, and decides
// as the pipeline would (bank add's frame hashes, the hasher's sampling, the
// matcher's video rules, the enforcer's policy), with the matched time
// ranges: a sample video against itself and a re-encoded, shrunk copy is
// taken down by the copy rule over its whole length; an unrelated sample
// video matches nothing; a still of the video, a picture, matches the
// video reference through one of its frames.
func TestMatchCommandVideo(t *testing.T) {
	needFFmpeg(t)
	videos := testenv.SharedTestdata(t, "vpdq/videos")
	ref := filepath.Join(videos, "doorknob-hd-no-bar.mp4") // 4.3 s, 1280x720
	unrelated := filepath.Join(videos, "pattern-sd-grey-bar.mp4")
	dir := t.TempDir()
	reencoded := filepath.Join(dir, "reencoded.mp4")
	still := filepath.Join(dir, "still.jpg")
	for _, args := range [][]string{
		{"-i", ref, "-vf", "scale=480:-2", "-c:v", "libx264", "-crf", "32", "-preset", "ultrafast", "-pix_fmt", "yuv420p", reencoded},
		{"-ss", "0.5", "-i", ref, "-frames:v", "1", "-q:v", "3", still},
	} {
		if out, err := exec.Command("ffmpeg", append([]string{"-nostdin", "-v", "error", "-y"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
		}
	}

	var out bytes.Buffer
	if err := cmdMatch(context.Background(), []string{"--json", "--against", ref, ref, reencoded, unrelated, still}, &out); err != nil {
		t.Fatal(err)
	}
	lines := map[string]matchLine{}
	for dec := json.NewDecoder(&out); dec.More(); {
		var l matchLine
		if err := dec.Decode(&l); err != nil {
			t.Fatal(err)
		}
		lines[l.Query] = l
		t.Logf("%s: %s (%s) %+v", filepath.Base(l.Query), l.Decision, l.Reason, l.Matches)
	}
	if len(lines) != 4 {
		t.Fatalf("%d results, want 4", len(lines))
	}
	for _, q := range []string{ref, reencoded} {
		l := lines[q]
		if l.Decision != "take down" {
			t.Errorf("%s: %s (%s), want take down", q, l.Decision, l.Reason)
		}
		var video *events.VideoMatch
		for _, m := range l.Matches {
			if m.Reference != ref {
				t.Errorf("%s matched %s", q, m.Reference)
			}
			if m.Video != nil {
				video = m.Video
			}
		}
		if video == nil {
			t.Errorf("%s: no video match in %+v", q, l.Matches)
			continue
		}
		if video.Rule != events.VideoRuleCopy || video.QueryPercent < 80 || len(video.Ranges) == 0 {
			t.Errorf("%s: video match %+v, want the copy rule over >= 80%% of its frames, with ranges", q, video)
			continue
		}
		// The whole clip, at no offset.
		r := video.Ranges[0]
		last := video.Ranges[len(video.Ranges)-1]
		if r.QueryStartMs != 0 || r.RefStartMs != 0 || last.QueryEndMs < 4000 || last.RefEndMs < 4000 || last.QueryEndMs > 4400 {
			t.Errorf("%s: ranges %+v, want the upload's 0-4.3 s on the reference's 0-4.3 s", q, video.Ranges)
		}
	}
	if l := lines[unrelated]; l.Decision != "no match" || len(l.Matches) != 0 {
		t.Errorf("unrelated video: %s with %+v, want no match", l.Decision, l.Matches)
	}
	// A picture matches a bank video on one of its frames, as the matcher
	// matches it: a picture has no time ranges.
	if l := lines[still]; l.Decision == "no match" || len(l.Matches) != 1 || l.Matches[0].Reference != ref || l.Matches[0].Video != nil {
		t.Errorf("still of the video: %s with %+v, want a match with the video reference", l.Decision, l.Matches)
	}

	// The text form shows the ranges.
	out.Reset()
	if err := cmdMatch(context.Background(), []string{"--against", ref, reencoded}, &out); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "video copy") || !strings.Contains(s, "query 0.0s-4.3s = reference 0.0s-4.3s") {
		t.Errorf("text output:\n%s", s)
	}
}
