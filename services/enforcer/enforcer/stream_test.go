package enforcer

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/edges/webhook"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// segmentMatch is a stream segment's match of a bank video: matchedMs of
// its frames, at distance.
func segmentMatch(entry string, seq, matchedMs int64, distance int) events.Match {
	start := seq * 2000
	return events.Match{Bank: "attack", EntryID: entry, Labels: []string{"category:terror"}, SignalType: events.SignalPDQ,
		Signal: "8f0f0f0f0f0f0f0f8f0f0f0f0f0f0f0f8f0f0f0f0f0f0f0f8f0f0f0f0f0f0f0f", Distance: distance, Threshold: 31,
		Variant: events.VariantVideo, Video: &events.VideoMatch{Rule: events.VideoRuleFrames, QueryPercent: 100, MatchedMs: matchedMs,
			Ranges: []events.VideoRange{{QueryStartMs: start, QueryEndMs: start + matchedMs, RefStartMs: 40000, RefEndMs: 40000 + matchedMs, Frames: 2}}}}
}

func segment(stream string, seq int64, matches ...events.Match) *events.MediaMatched {
	return &events.MediaMatched{
		Meta:     events.NewMeta(events.TypeMediaMatched, stream, ""),
		MediaURL: "https://cdn.example.test/" + stream + "/seg.ts", ContentType: events.ContentVideo,
		UploaderID: "streamer", UploadedAt: uploadedAt, Matches: matches,
		Stream: &events.StreamSegmentRef{Sequence: seq, OffsetMs: seq * 2000, DurationMs: 2000, ReceivedAt: time.Now().UTC()},
	}
}

// TestStreamStoppedOnMatchedFootage sends a stream's segment verdicts: the
// matched time adds up per bank video (a redelivered segment counts once,
// another video's does not add to it), the stream is stopped once it
// reaches stream-match, once, and a restarted enforcer carries on from
// Redis.
func TestStreamStoppedOnMatchedFootage(t *testing.T) {
	t.Parallel()
	h := start(t, 0, func(c *Config) { c.StreamMatch = 6 * time.Second })
	stream := testenv.Name("stream")
	send := func(seq int64, ms ...events.Match) { h.publish(h.cfg.Topics.Matched, segment(stream, seq, ms...)) }

	send(0)                                    // nothing matched
	send(1, segmentMatch("clip", 1, 2000, 4))  // 2 s
	send(1, segmentMatch("clip", 1, 2000, 4))  // redelivered: still 2 s
	send(2, segmentMatch("other", 2, 2000, 4)) // another video: 2 s of its own
	send(3, segmentMatch("clip", 3, 2000, 6))  // 4 s
	testenv.WaitFor(t, waitFor, "segment 3's footage in Redis", func() bool {
		n, _ := h.rdb.HLen(t.Context(), StreamKey(h.cfg.Redis.Prefix, stream)).Result()
		return n == 4 // clip#1, other#2, clip#3 and the first match's time
	})
	if n := len(h.platform.requests()); n != 0 {
		t.Fatalf("stopped before 6 s of footage: %d requests", n)
	}
	send(4, segmentMatch("clip", 4, 2000, 5), segmentMatch("other", 4, 1000, 9)) // 6 s: stop
	send(5, segmentMatch("clip", 5, 2000, 5))                                    // stopped already

	acts := h.actions(1)
	act := acts[0]
	if act.Action != events.ActionStopStream || act.Trigger != events.TriggerAuto || act.ContentID != stream ||
		act.Evidence[0].EntryID != "clip" || act.Evidence[0].Video.MatchedMs != 6000 || len(act.Evidence) != 2 {
		t.Fatalf("action %+v", act)
	}
	testenv.WaitFor(t, waitFor, "segment 5's footage in Redis", func() bool {
		n, _ := h.rdb.HLen(t.Context(), StreamKey(h.cfg.Redis.Prefix, stream)).Result()
		return n == 7
	})
	if st := h.stats(); st.StreamsStopped != 1 {
		t.Errorf("stats %+v", st)
	}
	tds := h.platform.takedowns(t)
	if len(tds) != 1 || tds[0].Action != events.ActionStopStream || tds[0].ContentID != stream ||
		tds[0].IdempotencyKey != webhook.IdempotencyKey(stream, events.ActionStopStream) || tds[0].Bank != "attack" {
		t.Fatalf("platform got %+v", tds)
	}
	body, _ := json.Marshal(tds[0].Evidence[0])
	t.Logf("evidence sent to the platform: %s", body)
}

