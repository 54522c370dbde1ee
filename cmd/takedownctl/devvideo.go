package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/edges/webhook"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// The video demo's footage, made with ffmpeg's lavfi sources: a seeded
// game of life stands in for the known attack video, a Mandelbrot zoom for
// unrelated live footage.
const (
	demoVideoSeconds   = 20
	demoStreamLead     = 4 // seconds of unrelated footage before the known video
	demoSegmentSeconds = 2
)

// runVideoDemo banks a generated video, uploads an altered copy of it
// (smaller, re-encoded, letterboxed) and streams unrelated footage then the
// known video in 2-second segments, one every 2 seconds, until the pipeline
// stops the stream. Without ffmpeg it says so and returns.
func runVideoDemo(ctx context.Context, c devConfig, brokers []string, platform *demoPlatform, say func(string, ...any)) error {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		say("\nvideo demo skipped: ffmpeg is not installed (apt-get install ffmpeg)")
		return nil
	}
	say("\n=== demo: a known video, an altered copy of it and a live stream ===")
	if platform.external {
		// Takedowns go to the real endpoint; the demo learns of them, and
		// times the stream's stop, from the enforcer's audit records.
		go platform.watchActions(ctx, brokers, time.Now())
	}
	dir, err := os.MkdirTemp("", "takedown-demo-video-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ff := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "ffmpeg", append([]string{"-nostdin", "-v", "error", "-y"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("ffmpeg: %w: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	known := filepath.Join(dir, "known.mp4")
	lavfi := fmt.Sprintf("life=size=480x270:rate=25:ratio=0.3:mold=10:seed=%d:death_color=#2050a0:life_color=#f0c040", c.seed)
	if err := ff("-f", "lavfi", "-i", lavfi, "-t", fmt.Sprint(demoVideoSeconds), "-c:v", "libx264", "-preset", "ultrafast",
		"-pix_fmt", "yuv420p", "-force_key_frames", fmt.Sprintf("expr:gte(t,n_forced*%d)", demoSegmentSeconds), known); err != nil {
		return err
	}
	data, err := os.ReadFile(known)
	if err != nil {
		return err
	}
	updates, _, err := videoBankUpdates(ctx, data, "demo-violent-extremism", []string{"category:violent-extremism", "source:demo"}, videoBankOptions(0))
	if err != nil {
		return err
	}
	// The matcher made the topic; should it not have, a producer would
	// not create it.
	if err := ensureBankTopic(ctx, topicSettings{kafka: config.Kafka{Brokers: brokers}, topic: events.TypeBankUpdate, partitions: 3, replication: 1}); err != nil {
		return err
	}
	pub := messaging.NewKafkaPublisher(config.Kafka{Brokers: brokers})
	defer pub.Close()
	matcherURL := "http://" + c.addrs[devMatcher]
	had, err := bankEntries(ctx, matcherURL)
	if err != nil {
		return err
	}
	for i := range updates {
		if err := messaging.PublishEvent(ctx, pub, events.TypeBankUpdate, &updates[i]); err != nil {
			return err
		}
		say("bank entry %s added from a generated %d-second video (%d frame hashes)", updates[i].EntryID, demoVideoSeconds, videoFrames(updates[i].Signals))
	}
	if err := waitBankLoaded(ctx, matcherURL, had+len(updates)); err != nil {
		return err
	}

	run := events.NewID()[:6]
	ingestURL := "http://" + c.addrs[devIngest]

	// An altered copy: smaller, re-encoded harder, letterboxed.
	altered := filepath.Join(dir, "altered.mp4")
	if err := ff("-i", known, "-vf", "scale=320:180,pad=320:240:0:30", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "28", altered); err != nil {
		return err
	}
	if data, err = os.ReadFile(altered); err != nil {
		return err
	}
	videoID := "demo-" + run + "-video-copy"
	if _, err := submitUpload(ctx, ingestURL, c.ingestKey, Upload{ContentID: videoID, MediaURL: platform.host(videoID+".mp4", data),
		ContentType: events.ContentVideo, UploaderID: "demo-user", UploadedAt: time.Now().UTC()}); err != nil {
		return err
	}
	say("submitted video-copy.mp4 (the known video scaled down, re-encoded and letterboxed) as content %s", videoID)
	td, err := awaitTakedown(ctx, platform, videoID, 60*time.Second)
	if err != nil {
		say("  video-copy.mp4  -> %v (queued for review?); see the service logs above", err)
	} else if v := videoEvidence(td); v != nil {
		say("  video-copy.mp4  -> %s: %d%% of its frames match, %s", td.Action, v.QueryPercent, describeRanges(v))
	}

	// A live stream: unrelated footage, then the known video.
	full := filepath.Join(dir, "stream.mp4")
	if err := ff("-f", "lavfi", "-i", fmt.Sprintf("mandelbrot=size=480x270:rate=25:end_scale=0.01:end_pts=%d", demoStreamLead*25), "-i", known,
		"-filter_complex", fmt.Sprintf("[0:v]trim=duration=%d,setsar=1,format=yuv420p[a];[1:v]setsar=1,format=yuv420p[b];[a][b]concat=n=2:v=1:a=0[v]", demoStreamLead),
		"-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-force_key_frames", fmt.Sprintf("expr:gte(t,n_forced*%d)", demoSegmentSeconds), full); err != nil {
		return err
	}
	if err := ff("-i", full, "-c", "copy", "-f", "segment", "-segment_time", fmt.Sprint(demoSegmentSeconds), "-reset_timestamps", "1",
		filepath.Join(dir, "seg%03d.ts")); err != nil {
		return err
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "seg*.ts"))
	sort.Strings(segs)
	streamID := "demo-" + run + "-live"
	say("streaming %s: %d s of unrelated footage, then the known video, in %d-second segments (POST %s/v1/streams/%s/segments)",
		streamID, demoStreamLead, demoSegmentSeconds, ingestURL, streamID)
	tick := time.NewTicker(demoSegmentSeconds * time.Second)
	defer tick.Stop()
	var firstKnown time.Time
	for seq, path := range segs {
		seg, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		url := platform.host(fmt.Sprintf("%s-%03d.ts", streamID, seq), seg)
		if err := submitSegment(ctx, ingestURL, c.ingestKey, streamID, seq, url); err != nil {
			return err
		}
		offset := seq * demoSegmentSeconds
		what := "unrelated footage"
		if offset >= demoStreamLead {
			what = "the known video"
			if firstKnown.IsZero() {
				firstKnown = time.Now()
			}
		}
		say("  segment %d (%d-%d s, %s) sent", seq, offset, offset+demoSegmentSeconds, what)
		// The platform produces the next segment 2 s later; the stop may
		// come before.
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
				waiting = false
			case td := <-platform.taken:
				if td.ContentID != streamID {
					continue
				}
				say("  live stream      -> %s after %d of %d segments, %v after the first segment of the known video was sent: %s",
					td.Action, seq+1, len(segs), time.Since(firstKnown).Round(100*time.Millisecond), td.Reason)
				return nil
			}
		}
	}
	if td, err := awaitTakedown(ctx, platform, streamID, 10*time.Second); err == nil {
		say("  live stream      -> %s after the last segment: %s", td.Action, td.Reason)
		return nil
	}
	say("  live stream      -> not stopped; see the service logs above")
	return nil
}

