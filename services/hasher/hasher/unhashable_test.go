package hasher

import (
	"bytes"
	"context"
	"crypto/rand"
	"image"
	"image/png"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// TestUnhashableLimits sends media over each limit of a hasher with small
// limits through it on the real broker: each comes out as an unhashable
// media.hashed with its reason (and nothing is dead-lettered), so that the
// enforcer sends it to review instead of it never being matched.
func TestUnhashableLimits(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	long := testVideo(t, 5, "testsrc2")
	big := make([]byte, 2<<20)
	_, _ = rand.Read(big)
	var wide bytes.Buffer // 400x300: few bytes, many pixels
	if err := png.Encode(&wide, image.NewGray(image.Rect(0, 0, 400, 300))); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	serve := func(path, typ string, data []byte) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", typ)
			_, _ = w.Write(data)
		})
	}
	serve("/long.mp4", "video/mp4", long)
	serve("/big.jpg", "image/jpeg", big)
	serve("/wide.png", "image/png", wide.Bytes())
	mux.HandleFunc("/slow.png", func(w http.ResponseWriter, r *http.Request) {
		select { // slower than the fetch timeout
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	media := httptest.NewServer(mux)
	t.Cleanup(media.Close)

	cfg := testConfig(t, brokers, map[string]string{
		"TAKEDOWN_MAX_MEDIA_BYTES": "1048576", "TAKEDOWN_MAX_PIXELS": "100000",
		"TAKEDOWN_VIDEO_MAX_DURATION": "2s", "TAKEDOWN_FETCH_TIMEOUT": "500ms", "TAKEDOWN_FETCH_ATTEMPTS": "2",
	})
	svc, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	svc.fetchBackoff = 20 * time.Millisecond
	testenv.Run(t, "hasher", svc.Run, svc.Ready)
	coll := startCollector(t, brokers, cfg.Topics.Hashed, cfg.DLQTopic)
	pub := messaging.NewKafkaPublisher(config.Kafka{Brokers: brokers})
	defer pub.Close()

	cases := []struct {
		name, path, contentType, reason string
		fetched                         []byte // nil: nothing fetched
		detail                          string
	}{
		{"over the byte limit", "/big.jpg", events.ContentImage, events.UnhashableTooLarge, nil, "too large"},
		{"over the pixel limit", "/wide.png", events.ContentImage, events.UnhashableTooManyPixels, wide.Bytes(), "400x300"},
		{"over the duration limit", "/long.mp4", events.ContentVideo, events.UnhashableTooLong, long, "too long"},
		{"host too slow", "/slow.png", events.ContentImage, events.UnhashableHostUnavailable, nil, "after 2 attempts"},
	}
	ids := map[string]events.MediaIngested{}
	for _, c := range cases {
		in := events.MediaIngested{
			Meta:     events.NewMeta(events.TypeMediaIngested, testenv.Name("content"), ""),
			MediaURL: media.URL + c.path, ContentType: c.contentType, UploaderID: "u1",
			UploadedAt: time.Now().UTC(), IngestedAt: time.Now().UTC(),
		}
		if err := messaging.PublishEvent(context.Background(), pub, cfg.Topics.Ingested, &in); err != nil {
			t.Fatal(err)
		}
		ids[c.name] = in
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := ids[c.name]
			var out events.MediaHashed
			if err := events.Decode(coll.find(t, cfg.Topics.Hashed, in.ContentID, 1)[0].Value, events.TypeMediaHashed, &out); err != nil {
				t.Fatal(err)
			}
			u := out.Unhashable
			if u == nil || u.Reason != c.reason || !strings.Contains(u.Detail, c.detail) {
				t.Fatalf("unhashable %+v, want %s mentioning %q", u, c.reason, c.detail)
			}
			t.Logf("%s: %s", c.name, u)
			if c.fetched == nil && len(out.Signals) != 0 || c.fetched != nil && (len(out.Signals) != 2 || out.Media.Bytes != int64(len(c.fetched))) {
				t.Errorf("signals %+v, media %+v", out.Signals, out.Media)
			}
			if out.CorrelationID != in.CorrelationID || out.MediaURL != in.MediaURL || out.ContentType != c.contentType {
				t.Errorf("media.hashed %+v does not follow %+v", out, in)
			}
		})
	}
	if st := svc.Stats(); st.Unhashable != int64(len(cases)) {
		t.Errorf("stats %+v, want %d unhashable", st, len(cases))
	}
	coll.mu.Lock()
	defer coll.mu.Unlock()
	for _, m := range coll.msgs {
		if m.Topic == cfg.DLQTopic {
			t.Errorf("dead-lettered: %s", m.Header(messaging.HeaderDLQError))
		}
	}
}

// TestPublishUnhashable publishes an upload and a stream segment that
// "crashed the hasher" as unhashable without fetching them, and refuses a
// malformed message as permanent (for the dead-letter topic).
func TestPublishUnhashable(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	cfg := testConfig(t, brokers, nil)
	svc, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.pub.Close() })
	ctx := context.Background()
	// The worker would create the topic; this test calls the service alone.
	if err := messaging.EnsureTopics(ctx, cfg.Kafka, messaging.TopicSpec{Name: cfg.Topics.Hashed, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if err := messaging.WaitForTopic(ctx, cfg.Kafka, cfg.Topics.Hashed, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	coll := startCollector(t, brokers, cfg.Topics.Hashed)

	in := events.MediaIngested{Meta: events.NewMeta(events.TypeMediaIngested, testenv.Name("content"), ""),
		MediaURL: "https://cdn.example.test/a.mp4", ContentType: events.ContentVideo, UploaderID: "u1",
		UploadedAt: time.Now().UTC(), IngestedAt: time.Now().UTC()}
	seg := events.StreamSegment{Meta: events.NewMeta(events.TypeStreamSegment, testenv.Name("stream"), ""),
		Sequence: 3, MediaURL: "https://cdn.example.test/s3.ts", OffsetMs: 6000, DurationMs: 2000,
		UploaderID: "u2", ReceivedAt: time.Now().UTC()}
	for _, ev := range []struct {
		topic string
		ev    events.Event
	}{{cfg.Topics.Ingested, &in}, {cfg.Topics.StreamSegments, &seg}} {
		msg, err := messaging.EventMessage(ev.topic, ev.ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.PublishUnhashable(ctx, &msg, events.UnhashableDecoderCrashed, "crashed the hasher 3 times"); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{in.ContentID, seg.ContentID} {
		var out events.MediaHashed
		if err := events.Decode(coll.find(t, cfg.Topics.Hashed, id, 1)[0].Value, events.TypeMediaHashed, &out); err != nil {
			t.Fatal(err)
		}
		if u := out.Unhashable; u == nil || u.Reason != events.UnhashableDecoderCrashed || u.Detail != "crashed the hasher 3 times" {
			t.Errorf("%s: unhashable %+v", id, u)
		}
		if id == seg.ContentID && (out.Stream == nil || out.Stream.Sequence != 3 || out.ContentType != events.ContentVideo) {
			t.Errorf("segment: %+v", out)
		}
	}
	bad := messaging.Message{Topic: cfg.Topics.Ingested, Key: []byte("x"), Value: []byte(`{"event_type":"media.ingested"}`)}
	if err := svc.PublishUnhashable(ctx, &bad, events.UnhashableDecoderCrashed, ""); !messaging.IsPermanent(err) {
		t.Errorf("malformed message: %v, want a permanent error", err)
	}
}
