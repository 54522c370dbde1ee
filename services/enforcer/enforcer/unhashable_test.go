package enforcer

import (
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/edges/webhook"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// unhashableMatched is the verdict on an upload the hasher could not hash:
// no matches, the reason, the byte hashes of what was fetched.
func unhashableMatched(reason, detail string) *events.MediaMatched {
	ev := matched()
	ev.Matches = []events.Match{}
	ev.Signals = []events.Signal{{Type: events.SignalSHA256, Value: strings.Repeat("cd", 32)}}
	ev.Unhashable = &events.Unhashable{Reason: reason, Detail: detail}
	return ev
}

// reviewRequests decodes the first n review requests.
func (h *harness) reviewRequests(n int) []events.ReviewRequested {
	h.t.Helper()
	var out []events.ReviewRequested
	for _, m := range h.read(h.cfg.Topics.ReviewRequested, n) {
		var rr events.ReviewRequested
		if err := events.Decode(m.Value, events.TypeReviewRequested, &rr); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, rr)
	}
	return out
}

func checkUnhashableRecord(t *testing.T, recs []events.EnforcementAction, ev *events.MediaMatched) {
	t.Helper()
	rec := actionOf(t, recs, ev.ContentID, events.ActionUnhashable, events.OutcomeSucceeded)
	key := webhook.IdempotencyKey(ev.ContentID, events.ActionUnhashable)
	if rec.Trigger != events.TriggerAuto || rec.IdempotencyKey != key || rec.EventID != ActionEventID(key, events.OutcomeSucceeded) ||
		!strings.Contains(rec.Reason, "unhashable ("+ev.Unhashable.Reason+"): "+ev.Unhashable.Detail) {
		t.Errorf("unhashable record %+v, want trigger auto under its key, the reason and detail", rec)
	}
}

// TestUnhashableGoesToReview: under the default policy (review), unhashable
// media is recorded as unhashable and queued for review with its reason,
// once however often its verdict comes; a violating decision on it, which
// has no matches, removes it by the default rule.
func TestUnhashableGoesToReview(t *testing.T) {
	t.Parallel()
	h := start(t, 0, nil)
	if h.cfg.UnhashablePolicy != UnhashableReview {
		t.Fatalf("default unhashable policy %q, want review", h.cfg.UnhashablePolicy)
	}
	ev := unhashableMatched(events.UnhashableTooLong, "video too long: 2h30m, the limit is 2h0m0s")
	msg := h.publish(h.cfg.Topics.Matched, ev)
	h.publishRaw(msg) // delivered twice

	rr := h.reviewRequests(1)[0]
	if rr.ContentID != ev.ContentID || rr.Unhashable == nil || *rr.Unhashable != *ev.Unhashable ||
		!strings.Contains(rr.Reason, "unhashable (too_long): video too long") || len(rr.Signals) != 1 || len(rr.Matches) != 0 {
		t.Errorf("review request %+v, want the unhashable reason and the byte hashes", rr)
	}
	recs := h.actions(2)
	checkUnhashableRecord(t, recs, ev)
	if q := actionOf(t, recs, ev.ContentID, events.ActionQueueForReview, events.OutcomeSucceeded); !strings.Contains(q.Reason, "too_long") {
		t.Errorf("queue_for_review record %+v", q)
	}
	st := h.waitStats("the duplicate", func(st Stats) bool { return st.DuplicatesSkipped >= 2 })
	if st.Unhashable != 1 || st.ReviewsQueued != 1 || st.TakedownsSent != 0 {
		t.Errorf("stats %+v, want 1 unhashable, 1 queued, no takedown", st)
	}

	// The reviewer finds it violating: no matches to choose an action
	// from, so the default rule (remove) applies.
	h.publish(h.cfg.Topics.ReviewDecided, decidedOn(ev.ContentID, events.DecisionViolating, ""))
	h.waitStats("the removal", func(st Stats) bool { return st.TakedownsSent >= 1 })
	if got := h.platform.calls(t); got[[2]string{ev.ContentID, events.ActionRemove}] != 1 || len(got) != 1 {
		t.Errorf("platform calls %v, want one remove", got)
	}
	if n := testenv.EndOffset(t, h.cfg.Kafka.Brokers, h.cfg.Topics.Actions); n != 3 {
		t.Errorf("%d action records, want 3 (unhashable, queue_for_review, remove)", n)
	}
}

