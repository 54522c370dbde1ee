package enforcer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/takedown-pipeline/takedown/pkg/edges/webhook"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

const (
	testSecret = "test-webhook-secret"
	waitFor    = 60 * time.Second
)

// platform is the test's stand-in for the platform: it records every request
// that reaches it, then either answers a fixed status or hands the request to
// a webhook.Receiver (which verifies and dedupes).
type platform struct {
	rc        *webhook.Receiver
	status    int // non-zero: answer this, always
	failFirst int // answer 503 to this many requests first

	mu   sync.Mutex
	reqs []platformRequest
}

type platformRequest struct {
	signature, key string
	body           []byte
}

func (p *platform) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	p.reqs = append(p.reqs, platformRequest{
		signature: r.Header.Get(webhook.HeaderSignature),
		key:       r.Header.Get(webhook.HeaderIdempotencyKey),
		body:      body,
	})
	n := len(p.reqs)
	p.mu.Unlock()
	if p.status != 0 {
		http.Error(w, "platform is broken", p.status)
		return
	}
	if n <= p.failFirst {
		http.Error(w, "platform is busy", http.StatusServiceUnavailable)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	p.rc.ServeHTTP(w, r)
}

func (p *platform) requests() []platformRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]platformRequest(nil), p.reqs...)
}

// calls counts the requests that reached the platform (retries included) by
// content id and action, from their signed bodies.
func (p *platform) calls(t *testing.T) map[[2]string]int {
	t.Helper()
	out := map[[2]string]int{}
	for _, r := range p.requests() {
		var td webhook.Takedown
		if err := json.Unmarshal(r.body, &td); err != nil {
			t.Fatalf("platform got a bad body: %v", err)
		}
		out[[2]string{td.ContentID, td.Action}]++
	}
	return out
}

// takedowns decodes the requests that reached the platform, in order.
func (p *platform) takedowns(t *testing.T) []webhook.Takedown {
	t.Helper()
	var out []webhook.Takedown
	for _, r := range p.requests() {
		var td webhook.Takedown
		if err := json.Unmarshal(r.body, &td); err != nil {
			t.Fatalf("platform got a bad body: %v", err)
		}
		out = append(out, td)
	}
	return out
}

type harness struct {
	t        *testing.T
	cfg      Config
	svc      *Service
	platform *platform
	pub      *messaging.KafkaPublisher
	rdb      *redis.Client
}

// testConfig is the default configuration with every name made unique.
func testConfig(t *testing.T) Config {
	t.Helper()
	var cfg Config
	set := config.New("enforcer-test").WithEnv(func(string) (string, bool) { return "", false })
	cfg.Bind(set)
	if err := set.Parse(nil); err != nil {
		t.Fatal(err)
	}
	testenv.Isolate(t, &cfg.Common, "enforcer")
	cfg.Partitions = 1 // one partition: the order published is the order handled
	cfg.Group = testenv.Name("takedown-enforcer")
	cfg.WebhookSecret = testSecret
	cfg.WebhookBackoffMin = 10 * time.Millisecond
	cfg.WebhookBackoffMax = 50 * time.Millisecond
	return cfg
}

// start runs an enforcer against the real broker and Redis and a platform
// answering status (0: a webhook.Receiver).
func start(t *testing.T, status int, tweak func(*Config)) *harness {
	t.Helper()
	p := &platform{rc: &webhook.Receiver{Secret: []byte(testSecret)}, status: status}
	h := newHarness(t, p, tweak)
	h.run(nil)
	return h
}

// newHarness sets up the platform, configuration and clients without
// starting an enforcer.
func newHarness(t *testing.T, p *platform, tweak func(*Config)) *harness {
	t.Helper()
	brokers := testenv.KafkaBrokers(t)
	redisAddr := testenv.RedisAddr(t)
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)

	cfg := testConfig(t)
	cfg.WebhookURL = srv.URL + "/takedown"
	if tweak != nil {
		tweak(&cfg)
	}
	pub := messaging.NewKafkaPublisher(config.Kafka{Brokers: brokers})
	t.Cleanup(func() { _ = pub.Close() })
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	t.Cleanup(func() { _ = rdb.Close() })
	return &harness{t: t, cfg: cfg, platform: p, pub: pub, rdb: rdb}
}