// submitSegment posts one live stream segment to ingest's API.
func submitSegment(ctx context.Context, ingestURL string, key ingestKey, streamID string, seq int, mediaURL string) error {
	body := map[string]any{"stream_id": streamID, "sequence": seq, "offset_ms": seq * demoSegmentSeconds * 1000, "duration_ms": demoSegmentSeconds * 1000,
		"media_url": mediaURL, "uploader_id": "demo-streamer"}
	return postDemoJSON(ctx, ingestURL+"/v1/streams/"+url.PathEscape(streamID)+"/segments", key, body)
}

// watchActions passes the takedowns the enforcer records on
// enforcement.actions from since on to the demo's awaitTakedown, as the
// demo platform's webhook would: with a real endpoint
// (TAKEDOWN_WEBHOOK_URL), the webhook calls go there instead.
func (p *demoPlatform) watchActions(ctx context.Context, brokers []string, since time.Time) {
	cfg := messaging.ReplayConfig{Kafka: config.Kafka{Brokers: brokers}, Topic: config.DefaultTopics().Actions, Since: since, Follow: true,
		Logger: slog.New(slog.DiscardHandler)}
	_, err := messaging.Replay(ctx, cfg, func(_ context.Context, m *messaging.Message) error {
		var a events.EnforcementAction
		if events.Decode(m.Value, events.TypeEnforcementAction, &a) != nil || a.Outcome != events.OutcomeSucceeded || a.Actor != "" {
			return nil
		}
		td := webhook.Takedown{Action: a.Action, ContentID: a.PlatformContentID(), ClientID: a.ClientID, Reason: a.Reason,
			Bank: a.Bank, Labels: a.Labels, Evidence: a.Evidence, IdempotencyKey: a.IdempotencyKey, CorrelationID: a.CorrelationID, Trigger: a.Trigger}
		select {
		case p.taken <- td:
		case <-ctx.Done():
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		slog.Warn("video demo: reading enforcement.actions failed", "err", err)
	}
}

// awaitTakedown waits for the platform to receive a takedown of contentID.
func awaitTakedown(ctx context.Context, p *demoPlatform, contentID string, within time.Duration) (webhook.Takedown, error) {
	deadline := time.After(within)
	for {
		select {
		case td := <-p.taken:
			if td.ContentID == contentID {
				return td, nil
			}
		case <-deadline:
			return webhook.Takedown{}, fmt.Errorf("no takedown within %v", within)
		case <-ctx.Done():
			return webhook.Takedown{}, errors.New("interrupted")
		}
	}
}

func videoEvidence(td webhook.Takedown) *events.VideoMatch {
	for _, m := range td.Evidence {
		if m.Video != nil {
			return m.Video
		}
	}
	return nil
}

func describeRanges(v *events.VideoMatch) string {
	var parts []string
	for _, r := range v.Ranges {
		parts = append(parts, fmt.Sprintf("%.0f-%.0f s of the upload = %.0f-%.0f s of the bank video",
			float64(r.QueryStartMs)/1000, float64(r.QueryEndMs)/1000, float64(r.RefStartMs)/1000, float64(r.RefEndMs)/1000))
	}
	return strings.Join(parts, ", ")
}

// postDemoJSON posts body as JSON, signed with key, and wants 202 Accepted.
func postDemoJSON(ctx context.Context, url string, key ingestKey, body any) error {
	raw, _ := json.Marshal(body)
	resp, err := key.post(ctx, url, raw)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("POST %s: %s: %s", url, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
