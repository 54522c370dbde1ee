package hasher

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// testVideo makes a small H.264 video of ffmpeg's moving test pattern with
// ffmpeg, or skips the test without it (fails under
// TAKEDOWN_TEST_REQUIRE_SERVICES=1).
func testVideo(t *testing.T, seconds int, pattern string) []byte {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("TAKEDOWN_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("ffmpeg missing: %v", err)
		}
		t.Skipf("ffmpeg missing: %v", err)
	}
	out := filepath.Join(t.TempDir(), "v.mp4")
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
		"-i", pattern+"=size=320x240:rate=25:duration="+strconv.Itoa(seconds),
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestHasherVideo sends a video upload and two live stream segments through
// the hasher on the real broker: the frames come out sampled once a second,
// the segments' in stream time with the segment's place, and a segment that
// is no video is unhashable on its stream.
func TestHasherVideo(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	clip := testVideo(t, 5, "testsrc2")
	mux := http.NewServeMux()
	mux.HandleFunc("/clip.mp4", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "video/mp4")
		_, _ = w.Write(clip)
	})
	mux.HandleFunc("/text.ts", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\nhttp://127.0.0.1:1/segment.ts\n"))
	})
	media := httptest.NewServer(mux)
	t.Cleanup(media.Close)

	cfg := testConfig(t, brokers, nil)
	if cfg.VideoFPS != 1 || cfg.VideoMaxDuration != 2*time.Hour || cfg.VideoTimeout != 10*time.Minute {
		t.Errorf("video defaults %d fps, %v, %v", cfg.VideoFPS, cfg.VideoMaxDuration, cfg.VideoTimeout)
	}
	svc, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, "hasher", svc.Run, svc.Ready)
	coll := startCollector(t, brokers, cfg.Topics.Hashed, cfg.DLQTopic)
	pub := messaging.NewKafkaPublisher(config.Kafka{Brokers: brokers})
	defer pub.Close()
	decode := func(t *testing.T, m *messaging.Message) events.MediaHashed {
		t.Helper()
		var out events.MediaHashed
		if err := events.Decode(m.Value, events.TypeMediaHashed, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}

	t.Run("video upload", func(t *testing.T) {
		in := events.MediaIngested{Meta: events.NewMeta(events.TypeMediaIngested, testenv.Name("video"), ""),
			MediaURL: media.URL + "/clip.mp4", ContentType: events.ContentVideo, UploaderID: "u1",
			UploadedAt: time.Now().UTC(), IngestedAt: time.Now().UTC()}
		if err := messaging.PublishEvent(context.Background(), pub, cfg.Topics.Ingested, &in); err != nil {
			t.Fatal(err)
		}
		out := decode(t, coll.find(t, cfg.Topics.Hashed, in.ContentID, 1)[0])
		if len(out.Signals) != 2 || out.Signals[0].Type != events.SignalSHA256 || out.Media.Width != 320 || out.Media.Height != 240 {
			t.Errorf("signals %+v, media %+v", out.Signals, out.Media)
		}
		if out.DurationMs != 5000 || out.FrameIntervalMs != 1000 || out.Stream != nil {
			t.Errorf("duration %d ms, interval %d ms, stream %+v", out.DurationMs, out.FrameIntervalMs, out.Stream)
		}
		// testsrc2 moves: five different frames, at 0, 1, 2, 3 and 4 s.
		if len(out.Frames) != 5 {
			t.Fatalf("%d frames: %+v", len(out.Frames), out.Frames)
		}
		for i, f := range out.Frames {
			if f.Ms != int64(i)*1000 || len(f.PDQ) != 64 || f.Quality < 50 || f.Trim != "" {
				t.Errorf("frame %d: %+v", i, f)
			}
		}
		if st := svc.Stats(); st.Videos < 1 {
			t.Errorf("stats %+v", st)
		}
	})

	t.Run("stream segments", func(t *testing.T) {
		stream := testenv.Name("stream")
		received := time.Now().UTC()
		for seq, url := range []string{"/clip.mp4", "/text.ts"} {
			seg := events.StreamSegment{Meta: events.NewMeta(events.TypeStreamSegment, stream, ""),
				Sequence: int64(seq), MediaURL: media.URL + url, OffsetMs: int64(seq) * 5000, DurationMs: 5000,
				UploaderID: "streamer", ReceivedAt: received}
			if err := messaging.PublishEvent(context.Background(), pub, cfg.Topics.StreamSegments, &seg); err != nil {
				t.Fatal(err)
			}
		}
		var out, bad events.MediaHashed
		for _, m := range coll.find(t, cfg.Topics.Hashed, stream, 2) {
			if ev := decode(t, m); ev.Unhashable != nil {
				bad = ev
			} else {
				out = ev
			}
		}
		if out.Stream == nil || out.Stream.Sequence != 0 || out.Stream.OffsetMs != 0 || out.Stream.DurationMs != 5000 ||
			!out.Stream.ReceivedAt.Equal(received) || out.ContentType != events.ContentVideo || len(out.Frames) != 5 {
			t.Errorf("segment 0: stream %+v, %d frames", out.Stream, len(out.Frames))
		}
		// The segment that is no video is unhashable on its stream, in its
		// place, with the hashes of its bytes.
		if u := bad.Unhashable; u == nil || u.Reason != events.UnhashableUnsupported || !strings.Contains(u.Detail, "video from") {
			t.Errorf("segment 1: unhashable %+v, want unsupported", u)
		}
		if bad.Stream == nil || bad.Stream.Sequence != 1 || bad.Stream.OffsetMs != 5000 || bad.DurationMs != 5000 || len(bad.Signals) != 2 || len(bad.Frames) != 0 {
			t.Errorf("segment 1: stream %+v, duration %d, signals %+v, %d frames", bad.Stream, bad.DurationMs, bad.Signals, len(bad.Frames))
		}
	})

	t.Run("segment frames are in stream time", func(t *testing.T) {
		stream := testenv.Name("stream")
		seg := events.StreamSegment{Meta: events.NewMeta(events.TypeStreamSegment, stream, ""),
			Sequence: 7, MediaURL: media.URL + "/clip.mp4", OffsetMs: 14000, DurationMs: 5000,
			UploaderID: "streamer", ReceivedAt: time.Now().UTC()}
		if err := messaging.PublishEvent(context.Background(), pub, cfg.Topics.StreamSegments, &seg); err != nil {
			t.Fatal(err)
		}
		out := decode(t, coll.find(t, cfg.Topics.Hashed, stream, 1)[0])
		if len(out.Frames) != 5 || out.Frames[0].Ms != 14000 || out.Frames[4].Ms != 18000 || out.Stream.Sequence != 7 {
			t.Errorf("frames %+v, stream %+v", out.Frames, out.Stream)
		}
	})
}
