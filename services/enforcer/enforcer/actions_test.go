package enforcer

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/edges/webhook"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// exact is a sha256 match: always acted on without review.
func exact(bank, entry string, labels ...string) events.Match {
	return events.Match{Bank: bank, EntryID: entry, Labels: labels, SignalType: events.SignalSHA256,
		Signal: strings.Repeat("ab", 32), Distance: 0, Threshold: 0}
}

// near is a perceptual match at distance d.
func near(bank, entry, typ string, d int, incident bool, labels ...string) events.Match {
	sig := "8f0f0f0f0f0f0f0f"
	thr := 10
	if typ == events.SignalPDQ {
		sig, thr = strings.Repeat("8f", 32), 31
	}
	return events.Match{Bank: bank, EntryID: entry, Labels: labels, SignalType: typ, Signal: sig,
		Distance: d, Threshold: thr, Incident: incident}
}

func decidedOn(contentID, decision, overturns string, matches ...events.Match) *events.ReviewDecided {
	ev := decided(decision, matches...)
	ev.ContentID = contentID
	ev.Overturns = overturns
	return ev
}

// actionOf finds the one record of contentID with the given action and
// outcome among recs.
func actionOf(t *testing.T, recs []events.EnforcementAction, contentID, action, outcome string) events.EnforcementAction {
	t.Helper()
	var found []events.EnforcementAction
	for _, a := range recs {
		if a.ContentID == contentID && a.Action == action && a.Outcome == outcome {
			found = append(found, a)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s %s records for %s, want 1 (records: %+v)", len(found), outcome, action, contentID, recs)
	}
	return found[0]
}

func TestActionRules(t *testing.T) {
	t.Parallel()
	h := start(t, 0, func(c *Config) {
		c.ActionRules = []string{"bank=memes:restrict", "label=category:borderline:restrict", "default=remove"}
	})
	byBank := matched(exact("memes", "m1"))
	byLabel := matched(exact("tve", "t1", "category:borderline", "source:ngo"))
	disagree := matched(exact("memes", "m1"), exact("tve", "t2"))
	// The restrict match is acted on alone; the tve one is too far to act
	// on, and goes to a person.
	escalate := matched(exact("memes", "m1"), near("tve", "t3", events.SignalPDQ, 20, false))
	for _, ev := range []*events.MediaMatched{byBank, byLabel, disagree, escalate} {
		h.publish(h.cfg.Topics.Matched, ev)
	}
	h.waitStats("four actions and one review request", func(st Stats) bool { return st.TakedownsSent >= 4 && st.ReviewsQueued >= 1 })

	want := []struct {
		ev     *events.MediaMatched
		action string
		bank   string
		rule   string
	}{
		{byBank, events.ActionRestrict, "memes", "rule bank=memes"},
		{byLabel, events.ActionRestrict, "tve", "rule label=category:borderline"},
		{disagree, events.ActionRemove, "tve", "rule default"},
		{escalate, events.ActionRestrict, "memes", "rule bank=memes"},
	}
	tds := map[string]webhook.Takedown{}
	for _, td := range h.platform.takedowns(t) {
		if _, dup := tds[td.ContentID]; dup {
			t.Fatalf("two requests for %s", td.ContentID)
		}
		tds[td.ContentID] = td
	}
	recs := h.actions(5)
	for _, w := range want {
		td := tds[w.ev.ContentID]
		if td.Action != w.action || td.Bank != w.bank || td.IdempotencyKey != webhook.IdempotencyKey(w.ev.ContentID, w.action) ||
			!strings.Contains(td.Reason, w.rule) {
			t.Errorf("%s: webhook %s on bank %s (key %s, reason %q), want %s on bank %s by %s",
				w.ev.ContentID, td.Action, td.Bank, td.IdempotencyKey, td.Reason, w.action, w.bank, w.rule)
		}
		a := actionOf(t, recs, w.ev.ContentID, w.action, events.OutcomeSucceeded)
		if a.Bank != w.bank || a.Trigger != events.TriggerAuto {
			t.Errorf("%s: record %+v, want bank %s, trigger auto", w.ev.ContentID, a, w.bank)
		}
	}
	rr := h.read(h.cfg.Topics.ReviewRequested, 1)[0]
	var req events.ReviewRequested
	if err := events.Decode(rr.Value, events.TypeReviewRequested, &req); err != nil {
		t.Fatal(err)
	}
	if req.ContentID != escalate.ContentID || !strings.Contains(req.Reason, "calls for removal") || len(req.Matches) != 2 {
		t.Errorf("review request %+v, want the restricted upload with both matches", req)
	}

	// A reviewer confirms: the stronger action follows the restriction.
	h.publish(h.cfg.Topics.ReviewDecided, decidedOn(escalate.ContentID, events.DecisionViolating, "", escalate.Matches...))
	h.waitStats("the reviewed removal", func(st Stats) bool { return st.TakedownsSent >= 5 })
	if a := actionOf(t, h.actions(6), escalate.ContentID, events.ActionRemove, events.OutcomeSucceeded); a.Trigger != events.TriggerReview || a.Bank != "tve" {
		t.Errorf("reviewed removal %+v, want trigger review on the tve match", a)
	}
	calls := h.platform.calls(t)
	if calls[[2]string{escalate.ContentID, events.ActionRestrict}] != 1 || calls[[2]string{escalate.ContentID, events.ActionRemove}] != 1 {
		t.Errorf("platform calls %v, want one restrict and one remove of %s", calls, escalate.ContentID)
	}
	if n := len(h.platform.requests()); n != 5 {
		t.Errorf("platform saw %d requests, want 5", n)
	}
}

func TestIncidentMode(t *testing.T) {
	t.Parallel()
	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		h := start(t, 0, nil)
		wide := matched(near("cip", "a", events.SignalPDQ, 31, true, "incident:2019"))
		plain := matched(near("plain", "b", events.SignalPDQ, 25, false))
		tooFar := matched(near("cip", "c", events.SignalPHash, 11, true))
		closeBy := matched(near("cip", "d", events.SignalPDQ, 5, true))
		for _, ev := range []*events.MediaMatched{wide, plain, tooFar, closeBy} {
			h.publish(h.cfg.Topics.Matched, ev)
		}
		h.waitStats("two removals and two reviews", func(st Stats) bool { return st.TakedownsSent >= 2 && st.ReviewsQueued >= 2 })
		recs := h.actions(4)
		if a := actionOf(t, recs, wide.ContentID, events.ActionRemove, events.OutcomeSucceeded); a.Trigger != events.TriggerIncident ||
			!strings.Contains(a.Reason, "incident distance 31") {
			t.Errorf("incident removal %+v, want trigger incident explaining the incident distance", a)
		}
		// Close enough for an ordinary removal: not incident mode's doing.
		if a := actionOf(t, recs, closeBy.ContentID, events.ActionRemove, events.OutcomeSucceeded); a.Trigger != events.TriggerAuto {
			t.Errorf("close incident-bank removal has trigger %s, want auto", a.Trigger)
		}
		actionOf(t, recs, plain.ContentID, events.ActionQueueForReview, events.OutcomeSucceeded)
		actionOf(t, recs, tooFar.ContentID, events.ActionQueueForReview, events.OutcomeSucceeded)
		for _, td := range h.platform.takedowns(t) {
			if td.ContentID == wide.ContentID && td.Trigger != events.TriggerIncident {
				t.Errorf("webhook trigger %s for the incident removal, want incident", td.Trigger)
			}
		}
		reqs := map[string]events.ReviewRequested{}
		for _, m := range h.read(h.cfg.Topics.ReviewRequested, 2) {
			var rr events.ReviewRequested
			if err := events.Decode(m.Value, events.TypeReviewRequested, &rr); err != nil {
				t.Fatal(err)
			}
			reqs[rr.ContentID] = rr
		}
		if rr := reqs[tooFar.ContentID]; len(rr.Matches) != 1 || !rr.Matches[0].Incident {
			t.Errorf("review request of an incident match %+v, want its match flagged incident", rr)
		}
		if rr := reqs[plain.ContentID]; len(rr.Matches) != 1 || rr.Matches[0].Incident {
			t.Errorf("review request of a plain match %+v, want no incident flag", rr)
		}
	})
	t.Run("setting", func(t *testing.T) {
		t.Parallel()
		h := start(t, 0, func(c *Config) { c.IncidentDistancePDQ = 24 })
		ev := matched(near("cip", "a", events.SignalPDQ, 25, true))
		h.publish(h.cfg.Topics.Matched, ev)
		h.waitStats("the review request", func(st Stats) bool { return st.ReviewsQueued >= 1 })
		if st := h.stats(); st.TakedownsSent != 0 || len(h.platform.requests()) != 0 {
			t.Errorf("stats %+v: a match beyond incident-auto-distance-pdq 24 was acted on", st)
		}
	})
}