// TestUnhashableHold: under the hold policy the platform is asked to keep
// the upload hidden (action hold), then it is queued; a benign decision
// releases the hold (restore), a violating one removes the content.
func TestUnhashableHold(t *testing.T) {
	t.Parallel()
	h := start(t, 0, func(c *Config) { c.UnhashablePolicy = UnhashableHold })
	benign := unhashableMatched(events.UnhashableHostUnavailable, "still failing after 6 attempts: HTTP 503")
	violating := unhashableMatched(events.UnhashableTooLarge, "media too large")
	h.publish(h.cfg.Topics.Matched, benign)
	h.publish(h.cfg.Topics.Matched, violating)
	h.reviewRequests(2)
	st := h.waitStats("two holds", func(st Stats) bool { return st.HoldsSent >= 2 && st.ReviewsQueued >= 2 })
	for _, td := range h.platform.takedowns(t) {
		if td.Action != events.ActionHold || td.Trigger != events.TriggerAuto || td.IdempotencyKey != webhook.IdempotencyKey(td.ContentID, events.ActionHold) ||
			!strings.Contains(td.Reason, "unhashable (") || td.Labels == nil || td.Evidence == nil {
			t.Errorf("hold request %+v", td)
		}
	}
	recs := h.actions(6)
	for _, ev := range []*events.MediaMatched{benign, violating} {
		checkUnhashableRecord(t, recs, ev)
		if hold := actionOf(t, recs, ev.ContentID, events.ActionHold, events.OutcomeSucceeded); hold.Trigger != events.TriggerAuto {
			t.Errorf("hold record %+v", hold)
		}
		actionOf(t, recs, ev.ContentID, events.ActionQueueForReview, events.OutcomeSucceeded)
	}

	h.publish(h.cfg.Topics.ReviewDecided, decidedOn(benign.ContentID, events.DecisionBenign, ""))
	h.publish(h.cfg.Topics.ReviewDecided, decidedOn(violating.ContentID, events.DecisionViolating, ""))
	st = h.waitStats("release and removal", func(st Stats) bool { return st.RestoresSent >= 1 && st.TakedownsSent >= 1 })
	if st.RestoresSent != 1 || st.TakedownsSent != 1 || st.HoldsSent != 2 {
		t.Errorf("stats %+v, want 2 holds, 1 restore, 1 removal", st)
	}
	want := map[[2]string]int{
		{benign.ContentID, events.ActionHold}: 1, {benign.ContentID, events.ActionRestore}: 1,
		{violating.ContentID, events.ActionHold}: 1, {violating.ContentID, events.ActionRemove}: 1,
	}
	got := h.platform.calls(t)
	for k, n := range want {
		if got[k] != n {
			t.Errorf("platform calls for %s %s: %d, want %d", k[0], k[1], got[k], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("platform calls %v, want %v", got, want)
	}
	recs = h.actions(8)
	if r := actionOf(t, recs, benign.ContentID, events.ActionRestore, events.OutcomeSucceeded); r.Trigger != events.TriggerReview ||
		!strings.Contains(r.Reason, "releases the hold") {
		t.Errorf("restore record %+v", r)
	}
	// A benign decision on content that was never held does nothing.
	other := decided(events.DecisionBenign)
	h.publish(h.cfg.Topics.ReviewDecided, other)
	h.publish(h.cfg.Topics.Matched, matched(exact("tve", "e1")))
	h.waitStats("the next removal", func(st Stats) bool { return st.TakedownsSent >= 2 })
	if got := h.platform.calls(t); got[[2]string{other.ContentID, events.ActionRestore}] != 0 {
		t.Errorf("a benign decision on content never held was restored: %v", got)
	}
}

// TestUnhashableAllow: under the allow policy unhashable media is only
// recorded: no review, no webhook call.
func TestUnhashableAllow(t *testing.T) {
	t.Parallel()
	h := start(t, 0, func(c *Config) { c.UnhashablePolicy = UnhashableAllow })
	ev := unhashableMatched(events.UnhashableUnsupported, "unsupported media format")
	h.publish(h.cfg.Topics.Matched, ev)
	checkUnhashableRecord(t, h.actions(1), ev)
	// Something after it on the same partition, to know it was handled.
	h.publish(h.cfg.Topics.Matched, matched(exact("tve", "e1")))
	h.waitStats("the next removal", func(st Stats) bool { return st.TakedownsSent >= 1 })
	st := h.stats()
	if st.Unhashable != 1 || st.ReviewsQueued != 0 || st.HoldsSent != 0 {
		t.Errorf("stats %+v, want 1 unhashable recorded, nothing queued or held", st)
	}
	if n := testenv.EndOffset(t, h.cfg.Kafka.Brokers, h.cfg.Topics.ReviewRequested); n != 0 {
		t.Errorf("%d review requests, want none", n)
	}

	cfg := h.cfg
	cfg.UnhashablePolicy = "ignore"
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "unhashable-policy") {
		t.Errorf("New with unhashable-policy ignore: %v", err)
	}
}

// TestUnhashableStreamSegments: each segment of a live stream that cannot
// be hashed is recorded, and the stream is queued for review once.
func TestUnhashableStreamSegments(t *testing.T) {
	t.Parallel()
	h := start(t, 0, nil)
	stream := testenv.Name("stream")
	for seq := range int64(2) {
		seg := segment(stream, seq)
		seg.Matches = []events.Match{}
		seg.Unhashable = &events.Unhashable{Reason: events.UnhashableDecoderTimeout, Detail: "video extraction timed out"}
		h.publish(h.cfg.Topics.Matched, seg)
	}
	h.waitStats("both segments", func(st Stats) bool { return st.Unhashable >= 2 && st.DuplicatesSkipped >= 1 })
	recs := h.actions(3)
	var unhashable, queued int
	for _, a := range recs {
		switch a.Action {
		case events.ActionUnhashable:
			unhashable++
		case events.ActionQueueForReview:
			queued++
		}
	}
	if unhashable != 2 || queued != 1 {
		t.Errorf("records %+v: want 2 unhashable (one per segment) and 1 queue_for_review", recs)
	}
	if st := h.stats(); st.ReviewsQueued != 1 || st.StreamsStopped != 0 || st.DuplicatesSkipped != 1 {
		t.Errorf("stats %+v, want 1 queued (the second segment's queueing a duplicate), nothing stopped", st)
	}
	// The review request says it is a stream, though no match does, and a
	// violating decision that carries that on stops the stream rather than
	// removing an upload of that id.
	reqs := h.reviewRequests(1)
	if reqs[0].Stream == nil || reqs[0].Stream.Sequence != 0 {
		t.Fatalf("review request's stream %+v, want the first segment's", reqs[0].Stream)
	}
	dec := decidedOn(stream, events.DecisionViolating, "")
	dec.Matches, dec.Stream = []events.Match{}, reqs[0].Stream
	h.publish(h.cfg.Topics.ReviewDecided, dec)
	h.waitStats("the stream to be stopped", func(st Stats) bool { return st.StreamsStopped+st.TakedownsSent > 0 })
	if got := h.platform.calls(t); got[[2]string{stream, events.ActionStopStream}] != 1 || len(got) != 1 {
		t.Errorf("webhook calls %v, want one stop_stream of %s", got, stream)
	}
}

// TestUnhashableKnownFileIsRemoved: media too long to hash whose file hash
// is in a bank (the matcher matched its sha256) is acted on like any exact
// match, removed without review, even under the hold policy; it is still
// recorded as unhashable.
func TestUnhashableKnownFileIsRemoved(t *testing.T) {
	t.Parallel()
	h := start(t, 0, func(c *Config) { c.UnhashablePolicy = UnhashableHold })
	ev := unhashableMatched(events.UnhashableTooLong, "video too long: 3h, the limit is 2h0m0s")
	ev.Matches = []events.Match{{Bank: "demo", EntryID: "e1", Labels: []string{"terror"}, SignalType: events.SignalSHA256,
		Signal: ev.Signals[0].Value, Distance: 0, Threshold: 0}}
	h.publish(h.cfg.Topics.Matched, ev)
	h.waitStats("the removal", func(st Stats) bool { return st.TakedownsSent >= 1 })
	recs := h.actions(2)
	checkUnhashableRecord(t, recs, ev)
	if rm := actionOf(t, recs, ev.ContentID, events.ActionRemove, events.OutcomeSucceeded); rm.Trigger != events.TriggerAuto {
		t.Errorf("remove record %+v, want trigger auto", rm)
	}
	if got := h.platform.calls(t); got[[2]string{ev.ContentID, events.ActionRemove}] != 1 || len(got) != 1 {
		t.Errorf("platform calls %v, want one remove and no hold", got)
	}
	if n := testenv.EndOffset(t, h.cfg.Kafka.Brokers, h.cfg.Topics.ReviewRequested); n != 0 {
		t.Errorf("%d review requests, want none", n)
	}
}
