package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/policy"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
	"github.com/takedown-pipeline/takedown/services/review/review"
)

// TestOverturnRestoresRelatedUploads runs the whole path: a reviewer decides
// an upload violating, which puts its hashes in the confirmed bank; a
// re-upload of the same picture is removed automatically through that
// entry; a lead overturns the decision to benign and sees the re-upload
// listed as removed because of it; one restore-related restores it, and
// the platform gets that restore exactly once, however often the request
// is repeated or its event redelivered.
func TestOverturnRestoresRelatedUploads(t *testing.T) {
	secret := "e2e-secret"
	plat := newPlatform(t, []byte(secret))
	pl := startPipeline(t, plat, secret)
	ctx := context.Background()

	set := seedDemoBank(ctx, t, pl)
	weaker := set.Uploads[2]
	if weaker.Expect != policy.ActionReview {
		t.Fatalf("demo set changed: %s", weaker.Expect)
	}
	takedown := func(what, contentID, action, trigger string) {
		t.Helper()
		select {
		case td := <-plat.got:
			if td.ContentID != contentID || td.Action != action || td.Trigger != trigger {
				t.Fatalf("%s: takedown %+v, want %s of %s by %s", what, td, action, contentID, trigger)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("%s: no webhook request within 60 s", what)
		}
	}

	// The first upload goes to review and is decided violating.
	firstID := testenv.Name("first")
	pl.upload(t, firstID, plat.host(firstID, weaker.Data))
	itemURL := "http://" + pl.review.Addr() + "/v1/items/" + url.PathEscape(events.ScopedID(e2eClient, firstID))
	rita, lena := reviewToken(t, "rita"), testenv.ReviewKey{Kid: "e2e", Secret: reviewSecret, Issuer: reviewIssuer,
		Audience: reviewAudience}.TokenWithRoles(t, "lena", "lead")
	testenv.WaitFor(t, 60*time.Second, "the review item", func() bool {
		code, _ := getItem(t, itemURL, rita)
		return code == http.StatusOK
	})
	if code, out := postJSON(t, itemURL+"/claim", map[string]any{}, rita); code != http.StatusOK {
		t.Fatalf("claim: %d %v", code, out)
	}
	if code, out := postJSON(t, itemURL+"/decision", map[string]any{"decision": "violating", "reason": "known attack footage"}, rita); code != http.StatusOK {
		t.Fatalf("decision: %d %v", code, out)
	}
	takedown("the decision", firstID, events.ActionRemove, events.TriggerReview)

	// Its hashes reach the confirmed bank; a re-upload is removed through
	// that entry without review.
	testenv.WaitFor(t, 30*time.Second, "the confirmed entry", func() bool { return pl.matcher.Banks().Len() == len(set.Bank)+1 })
	againID := testenv.Name("again")
	pl.upload(t, againID, plat.host(againID, weaker.Data))
	takedown("the re-upload", againID, events.ActionRemove, events.TriggerAuto)
	removal := pl.actions(t, againID, 1)[0]
	if removal.Bank != "confirmed" {
		t.Fatalf("the re-upload's removal rests on bank %q, want confirmed: %+v", removal.Bank, removal)
	}

	// Before an overturn, the item lists nothing.
	if _, it := getItem(t, itemURL, rita); len(it.Related) != 0 {
		t.Fatalf("a violating item lists related uploads: %+v", it.Related)
	}
	if code, out := postJSON(t, itemURL+"/restore-related", map[string]any{"reason": "too early"}, lena); code != http.StatusConflict {
		t.Fatalf("restore-related before the overturn: %d %v, want 409", code, out)
	}

	// The lead overturns: the item is restored, and the re-upload is listed.
	code, out := postJSON(t, itemURL+"/overturn", map[string]any{"decision": "benign", "reason": "news report"}, lena)
	if code != http.StatusOK {
		t.Fatalf("overturn: %d %v", code, out)
	}
	takedown("the overturn", firstID, events.ActionRestore, events.TriggerOverturn)
	var it review.Item
	testenv.WaitFor(t, 30*time.Second, "the re-upload listed on the item", func() bool {
		_, it = getItem(t, itemURL, rita)
		return len(it.Related) == 1
	})
	rel := it.Related[0]
	if rel.ContentID != events.ScopedID(e2eClient, againID) || rel.Action != events.ActionRemove || rel.ActionEventID != removal.EventID ||
		rel.Kept != "" || rel.Restore != nil {
		t.Fatalf("related upload %+v, removal %+v", rel, removal)
	}

	// A reviewer may not restore them; a lead may, in one action.
	if code, out := postJSON(t, itemURL+"/restore-related", map[string]any{"reason": "same news report"}, rita); code != http.StatusForbidden {
		t.Fatalf("restore-related by a reviewer: %d %v, want 403", code, out)
	}
	code, out = postJSON(t, itemURL+"/restore-related", map[string]any{"reason": "same news report"}, lena)
	if code != http.StatusOK {
		t.Fatalf("restore-related: %d %v", code, out)
	}
	takedown("restore-related", againID, events.ActionRestore, events.TriggerOverturn)
	_, it = getItem(t, itemURL, rita)
	if len(it.Related) != 1 || it.Related[0].Restore == nil || it.Related[0].Restore.RequestedBy != "lena" {
		t.Fatalf("related upload after restore-related: %+v", it.Related)
	}

	// The same request again publishes nothing new; the restore event
	// delivered again is a duplicate to the enforcer.
	if code, out := postJSON(t, itemURL+"/restore-related", map[string]any{"reason": "same news report"}, lena); code != http.StatusOK {
		t.Fatalf("repeated restore-related: %d %v", code, out)
	}
	k := config.Kafka{Brokers: pl.brokers}
	var restore *messaging.Message
	testenv.ReadUntil(t, k, pl.topics.ReviewDecided, 30*time.Second, "the restore of "+againID, func(m *messaging.Message) bool {
		var ev events.ReviewDecided
		if events.Decode(m.Value, events.TypeReviewDecided, &ev) == nil && ev.ContentID == events.ScopedID(e2eClient, againID) {
			if ev.Decision != events.DecisionBenign || ev.Overturns != removal.EventID || ev.CausedBy != it.DecidedEventID ||
				ev.EventID != it.Related[0].Restore.EventID {
				t.Errorf("restore event %+v", ev)
			}
			restore = m
			return true
		}
		return false
	})
	dups := pl.enforcer.Stats().DuplicatesSkipped
	testenv.Publish(t, k, messaging.Message{Topic: pl.topics.ReviewDecided, Key: restore.Key, Value: restore.Value, Headers: restore.Headers})
	testenv.WaitFor(t, 30*time.Second, "the enforcer to skip the redelivered restore", func() bool {
		return pl.enforcer.Stats().DuplicatesSkipped > dups
	})
	if n := plat.count(againID); n != 2 {
		t.Fatalf("the platform got %d webhook requests for the re-upload, want 2 (its removal and one restore)", n)
	}
	if n := pl.enforcer.Stats().RestoresSent; n != 2 {
		t.Fatalf("the enforcer sent %d restores, want 2 (the item and the re-upload)", n)
	}
}

// getItem reads a review item with token.
func getItem(t *testing.T, itemURL, token string) (int, review.Item) {
	t.Helper()
	resp, body := testenv.Get(t, itemURL, token)
	var it review.Item
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(bytes.NewReader(body)).Decode(&it); err != nil {
			t.Fatalf("item %s: %v", body, err)
		}
	}
	return resp.StatusCode, it
}
