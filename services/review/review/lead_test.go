package review

import (
	"net/http"
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

func (r *running) assign(t *testing.T, lead, id, reviewer string) (int, []byte) {
	t.Helper()
	return callAs(t, lead, http.MethodPost, r.itemURL(id)+"/assign", map[string]string{"reviewer": reviewer})
}

func (r *running) overturn(t *testing.T, lead, id, decision, reason string) (int, []byte) {
	t.Helper()
	return callAs(t, lead, http.MethodPost, r.itemURL(id)+"/overturn", map[string]string{"decision": decision, "reason": reason})
}

// A lead takes an item from one reviewer and gives it to another, and later
// overturns the decision: each overturn is a new review.decided naming the
// decision it replaces, and the item keeps the history.
func TestLeadAssignsAndOverturns(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	r := start(t, cfg)
	req := newRequest(testenv.Name("content"))
	publish(t, cfg, requestMsg(t, cfg, req))
	r.waitItem(t, req.ContentID)
	lead := tokenFor(t, "lena", RoleLead)
	id := req.ContentID

	if code, body := r.claim(t, id, "alice"); code != http.StatusOK {
		t.Fatalf("alice claim: %d %s", code, body)
	}
	if code, body := r.claim(t, id, "bob"); code != http.StatusConflict {
		t.Fatalf("bob claim of alice's item: %d %s", code, body)
	}
	for _, tc := range []struct {
		name, id, body string
		want           int
	}{
		{"no reviewer", id, `{}`, http.StatusBadRequest},
		{"blank reviewer", id, `{"reviewer":" "}`, http.StatusBadRequest},
		{"control characters", id, `{"reviewer":"bo\u0007b"}`, http.StatusBadRequest},
		{"unknown item", "no-such-content", `{"reviewer":"bob"}`, http.StatusNotFound},
	} {
		if code, body := callAs(t, lead, http.MethodPost, r.itemURL(tc.id)+"/assign", tc.body); code != tc.want {
			t.Errorf("assign, %s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
	code, body := r.assign(t, lead, id, "bob")
	if code != http.StatusOK {
		t.Fatalf("assign to bob: %d %s", code, body)
	}
	if it := decode[Item](t, body); it.ClaimedBy != "bob" || it.AssignedBy != "lena" || it.State != StateClaimed || it.LeaseUntil == nil {
		t.Fatalf("assigned item: %+v", it)
	}
	if code, body := r.decide(t, id, "alice", events.DecisionBenign, "mine"); code != http.StatusConflict ||
		!strings.Contains(errorOf(t, body), "claimed by bob") {
		t.Errorf("alice deciding after the reassignment: %d %s, want 409 naming bob", code, body)
	}
	if code, body := r.overturn(t, lead, id, events.DecisionBenign, "too early"); code != http.StatusConflict {
		t.Errorf("overturn of an undecided item: %d %s, want 409", code, body)
	}
	code, body = r.decide(t, id, "bob", events.DecisionViolating, "logo of a listed group")
	if code != http.StatusOK {
		t.Fatalf("bob decision: %d %s", code, body)
	}
	first := decode[Item](t, body)
	if code, body := r.assign(t, lead, id, "carol"); code != http.StatusConflict {
		t.Errorf("assign of a decided item: %d %s, want 409", code, body)
	}

	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"no reason", `{"decision":"benign"}`, http.StatusBadRequest},
		{"bad decision", `{"decision":"unsure","reason":"r"}`, http.StatusBadRequest},
		{"same decision", `{"decision":"violating","reason":"agree"}`, http.StatusConflict},
	} {
		if code, body := callAs(t, lead, http.MethodPost, r.itemURL(id)+"/overturn", tc.body); code != tc.want {
			t.Errorf("overturn, %s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
	code, body = r.overturn(t, lead, id, events.DecisionBenign, "news report, not propaganda")
	if code != http.StatusOK {
		t.Fatalf("overturn: %d %s", code, body)
	}
	second := decode[Item](t, body)
	if second.Decision != events.DecisionBenign || second.DecidedBy != "lena" || second.DecisionReason != "news report, not propaganda" ||
		second.Overturns != first.DecidedEventID || second.DecidedEventID == first.DecidedEventID || len(second.History) != 1 ||
		second.History[0].EventID != first.DecidedEventID || second.History[0].DecidedBy != "bob" ||
		second.History[0].Decision != events.DecisionViolating || second.History[0].Reason != "logo of a listed group" {
		t.Fatalf("overturned item: %+v", second)
	}
	// The same overturn again is a repeat: same event, nothing new.
	code, body = r.overturn(t, lead, id, events.DecisionBenign, "news report, not propaganda")
	if again := decode[Item](t, body); code != http.StatusOK || again.DecidedEventID != second.DecidedEventID {
		t.Errorf("repeated overturn: %d %+v", code, again)
	}
	// An admin may do what a lead may, and overturn the overturn.
	code, body = r.overturn(t, tokenFor(t, "ada", RoleAdmin), id, events.DecisionViolating, "the caption glorifies the attack")
	if code != http.StatusOK {
		t.Fatalf("admin overturn: %d %s", code, body)
	}
	third := decode[Item](t, body)
	if third.Overturns != second.DecidedEventID || len(third.History) != 2 || third.History[1].EventID != second.DecidedEventID {
		t.Fatalf("second overturn: %+v", third)
	}

	msgs := readTopic(t, cfg, cfg.Topics.ReviewDecided, 3)
	want := []struct{ decision, by, overturns, eventID string }{
		{events.DecisionViolating, "bob", "", first.DecidedEventID},
		{events.DecisionBenign, "lena", first.DecidedEventID, second.DecidedEventID},
		{events.DecisionViolating, "ada", second.DecidedEventID, third.DecidedEventID},
	}
	for i, m := range msgs {
		var ev events.ReviewDecided
		if err := events.Decode(m.Value, events.TypeReviewDecided, &ev); err != nil {
			t.Fatal(err)
		}
		w := want[i]
		if ev.Decision != w.decision || ev.Reviewer != w.by || ev.Overturns != w.overturns || ev.EventID != w.eventID ||
			ev.ContentID != id || ev.CorrelationID != req.CorrelationID || string(m.Key) != id {
			t.Errorf("review.decided %d: %+v, want %+v", i, ev, w)
		}
	}
	if n := testenv.EndOffset(t, cfg.Kafka.Brokers, cfg.Topics.ReviewDecided); n != 3 {
		t.Errorf("%d decisions published, want 3", n)
	}
	if st := r.stats(t); st != (Stats{Decided: 1}) {
		t.Errorf("stats %+v", st)
	}
}
