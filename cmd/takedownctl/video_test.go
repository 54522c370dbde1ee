package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// TestBankAddVideo banks a generated video with `bank add` on the real
// broker and reads the entry back: the file's hashes and two frame hashes
// per frame (every frame of a 3-second, 10 fps clip: the whole frame and
// its centre without 10% of each edge), each with its time.
// Configure's video percentages go through too, and bad ones are refused.
func TestBankAddVideo(t *testing.T) {
	needFFmpeg(t)
	e := newBankEnv(t)
	clip := filepath.Join(t.TempDir(), "clip.mp4")
	if out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=3",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", clip).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	// configure creates the topic (bank add publishes to an existing one).
	out := e.mustRun("configure", "--bank", "attack", "--video-query-percent", "60")
	if !strings.Contains(out, `"video_query_percent":60`) {
		t.Errorf("configure printed %s", out)
	}
	var line struct {
		EntryID string `json:"entry_id"`
		Signals int    `json:"signals"`
		Frames  int    `json:"video_frame_hashes"`
	}
	if err := json.Unmarshal([]byte(e.mustRun("add", "--bank", "attack", "--label", "category:terror", clip)), &line); err != nil {
		t.Fatal(err)
	}
	if line.Frames != 60 || line.Signals != 62 {
		t.Fatalf("bank add printed %+v, want 60 frame hashes (30 frames and their centre crops) and 2 file hashes", line)
	}
	// Read back as a matcher would (a CSV export has no frame times).
	var entries []bank.Entry
	banks, err := loadWithProgress(context.Background(), topicSettings{kafka: testenv.Kafka(t), topic: e.topic}, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for en := range banks.All() {
		entries = append(entries, en)
	}
	if len(entries) != 1 || entries[0].EntryID != line.EntryID || entries[0].Labels[0] != "category:terror" {
		t.Fatalf("entries %+v", entries)
	}
	times := map[string]bool{}
	for _, s := range entries[0].Signals {
		if s.Type == events.SignalPDQ {
			if _, ok := events.ParseFrameVariant(s.Variant); !ok {
				t.Errorf("pdq signal without a frame time: %+v", s)
			}
			times[s.Variant] = true
		}
	}
	if len(times) != 30 || !times["frame@0"] || !times["frame@2900"] {
		t.Errorf("frame times %v, want every 100 ms from 0 to 2900", times)
	}

	if info, ok := banks.Bank("attack"); !ok || info.Config.VideoQueryPercent != 60 {
		t.Errorf("bank %+v", info)
	}
	for _, bad := range []string{"101", "-1", "most"} {
		if _, _, err := e.run("configure", "--bank", "attack", "--video-reference-percent", bad); err == nil {
			t.Errorf("--video-reference-percent %s accepted", bad)
		}
	}
}

// needFFmpeg skips a test that runs ffmpeg where it is not installed, and
// fails it under make test (TAKEDOWN_TEST_REQUIRE_SERVICES), which has it.
func needFFmpeg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv(testenv.EnvRequire) != "" {
			t.Fatalf("ffmpeg missing: %v", err)
		}
		t.Skipf("ffmpeg missing: %v", err)
	}
}