// Failed attempts that are retried are each recorded as retrying, and the
// success after them as succeeded, with the attempts it took.
func TestRetriesAreRecorded(t *testing.T) {
	t.Parallel()
	p := &platform{rc: &webhook.Receiver{Secret: []byte(testSecret)}, failFirst: 2}
	h := newHarness(t, p, nil)
	h.run(nil)
	ev := matched(exact("tve", "e1"))
	h.publish(h.cfg.Topics.Matched, ev)
	acts := h.actions(3)
	key := webhook.IdempotencyKey(ev.ContentID, events.ActionRemove)
	for i, want := range []struct {
		outcome  string
		attempts int
	}{{events.OutcomeRetrying, 1}, {events.OutcomeRetrying, 2}, {events.OutcomeSucceeded, 3}} {
		a := acts[i]
		if a.Outcome != want.outcome || a.Attempts != want.attempts || a.IdempotencyKey != key || a.Action != events.ActionRemove {
			t.Errorf("record %d: %s after %d attempts (%+v), want %s after %d", i, a.Outcome, a.Attempts, a, want.outcome, want.attempts)
		}
		if (a.Outcome == events.OutcomeRetrying) != strings.Contains(a.Error, "503") {
			t.Errorf("record %d: error %q", i, a.Error)
		}
	}
	reqs := p.requests()
	if len(reqs) != 3 {
		t.Fatalf("platform saw %d requests, want 3", len(reqs))
	}
	for _, r := range reqs {
		if r.key != key {
			t.Errorf("attempt with key %s, want %s on every attempt", r.key, key)
		}
	}
	if st := h.waitStats("the takedown", func(st Stats) bool { return st.TakedownsSent > 0 }); st.Retries != 2 {
		t.Errorf("stats %+v, want 2 retries", st)
	}
}

