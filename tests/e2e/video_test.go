package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/mediahash"
	"github.com/takedown-pipeline/takedown/pkg/hashing/videohash"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
	"github.com/takedown-pipeline/takedown/services/enforcer/enforcer"
)

// sampleVideo returns the path of one of the reference's sample videos
// (../shared/testdata beside the project) and checks that ffmpeg is there;
// without either the test is skipped, unless
// TAKEDOWN_TEST_REQUIRE_SERVICES=1 makes that a failure.
func sampleVideo(t *testing.T, name string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("../../../shared/testdata/vpdq/videos", name))
	if err != nil {
		t.Fatal(err)
	}
	_, statErr := os.Stat(path)
	_, ffErr := exec.LookPath("ffmpeg")
	if statErr != nil || ffErr != nil {
		if os.Getenv("TAKEDOWN_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("sample video (%v) or ffmpeg (%v) missing", statErr, ffErr)
		}
		t.Skipf("sample video (%v) or ffmpeg (%v) missing; skipping", statErr, ffErr)
	}
	return path
}

func ffmpeg(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-nostdin", "-v", "error", "-y"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// bankVideo publishes a video's bank entries as `takedownctl bank add`
// makes them, and waits for the matcher to hold them.
func bankVideo(t *testing.T, pl *pipeline, bankName, path string) {
	t.Helper()
	ctx := context.Background()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := mediahash.HashForBank(ctx, data, events.ContentVideo, mediahash.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	parts, _, err := videohash.BankBytes(ctx, data, videohash.BankOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pub := messaging.NewKafkaPublisher(config.Kafka{Brokers: pl.brokers})
	defer pub.Close()
	updates := bank.VideoEntries(bankName, []string{"category:terrorism"}, res.Signals, videohash.PartSignals(parts))
	for i := range updates {
		if err := messaging.PublishEvent(ctx, pub, pl.topics.BankUpdates, &updates[i]); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WaitFor(t, 30*time.Second, "the bank video loaded", func() bool { return pl.matcher.Banks().Len() == len(updates) })
}

// TestVideoUploadToTakedown banks a sample video and uploads a copy that
// was scaled down and re-encoded: it is taken down without review, with the
// matched time range in the evidence the platform receives.
func TestVideoUploadToTakedown(t *testing.T) {
	src := sampleVideo(t, "chair-orig-22-sd-bar.mp4")
	secret := "e2e-secret"
	plat := newPlatform(t, []byte(secret))
	pl := startPipeline(t, plat, secret)
	bankVideo(t, pl, "e2e-videos", src)

	altered := filepath.Join(t.TempDir(), "altered.mp4")
	ffmpeg(t, "-i", src, "-vf", "scale=320:480", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "32", "-an", altered)
	data, err := os.ReadFile(altered)
	if err != nil {
		t.Fatal(err)
	}
	id := testenv.Name("video")
	code, out := postIngest(t, "http://"+pl.ingest.Addr()+"/v1/uploads", map[string]any{
		"content_id": id, "media_url": plat.host(id+".mp4", data), "content_type": "video", "uploader_id": "u1",
	})
	if code != http.StatusAccepted {
		t.Fatalf("upload: %d %v", code, out)
	}
	select {
	case td := <-plat.got:
		if td.ContentID != id || td.Action != events.ActionRemove || td.Trigger != events.TriggerAuto || td.Bank != "e2e-videos" {
			t.Fatalf("takedown %+v", td)
		}
		v := td.Evidence[0].Video
		if v == nil || len(v.Ranges) == 0 || v.Rule != events.VideoRuleCopy {
			t.Fatalf("evidence %+v", td.Evidence)
		}
		t.Logf("taken down: %s; %d%% of the upload's frames matched, ranges %+v", td.Reason, v.QueryPercent, v.Ranges)
	case <-time.After(90 * time.Second):
		t.Fatal("no takedown of the altered video within 90 s")
	}
}

// TestLiveStreamStopped streams unrelated footage, then a bank video, in
// 2-second segments posted as a platform would, one every 2 seconds: the
// stream is stopped (stop_stream) once stream-match (6 s by default) of the
// bank video were shown, while it is still running. The delays from the
// first matching segment's arrival, and from the arrival of the segment that
// completed the footage, to the platform's webhook call are logged.
// TAKEDOWN_E2E_STREAM_MATCH (e.g. 4s) sets the enforcer's stream-match for
// a measurement.
func TestLiveStreamStopped(t *testing.T) {
	src := sampleVideo(t, "chair-orig-22-sd-bar.mp4")
	secret := "e2e-secret"
	plat := newPlatform(t, []byte(secret))
	streamMatch := enforcer.DefaultStreamMatch
	if v := os.Getenv("TAKEDOWN_E2E_STREAM_MATCH"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("TAKEDOWN_E2E_STREAM_MATCH: %v", err)
		}
		streamMatch = d
	}
	pl := startPipeline(t, plat, secret, func(c *enforcer.Config) { c.StreamMatch = streamMatch })
	bankVideo(t, pl, "e2e-live", src)

	const segSeconds, before = 2, 6 // 6 s of other footage, then the bank video
	dir := t.TempDir()
	full := filepath.Join(dir, "stream.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=480x720:rate=30:duration=%d", before), "-i", src,
		"-filter_complex", "[0:v]setsar=1,format=yuv420p[a];[1:v]setsar=1,format=yuv420p[b];[a][b]concat=n=2:v=1:a=0[v]",
		"-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-force_key_frames", fmt.Sprintf("expr:gte(t,n_forced*%d)", segSeconds), full)
	ffmpeg(t, "-i", full, "-c", "copy", "-f", "segment", "-segment_time", fmt.Sprint(segSeconds), "-reset_timestamps", "1",
		filepath.Join(dir, "seg%03d.ts"))
	segs, _ := filepath.Glob(filepath.Join(dir, "seg*.ts"))
	sort.Strings(segs)
	if len(segs) < 12 {
		t.Fatalf("%d segments", len(segs))
	}
	stream := testenv.Name("live")
	firstMatching := before / segSeconds
	posted := make([]time.Time, len(segs))
	tick := time.NewTicker(segSeconds * time.Second)
	defer tick.Stop()
	var stopped *time.Time
	for seq := 0; seq < len(segs) && stopped == nil; seq++ {
		data, err := os.ReadFile(segs[seq])
		if err != nil {
			t.Fatal(err)
		}
		url := plat.host(fmt.Sprintf("%s-%03d.ts", stream, seq), data)
		posted[seq] = time.Now()
		code, out := postIngest(t, "http://"+pl.ingest.Addr()+"/v1/streams/"+stream+"/segments", map[string]any{
			"stream_id": stream, "sequence": seq, "offset_ms": seq * segSeconds * 1000, "duration_ms": segSeconds * 1000,
			"media_url": url, "uploader_id": "streamer-1",
		})
		if code != http.StatusAccepted {
			t.Fatalf("segment %d: %d %v", seq, code, out)
		}
		// The next segment is produced 2 s later; the stop may come first.
		select {
		case td := <-plat.got:
			at := time.Now()
			stopped = &at
			if td.ContentID != stream || td.Action != events.ActionStopStream || td.Trigger != events.TriggerAuto {
				t.Fatalf("takedown %+v", td)
			}
			ev := td.Evidence[0]
			deciding := int(ev.Video.Ranges[0].QueryStartMs / (segSeconds * 1000))
			if seq == len(segs)-1 {
				t.Fatalf("the stream was stopped only at its last segment")
			}
			if ev.Video.MatchedMs < streamMatch.Milliseconds() || deciding < firstMatching {
				t.Fatalf("stopped on %d ms of footage, at segment %d: %+v", ev.Video.MatchedMs, deciding, ev)
			}
			t.Logf("stream stopped mid-stream (%d of %d segments sent): %s", seq+1, len(segs), td.Reason)
			t.Logf("delay from the first matching segment's arrival (segment %d) to the stop_stream call: %v",
				firstMatching, at.Sub(posted[firstMatching]).Round(time.Millisecond))
			t.Logf("delay from the arrival of the segment that completed the footage (segment %d) to the stop_stream call: %v",
				deciding, at.Sub(posted[deciding]).Round(time.Millisecond))
		case <-tick.C:
		}
	}
	if stopped == nil {
		t.Fatal("the stream was never stopped")
	}
	// A platform would end the stream; a segment still in flight must not
	// bring a second call.
	time.Sleep(3 * time.Second)
	if n := plat.count(stream); n != 1 {
		t.Fatalf("the platform got %d webhook calls for the stream, want 1", n)
	}
}
