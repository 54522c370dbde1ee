package review

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// removal is the enforcer's audit record of an automatic removal of
// contentID on evidence, acted at minute min of a fixed hour.
func removal(contentID string, min int, evidence ...events.Match) *events.EnforcementAction {
	return &events.EnforcementAction{
		Meta:   events.NewMeta(events.TypeEnforcementAction, contentID, ""),
		Action: events.ActionRemove, Trigger: events.TriggerAuto, Outcome: events.OutcomeSucceeded,
		Reason: "matched", Evidence: evidence, IdempotencyKey: contentID + "/remove", Attempts: 1,
		UploadedAt: time.Date(2026, 12, 1, 10, min, 0, 0, time.UTC), ActedAt: time.Date(2026, 12, 1, 10, min, 1, 0, time.UTC),
	}
}

func confirmedMatch(cfg Config, itemID string) events.Match {
	return events.Match{Bank: cfg.ConfirmedBank, EntryID: FeedbackEntryID(itemID), SignalType: events.SignalSHA256, Signal: "ab"}
}

func actionMsgs(t *testing.T, cfg Config, acts ...*events.EnforcementAction) []messaging.Message {
	t.Helper()
	var out []messaging.Message
	for _, a := range acts {
		m, err := messaging.EventMessage(cfg.Topics.Actions, a)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// waitRelated waits until the service recorded n uploads removed through
// id's confirmed entry.
func (r *running) waitRelated(t *testing.T, id string, n int) {
	t.Helper()
	testenv.WaitFor(t, waitFor, "related uploads of "+id, func() bool {
		recs, err := r.svc.related(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return len(recs) == n
	})
}

func (r *running) restoreRelated(t *testing.T, lead, id, reason string) (int, Item, []byte) {
	t.Helper()
	code, body := callAs(t, lead, http.MethodPost, r.itemURL(id)+"/restore-related", map[string]string{"reason": reason})
	if code != http.StatusOK && code != http.StatusAccepted {
		return code, Item{}, body
	}
	return code, decode[Item](t, body), body
}

// An overturn of a violating decision to benign lists the uploads removed
// through the decision's confirmed entry, and restore-related publishes
// one restore per upload that nothing else holds down, once.
func TestOverturnListsAndRestoresRelatedUploads(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	r := start(t, cfg)
	req := newRequest(testenv.Name("content"))
	id := req.ContentID
	publish(t, cfg, requestMsg(t, cfg, req))
	r.waitItem(t, id)

	plain := removal(testenv.Name("again"), 1, confirmedMatch(cfg, id))
	// Also an exact match of another bank: removed on that alone.
	held := removal(testenv.Name("held"), 2, confirmedMatch(cfg, id),
		events.Match{Bank: "gifct", EntryID: "entry-9", SignalType: events.SignalSHA256, Signal: "cd", Distance: 0, Threshold: 0})
	// Also a weak match of another bank: that alone would go to review.
	weak := removal(testenv.Name("weak"), 3, confirmedMatch(cfg, id),
		events.Match{Bank: "gifct", EntryID: "entry-1", SignalType: events.SignalPDQ, Signal: strings.Repeat("ab", 32), Distance: 40, Threshold: 31})
	other := removal(testenv.Name("other"), 4, confirmedMatch(cfg, "some-other-content"))
	failed := removal(testenv.Name("failed"), 5, confirmedMatch(cfg, id))
	failed.Outcome = events.OutcomeFailed
	// plain twice: a redelivery.
	publish(t, cfg, actionMsgs(t, cfg, plain, held, weak, other, failed, plain)...)
	r.waitRelated(t, id, 3)

	if code, body := r.claim(t, id, "alice"); code != http.StatusOK {
		t.Fatalf("claim: %d %s", code, body)
	}
	code, body := r.decide(t, id, "alice", events.DecisionViolating, "propaganda")
	if code != http.StatusOK {
		t.Fatalf("decide: %d %s", code, body)
	}
	if it := decode[Item](t, body); len(it.Related) != 0 {
		t.Errorf("a violating decision lists related uploads: %+v", it.Related)
	}
	lena := tokenFor(t, "lena", RoleLead)
	if code, _, body := r.restoreRelated(t, lena, id, "early"); code != http.StatusConflict {
		t.Errorf("restore-related before an overturn: %d %s", code, body)
	}
	code, body = r.overturn(t, lena, id, events.DecisionBenign, "news report")
	if code != http.StatusOK {
		t.Fatalf("overturn: %d %s", code, body)
	}
	it := decode[Item](t, body)
	if len(it.Related) != 3 {
		t.Fatalf("overturn answer lists %d related uploads, want 3: %+v", len(it.Related), it.Related)
	}
	for i, want := range []*events.EnforcementAction{plain, held, weak} {
		got := it.Related[i]
		if got.ContentID != want.ContentID || got.ActionEventID != want.EventID || got.Action != events.ActionRemove ||
			!got.ActedAt.Equal(want.ActedAt) || got.Restore != nil {
			t.Errorf("related %d: %+v, want %s", i, got, want.ContentID)
		}
	}
	if it.Related[0].Kept != "" || it.Related[1].Kept == "" || it.Related[2].Kept != "" ||
		len(it.Related[2].OtherMatches) != 1 || it.Related[2].OtherMatches[0] != "gifct/entry-1" {
		t.Errorf("kept or other matches wrong: %+v", it.Related)
	}

	if code, _, body := r.restoreRelated(t, tokenFor(t, "alice"), id, "mine"); code != http.StatusForbidden {
		t.Errorf("a reviewer's restore-related: %d %s", code, body)
	}
	code, it, body = r.restoreRelated(t, lena, id, "the same news report")
	if code != http.StatusOK {
		t.Fatalf("restore-related: %d %s", code, body)
	}
	if it.Related[0].Restore == nil || it.Related[0].Restore.RequestedBy != "lena" || it.Related[1].Restore != nil || it.Related[2].Restore == nil {
		t.Fatalf("related after restore-related: %+v", it.Related)
	}
	// decision, overturn, and one restore each for plain and weak.
	msgs := readTopic(t, cfg, cfg.Topics.ReviewDecided, 4)
	for i, want := range []*events.EnforcementAction{plain, weak} {
		var ev events.ReviewDecided
		if err := events.Decode(msgs[2+i].Value, events.TypeReviewDecided, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.ContentID != want.ContentID || ev.Decision != events.DecisionBenign || ev.Overturns != want.EventID ||
			ev.CausedBy != it.DecidedEventID || ev.Reviewer != "lena" || ev.EventID != it.Related[2*i].Restore.EventID ||
			ev.EventID != derivedEventID(it.DecidedEventID, want.EventID) || ev.CorrelationID != want.CorrelationID {
			t.Errorf("restore %d: %+v", i, ev)
		}
	}
	// A queue rebuilt from Kafka opens no item for a restored upload.
	if err := r.svc.restoreDecision(context.Background(), msgs[2]); err != nil {
		t.Fatal(err)
	}
	if code, _ := r.get(t, plain.ContentID); code != http.StatusNotFound {
		t.Errorf("a replayed restore of a related upload opened an item: %d", code)
	}
	// A repeat publishes nothing: the publish happens before the answer.
	if code, _, body := r.restoreRelated(t, lena, id, "the same news report"); code != http.StatusOK {
		t.Errorf("repeated restore-related: %d %s", code, body)
	}
	if n := testenv.EndOffset(t, cfg.Kafka.Brokers, cfg.Topics.ReviewDecided); n != 4 {
		t.Errorf("%d decisions published, want 4", n)
	}
	// The lead's request is audited, per upload.
	var audited []string
	testenv.ReadUntil(t, cfg.Kafka, cfg.Topics.Actions, waitFor, "restore_related audit records", func(m *messaging.Message) bool {
		var a events.EnforcementAction
		if events.Decode(m.Value, events.TypeEnforcementAction, &a) == nil && a.Action == events.ActionRestoreRelated {
			if a.Actor != "lena" || a.ContentID != id || !strings.Contains(a.Reason, "the same news report") {
				t.Errorf("audit record %+v", a)
			}
			audited = append(audited, a.Reason)
		}
		return len(audited) == 2
	})

	// The item page lists them, for a lead without a button once nothing
	// is left to restore.
	b := newBrowser(t, r.base)
	b.login(lena)
	_, page := b.get("/ui/items/" + url.PathEscape(id))
	if !strings.Contains(page, "Removed because of the overturned decision") || !strings.Contains(page, weak.ContentID) ||
		!strings.Contains(page, "kept removed") || strings.Contains(page, `id="restore-related"`) {
		t.Errorf("item page:\n%s", page)
	}
}

// Restoring uploads related to a decision on content an incident bank
// matched takes two leads, as the overturn did.
func TestRestoreRelatedNeedsTwoLeadsForIncidentContent(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	r := start(t, cfg)
	req := newRequest(testenv.Name("content"))
	req.Matches[0].Incident = true
	id := req.ContentID
	publish(t, cfg, requestMsg(t, cfg, req))
	r.waitItem(t, id)
	again := removal(testenv.Name("again"), 1, confirmedMatch(cfg, id))
	publish(t, cfg, actionMsgs(t, cfg, again)...)
	r.waitRelated(t, id, 1)

	r.claim(t, id, "alice")
	if code, body := r.decide(t, id, "alice", events.DecisionViolating, "attack footage"); code != http.StatusOK {
		t.Fatalf("decide: %d %s", code, body)
	}
	lena, lou := tokenFor(t, "lena", RoleLead), tokenFor(t, "lou", RoleLead)
	if code, body := r.overturn(t, lena, id, events.DecisionBenign, "news report"); code != http.StatusAccepted {
		t.Fatalf("overturn proposal: %d %s", code, body)
	}
	if code, body := r.overturn(t, lou, id, events.DecisionBenign, "news report"); code != http.StatusOK {
		t.Fatalf("overturn approval: %d %s", code, body)
	}
	b := newBrowser(t, r.base)
	b.login(lena)
	if _, page := b.get("/ui/items/" + url.PathEscape(id)); !strings.Contains(page, `id="restore-related"`) || !strings.Contains(page, again.ContentID) {
		t.Errorf("item page lacks the related upload or the button:\n%s", page)
	}
	for range 2 { // the proposer again: still a proposal
		code, it, body := r.restoreRelated(t, lena, id, "same report")
		if code != http.StatusAccepted || it.PendingRelatedRestore == nil || it.PendingRelatedRestore.ProposedBy != "lena" || it.Related[0].Restore != nil {
			t.Fatalf("first lead's restore-related: %d %s", code, body)
		}
	}
	if n := testenv.EndOffset(t, cfg.Kafka.Brokers, cfg.Topics.ReviewDecided); n != 2 {
		t.Fatalf("%d decisions published after a proposal, want 2", n)
	}
	code, it, body := r.restoreRelated(t, lou, id, "ignored: the proposal's reason stands")
	if code != http.StatusOK || it.PendingRelatedRestore != nil || it.Related[0].Restore == nil ||
		it.Related[0].Restore.RequestedBy != "lena" || it.Related[0].Restore.ApprovedBy != "lou" {
		t.Fatalf("second lead's restore-related: %d %s", code, body)
	}
	var ev events.ReviewDecided
	if err := events.Decode(readTopic(t, cfg, cfg.Topics.ReviewDecided, 3)[2].Value, events.TypeReviewDecided, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.ContentID != again.ContentID || ev.Reviewer != "lena" || ev.ApprovedBy != "lou" || !strings.Contains(ev.Reason, "same report") {
		t.Errorf("restore %+v", ev)
	}
}