func TestDecisionRedeliveryActsOnce(t *testing.T) {
	t.Parallel()
	h := start(t, 0, nil)
	msg := h.publish(h.cfg.Topics.ReviewDecided, decided(events.DecisionViolating, exact("tve", "e1")))
	h.publishRaw(msg)
	st := h.waitStats("both copies", func(st Stats) bool { return st.TakedownsSent+st.DuplicatesSkipped >= 2 })
	if st.TakedownsSent != 1 || st.DuplicatesSkipped != 1 {
		t.Fatalf("stats %+v, want 1 takedown and 1 duplicate", st)
	}
	if n := len(h.platform.requests()); n != 1 {
		t.Fatalf("platform saw %d requests, want 1", n)
	}
	if n := testenv.EndOffset(t, h.cfg.Kafka.Brokers, h.cfg.Topics.Actions); n != 1 {
		t.Fatalf("%d action records, want 1", n)
	}
}

// flakyPublisher fails every publish to one topic while fail is set, as a
// Kafka outage after the webhook's 2xx would.
type flakyPublisher struct {
	messaging.Publisher
	topic  string
	fail   atomic.Bool
	failed atomic.Int64
}

func (p *flakyPublisher) Publish(ctx context.Context, msgs ...messaging.Message) error {
	if p.fail.Load() {
		for _, m := range msgs {
			if m.Topic == p.topic {
				p.failed.Add(1)
				return errors.New("test: actions topic unavailable")
			}
		}
	}
	return p.Publisher.Publish(ctx, msgs...)
}

