package review

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// audits reads the first n audit records of the actions topic.
func audits(t *testing.T, cfg Config, n int) []events.EnforcementAction {
	t.Helper()
	var out []events.EnforcementAction
	for _, m := range readTopic(t, cfg, cfg.Topics.Actions, n) {
		var a events.EnforcementAction
		if err := events.Decode(m.Value, events.TypeEnforcementAction, &a); err != nil {
			t.Fatalf("audit record: %v", err)
		}
		out = append(out, a)
	}
	return out
}

func decisionsOn(t *testing.T, msgs []*messaging.Message) []events.ReviewDecided {
	t.Helper()
	var out []events.ReviewDecided
	for _, m := range msgs {
		var ev events.ReviewDecided
		if err := events.Decode(m.Value, events.TypeReviewDecided, &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// queued publishes a review request and waits for its item.
func queued(t *testing.T, cfg Config, r *running, req *events.ReviewRequested) string {
	t.Helper()
	publish(t, cfg, requestMsg(t, cfg, req))
	r.waitItem(t, req.ContentID)
	return req.ContentID
}

// decided claims and decides the item as sub (with the token's roles).
func decided(t *testing.T, r *running, id, token, decision string) {
	t.Helper()
	if code, body := callAs(t, token, http.MethodPost, r.itemURL(id)+"/claim", nil); code != http.StatusOK {
		t.Fatalf("claim: %d %s", code, body)
	}
	code, body := callAs(t, token, http.MethodPost, r.itemURL(id)+"/decision", map[string]string{"decision": decision, "reason": "seen it"})
	if code != http.StatusOK {
		t.Fatalf("decide: %d %s", code, body)
	}
}

// No one overturns their own decision: a lead who claimed and decided an
// item cannot overturn it, a lead who overturned cannot flip it back, and a
// lead who made an earlier decision in the history cannot either. Each
// refusal is 403 and publishes nothing; the assignment is audited with its
// actor.
func TestNoSelfOverturn(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	r := start(t, cfg)
	lena, olga := tokenFor(t, "lena", RoleLead), tokenFor(t, "olga", RoleLead)

	own := queued(t, cfg, r, newRequest(testenv.Name("own")))
	decided(t, r, own, lena, events.DecisionViolating)
	code, body := r.overturn(t, lena, own, events.DecisionBenign, "changed my mind")
	if code != http.StatusForbidden || !strings.Contains(errorOf(t, body), "own decision") {
		t.Errorf("a lead overturning her own decision: %d %s, want 403", code, body)
	}

	other := queued(t, cfg, r, newRequest(testenv.Name("other")))
	if code, body := r.assign(t, olga, other, "bob"); code != http.StatusOK {
		t.Fatalf("assign: %d %s", code, body)
	}
	bob := tokenFor(t, "bob", RoleLead) // a reviewer who is also a lead
	code, body = callAs(t, bob, http.MethodPost, r.itemURL(other)+"/decision", map[string]string{"decision": "violating", "reason": "flag"})
	if code != http.StatusOK {
		t.Fatalf("bob's decision: %d %s", code, body)
	}
	if code, body := r.overturn(t, lena, other, events.DecisionBenign, "a news report"); code != http.StatusOK {
		t.Fatalf("lena's overturn: %d %s", code, body)
	}
	if code, body := r.overturn(t, lena, other, events.DecisionViolating, "flip back"); code != http.StatusForbidden {
		t.Errorf("lena flipping back her own overturn: %d %s, want 403", code, body)
	}
	if code, body := r.overturn(t, bob, other, events.DecisionViolating, "I was right"); code != http.StatusForbidden {
		t.Errorf("bob overturning the overturn of his decision: %d %s, want 403", code, body)
	}
	if code, body := r.overturn(t, olga, other, events.DecisionViolating, "the caption glorifies it"); code != http.StatusOK {
		t.Errorf("a third lead's overturn: %d %s, want 200", code, body)
	}
	if n := testenv.EndOffset(t, cfg.Kafka.Brokers, cfg.Topics.ReviewDecided); n != 4 {
		t.Errorf("%d decisions published, want 4 (two decisions, two overturns)", n)
	}
	// assign, overturn by lena, overturn by olga.
	as := audits(t, cfg, 3)
	want := []struct{ action, actor string }{
		{events.ActionAssign, "olga"}, {events.ActionOverturn, "lena"}, {events.ActionOverturn, "olga"}}
	for i, a := range as {
		if a.Action != want[i].action || a.Actor != want[i].actor || a.Trigger != events.TriggerReview ||
			a.ContentID != other || a.Outcome != events.OutcomeSucceeded {
			t.Errorf("audit record %d: %+v, want %s by %s", i, a, want[i].action, want[i].actor)
		}
	}
}

// Restoring content that an incident bank matched takes two leads: the
// first lead's overturn is a proposal (202) and publishes nothing, the
// proposer repeating is a 202 repeat, the original decider cannot approve,
// and a second lead's approval publishes one review.decided naming both.
func TestSecondLeadRestoresIncidentContent(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	r := start(t, cfg)
	req := newRequest(testenv.Name("incident"))
	req.Matches[0].Incident = true
	id := queued(t, cfg, r, req)
	alice := tokenFor(t, "alice", RoleLead)
	decided(t, r, id, alice, events.DecisionViolating)
	lena, olga := tokenFor(t, "lena", RoleLead), tokenFor(t, "olga", RoleLead)

	for range 2 { // the proposal, then its repeat
		code, body := r.overturn(t, lena, id, events.DecisionBenign, "satire")
		it := decode[Item](t, body)
		if p := it.PendingOverturn; code != http.StatusAccepted || it.Decision != events.DecisionViolating || p == nil ||
			p.ProposedBy != "lena" || p.Decision != events.DecisionBenign || p.Reason != "satire" {
			t.Fatalf("first lead's restore: %d %s, want 202 with the pending overturn", code, body)
		}
	}
	if code, body := r.overturn(t, alice, id, events.DecisionBenign, "ok then"); code != http.StatusForbidden {
		t.Errorf("the original decider approving: %d %s, want 403", code, body)
	}
	if n := testenv.EndOffset(t, cfg.Kafka.Brokers, cfg.Topics.ReviewDecided); n != 1 {
		t.Fatalf("%d decisions published before the second lead, want 1", n)
	}
	code, body := r.overturn(t, olga, id, events.DecisionBenign, "agreed")
	it := decode[Item](t, body)
	if code != http.StatusOK || it.Decision != events.DecisionBenign || it.DecidedBy != "lena" || it.ApprovedBy != "olga" ||
		it.DecisionReason != "satire" || it.PendingOverturn != nil {
		t.Fatalf("second lead's approval: %d %s", code, body)
	}
	if code, _ := r.overturn(t, olga, id, events.DecisionBenign, "agreed"); code != http.StatusOK {
		t.Errorf("the approval repeated: %d, want 200", code)
	}
	evs := decisionsOn(t, readTopic(t, cfg, cfg.Topics.ReviewDecided, 2))
	if ev := evs[1]; ev.Reviewer != "lena" || ev.ApprovedBy != "olga" || ev.Overturns != evs[0].EventID || ev.Decision != events.DecisionBenign {
		t.Errorf("the restore's review.decided: %+v", ev)
	}
	if n := testenv.EndOffset(t, cfg.Kafka.Brokers, cfg.Topics.ReviewDecided); n != 2 {
		t.Errorf("%d decisions published, want 2", n)
	}
	// Neither lead may now overturn the restore they made together.
	if code, _ := r.overturn(t, olga, id, events.DecisionViolating, "hmm"); code != http.StatusForbidden {
		t.Errorf("the approver overturning the restore: %d, want 403", code)
	}
	// The proposal, its repeat (the same record again, same event id) and
	// the approval.
	as := audits(t, cfg, 3)
	if as[0].Action != events.ActionOverturnProposed || as[0].Actor != "lena" || as[1].EventID != as[0].EventID ||
		as[2].Action != events.ActionOverturn || as[2].Actor != "olga" || !strings.Contains(as[2].Reason, "lena") {
		t.Errorf("audit records %+v", as)
	}
	if n := testenv.EndOffset(t, cfg.Kafka.Brokers, cfg.Topics.Actions); n != 3 {
		t.Errorf("%d audit records, want 3", n)
	}
}

// Under allowlist-approval two_reviewers a second reviewer's agreement
// allow-lists a benign decision, once; a lead may not revoke the entry, an
// admin may, and both steps are audited with their actors.
func TestAllowlistByTwoReviewersAndAdminRevoke(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.AllowlistApproval = ApprovalTwoReviewers
	r := start(t, cfg)
	req := newRequest(testenv.Name("fine"))
	req.Signals = uploadSignals(t)
	id := queued(t, cfg, r, req)
	decided(t, r, id, tokenFor(t, "bob"), events.DecisionBenign)
	entry := FeedbackEntryID(id)
	if _, ok := loadBanks(t, cfg).Entry(cfg.BenignBank, entry); ok {
		t.Fatal("a single benign decision allow-listed the content")
	}
	code, body := callAs(t, tokenFor(t, "carol"), http.MethodPost, r.itemURL(id)+"/allowlist", map[string]string{"reason": "agree"})
	if it := decode[Item](t, body); code != http.StatusOK || it.Allowlist == nil || !it.Allowlist.Published ||
		!slices.Equal(it.Allowlist.AgreedBy, []string{"carol"}) {
		t.Fatalf("carol's agreement: %d %s", code, body)
	}
	if e, ok := loadBanks(t, cfg).Entry(cfg.BenignBank, entry); !ok || e.Disabled {
		t.Fatalf("after two reviewers agreed the benign entry is %+v (found %v)", e, ok)
	}
	if code, _ := callAs(t, tokenFor(t, "dave"), http.MethodPost, r.itemURL(id)+"/allowlist", map[string]string{"reason": "me too"}); code != http.StatusOK {
		t.Errorf("a later agreement: %d, want 200", code)
	}
	revoke := func(token string) (int, []byte) {
		return callAs(t, token, http.MethodPost, r.itemURL(id)+"/allowlist/revoke", map[string]string{"reason": "the hashes were spoofed"})
	}
	if code, body := revoke(tokenFor(t, "lena", RoleLead)); code != http.StatusForbidden {
		t.Errorf("a lead revoking: %d %s, want 403", code, body)
	}
	code, body = revoke(tokenFor(t, "ada", RoleAdmin))
	if it := decode[Item](t, body); code != http.StatusOK || it.Allowlist == nil || it.Allowlist.RevokedBy != "ada" ||
		it.Decision != events.DecisionBenign {
		t.Fatalf("admin revoke: %d %s", code, body)
	}
	if e, ok := loadBanks(t, cfg).Entry(cfg.BenignBank, entry); !ok || !e.Disabled {
		t.Errorf("after the revoke the benign entry is %+v (found %v), want disabled", e, ok)
	}
	// configure, the allow-list add, the disable: nothing for dave.
	if n := testenv.EndOffset(t, cfg.Kafka.Brokers, cfg.Topics.BankUpdates); n != 3 {
		t.Errorf("%d bank updates, want 3", n)
	}
	as := audits(t, cfg, 2)
	if as[0].Action != events.ActionAllowlistConfirmed || as[0].Actor != "carol" ||
		as[1].Action != events.ActionAllowlistRevoked || as[1].Actor != "ada" || as[1].Reason != "the hashes were spoofed" {
		t.Errorf("audit records %+v", as)
	}
}
