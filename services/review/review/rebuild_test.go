package review

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// queueFixture fills a queue with one item in each situation: claimed,
// decided, decided then overturned, and two pending of different priority.
type queueFixture struct {
	claimed, decided, overturned, pendingLow, pendingHigh *events.ReviewRequested
	before                                                map[string]Item
}

func fillQueue(t *testing.T, cfg Config, r *running) *queueFixture {
	t.Helper()
	f := &queueFixture{
		claimed: newRequest(testenv.Name("claimed")), decided: newRequest(testenv.Name("decided")),
		overturned: newRequest(testenv.Name("overturned")), pendingLow: newRequest(testenv.Name("pending-low")),
		pendingHigh: newRequest(testenv.Name("pending-high")),
	}
	f.pendingLow.Matches[0].Severity = events.SeverityLow
	f.pendingHigh.Matches[0].Incident = true
	all := []*events.ReviewRequested{f.pendingLow, f.claimed, f.decided, f.overturned, f.pendingHigh}
	for _, req := range all {
		publish(t, cfg, requestMsg(t, cfg, req))
		r.waitItem(t, req.ContentID)
	}
	for _, tc := range []struct {
		req      *events.ReviewRequested
		reviewer string
	}{{f.claimed, "alice"}, {f.decided, "bob"}, {f.overturned, "carol"}} {
		if code, body := r.claim(t, tc.req.ContentID, tc.reviewer); code != http.StatusOK {
			t.Fatalf("claim: %d %s", code, body)
		}
	}
	if code, body := r.decide(t, f.decided.ContentID, "bob", events.DecisionViolating, "listed logo"); code != http.StatusOK {
		t.Fatalf("decide: %d %s", code, body)
	}
	if code, body := r.decide(t, f.overturned.ContentID, "carol", events.DecisionViolating, "looked violent"); code != http.StatusOK {
		t.Fatalf("decide: %d %s", code, body)
	}
	if code, body := r.overturn(t, tokenFor(t, "lena", RoleLead), f.overturned.ContentID, events.DecisionBenign, "film set"); code != http.StatusOK {
		t.Fatalf("overturn: %d %s", code, body)
	}
	f.before = map[string]Item{}
	for _, req := range all {
		_, it := r.get(t, req.ContentID)
		f.before[req.ContentID] = it
	}
	return f
}

// check compares the rebuilt queue with what it was: nothing lost, decisions
// and overturns as they were, the claim dropped (its item pending again),
// the pending order kept.
func (f *queueFixture) check(t *testing.T, cfg Config, r *running) {
	t.Helper()
	for _, req := range []*events.ReviewRequested{f.decided, f.overturned} {
		code, it := r.get(t, req.ContentID)
		was := f.before[req.ContentID]
		if code != http.StatusOK || it.State != StateDecided || it.Decision != was.Decision || it.DecidedBy != was.DecidedBy ||
			it.DecisionReason != was.DecisionReason || it.DecidedEventID != was.DecidedEventID || it.Overturns != was.Overturns ||
			len(it.History) != len(was.History) || !it.DecidedAt.Equal(*was.DecidedAt) {
			t.Errorf("decided item after the rebuild:\n got %d %+v\nwant %+v", code, it, was)
		}
		if code, body := r.claim(t, req.ContentID, "dave"); code != http.StatusConflict {
			t.Errorf("claim of a rebuilt decided item: %d %s, want 409", code, body)
		}
	}
	if got := f.before[f.overturned.ContentID]; len(got.History) != 1 || got.History[0].DecidedBy != "carol" {
		t.Errorf("overturn history before the rebuild: %+v", got.History)
	}
	pending := r.list(t, StatePending)
	want := []string{f.pendingHigh.ContentID, f.claimed.ContentID, f.pendingLow.ContentID}
	if !slices.Equal(ids(pending), want) {
		t.Fatalf("pending after the rebuild %v, want %v (the lost claim back in the queue)", ids(pending), want)
	}
	for _, it := range pending {
		was := f.before[it.ID]
		if it.ClaimedBy != "" || it.RequestEventID != was.RequestEventID || it.MediaURL != was.MediaURL ||
			!slices.EqualFunc(it.Matches, was.Matches, func(a, b events.Match) bool { return a.EntryID == b.EntryID }) ||
			it.EnqueuedAt.After(was.EnqueuedAt) || was.EnqueuedAt.Sub(it.EnqueuedAt) > time.Minute {
			t.Errorf("pending item after the rebuild:\n got %+v\nwant %+v (enqueued at the request's time)", it, was)
		}
	}
	if st := r.stats(t); st != (Stats{Pending: 3, Decided: 2}) {
		t.Errorf("stats %+v, want 3 pending and 2 decided", st)
	}
	// The rebuild replays; it publishes nothing.
	if n := testenv.EndOffset(t, cfg.Kafka.Brokers, cfg.Topics.ReviewDecided); n != 3 {
		t.Errorf("%d decisions on the topic, want the 3 made", n)
	}
	// The queue works on: the pending item can be decided.
	if code, body := r.claim(t, f.pendingHigh.ContentID, "erin"); code != http.StatusOK {
		t.Fatalf("claim after the rebuild: %d %s", code, body)
	}
	if code, body := r.decide(t, f.pendingHigh.ContentID, "erin", events.DecisionViolating, "attack footage"); code != http.StatusOK {
		t.Fatalf("decide after the rebuild: %d %s", code, body)
	}
}