// A restart after the platform accepted an action but before its audit
// record and offset commit: the new enforcer records the action from the
// "sent" marker without calling the platform again.
func TestRestartBetweenWebhookAndCommit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		topic   func(c *Config) string
		event   events.Event
		trigger string
	}{
		{"media.matched", func(c *Config) string { return c.Topics.Matched }, matched(exact("tve", "e1")), events.TriggerAuto},
		{"review.decided", func(c *Config) string { return c.Topics.ReviewDecided },
			decided(events.DecisionViolating, exact("tve", "e1")), events.TriggerReview},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &platform{rc: &webhook.Receiver{Secret: []byte(testSecret)}}
			h := newHarness(t, p, nil)
			var flaky *flakyPublisher
			stop := h.run(func(pub messaging.Publisher) messaging.Publisher {
				flaky = &flakyPublisher{Publisher: pub, topic: h.cfg.Topics.Actions}
				flaky.fail.Store(true)
				return flaky
			})
			h.publish(tt.topic(&h.cfg), tt.event)
			contentID := tt.event.Header().ContentID
			key := webhook.IdempotencyKey(contentID, events.ActionRemove)
			testenv.WaitFor(t, waitFor, "the platform's 2xx and a failed audit record", func() bool {
				v, _ := h.doneKey(key)
				return len(p.requests()) == 1 && v == "sent:1" && flaky.failed.Load() > 0
			})
			stop()
			if n := testenv.EndOffset(t, h.cfg.Kafka.Brokers, h.cfg.Topics.Actions); n != 0 {
				t.Fatalf("%d action records before the restart, want 0", n)
			}

			h.run(nil)
			act := h.actions(1)[0]
			if act.ContentID != contentID || act.Outcome != events.OutcomeSucceeded || act.Attempts != 1 ||
				act.Trigger != tt.trigger || act.EventID != ActionEventID(key, events.OutcomeSucceeded) {
				t.Errorf("record after the restart %+v, want the accepted remove", act)
			}
			h.waitStats("the record to be done", func(st Stats) bool { return st.TakedownsSent > 0 })
			if n := len(p.requests()); n != 1 {
				t.Errorf("platform saw %d requests, want exactly 1", n)
			}
			if v, _ := h.doneKey(key); v != act.EventID {
				t.Errorf("done key %q, want the record's event id", v)
			}
			if n := testenv.EndOffset(t, h.cfg.Kafka.Brokers, h.cfg.Topics.Actions); n != 1 {
				t.Errorf("%d action records, want 1", n)
			}
		})
	}
}