// run starts an enforcer with the harness's configuration (the same group
// and Redis prefix each time, as a restarted replica) and returns its stop.
// wrap, if set, replaces the service's publisher.
func (h *harness) run(wrap func(messaging.Publisher) messaging.Publisher) (stop func()) {
	h.t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	svc, err := New(h.cfg, log)
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	if wrap != nil {
		svc.pub = wrap(svc.pub)
	}
	h.svc = svc
	return testenv.Run(h.t, "enforcer", svc.Run, svc.Ready)
}

func (h *harness) publish(topic string, ev events.Event) messaging.Message {
	h.t.Helper()
	msg, err := messaging.EventMessage(topic, ev)
	if err != nil {
		h.t.Fatal(err)
	}
	h.publishRaw(msg)
	return msg
}

func (h *harness) publishRaw(msg messaging.Message) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for {
		err := h.pub.Publish(ctx, msg)
		if err == nil {
			return
		}
		// A topic just created (the service makes its topics as it starts)
		// can take a moment to appear in the broker's metadata.
		if unknown := errors.Is(err, messaging.ErrTopicNotFound); !unknown || ctx.Err() != nil {
			h.t.Fatalf("publish to %s: %v", msg.Topic, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// read returns the first n records of topic, waiting for them.
func (h *harness) read(topic string, n int) []*messaging.Message {
	h.t.Helper()
	return testenv.ReadTopic(h.t, h.cfg.Kafka, topic, n)
}

func (h *harness) actions(n int) []events.EnforcementAction {
	h.t.Helper()
	var out []events.EnforcementAction
	for _, m := range h.read(h.cfg.Topics.Actions, n) {
		var act events.EnforcementAction
		if err := events.Decode(m.Value, events.TypeEnforcementAction, &act); err != nil {
			h.t.Fatalf("action record: %v\n%s", err, m.Value)
		}
		out = append(out, act)
	}
	return out
}

// stats fetches GET /v1/stats over HTTP.
func (h *harness) stats() Stats {
	h.t.Helper()
	resp, err := http.Get("http://" + h.svc.Addr() + "/v1/stats")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Stats
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("/v1/stats: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		h.t.Fatal(err)
	}
	return st
}

func (h *harness) waitStats(what string, ok func(Stats) bool) Stats {
	h.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		st := h.stats()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("waiting for %s: stats %+v", what, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (h *harness) doneKey(key string) (string, bool) {
	h.t.Helper()
	v, err := h.rdb.Get(context.Background(), DoneKey(h.cfg.Redis.Prefix, key)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return v, true
}

var uploadedAt = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func match(signal string, distance int, entry string) events.Match {
	return events.Match{Bank: "demo", EntryID: entry, Labels: []string{"terror"}, SignalType: signal,
		Signal: "8f0f0f0f0f0f0f0f", Distance: distance, Threshold: 10}
}

func matched(matches ...events.Match) *events.MediaMatched {
	id := testenv.Name("content")
	return &events.MediaMatched{
		Meta:     events.NewMeta(events.TypeMediaMatched, id, ""),
		MediaURL: "https://cdn.example.test/" + id + ".jpg", ContentType: events.ContentImage,
		UploaderID: "u1", UploadedAt: uploadedAt, Matches: matches,
	}
}

func decided(decision string, matches ...events.Match) *events.ReviewDecided {
	id := testenv.Name("content")
	return &events.ReviewDecided{
		Meta:     events.NewMeta(events.TypeReviewDecided, id, ""),
		Decision: decision, Reviewer: "alice", Reason: "flag in frame",
		MediaURL: "https://cdn.example.test/" + id + ".jpg", ContentType: events.ContentImage,
		UploadedAt: uploadedAt, Matches: matches, DecidedAt: time.Now().UTC(),
	}
}

func TestAutoTakedown(t *testing.T) {
	t.Parallel()
	h := start(t, 0, nil)
	ev := matched(match(events.SignalDHash, 8, "far"), match(events.SignalPHash, 2, "e1"))
	h.publish(h.cfg.Topics.Matched, ev)

	acts := h.actions(1)
	act := acts[0]
	key := webhook.IdempotencyKey(ev.ContentID, events.ActionRemove)
	if act.Action != events.ActionRemove || act.Trigger != events.TriggerAuto || act.Outcome != events.OutcomeSucceeded {
		t.Fatalf("action %s/%s/%s, want remove/auto/succeeded", act.Action, act.Trigger, act.Outcome)
	}
	if act.ContentID != ev.ContentID || act.CorrelationID != ev.CorrelationID {
		t.Errorf("action content/correlation %s/%s, want %s/%s", act.ContentID, act.CorrelationID, ev.ContentID, ev.CorrelationID)
	}
	if act.IdempotencyKey != key || act.EventID != ActionEventID(key, events.OutcomeSucceeded) {
		t.Errorf("action key %s id %s, want %s and the derived id", act.IdempotencyKey, act.EventID, key)
	}
	if act.Bank != "demo" || len(act.Labels) != 1 || act.Labels[0] != "terror" || len(act.Evidence) != 2 ||
		act.Attempts != 1 || !act.UploadedAt.Equal(uploadedAt) || act.ActedAt.IsZero() {
		t.Errorf("action record incomplete: %+v", act)
	}
	if !strings.Contains(act.Reason, "phash distance 2 <= 4") {
		t.Errorf("reason %q does not explain the decision", act.Reason)
	}

	reqs := h.platform.requests()
	if len(reqs) != 1 {
		t.Fatalf("platform saw %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if err := webhook.Verify([]byte(testSecret), r.signature, r.body, time.Now(), time.Minute); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	if rc := h.platform.rc; rc.Accepted() != 1 || rc.Rejected() != 0 {
		t.Fatalf("receiver accepted %d, rejected %d; want 1, 0", rc.Accepted(), rc.Rejected())
	}
	var td webhook.Takedown
	if err := json.Unmarshal(r.body, &td); err != nil {
		t.Fatal(err)
	}
	if r.key != key || td.IdempotencyKey != key || td.ContentID != ev.ContentID || td.Action != events.ActionRemove ||
		td.Trigger != events.TriggerAuto || td.Bank != "demo" || len(td.Evidence) != 2 || td.CorrelationID != ev.CorrelationID {
		t.Errorf("takedown request %+v (header key %s) does not match the event", td, r.key)
	}
	// The audit record is published before the done key is written: wait
	// for the handler to finish before looking at the key.
	if st := h.waitStats("the takedown to be recorded", func(st Stats) bool { return st.TakedownsSent+st.Failures > 0 }); st.TakedownsSent != 1 || st.Failures != 0 {
		t.Errorf("stats %+v, want 1 takedown sent", st)
	}
	if v, ok := h.doneKey(key); !ok || v != act.EventID {
		t.Errorf("done key = %q, %v; want the action's event id", v, ok)
	}
	// The done key expires after the replay window; the content's status
	// is its record and is kept.
	ctx := context.Background()
	if ttl := h.rdb.TTL(ctx, DoneKey(h.cfg.Redis.Prefix, key)).Val(); ttl <= DefaultDoneKeyTTL-time.Minute || ttl > DefaultDoneKeyTTL {
		t.Errorf("done key TTL %v, want about %v", ttl, DefaultDoneKeyTTL)
	}
	if ttl := h.rdb.TTL(ctx, StatusKey(h.cfg.Redis.Prefix, act.ContentID)).Val(); ttl != -1 {
		t.Errorf("status key TTL %v, want none (-1)", ttl)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + h.svc.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", path, resp.Status)
		}
	}
}

// Content submitted by an ingest client carries the client's id, its
// content id scoped to it: two clients' uploads with the same id are two
// pieces of content with their own keys, and each platform gets its own id
// back with its client.
func TestClientScopedContent(t *testing.T) {
	t.Parallel()
	h := start(t, 0, nil)
	id := testenv.Name("shared-id")
	for _, client := range []string{"acme", "rival"} {
		ev := matched(match(events.SignalPHash, 2, "e1"))
		ev.ClientID, ev.ContentID = client, events.ScopedID(client, id)
		h.publish(h.cfg.Topics.Matched, ev)
	}
	acts := h.actions(2)
	reqs := h.platform.requests()
	if len(reqs) != 2 {
		t.Fatalf("platform saw %d requests, want 2 (one per client)", len(reqs))
	}
	seen := map[string]string{}
	for _, r := range reqs {
		var td webhook.Takedown
		if err := json.Unmarshal(r.body, &td); err != nil {
			t.Fatal(err)
		}
		if td.ContentID != id || td.IdempotencyKey != webhook.IdempotencyKey(events.ScopedID(td.ClientID, id), events.ActionRemove) {
			t.Errorf("takedown %+v: want the platform's id %s and the scoped key", td, id)
		}
		seen[td.ClientID] = td.IdempotencyKey
	}
	if len(seen) != 2 || seen["acme"] == seen["rival"] {
		t.Errorf("takedowns by client %v, want acme and rival with their own keys", seen)
	}
	for _, a := range acts {
		if a.ContentID != events.ScopedID(a.ClientID, id) || a.PlatformContentID() != id {
			t.Errorf("audit record %s (client %s)", a.ContentID, a.ClientID)
		}
	}
}

func TestRedeliveryActsOnce(t *testing.T) {
	t.Parallel()
	h := start(t, 0, nil)
	ev := matched(match(events.SignalSHA256, 0, "e1"))
	// The very same record twice, as a redelivery after a crash before
	// commit would bring it.
	msg := h.publish(h.cfg.Topics.Matched, ev)
	h.publishRaw(msg)

	st := h.waitStats("both copies to be handled", func(st Stats) bool { return st.DuplicatesSkipped+st.TakedownsSent >= 2 })
	if st.DuplicatesSkipped != 1 || st.TakedownsSent != 1 {
		t.Fatalf("stats %+v, want 1 takedown sent and 1 duplicate skipped", st)
	}
	if n := len(h.platform.requests()); n != 1 {
		t.Fatalf("platform saw %d requests, want exactly 1", n)
	}
	if d := h.platform.rc.Duplicates(); d != 0 {
		t.Fatalf("receiver had to dedupe %d requests; the enforcer should not have sent them", d)
	}
	// Both copies are handled (the skip is counted after the first was
	// recorded), so the actions topic is complete: one record.
	if n := testenv.EndOffset(t, h.cfg.Kafka.Brokers, h.cfg.Topics.Actions); n != 1 {
		t.Fatalf("%d action records, want 1", n)
	}
}

// A takedown the platform accepted whose recording failed (the state a crash
// or a Kafka error between the webhook and the audit record leaves) is
// recorded on redelivery without calling the platform again.
func TestAcceptedTakedownIsRecordedWithoutResending(t *testing.T) {
	t.Parallel()
	h := start(t, 0, nil)
	ev := matched(match(events.SignalSHA256, 0, "e1"))
	key := webhook.IdempotencyKey(ev.ContentID, events.ActionRemove)
	if err := h.rdb.Set(context.Background(), DoneKey(h.cfg.Redis.Prefix, key), "sent:2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	h.publish(h.cfg.Topics.Matched, ev)
	acts := h.actions(1)
	if a := acts[0]; a.ContentID != ev.ContentID || a.Outcome != events.OutcomeSucceeded || a.Attempts != 2 {
		t.Fatalf("audit record %+v, want the accepted takedown with its 2 attempts", a)
	}
	if n := len(h.platform.requests()); n != 0 {
		t.Fatalf("platform saw %d requests, want none: it had accepted the takedown already", n)
	}
	h.waitStats("the takedown to be recorded", func(st Stats) bool { return st.TakedownsSent > 0 })
	if v, ok := h.doneKey(key); !ok || v != acts[0].EventID {
		t.Fatalf("done key %q, want the audit record's event id %s", v, acts[0].EventID)
	}
}

func TestUncertainMatchGoesToReview(t *testing.T) {
	t.Parallel()
	h := start(t, 0, nil)
	ev := matched(match(events.SignalPHash, 7, "e1"), match(events.SignalDHash, 9, "e2"))
	ev.Signals = []events.Signal{{Type: events.SignalPHash, Value: "8f0f0f0f0f0f0f0f"}, {Type: events.SignalSHA256, Value: strings.Repeat("ab", 32)}}
	h.publish(h.cfg.Topics.Matched, ev)

	recs := h.read(h.cfg.Topics.ReviewRequested, 1)
	var rr events.ReviewRequested
	if err := events.Decode(recs[0].Value, events.TypeReviewRequested, &rr); err != nil {
		t.Fatal(err)
	}
	if rr.ContentID != ev.ContentID || rr.CorrelationID != ev.CorrelationID || rr.MediaURL != ev.MediaURL ||
		rr.ContentType != ev.ContentType || !rr.UploadedAt.Equal(uploadedAt) || len(rr.Matches) != 2 {
		t.Errorf("review request %+v does not carry the upload", rr)
	}
	if !reflect.DeepEqual(rr.Signals, ev.Signals) {
		t.Errorf("review request signals %+v, want the upload's %+v (for feedback into banks)", rr.Signals, ev.Signals)
	}
	if !strings.Contains(rr.Reason, "phash distance 7") || !strings.Contains(rr.Reason, "auto-removal distance 4") {
		t.Errorf("review reason %q does not say why it is uncertain", rr.Reason)
	}

	act := h.actions(1)[0]
	key := webhook.IdempotencyKey(ev.ContentID, events.ActionQueueForReview)
	if act.Action != events.ActionQueueForReview || act.Outcome != events.OutcomeSucceeded || act.IdempotencyKey != key ||
		act.EventID != ActionEventID(key, events.OutcomeSucceeded) || act.Bank != "demo" {
		t.Errorf("action %+v, want a succeeded queue_for_review", act)
	}
	// The action is recorded after any webhook call would have been made.
	if n := len(h.platform.requests()); n != 0 {
		t.Fatalf("platform saw %d requests for an uncertain match, want 0", n)
	}
	// The done key is written after the audit record: wait for the handler.
	h.waitStats("the review request to be recorded", func(st Stats) bool { return st.ReviewsQueued > 0 })
	if _, ok := h.doneKey(key); !ok {
		t.Error("no done key for the review request")
	}
	if st := h.stats(); st.ReviewsQueued != 1 || st.TakedownsSent != 0 {
		t.Errorf("stats %+v, want 1 review queued and no takedown", st)
	}
}

func TestReviewDecision(t *testing.T) {
	t.Parallel()
	h := start(t, 0, nil)
	benign := decided(events.DecisionBenign, match(events.SignalPHash, 7, "e1"))
	violating := decided(events.DecisionViolating, match(events.SignalPHash, 8, "e9"), match(events.SignalDHash, 6, "e2"))
	// Same partition: the benign decision is handled first.
	h.publish(h.cfg.Topics.ReviewDecided, benign)
	h.publish(h.cfg.Topics.ReviewDecided, violating)

	act := h.actions(1)[0]
	if act.ContentID != violating.ContentID || act.Action != events.ActionRemove ||
		act.Trigger != events.TriggerReview || act.Outcome != events.OutcomeSucceeded {
		t.Fatalf("action %+v, want a succeeded remove of %s triggered by review", act, violating.ContentID)
	}
	if !strings.Contains(act.Reason, "alice") || act.Labels[0] != "terror" || len(act.Evidence) != 2 {
		t.Errorf("action %+v should name the reviewer and carry the decision's matches", act)
	}
	reqs := h.platform.requests()
	if len(reqs) != 1 {
		t.Fatalf("platform saw %d requests, want 1 (benign decisions do nothing)", len(reqs))
	}
	var td webhook.Takedown
	if err := json.Unmarshal(reqs[0].body, &td); err != nil {
		t.Fatal(err)
	}
	if td.Trigger != events.TriggerReview || td.ContentID != violating.ContentID || !strings.Contains(td.Reason, "alice") {
		t.Errorf("takedown %+v, want trigger review for %s naming the reviewer", td, violating.ContentID)
	}
	if n := testenv.EndOffset(t, h.cfg.Kafka.Brokers, h.cfg.Topics.Actions); n != 1 {
		t.Errorf("%d action records, want 1", n)
	}
}

func TestWebhookRefusalIsRecordedAndDeadLettered(t *testing.T) {
	t.Parallel()
	h := start(t, http.StatusUnprocessableEntity, func(c *Config) { c.WebhookAttempts = 3 })
	ev := matched(match(events.SignalMD5, 0, "e1"))
	msg := h.publish(h.cfg.Topics.Matched, ev)

	// A refusal is not retried: one request, one failed record.
	act := h.actions(1)[0]
	key := webhook.IdempotencyKey(ev.ContentID, events.ActionRemove)
	if act.Action != events.ActionRemove || act.Outcome != events.OutcomeFailed || act.Attempts != 1 ||
		!strings.Contains(act.Error, "422") || act.IdempotencyKey != key || act.EventID == "" ||
		act.EventID == ActionEventID(key, events.OutcomeSucceeded) {
		t.Fatalf("action %+v, want a failed remove after 1 attempt naming the 422", act)
	}
	dl := h.read(h.cfg.DLQTopic, 1)[0]
	if !bytes.Equal(dl.Value, msg.Value) {
		t.Errorf("dead letter body differs from the original event")
	}
	headers := map[string]string{}
	for _, hd := range dl.Headers {
		headers[hd.Key] = string(hd.Value)
	}
	if headers[messaging.HeaderDLQTopic] != h.cfg.Topics.Matched || !strings.Contains(headers[messaging.HeaderDLQError], "422") {
		t.Errorf("dead letter headers %v, want origin %s and the webhook error", headers, h.cfg.Topics.Matched)
	}
	if n := len(h.platform.requests()); n != 1 {
		t.Errorf("platform saw %d requests, want 1", n)
	}
	if _, ok := h.doneKey(key); ok {
		t.Error("done key set for a failed takedown: a replay of the dead letter would be skipped")
	}
	if st := h.stats(); st.Failures != 1 || st.TakedownsSent != 0 || st.Retries != 0 {
		t.Errorf("stats %+v, want 1 failure and no retries", st)
	}
}

// An unavailable platform (5xx for longer than the webhook's own attempts)
// is an outage: the takedown waits for it, recorded as retrying, and is
// neither failed nor dead-lettered. make chaos lost takedowns this way when
// such an outage ended in the dead-letter topic.
func TestPlatformOutageIsWaitedOut(t *testing.T) {
	t.Parallel()
	const failures = 7 // more than two rounds of 3 attempts
	p := &platform{rc: &webhook.Receiver{Secret: []byte(testSecret)}, failFirst: failures}
	h := newHarness(t, p, func(c *Config) { c.WebhookAttempts = 3 })
	h.run(nil)
	ev := matched(match(events.SignalMD5, 0, "e1"))
	h.publish(h.cfg.Topics.Matched, ev)

	acts := h.actions(failures + 1)
	key := webhook.IdempotencyKey(ev.ContentID, events.ActionRemove)
	for i, a := range acts[:failures] {
		if a.Outcome != events.OutcomeRetrying || a.IdempotencyKey != key || !strings.Contains(a.Error, "503") {
			t.Errorf("record %d: %+v, want a retrying remove naming the 503", i, a)
		}
	}
	if last := acts[failures]; last.Outcome != events.OutcomeSucceeded || last.IdempotencyKey != key {
		t.Errorf("last record %+v, want the remove succeeded", last)
	}
	if n := len(p.requests()); n != failures+1 {
		t.Errorf("platform saw %d requests, want %d", n, failures+1)
	}
	if n := testenv.EndOffset(t, h.cfg.Kafka.Brokers, h.cfg.DLQTopic); n != 0 {
		t.Errorf("%d dead letters, want none for an outage", n)
	}
	if _, ok := h.doneKey(key); !ok {
		t.Error("no done key after the platform accepted the takedown")
	}
	if st := h.stats(); st.Failures != 0 || st.TakedownsSent != 1 || st.Retries != failures {
		t.Errorf("stats %+v, want 1 takedown after %d retries and no failure", st, failures)
	}
}

func TestNoMatchesAndBadInput(t *testing.T) {
	t.Parallel()
	h := start(t, 0, nil)
	h.publishRaw(messaging.Message{Topic: h.cfg.Topics.Matched, Key: []byte("x"), Value: []byte("{not json")})
	h.publish(h.cfg.Topics.Matched, matched())
	// A marker behind them on the same partition: once it is acted on, the
	// two before it have been handled.
	marker := matched(match(events.SignalSHA256, 0, "e1"))
	h.publish(h.cfg.Topics.Matched, marker)

	if act := h.actions(1)[0]; act.ContentID != marker.ContentID {
		t.Fatalf("first action is for %s, want the marker %s", act.ContentID, marker.ContentID)
	}
	if n := testenv.EndOffset(t, h.cfg.Kafka.Brokers, h.cfg.Topics.Actions); n != 1 {
		t.Errorf("%d action records, want 1 (the marker's)", n)
	}
	if reqs := h.platform.requests(); len(reqs) != 1 {
		t.Errorf("platform saw %d requests, want 1 (the marker's)", len(reqs))
	}
	if n := testenv.EndOffset(t, h.cfg.Kafka.Brokers, h.cfg.Topics.ReviewRequested); n != 0 {
		t.Errorf("%d review requests, want 0", n)
	}
	dl := h.read(h.cfg.DLQTopic, 1)[0]
	if string(dl.Value) != "{not json" {
		t.Errorf("dead letter %q, want the malformed record", dl.Value)
	}
}

// With Redis unreachable the enforcer cannot know whether an action was done,
// so it must neither act nor give the message up: a transient error.
func TestRedisDownIsTransient(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()

	p := &platform{rc: &webhook.Receiver{Secret: []byte(testSecret)}}
	srv := httptest.NewServer(p)
	defer srv.Close()
	cfg := testConfig(t)
	cfg.Kafka.Brokers = []string{"127.0.0.1:1"} // never reached: Redis is checked first
	cfg.Redis.Addr = deadAddr
	cfg.WebhookURL = srv.URL
	svc, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.rdb.Close()
	defer svc.pub.Close()

	msg, err := messaging.EventMessage(cfg.Topics.Matched, matched(match(events.SignalSHA256, 0, "e1")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	err = svc.handle(ctx, &msg)
	if err == nil || messaging.IsPermanent(err) {
		t.Fatalf("handle with Redis down = %v, want a transient error", err)
	}
	if n := len(p.requests()); n != 0 {
		t.Fatalf("platform saw %d requests with Redis down, want 0", n)
	}
}

func TestConfig(t *testing.T) {
	t.Run("settings from the environment", func(t *testing.T) {
		env := map[string]string{
			"TAKEDOWN_WEBHOOK_URL":                  "https://platform.example/takedown",
			"TAKEDOWN_WEBHOOK_SECRET":               "s",
			"TAKEDOWN_WEBHOOK_ATTEMPTS":             "7",
			"TAKEDOWN_WEBHOOK_TIMEOUT":              "3s",
			"TAKEDOWN_AUTO_DISTANCE_PHASH":          "2",
			"TAKEDOWN_ACTION_RULES":                 "bank=memes:restrict, label=category:borderline:restrict",
			"TAKEDOWN_INCIDENT_AUTO_DISTANCE_PHASH": "8",
		}
		var cfg Config
		set := config.New("enforcer").WithEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		cfg.Bind(set)
		if err := set.Parse([]string{"-auto-distance-dhash", "6"}); err != nil {
			t.Fatal(err)
		}
		if cfg.WebhookURL != env["TAKEDOWN_WEBHOOK_URL"] || cfg.WebhookSecret != "s" || cfg.WebhookAttempts != 7 ||
			cfg.WebhookTimeout != 3*time.Second || cfg.Group != "takedown-enforcer" || cfg.HTTPAddr != DefaultHTTPAddr ||
			cfg.DLQTopic != "enforcer.dlq" {
			t.Errorf("config %+v does not reflect the environment and defaults", cfg)
		}
		p := cfg.Policy().AutoDistance
		if p[events.SignalPHash] != 2 || p[events.SignalDHash] != 6 || p[events.SignalSHA256] != 0 || p[events.SignalMD5] != 0 {
			t.Errorf("policy %v, want phash 2, dhash 6, exact hashes 0", p)
		}
		inc := cfg.Policy().IncidentDistance
		if inc[events.SignalPHash] != 8 || inc[events.SignalDHash] != 10 || inc[events.SignalPDQ] != 31 {
			t.Errorf("incident distances %v, want phash 8 and the defaults dhash 10, pdq 31", inc)
		}
		svc, err := New(cfg, nil)
		if err != nil {
			t.Fatalf("New with a complete config: %v", err)
		}
		if got, want := svc.rules.String(), "default=remove,bank=memes:restrict,label=category:borderline:restrict"; got != want {
			t.Errorf("rules %s, want %s", got, want)
		}
	})

	tests := []struct {
		name  string
		tweak func(*Config)
		want  string // substring of the error
	}{
		{"missing webhook url", func(c *Config) { c.WebhookURL = "" }, "TAKEDOWN_WEBHOOK_URL"},
		{"missing webhook secret", func(c *Config) { c.WebhookSecret = "" }, "TAKEDOWN_WEBHOOK_SECRET"},
		{"relative webhook url", func(c *Config) { c.WebhookURL = "/takedown" }, "absolute http(s) URL"},
		{"ftp webhook url", func(c *Config) { c.WebhookURL = "ftp://platform.example/" }, "absolute http(s) URL"},
		{"no attempts", func(c *Config) { c.WebhookAttempts = 0 }, "webhook-attempts"},
		{"negative distance", func(c *Config) { c.AutoDistancePHash = -1 }, "auto-distance"},
		{"same topic twice", func(c *Config) { c.Topics.ReviewDecided = c.Topics.Matched }, "tells the events apart"},
		{"unknown rule action", func(c *Config) { c.ActionRules = []string{"bank=tve:delete"} }, `action-rules: bad action rule "bank=tve:delete"`},
		{"rule without action", func(c *Config) { c.ActionRules = []string{"label=category:x"} }, `bad action rule "label=category:x"`},
		{"incident distance past the bits", func(c *Config) { c.IncidentDistancePDQ = 257 }, "incident-auto-distance-pdq 257: want 0..256"},
		{"negative incident distance", func(c *Config) { c.IncidentDistanceDHash = -1 }, "incident-auto-distance-dhash -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Kafka.Brokers = []string{"127.0.0.1:9092"}
			cfg.Redis.Addr = "127.0.0.1:6379"
			cfg.WebhookURL = "http://127.0.0.1:9/takedown"
			tt.tweak(&cfg)
			_, err := New(cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