// The review service restarts on a Redis that lost everything (a restart
// without persistence): it rebuilds the queue from Kafka before it is ready.
func TestRestartRebuildsLostQueue(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	first := start(t, cfg)
	f := fillQueue(t, cfg, first)
	first.stop()
	dropKeys(t, cfg.Redis.Addr, cfg.Redis.Prefix)

	second := start(t, cfg)
	f.check(t, cfg, second)
	_, metrics := call(t, http.MethodGet, second.base+"/metrics", nil)
	if v := metricValue(t, metrics, `takedown_review_rebuilds_total{outcome="ok"}`); v != 1 {
		t.Errorf("rebuilds counted %v, want 1", v)
	}
}

// Redis loses the queue while the service runs: the maintenance loop notices
// the missing state key and rebuilds without a restart.
func TestRunningServiceRebuildsLostQueue(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	r := start(t, cfg)
	f := fillQueue(t, cfg, r)
	dropKeys(t, cfg.Redis.Addr, cfg.Redis.Prefix)
	testenv.WaitFor(t, waitFor, "the queue to be rebuilt", func() bool {
		code, body := callAs(t, tokenFor(t, viewer), http.MethodGet, r.base+"/v1/stats", nil)
		// 503 while the rebuild runs.
		return code == http.StatusOK && decode[Stats](t, body) == Stats{Pending: 3, Decided: 2}
	})
	f.check(t, cfg, r)
}

// A decided item expires decided-ttl after its decision, its id leaves the
// decided set, and a rebuild does not bring back a decision older than
// that; pending items never expire. The decisions stay on review.decided.
func TestDecidedItemsExpire(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.DecidedTTL = time.Hour
	r := start(t, cfg)
	fresh, pending, old := newRequest(testenv.Name("fresh")), newRequest(testenv.Name("pending")), newRequest(testenv.Name("old"))
	for _, req := range []*events.ReviewRequested{fresh, pending, old} {
		publish(t, cfg, requestMsg(t, cfg, req))
		r.waitItem(t, req.ContentID)
	}
	if code, body := r.claim(t, fresh.ContentID, "bob"); code != http.StatusOK {
		t.Fatalf("claim: %d %s", code, body)
	}
	if code, body := r.decide(t, fresh.ContentID, "bob", events.DecisionViolating, "attack footage"); code != http.StatusOK {
		t.Fatalf("decide: %d %s", code, body)
	}
	rdb := redis.NewClient(&redis.Options{Addr: cfg.Redis.Addr})
	defer rdb.Close()
	ctx := context.Background()
	key := func(id string) string { return cfg.Redis.Prefix + ":review:item:" + id }
	if ttl := rdb.PTTL(ctx, key(fresh.ContentID)).Val(); ttl < 59*time.Minute || ttl > time.Hour {
		t.Errorf("decided item TTL %v, want about an hour", ttl)
	}
	if ttl := rdb.PTTL(ctx, key(pending.ContentID)).Val(); ttl != -1 {
		t.Errorf("pending item TTL %v, want none", ttl)
	}

	// A decision two hours old, as a rebuild replays it from Kafka.
	decided := events.ReviewDecided{
		Meta:     events.Follow(events.TypeReviewDecided, &old.Meta),
		Decision: events.DecisionBenign, Reviewer: "carol", Reason: "a film", MediaURL: old.MediaURL,
		ContentType: old.ContentType, UploadedAt: old.UploadedAt, Matches: old.Matches,
		DecidedAt: time.Now().Add(-2 * time.Hour).UTC(),
	}
	m, err := messaging.EventMessage(cfg.Topics.ReviewDecided, &decided)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, cfg, m)
	r.stop()
	dropKeys(t, cfg.Redis.Addr, cfg.Redis.Prefix)
	r = start(t, cfg)
	if code, _ := r.get(t, old.ContentID); code != http.StatusNotFound {
		t.Errorf("a decision older than decided-ttl came back with the rebuild: %d", code)
	}
	if code, it := r.get(t, fresh.ContentID); code != http.StatusOK || it.State != StateDecided {
		t.Errorf("the fresh decision after the rebuild: %d %+v", code, it)
	}
	testenv.WaitFor(t, waitFor, "the expired id to leave the decided set", func() bool {
		return r.stats(t) == Stats{Pending: 1, Decided: 1}
	})
}