func TestOverturn(t *testing.T) {
	t.Parallel()
	h := start(t, 0, nil)
	m := exact("tve", "e1", "category:terror")
	calls := func() map[[2]string]int { return h.platform.calls(t) }
	status := func(contentID string) string {
		v, _ := h.rdb.Get(context.Background(), StatusKey(h.cfg.Redis.Prefix, contentID)).Result()
		return v
	}

	// A: removed on review, restored on overturn (the overturn delivered
	// twice), removed again on a second overturn.
	a1 := decided(events.DecisionViolating, m)
	a := a1.ContentID
	h.publish(h.cfg.Topics.ReviewDecided, a1)
	a2 := decidedOn(a, events.DecisionBenign, a1.EventID, m)
	msg := h.publish(h.cfg.Topics.ReviewDecided, a2)
	h.publishRaw(msg)
	a3 := decidedOn(a, events.DecisionViolating, a2.EventID, m)
	h.publish(h.cfg.Topics.ReviewDecided, a3)
	// B: decided benign (nothing), overturned to violating: removed.
	b1 := decided(events.DecisionBenign, m)
	b := b1.ContentID
	h.publish(h.cfg.Topics.ReviewDecided, b1)
	h.publish(h.cfg.Topics.ReviewDecided, decidedOn(b, events.DecisionViolating, b1.EventID, m))
	// C: overturned to benign, never removed: nothing to restore.
	c := testenv.Name("content")
	h.publish(h.cfg.Topics.ReviewDecided, decidedOn(c, events.DecisionBenign, "earlier", m))

	st := h.waitStats("A, B and C", func(st Stats) bool {
		return st.TakedownsSent >= 3 && st.RestoresSent >= 1 && st.NothingToDo >= 1 && st.DuplicatesSkipped >= 1
	})
	if st.TakedownsSent != 3 || st.RestoresSent != 1 || st.NothingToDo != 1 || st.DuplicatesSkipped != 1 {
		t.Errorf("stats %+v, want 3 removals, 1 restore, 1 no-op, 1 duplicate", st)
	}
	recs := h.actions(4)
	restore := actionOf(t, recs, a, events.ActionRestore, events.OutcomeSucceeded)
	if restore.Trigger != events.TriggerOverturn || restore.IdempotencyKey != OverturnKey(a, events.ActionRestore, a1.EventID) ||
		!strings.Contains(restore.Reason, "overturns decision "+a1.EventID) || restore.Bank != "tve" {
		t.Errorf("restore record %+v, want trigger overturn, the overturn key and a reason naming the decision", restore)
	}
	var again events.EnforcementAction
	for _, r := range recs {
		if r.ContentID == a && r.Action == events.ActionRemove && r.Trigger == events.TriggerOverturn {
			again = r
		}
	}
	if again.IdempotencyKey != OverturnKey(a, events.ActionRemove, a2.EventID) {
		t.Errorf("second removal of A %+v, want trigger overturn under its own key", again)
	}
	if r := actionOf(t, recs, b, events.ActionRemove, events.OutcomeSucceeded); r.Trigger != events.TriggerOverturn {
		t.Errorf("removal of B %+v, want trigger overturn", r)
	}
	for _, td := range h.platform.takedowns(t) {
		if td.ContentID == a && td.Action == events.ActionRestore && (td.Trigger != events.TriggerOverturn ||
			td.IdempotencyKey != OverturnKey(a, events.ActionRestore, a1.EventID)) {
			t.Errorf("restore request %+v, want trigger overturn and the overturn key", td)
		}
	}

	// D: removed automatically; an overturn to violating finds it removed,
	// one to benign restores it.
	d := matched(m)
	h.publish(h.cfg.Topics.Matched, d)
	h.waitStats("D's removal", func(st Stats) bool { return st.TakedownsSent >= 4 })
	h.publish(h.cfg.Topics.ReviewDecided, decidedOn(d.ContentID, events.DecisionViolating, "appeal-1", m))
	h.publish(h.cfg.Topics.ReviewDecided, decidedOn(d.ContentID, events.DecisionBenign, "appeal-2", m))
	st = h.waitStats("D's overturns", func(st Stats) bool { return st.RestoresSent >= 2 && st.NothingToDo >= 2 })
	if st.TakedownsSent != 4 || st.RestoresSent != 2 || st.NothingToDo != 2 {
		t.Errorf("stats %+v, want 4 removals, 2 restores, 2 no-ops", st)
	}

	want := map[[2]string]int{
		{a, events.ActionRemove}: 2, {a, events.ActionRestore}: 1,
		{b, events.ActionRemove}:           1,
		{d.ContentID, events.ActionRemove}: 1, {d.ContentID, events.ActionRestore}: 1,
	}
	got := calls()
	for k, n := range want {
		if got[k] != n {
			t.Errorf("platform calls for %s %s: %d, want %d", k[0], k[1], got[k], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("platform calls %v, want only %v", got, want)
	}
	if d := h.platform.rc.Duplicates(); d != 0 {
		t.Errorf("the platform had to dedupe %d requests", d)
	}
	for id, want := range map[string]string{a: events.ActionRemove, b: events.ActionRemove, c: "", d.ContentID: events.ActionRestore} {
		if got := status(id); got != want {
			t.Errorf("status of %s = %q, want %q", id, got, want)
		}
	}
	if n := testenv.EndOffset(t, h.cfg.Kafka.Brokers, h.cfg.Topics.Actions); n != 6 {
		t.Errorf("%d action records, want 6", n)
	}
}