// TestStreamRestartResumes stops an enforcer halfway through a stream: the
// next one reads the matched footage from Redis and stops the stream on
// time.
func TestStreamRestartResumes(t *testing.T) {
	t.Parallel()
	p := &platform{rc: &webhook.Receiver{Secret: []byte(testSecret)}}
	h := newHarness(t, p, func(c *Config) { c.StreamMatch = 5 * time.Second })
	stop := h.run(nil)
	stream := testenv.Name("stream")
	h.publish(h.cfg.Topics.Matched, segment(stream, 0, segmentMatch("clip", 0, 2000, 3)))
	h.publish(h.cfg.Topics.Matched, segment(stream, 1, segmentMatch("clip", 1, 2000, 3)))
	testenv.WaitFor(t, waitFor, "the first segments' footage in Redis", func() bool {
		n, _ := h.rdb.HLen(t.Context(), StreamKey(h.cfg.Redis.Prefix, stream)).Result()
		return n == 3 // two segments and the first match's time
	})
	stop()
	h.run(nil)
	h.publish(h.cfg.Topics.Matched, segment(stream, 2, segmentMatch("clip", 2, 1000, 3)))
	acts := h.actions(1)
	if acts[0].Action != events.ActionStopStream || acts[0].Evidence[0].Video.MatchedMs != 5000 {
		t.Fatalf("action %+v", acts[0])
	}
	if n := len(p.requests()); n != 1 {
		t.Fatalf("%d webhook requests, want 1", n)
	}
}

// TestUncertainStreamGoesToReview checks that a stream whose matched
// frames are far from the bank video's is queued for review rather than
// stopped, and that a violating decision stops it.
func TestUncertainStreamGoesToReview(t *testing.T) {
	t.Parallel()
	h := start(t, 0, func(c *Config) { c.StreamMatch = 4 * time.Second })
	stream := testenv.Name("stream")
	h.publish(h.cfg.Topics.Matched, segment(stream, 0, segmentMatch("clip", 0, 2000, 25)))
	h.publish(h.cfg.Topics.Matched, segment(stream, 1, segmentMatch("clip", 1, 2000, 25)))
	acts := h.actions(1)
	if acts[0].Action != events.ActionQueueForReview {
		t.Fatalf("action %+v", acts[0])
	}
	var req events.ReviewRequested
	if err := events.Decode(h.read(h.cfg.Topics.ReviewRequested, 1)[0].Value, events.TypeReviewRequested, &req); err != nil {
		t.Fatal(err)
	}
	if req.ContentID != stream || len(req.Matches) != 1 || req.Matches[0].Video == nil {
		t.Fatalf("review request %+v", req)
	}
	if n := len(h.platform.requests()); n != 0 {
		t.Fatalf("an uncertain stream was stopped before review (%d requests)", n)
	}
	dec := decided(events.DecisionViolating, req.Matches...)
	dec.ContentID, dec.CorrelationID = stream, req.CorrelationID
	h.publish(h.cfg.Topics.ReviewDecided, dec)
	acts = h.actions(2)
	if acts[1].Action != events.ActionStopStream || acts[1].Trigger != events.TriggerReview {
		t.Fatalf("action after review %+v", acts[1])
	}
}

func TestStreamSettingsAreChecked(t *testing.T) {
	cfg := testConfig(t)
	cfg.Kafka.Brokers, cfg.Redis.Addr, cfg.WebhookURL = []string{"127.0.0.1:1"}, "127.0.0.1:1", "http://127.0.0.1:1/hook"
	if cfg.StreamMatch != 6*time.Second || cfg.StreamStateTTL != 24*time.Hour {
		t.Errorf("defaults %v, %v", cfg.StreamMatch, cfg.StreamStateTTL)
	}
	cfg.StreamMatch = 0
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "stream-match 0s") {
		t.Fatalf("New: %v", err)
	}
}
