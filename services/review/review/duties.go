package review

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// Separation of duties: no one person can take content down for good, bring
// it back or whitelist it on their own.
//
//   - No one overturns their own decision (prepareOverturnScript).
//   - Restoring content an incident or critical bank matched takes two leads
//     (overturn).
//   - A benign decision keeps or restores that one upload; its hashes enter
//     the allow bank only when the allowlist-approval rule is met: a lead's
//     confirmation (lead) or any second person's agreement (two_reviewers),
//     never the decider's own (allowScript).
//   - Only an admin revokes an allow-list entry.
//   - Every privileged action is an audit record on enforcement.actions with
//     its actor.

// Allow-listing approval rules (the allowlist-approval setting).
const (
	// ApprovalLead needs a lead's (or admin's) confirmation of the benign
	// decision; a reviewer's agreement is recorded but does not suffice.
	ApprovalLead = "lead"
	// ApprovalTwoReviewers needs one more person, of any role, to agree
	// with the decider: two distinct reviewers. A lead's confirmation is
	// such an agreement.
	ApprovalTwoReviewers = "two_reviewers"
)

// agreement is one person's agreement to allow-list a benign decision.
type agreement struct {
	By   string `json:"by"`
	Lead bool   `json:"lead"`
}

// KEYS: item. ARGV: who, 1 if who is a lead (or admin) else 0, the
// approval rule. Records who's agreement to allow-list the item's benign
// decision. Returns {status, HGETALL, now}; status is missing, notbenign (not
// decided benign), busy (an overturn is in flight), self (who made the
// decision), revoked, published (done before), confirmed (the rule was met
// before but the entry may not be out yet: publish it), met (this agreement
// meets the rule), repeat (who agreed before) or agreed (recorded, the rule
// is not met yet).
var allowScript = redis.NewScript(luaPrelude + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local now = now_us()
local f = redis.call('HMGET', KEYS[1], 'state', 'decision', 'decided_event_id', 'decided_by', 'al_for', 'al_agreed', 'al_state', 'ov_key')
if f[1] ~= 'decided' or f[2] ~= 'benign' then return {'notbenign', redis.call('HGETALL', KEYS[1]), us(now)} end
if f[8] then return {'busy', redis.call('HGETALL', KEYS[1]), us(now)} end
if f[4] == ARGV[1] then return {'self', redis.call('HGETALL', KEYS[1]), us(now)} end
local agreed = {}
if f[5] == f[3] then
  if f[7] == 'revoked' or f[7] == 'published' or f[7] == 'confirmed' then
    return {f[7], redis.call('HGETALL', KEYS[1]), us(now)}
  end
  if f[6] and f[6] ~= '' then agreed = cjson.decode(f[6]) end
end
for _, a in ipairs(agreed) do
  if a.by == ARGV[1] then return {'repeat', redis.call('HGETALL', KEYS[1]), us(now)} end
end
table.insert(agreed, {by = ARGV[1], lead = (ARGV[2] == '1')})
local met = false
for _, a in ipairs(agreed) do
  if ARGV[3] == 'two_reviewers' or a.lead then met = true end
end
redis.call('HSET', KEYS[1], 'al_for', f[3], 'al_agreed', cjson.encode(agreed))
if met then
  redis.call('HSET', KEYS[1], 'al_state', 'confirmed')
  return {'met', redis.call('HGETALL', KEYS[1]), us(now)}
end
return {'agreed', redis.call('HGETALL', KEYS[1]), us(now)}
`)

// KEYS: item. ARGV: decided event id, from state, to state, revoked_by ("" to
// leave it). Moves the allow-listing of that decision from one state to the
// next (confirmed to published, published to revoked). Returns 1 if it did.
var allowStateScript = redis.NewScript(`
local f = redis.call('HMGET', KEYS[1], 'decided_event_id', 'al_for', 'al_state')
if f[1] ~= ARGV[1] or f[2] ~= ARGV[1] or f[3] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'al_state', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'al_revoked_by', ARGV[4]) end
return 1
`)

func (s *store) agreeAllow(ctx context.Context, id, who string, lead bool, rule string) (scriptResult, error) {
	l := "0"
	if lead {
		l = "1"
	}
	res, err := s.run(ctx, allowScript, id, []string{s.itemKey(id)}, who, l, rule)
	if err != nil {
		return res, fmt.Errorf("allow-list agreement on %s: %w", id, err)
	}
	return res, nil
}

func (s *store) moveAllowState(ctx context.Context, id, eventID, from, to, by string) (bool, error) {
	n, err := allowStateScript.Run(ctx, s.rdb, []string{s.itemKey(id)}, eventID, from, to, by).Int()
	if err != nil {
		return false, fmt.Errorf("allow-list state of %s: %w", id, err)
	}
	return n == 1, nil
}

// auditMessage is the audit record of a privileged review action by actor
// on the item. key identifies the action; the event id derives from it, so
// a republished record is recognisably the same record.
func (s *Service) auditMessage(it *Item, action, actor, reason, key string) (messaging.Message, error) {
	evidence := it.Matches
	if evidence == nil {
		evidence = []events.Match{}
	}
	act := events.EnforcementAction{
		Meta:    events.Follow(events.TypeEnforcementAction, &it.request.Meta),
		Actor:   actor,
		Action:  action,
		Trigger: events.TriggerReview, Outcome: events.OutcomeSucceeded,
		Reason: reason, Evidence: evidence, IdempotencyKey: key, Attempts: 1,
		UploadedAt: it.UploadedAt, ActedAt: time.Now().UTC(),
	}
	if len(evidence) > 0 {
		act.Bank, act.Labels = evidence[0].Bank, evidence[0].Labels
	}
	sum := sha256.Sum256([]byte(key))
	act.EventID = hex.EncodeToString(sum[:16])
	return messaging.EventMessage(s.cfg.Topics.Actions, &act)
}

// audit publishes the audit record of a privileged action.
func (s *Service) audit(ctx context.Context, it *Item, action, actor, reason, key string) error {
	m, err := s.auditMessage(it, action, actor, reason, key)
	if err != nil {
		return err
	}
	if err := s.pub.Publish(ctx, m); err != nil {
		return fmt.Errorf("audit record of %s on %s: %w", action, it.ID, err)
	}
	return nil
}

type reasonRequest struct {
	Reason string `json:"reason"`
}

func decodeReason(w http.ResponseWriter, r *http.Request) (string, bool) {
	var req reasonRequest
	if !decodeBody(w, r, &req, false) {
		return "", false
	}
	if err := validReason(req.Reason); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return "", false
	}
	return req.Reason, true
}

func validReason(reason string) error {
	return validDecision(events.DecisionBenign, reason)
}

// allowlistItem is a reviewer's agreement, or a lead's confirmation, that
// the item's benign decision may allow-list its content.
func (s *Service) allowlistItem(w http.ResponseWriter, r *http.Request) {
	reason, ok := decodeReason(w, r)
	if !ok {
		return
	}
	s.answer(w, r, s.allowlist(r.Context(), r.PathValue("id"), principalOf(r), reason))
}

// allowlist records p's agreement; when it meets the approval rule the
// allow-bank entry is published, once (a later call finishes a publish that
// failed).
func (s *Service) allowlist(ctx context.Context, id string, p *principal, reason string) outcome {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), decisionTimeout)
	defer cancel()
	res, err := s.store.agreeAllow(ctx, id, p.Subject, p.isLead(), s.cfg.AllowlistApproval)
	if err != nil {
		return failure(err)
	}
	it := res.item
	switch res.status {
	case "missing":
		return noItem(id)
	case "notbenign":
		return refusal(http.StatusConflict, "the item is not decided benign: only a benign decision can be allow-listed")
	case "busy":
		return refusal(http.StatusConflict, "an overturn of this item is being published; look again")
	case "self":
		return refusal(http.StatusForbidden, "%s made this decision: allow-listing needs someone else's agreement", p.Subject)
	case "revoked":
		return refusal(http.StatusConflict, "an admin (%s) revoked this item's allow-list entry", it.Allowlist.RevokedBy)
	case "published":
		return ok(it)
	case "repeat", "agreed":
		key := "review/" + id + "/allowlist_agreed/" + it.DecidedEventID + "/" + p.Subject
		if err := s.audit(ctx, it, events.ActionAllowlistAgreed, p.Subject, reason, key); err != nil {
			return outcome{code: http.StatusServiceUnavailable, err: err,
				msg: "the agreement is recorded but its audit record could not be published; repeat it"}
		}
		return outcome{item: it, code: http.StatusAccepted}
	case "met", "confirmed":
		var audit []messaging.Message
		if res.status == "met" {
			key := "review/" + id + "/allowlist_confirmed/" + it.DecidedEventID
			m, err := s.auditMessage(it, events.ActionAllowlistConfirmed, p.Subject, reason, key)
			if err != nil {
				return failure(err)
			}
			audit = append(audit, m)
		}
		done, err := s.publishAllowlist(ctx, it, audit)
		if err != nil {
			return outcome{code: http.StatusServiceUnavailable, err: err,
				msg: "allow-listing is agreed but the allow-bank entry could not be published; repeat to finish it"}
		}
		return ok(done)
	}
	return failure(fmt.Errorf("allow script status %q", res.status))
}

// publishAllowlist publishes the allow-bank entry of a confirmed item (and
// the audit records given) and records it as published.
func (s *Service) publishAllowlist(ctx context.Context, it *Item, audit []messaging.Message) (*Item, error) {
	var agreed []string
	if it.Allowlist != nil {
		agreed = it.Allowlist.AgreedBy
	}
	updates := s.allowlistUpdates(&it.request, it.DecidedBy, agreed)
	msgs, err := s.feedbackMessages(ctx, updates)
	if err != nil {
		return nil, fmt.Errorf("allow-list %s: %w", it.ID, err)
	}
	if err := s.pub.Publish(ctx, append(msgs, audit...)...); err != nil {
		return nil, fmt.Errorf("allow-list %s: %w", it.ID, err)
	}
	for _, u := range updates {
		s.metrics.feedback.WithLabelValues(u.Bank, u.Op).Inc()
	}
	if _, err := s.store.moveAllowState(ctx, it.ID, it.DecidedEventID, "confirmed", "published", ""); err != nil {
		return nil, err
	}
	s.log.Info("benign decision allow-listed", "content_id", it.ID, "decided_by", it.DecidedBy, "agreed_by", agreed,
		"rule", s.cfg.AllowlistApproval, "bank", s.cfg.BenignBank, "entries", len(updates))
	done, err := s.store.get(ctx, it.ID)
	if err != nil {
		return nil, err
	}
	return done, nil
}

// revokeAllowlist is an admin's removal of an item's allow-list entry: a
// bank.updates disable of it in the benign bank. The decision stands (the
// upload stays as decided); only later copies are no longer let through.
func (s *Service) revokeAllowlist(w http.ResponseWriter, r *http.Request) {
	reason, ok := decodeReason(w, r)
	if !ok {
		return
	}
	s.answer(w, r, s.revoke(r.Context(), r.PathValue("id"), principalOf(r), reason))
}

func (s *Service) revoke(ctx context.Context, id string, admin *principal, reason string) outcome {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), decisionTimeout)
	defer cancel()
	it, no := s.existing(ctx, id)
	if no != nil {
		return *no
	}
	if it.Allowlist == nil || !it.Allowlist.Published {
		return refusal(http.StatusConflict, "the item's content is not allow-listed")
	}
	if it.Allowlist.RevokedBy != "" {
		return ok(it) // a repeat
	}
	u := events.NewBankDisable(s.cfg.BenignBank, FeedbackEntryID(it.ContentID))
	updates := withMeta(&it.request, []events.BankUpdate{u})
	bm, err := messaging.EventMessage(s.cfg.Topics.BankUpdates, &updates[0])
	if err != nil {
		return failure(err)
	}
	key := "review/" + id + "/allowlist_revoked/" + it.DecidedEventID
	am, err := s.auditMessage(it, events.ActionAllowlistRevoked, admin.Subject, reason, key)
	if err != nil {
		return failure(err)
	}
	if err := s.pub.Publish(ctx, bm, am); err != nil {
		return outcome{code: http.StatusServiceUnavailable, err: err, msg: "could not publish the revocation; try again"}
	}
	s.metrics.feedback.WithLabelValues(s.cfg.BenignBank, events.BankOpDisable).Inc()
	if _, err := s.store.moveAllowState(ctx, id, it.DecidedEventID, "published", "revoked", admin.Subject); err != nil {
		return failure(err)
	}
	s.log.Info("allow-list entry revoked", "content_id", id, "admin", admin.Subject, "bank", s.cfg.BenignBank, "reason", reason)
	done, err := s.store.get(ctx, id)
	if err != nil {
		return failure(err)
	}
	return ok(done)
}
