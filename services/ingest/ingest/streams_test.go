package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// TestSegmentValidation needs neither Kafka nor Redis: every request here is
// refused before anything is published.
func TestSegmentValidation(t *testing.T) {
	svc, err := New(baseConfig(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	tests := []struct {
		name, stream, body string
		code               int
		want               []string
	}{
		{"missing fields", "s1", `{}`, 400, []string{"sequence is required", "offset_ms is required", "duration_ms 0",
			"media_url is required", "uploader_id is required"}},
		{"negative numbers", "s1", `{"sequence":-1,"offset_ms":-5,"duration_ms":2000,"media_url":"https://93.184.215.14/s.ts","uploader_id":"u"}`,
			400, []string{"sequence -1", "offset_ms -5"}},
		{"segment too long", "s1", `{"sequence":0,"offset_ms":0,"duration_ms":700000,"media_url":"https://93.184.215.14/s.ts","uploader_id":"u"}`,
			400, []string{"duration_ms 700000", "1..600000"}},
		{"private address", "s1", `{"sequence":0,"offset_ms":0,"duration_ms":2000,"media_url":"http://10.0.0.1/s.ts","uploader_id":"u"}`,
			400, []string{"media_url refused", "10.0.0.1"}},
		{"bad stream id", "%20s1", `{"sequence":0,"offset_ms":0,"duration_ms":2000,"media_url":"https://93.184.215.14/s.ts","uploader_id":"u"}`,
			400, []string{"stream id has leading or trailing white space"}},
		{"unknown field", "s1", `{"seq":0}`, 400, []string{`unknown field "seq"`, "sequence, media_url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := signedPost(srv.URL+"/v1/streams/"+tt.stream+"/segments", tt.body)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e ErrorResponse
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatalf("error body is not JSON: %v", err)
			}
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, e.Error, tt.code)
			}
			for _, s := range tt.want {
				if !strings.Contains(e.Error, s) {
					t.Errorf("error %q does not mention %q", e.Error, s)
				}
			}
		})
	}
}

// TestSegmentsArePublished posts two segments of a stream through the API
// on the real broker and reads them back from the stream segments topic,
// in order, keyed by the stream.
func TestSegmentsArePublished(t *testing.T) {
	cfg := baseConfig(t)
	testenv.Isolate(t, &cfg.Common, "ingest")
	cfg.Partitions = 1
	cfg.Group = testenv.Name("takedown-ingest")
	svc, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, "ingest", svc.Run, svc.Ready)
	ctx, cancel := context.WithCancel(context.Background())
	coll := startCollector(t, ctx, cfg.Kafka.Brokers, cfg.Topics.StreamSegments)
	t.Cleanup(cancel) // before the collector's cleanup, which waits for it to stop

	stream := testenv.Name("live")
	before := time.Now().UTC()
	for seq := range 2 {
		body := fmt.Sprintf(`{"stream_id":%q,"sequence":%d,"offset_ms":%d,"duration_ms":2000,"media_url":"https://93.184.215.14/live/%d.ts",`+
			`"uploader_id":"streamer-1","correlation_id":"live-1"}`, stream, seq, seq*2000, seq)
		resp, err := signedPost("http://"+svc.Addr()+"/v1/streams/"+stream+"/segments", body)
		if err != nil {
			t.Fatal(err)
		}
		var out SegmentResponse
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted || out.StreamID != stream || out.ClientID != "acme" || out.Sequence != int64(seq) || out.EventID == "" {
			t.Fatalf("segment %d: %d %+v", seq, resp.StatusCode, out)
		}
	}
	msgs := coll.wait(t, "two segments", func(msgs []*messaging.Message) bool { return len(msgs) >= 2 })
	for seq, m := range msgs[:2] {
		var ev events.StreamSegment
		if err := events.Decode(m.Value, events.TypeStreamSegment, &ev); err != nil {
			t.Fatal(err)
		}
		if string(m.Key) != "acme:"+stream || ev.ContentID != "acme:"+stream || ev.ClientID != "acme" || ev.Sequence != int64(seq) || ev.OffsetMs != int64(seq)*2000 ||
			ev.DurationMs != 2000 || ev.CorrelationID != "live-1" || ev.UploaderID != "streamer-1" || ev.ReceivedAt.Before(before) {
			t.Errorf("segment %d: key %s, %+v", seq, m.Key, ev)
		}
	}
	if st := svc.Stats(); st.Segments != 2 {
		t.Errorf("stats %+v", st)
	}

	// A post killed between its claim and its publish leaves a pending
	// claim and nothing on the topic: the retry publishes the first's event.
	url := "https://93.184.215.14/live/2.ts"
	dead := mediaClaim{Fingerprint: mediaFingerprint(url), EventID: events.NewMeta(events.TypeStreamSegment, stream, "").EventID}
	if err := svc.rdb.Set(ctx, svc.segmentKey("acme", stream, 2), dead.encode(), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"stream_id":%q,"sequence":2,"offset_ms":4000,"duration_ms":2000,"media_url":%q,"uploader_id":"streamer-1"}`, stream, url)
	resp, err := signedPost("http://"+svc.Addr()+"/v1/streams/"+stream+"/segments", body)
	if err != nil {
		t.Fatal(err)
	}
	var out SegmentResponse
	_ = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !out.Duplicate || out.EventID != dead.EventID {
		t.Errorf("retry of a segment whose first post died: %d %+v, want 200, a duplicate with the first's event id", resp.StatusCode, out)
	}
	msgs = coll.wait(t, "the retried segment", func(msgs []*messaging.Message) bool { return len(msgs) >= 3 })
	var ev events.StreamSegment
	if err := events.Decode(msgs[2].Value, events.TypeStreamSegment, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.EventID != dead.EventID || ev.Sequence != 2 {
		t.Errorf("retried segment published as %+v, want the first post's event id %s", ev, dead.EventID)
	}
}
