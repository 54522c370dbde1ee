package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// collector gathers everything published to some topics, read through its
// own consumer group.
type collector struct {
	mu   sync.Mutex
	msgs []*messaging.Message
}

func startCollector(t *testing.T, ctx context.Context, brokers []string, topics ...string) *collector {
	t.Helper()
	c := &collector{}
	cons := messaging.NewConsumer(messaging.ConsumerConfig{Kafka: config.Kafka{Brokers: brokers}, Group: testenv.Name("ingest-test-collector"), Topics: topics,
		SessionTimeout: 6 * time.Second,
		Logger:         slog.New(slog.DiscardHandler),
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = cons.Run(ctx, func(_ context.Context, m *messaging.Message) error {
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
			return nil
		})
	}()
	t.Cleanup(func() { <-done })
	return c
}

// wait polls until f, run over the messages so far, returns true.
func (c *collector) wait(t *testing.T, what string, f func(msgs []*messaging.Message) bool) []*messaging.Message {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		c.mu.Lock()
		msgs := append([]*messaging.Message(nil), c.msgs...)
		c.mu.Unlock()
		if f(msgs) {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s; have %d messages", what, len(msgs))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ingestedFor returns the media.ingested events about contentID.
func ingestedFor(t *testing.T, msgs []*messaging.Message, topic, contentID string) []events.MediaIngested {
	t.Helper()
	var out []events.MediaIngested
	for _, m := range msgs {
		if m.Topic != topic {
			continue
		}
		var ev events.MediaIngested
		if err := events.Decode(m.Value, events.TypeMediaIngested, &ev); err != nil {
			t.Fatalf("bad media.ingested: %v", err)
		}
		if ev.ContentID == contentID {
			out = append(out, ev)
		}
	}
	return out
}

func hasIngested(topic, contentID string) func([]*messaging.Message) bool {
	return func(msgs []*messaging.Message) bool {
		for _, m := range msgs {
			if m.Topic == topic && bytes.Contains(m.Value, []byte(`"content_id":"`+contentID+`"`)) {
				return true
			}
		}
		return false
	}
}

type harness struct {
	svc  *Service
	cfg  Config
	url  string
	coll *collector
}

func startService(t *testing.T) *harness {
	t.Helper()
	cfg := baseConfig(t)
	testenv.Isolate(t, &cfg.Common, "ingest")
	// One partition keeps the test's records in order, so a later record
	// coming out proves that earlier ones were handled.
	cfg.Partitions = 1
	cfg.Group = testenv.Name("takedown-ingest")
	svc, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, "ingest", svc.Run, svc.Ready)
	cctx, ccancel := context.WithCancel(context.Background())
	coll := startCollector(t, cctx, cfg.Kafka.Brokers, cfg.Topics.Ingested, cfg.DLQTopic)
	t.Cleanup(ccancel)
	return &harness{svc: svc, cfg: svc.cfg, url: "http://" + svc.Addr(), coll: coll}
}

func (h *harness) upload(t *testing.T, body string) UploadResponse {
	t.Helper()
	return h.uploadWant(t, body, http.StatusAccepted)
}

// uploadWant posts an upload and wants status code.
func (h *harness) uploadWant(t *testing.T, body string, code int) UploadResponse {
	t.Helper()
	resp, err := signedPost(h.url+"/v1/uploads", body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != code {
		t.Fatalf("upload: status %d, want %d: %s", resp.StatusCode, code, data)
	}
	var out UploadResponse
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func uploadBody(contentID string) string {
	return fmt.Sprintf(`{"content_id":%q,"media_url":"https://93.184.215.14/%s.jpg","content_type":"image","uploader_id":"u-1","uploaded_at":"2025-03-01T10:00:00Z","correlation_id":"corr-%s"}`,
		contentID, contentID, contentID)
}

func TestIngest(t *testing.T) {
	h := startService(t)
	ingested := h.cfg.Topics.Ingested

	t.Run("health", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/readyz"} {
			resp, err := http.Get(h.url + p)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s: %d", p, resp.StatusCode)
			}
		}
	})

	t.Run("valid upload is ingested", func(t *testing.T) {
		id := testenv.Name("content")
		resp := h.upload(t, uploadBody(id))
		if resp.ContentID != id || resp.ClientID != "acme" || resp.CorrelationID != "corr-"+id || len(resp.EventID) != 32 {
			t.Errorf("response %+v", resp)
		}
		msgs := h.coll.wait(t, "media.ingested", hasIngested(ingested, "acme:"+id))
		evs := ingestedFor(t, msgs, ingested, "acme:"+id)
		ev := evs[0]
		if ev.CorrelationID != "corr-"+id || ev.ClientID != "acme" || ev.PlatformContentID() != id || ev.MediaURL != "https://93.184.215.14/"+id+".jpg" ||
			ev.ContentType != "image" || ev.UploaderID != "u-1" ||
			!ev.UploadedAt.Equal(time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)) || ev.IngestedAt.IsZero() ||
			ev.EventID == resp.EventID {
			t.Errorf("media.ingested %+v", ev)
		}
	})

	t.Run("duplicate upload is answered as one and not queued again", func(t *testing.T) {
		id := testenv.Name("dup")
		first := h.upload(t, uploadBody(id))
		if first.Duplicate || first.Status != "accepted" {
			t.Errorf("first upload answered %+v", first)
		}
		before := h.svc.Stats().Accepted
		// The repeat names another correlation id: the answer is the
		// first upload's.
		second := h.uploadWant(t, strings.Replace(uploadBody(id), `"corr-`, `"other-corr-`, 1), http.StatusOK)
		if !second.Duplicate || second.Status != "already_accepted" || second.EventID != first.EventID ||
			second.CorrelationID != first.CorrelationID || second.ContentID != id || second.ClientID != "acme" {
			t.Errorf("repeat answered %+v, want a duplicate carrying the first's ids %+v", second, first)
		}
		if got := h.svc.Stats().Accepted; got != before {
			t.Errorf("the repeat was queued: accepted %d -> %d", before, got)
		}
		// The sentinel is uploaded after both; on one partition, seeing it
		// means both duplicates were handled.
		sentinel := testenv.Name("sentinel")
		h.upload(t, uploadBody(sentinel))
		msgs := h.coll.wait(t, "sentinel", hasIngested(ingested, "acme:"+sentinel))
		if n := len(ingestedFor(t, msgs, ingested, "acme:"+id)); n != 1 {
			t.Errorf("%d media.ingested for one content id uploaded twice, want 1", n)
		}
		if h.svc.Stats().Duplicates < 1 {
			t.Errorf("stats %+v", h.svc.Stats())
		}
	})

	t.Run("a repeat after a request that died before publishing queues the first's event", func(t *testing.T) {
		// What a request killed between its claim and its publish leaves
		// behind: a pending claim, and nothing on media.uploaded.
		id := testenv.Name("crashed")
		dead := mediaClaim{Fingerprint: mediaFingerprint("https://93.184.215.14/" + id + ".jpg"),
			EventID: events.NewMeta(events.TypeMediaUploaded, id, "").EventID, CorrelationID: "corr-" + id}
		key := h.svc.uploadKey("acme", id)
		if err := h.svc.rdb.Set(context.Background(), key, dead.encode(), time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		retry := h.uploadWant(t, uploadBody(id), http.StatusOK)
		if !retry.Duplicate || retry.EventID != dead.EventID || retry.CorrelationID != dead.CorrelationID {
			t.Errorf("retry answered %+v, want the first request's ids %+v", retry, dead)
		}
		msgs := h.coll.wait(t, "media.ingested of the retried upload", hasIngested(ingested, "acme:"+id))
		if ev := ingestedFor(t, msgs, ingested, "acme:"+id)[0]; ev.CorrelationID != dead.CorrelationID {
			t.Errorf("media.ingested %+v, want the first request's correlation id", ev)
		}
		if got := decodeClaim(h.svc.rdb.Get(context.Background(), key).Val()); !got.Queued || got.EventID != dead.EventID {
			t.Errorf("claim after the retry %+v, want the first's, queued", got)
		}
		if ttl := h.svc.rdb.TTL(context.Background(), key).Val(); ttl <= 0 || ttl > time.Hour {
			t.Errorf("claim's expiry %v after the retry, want the first's kept", ttl)
		}
	})

	t.Run("bad records are dead-lettered", func(t *testing.T) {
		pub := messaging.NewKafkaPublisher(h.cfg.Kafka)
		defer pub.Close()
		ctx := context.Background()
		// A platform producing directly: not JSON, then a valid event whose
		// URL points into the private network.
		if err := pub.Publish(ctx, messaging.Message{Topic: h.cfg.Topics.Uploaded, Key: []byte("junk"), Value: []byte("{not json")}); err != nil {
			t.Fatal(err)
		}
		private := events.MediaUploaded{
			Meta:     events.NewMeta(events.TypeMediaUploaded, testenv.Name("private"), ""),
			MediaURL: "http://10.20.30.40/a.jpg", ContentType: "image", UploaderID: "u", UploadedAt: time.Now(),
		}
		if err := messaging.PublishEvent(ctx, pub, h.cfg.Topics.Uploaded, &private); err != nil {
			t.Fatal(err)
		}
		after := testenv.Name("after-junk")
		h.upload(t, uploadBody(after))

		h.coll.wait(t, "the upload after the bad records", hasIngested(ingested, "acme:"+after))
		msgs := h.coll.wait(t, "two dead letters", func(msgs []*messaging.Message) bool {
			n := 0
			for _, m := range msgs {
				if m.Topic == h.cfg.DLQTopic {
					n++
				}
			}
			return n >= 2
		})
		var dlq []*messaging.Message
		for _, m := range msgs {
			if m.Topic == h.cfg.DLQTopic {
				dlq = append(dlq, m)
			}
		}
		if len(dlq) != 2 {
			t.Fatalf("%d dead letters, want 2", len(dlq))
		}
		if string(dlq[0].Value) != "{not json" || !strings.Contains(dlq[0].Header(messaging.HeaderDLQError), "invalid event") {
			t.Errorf("first dead letter %q, dlq-error %q", dlq[0].Value, dlq[0].Header(messaging.HeaderDLQError))
		}
		if e := dlq[1].Header(messaging.HeaderDLQError); !strings.Contains(e, "10.20.30.40") || !strings.Contains(e, "private") {
			t.Errorf("second dead letter's dlq-error %q does not name the refused address", e)
		}
		for _, m := range dlq {
			if m.Header(messaging.HeaderDLQTopic) != h.cfg.Topics.Uploaded {
				t.Errorf("dead letter from %q", m.Header(messaging.HeaderDLQTopic))
			}
		}
	})

	t.Run("redelivery publishes again, a new upload of the content does not", func(t *testing.T) {
		id := testenv.Name("redelivered")
		up := events.MediaUploaded{
			Meta:     events.NewMeta(events.TypeMediaUploaded, id, ""),
			MediaURL: "https://93.184.215.14/r.jpg", ContentType: "video", UploaderID: "u", UploadedAt: time.Now(),
		}
		msg, err := messaging.EventMessage(h.cfg.Topics.Uploaded, &up)
		if err != nil {
			t.Fatal(err)
		}
		ctx := messaging.WithLog(context.Background(), slog.New(slog.DiscardHandler))
		// The same record twice, as after a crash between publish and commit.
		for range 2 {
			if err := h.svc.handleUploaded(ctx, &msg); err != nil {
				t.Fatal(err)
			}
		}
		other := up
		other.Meta = events.NewMeta(events.TypeMediaUploaded, id, "")
		omsg, _ := messaging.EventMessage(h.cfg.Topics.Uploaded, &other)
		if err := h.svc.handleUploaded(ctx, &omsg); err != nil {
			t.Fatal(err)
		}
		sentinel := testenv.Name("sentinel")
		h.upload(t, uploadBody(sentinel))
		msgs := h.coll.wait(t, "sentinel", hasIngested(ingested, "acme:"+sentinel))
		// Records produced without a client are the default client's.
		evs := ingestedFor(t, msgs, ingested, "platform:"+id)
		if len(evs) != 2 {
			t.Fatalf("%d media.ingested, want 2 (one per delivery of the first upload)", len(evs))
		}
		for _, ev := range evs {
			if ev.CorrelationID != up.CorrelationID {
				t.Errorf("correlation %q, want the first upload's %q", ev.CorrelationID, up.CorrelationID)
			}
		}
		key := h.svc.seenKey("platform", id, up.MediaURL)
		if got, _ := h.svc.rdb.Get(ctx, key).Result(); got != up.EventID {
			t.Errorf("%s = %q, want %q", key, got, up.EventID)
		}
		if ttl, _ := h.svc.rdb.TTL(ctx, key).Result(); ttl <= 0 || ttl > h.cfg.DedupTTL {
			t.Errorf("TTL of %s = %s, want up to %s", key, ttl, h.cfg.DedupTTL)
		}
	})
}
