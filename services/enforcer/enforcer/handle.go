package enforcer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/takedown-pipeline/takedown/pkg/edges/webhook"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/policy"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// handle routes one message by its topic, or by its event-type header should
// the topic be neither of ours.
func (s *Service) handle(ctx context.Context, msg *messaging.Message) error {
	kind := msg.Header(messaging.HeaderEventType)
	switch msg.Topic {
	case s.cfg.Topics.Matched:
		kind = events.TypeMediaMatched
	case s.cfg.Topics.ReviewDecided:
		kind = events.TypeReviewDecided
	}
	switch kind {
	case events.TypeMediaMatched:
		return s.handleMatched(ctx, msg)
	case events.TypeReviewDecided:
		return s.handleDecided(ctx, msg)
	default:
		return messaging.Permanentf("%w: message on topic %q with event type %q: the enforcer handles %s and %s",
			events.ErrInvalid, msg.Topic, kind, events.TypeMediaMatched, events.TypeReviewDecided)
	}
}

func (s *Service) handleMatched(ctx context.Context, msg *messaging.Message) error {
	var ev events.MediaMatched
	if err := events.Decode(msg.Value, events.TypeMediaMatched, &ev); err != nil {
		return messaging.Permanent(err)
	}
	log := messaging.Log(ctx).With("content_id", ev.ContentID, "event_id", ev.EventID)
	if ev.Unhashable != nil {
		return s.handleUnhashable(ctx, log, &ev)
	}
	if ev.Stream != nil {
		return s.handleStream(ctx, log, &ev)
	}
	return s.decideOnMatches(ctx, log, &ev)
}

// decideOnMatches acts on an upload's matches by the removal policy: removes
// (or restricts) it, queues it for review, or lets it be.
func (s *Service) decideOnMatches(ctx context.Context, log *slog.Logger, ev *events.MediaMatched) error {
	d := s.policy.Decide(ev.Matches)
	switch d.Action {
	case policy.ActionRemove:
		// The action rests on the matches close enough to act on alone.
		choice := s.rules.Choose(d.Removable)
		trigger := events.TriggerAuto
		if d.Incident {
			trigger = events.TriggerIncident
		}
		err := s.enforce(ctx, log, actRequest{
			parent: &ev.Meta, action: choice.Action, key: webhook.IdempotencyKey(ev.ContentID, choice.Action),
			trigger: trigger, reason: withRule(d.Reason, choice), basis: choice.Basis,
			evidence: ev.Matches, uploadedAt: ev.UploadedAt, needed: notInEffect(choice.Action),
		})
		if err != nil || choice.Action == events.ActionRemove {
			return err
		}
		// A restriction must not bury a weaker match that calls for
		// removal: a person decides on it.
		if all := s.rules.Choose(ev.Matches); all.Action == events.ActionRemove {
			reason := fmt.Sprintf("restricted automatically (%s); an uncertain match calls for removal: %s distance %d to bank %s entry %s (rule %s)",
				d.Reason, all.Basis.SignalType, all.Basis.Distance, all.Basis.Bank, all.Basis.EntryID, all.Rule)
			return s.queueForReview(ctx, log, ev, reason, all.Basis)
		}
		return nil
	case policy.ActionReview:
		return s.queueForReview(ctx, log, ev, d.Reason, d.Best)
	default:
		log.Debug("no match; nothing to enforce")
		return nil
	}
}

func (s *Service) handleDecided(ctx context.Context, msg *messaging.Message) error {
	var ev events.ReviewDecided
	if err := events.Decode(msg.Value, events.TypeReviewDecided, &ev); err != nil {
		return messaging.Permanent(err)
	}
	log := messaging.Log(ctx).With("content_id", ev.ContentID, "event_id", ev.EventID, "reviewer", ev.Reviewer)
	if ev.Overturns != "" {
		return s.handleOverturn(ctx, log.With("overturns", ev.Overturns), &ev)
	}
	if ev.Decision != events.DecisionViolating {
		return s.releaseHold(ctx, log, &ev)
	}
	choice := s.rules.Choose(ev.Matches)
	if isStream(ev.Matches) || ev.Stream != nil {
		// A live stream queued for review: violating stops it.
		return s.enforce(ctx, log, actRequest{
			parent: &ev.Meta, action: events.ActionStopStream, key: webhook.IdempotencyKey(ev.ContentID, events.ActionStopStream),
			trigger: events.TriggerReview, reason: decisionReason(&ev), basis: choice.Basis,
			evidence: ev.Matches, uploadedAt: ev.UploadedAt,
		})
	}
	return s.enforce(ctx, log, actRequest{
		parent: &ev.Meta, action: choice.Action, key: webhook.IdempotencyKey(ev.ContentID, choice.Action),
		trigger: events.TriggerReview, reason: withRule(decisionReason(&ev), choice), basis: choice.Basis,
		evidence: ev.Matches, uploadedAt: ev.UploadedAt, needed: notInEffect(choice.Action),
	})
}

// handleOverturn undoes an overturned decision's effect: a benign decision
// restores content that is removed or restricted; a violating one removes
// (or restricts, by the rules) content that is not.
func (s *Service) handleOverturn(ctx context.Context, log *slog.Logger, ev *events.ReviewDecided) error {
	reason := fmt.Sprintf("overturns decision %s: %s", ev.Overturns, decisionReason(ev))
	r := actRequest{
		parent: &ev.Meta, trigger: events.TriggerOverturn, evidence: ev.Matches, uploadedAt: ev.UploadedAt,
	}
	if ev.Decision == events.DecisionBenign {
		r.action = events.ActionRestore
		r.reason = reason
		r.basis = s.policy.Decide(ev.Matches).Best
		r.needed = func(status string) (bool, string) {
			if status == events.ActionRemove || status == events.ActionRestrict || status == events.ActionHold {
				return true, ""
			}
			return false, "overturned to benign, but the content is neither removed, restricted nor held: nothing to restore"
		}
	} else {
		choice := s.rules.Choose(ev.Matches)
		r.action = choice.Action
		r.reason = withRule(reason, choice)
		r.basis = choice.Basis
		r.needed = notInEffect(choice.Action)
	}
	r.key = OverturnKey(ev.ContentID, r.action, ev.Overturns)
	return s.enforce(ctx, log, r)
}

// OverturnKey is the idempotency key of action taken on contentID because
// the decision with event id overturns was overturned. It names the
// overturned decision as well as the content and action: after remove,
// restore (an overturn) and a second overturn, the second removal needs a key
// the platform has not seen, or it would take it for the first one.
func OverturnKey(contentID, action, overturns string) string {
	return webhook.IdempotencyKey(contentID, action+"\x00overturns\x00"+overturns)
}

func decisionReason(ev *events.ReviewDecided) string {
	r := fmt.Sprintf("reviewer %s decided %s", ev.Reviewer, ev.Decision)
	if ev.Reason != "" {
		r += ": " + ev.Reason
	}
	return r
}

func withRule(reason string, c policy.Choice) string {
	return fmt.Sprintf("%s; %s by rule %s", reason, c.Action, c.Rule)
}

// notInEffect says whether action is still to do on content whose status
// (the last action in effect) is given: not when the same or a stronger one
// is in effect already, e.g. a restriction after an overturn removed it.
func notInEffect(action string) func(status string) (bool, string) {
	return func(status string) (bool, string) {
		if status != "" && policy.Stronger(status, action) == status {
			return false, fmt.Sprintf("content is %s already: no %s", events.ActionDone(status), action)
		}
		return true, ""
	}
}

// actRequest is one webhook action to take once.
type actRequest struct {
	parent          *events.Meta
	action, key     string
	trigger, reason string
	// basis is the match the action rests on: its bank and labels go on
	// the request and the audit record.
	basis      events.Match
	evidence   []events.Match
	uploadedAt time.Time
	// needed, if set, is asked before the platform is called, with the
	// content's status; false (and why) skips the action.
	needed func(status string) (bool, string)
}

// errRetryNotRecorded stops the webhook's retries when the record of a
// failed attempt cannot be published: the message is retried later, whole.
var errRetryNotRecorded = errors.New("retry not recorded")

// enforce asks the platform to take r.action, once per idempotency key.
func (s *Service) enforce(ctx context.Context, log *slog.Logger, r actRequest) error {
	if r.evidence == nil {
		r.evidence = []events.Match{}
	}
	state, sentAttempts, err := s.actionState(ctx, r.key)
	if err != nil {
		return err
	}
	switch state {
	case stateDone:
		s.duplicates.Add(1)
		log.Info("already done; skipping", "action", r.action, "idempotency_key", r.key, "trigger", r.trigger)
		return nil
	case stateSent:
		// The platform accepted this action before, but recording it
		// failed: record it now without calling the platform again.
		log.Info("action already accepted by the platform; recording it", "action", r.action, "idempotency_key", r.key)
		return s.record(ctx, log, r, sentAttempts)
	}
	if r.needed != nil {
		status, err := s.contentStatus(ctx, r.parent.ContentID)
		if err != nil {
			return err
		}
		if ok, why := r.needed(status); !ok {
			s.noops.Add(1)
			log.Info(why, "action", r.action, "trigger", r.trigger, "status", status)
			return nil
		}
	}
	labels := r.basis.Labels
	if labels == nil {
		labels = []string{} // an action on no match (unhashable media): an empty list, not null
	}
	hook := *s.hook
	hook.OnRetry = func(attempt int, err error) error { return s.recordRetry(ctx, log, r, attempt, err) }
	attempts, sendErr := hook.Send(ctx, webhook.Takedown{
		Action: r.action,
		// The platform gets back its own id and its client; the pipeline's
		// scoped id keys everything on this side.
		ContentID:      r.parent.PlatformContentID(),
		ClientID:       r.parent.ClientID,
		Reason:         r.reason,
		Bank:           r.basis.Bank,
		Labels:         labels,
		Evidence:       r.evidence,
		IdempotencyKey: r.key,
		CorrelationID:  r.parent.CorrelationID,
		Trigger:        r.trigger,
		RequestedAt:    time.Now().UTC(),
	})
	if sendErr == nil {
		if err := s.markSent(ctx, r.key, attempts, r.parent.ContentID, r.action); err != nil {
			return err
		}
		return s.record(ctx, log, r, attempts)
	}
	if ctx.Err() != nil || errors.Is(sendErr, errRetryNotRecorded) {
		// Out of time (shutdown or handler timeout) or unable to keep the
		// audit trail, not refused: the message stays uncommitted and is
		// tried again.
		return fmt.Errorf("%s of %s interrupted: %w", r.action, r.parent.ContentID, sendErr)
	}
	if !webhook.Refused(sendErr) {
		// The platform is down or overloaded, not refusing: that is an
		// outage to wait out, like one of Redis or Kafka. The message stays
		// uncommitted and is tried again with backoff until the platform
		// answers, so an outage delays takedowns but never loses one.
		if err := s.recordRetry(ctx, log, r, attempts, sendErr); err != nil {
			return fmt.Errorf("%s of %s: %w (webhook error: %v)", r.action, r.parent.ContentID, err, sendErr)
		}
		return fmt.Errorf("%s of %s: platform unavailable after %d attempt(s), will retry: %w", r.action, r.parent.ContentID, attempts, sendErr)
	}
	act := s.action(r.parent, r.action, r.trigger, r.reason, r.basis, r.evidence, r.key, attempts, r.uploadedAt)
	act.Outcome = events.OutcomeFailed
	act.Error = sendErr.Error()
	// Each failure is a fact of its own: a replay that fails again must not
	// look like a duplicate of the first record.
	act.EventID = events.NewID()
	if err := messaging.PublishEvent(ctx, s.pub, s.cfg.Topics.Actions, &act); err != nil {
		return fmt.Errorf("record failed %s of %s: %w (webhook error: %v)", r.action, r.parent.ContentID, err, sendErr)
	}
	s.failures.Add(1)
	log.Error("action refused by the platform; recorded and dead-lettered", "action", r.action, "idempotency_key", r.key,
		"trigger", r.trigger, "attempts", attempts, "err", sendErr)
	// No done key: replaying the dead letter tries the action again.
	return messaging.Permanent(fmt.Errorf("%s of %s failed after %d attempt(s): %w", r.action, r.parent.ContentID, attempts, sendErr))
}

// recordRetry publishes the audit record of a failed webhook attempt that
// will be tried again.
func (s *Service) recordRetry(ctx context.Context, log *slog.Logger, r actRequest, attempt int, err error) error {
	act := s.action(r.parent, r.action, r.trigger, r.reason, r.basis, r.evidence, r.key, attempt, r.uploadedAt)
	act.Outcome = events.OutcomeRetrying
	act.Error = err.Error()
	// A fact of its own, like a failure: a redelivery's attempts are new
	// attempts.
	act.EventID = events.NewID()
	if perr := messaging.PublishEvent(ctx, s.pub, s.cfg.Topics.Actions, &act); perr != nil {
		return fmt.Errorf("%w: %v", errRetryNotRecorded, perr)
	}
	s.retries.Add(1)
	log.Warn("webhook attempt failed; retrying", "action", r.action, "idempotency_key", r.key, "attempt", attempt, "err", err)
	return nil
}

// record publishes the audit record of an action the platform accepted and
// marks it done.
func (s *Service) record(ctx context.Context, log *slog.Logger, r actRequest, attempts int) error {
	act := s.action(r.parent, r.action, r.trigger, r.reason, r.basis, r.evidence, r.key, attempts, r.uploadedAt)
	if err := messaging.PublishEvent(ctx, s.pub, s.cfg.Topics.Actions, &act); err != nil {
		return fmt.Errorf("record %s of %s: %w", r.action, r.parent.ContentID, err)
	}
	if err := s.markDone(ctx, r.key, act.EventID, r.parent.ContentID, r.action); err != nil {
		return err
	}
	s.metrics.actionTaken(ctx, r.action, r.trigger, r.uploadedAt)
	switch r.action {
	case events.ActionRestore:
		s.restores.Add(1)
	case events.ActionHold:
		s.holds.Add(1)
	default:
		s.sent.Add(1)
	}
	log.Info("action taken", "action", r.action, "idempotency_key", r.key, "trigger", r.trigger, "attempts", attempts,
		"bank", r.basis.Bank, "entry_id", r.basis.EntryID, "reason", r.reason)
	return nil
}

// queueForReview asks for a person's verdict, once per content id.
func (s *Service) queueForReview(ctx context.Context, log *slog.Logger, ev *events.MediaMatched, reason string, best events.Match) error {
	key := webhook.IdempotencyKey(ev.ContentID, events.ActionQueueForReview)
	if done, err := s.isDone(ctx, key); err != nil || done {
		if done {
			s.duplicates.Add(1)
			log.Info("already done; skipping review request", "idempotency_key", key)
		}
		return err
	}
	req := events.ReviewRequested{
		Meta:        events.Follow(events.TypeReviewRequested, &ev.Meta),
		MediaURL:    ev.MediaURL,
		ContentType: ev.ContentType,
		UploadedAt:  ev.UploadedAt,
		Reason:      reason,
		// Each match keeps its bank's incident flag and severity, which
		// order the review queue.
		Matches:    ev.Matches,
		Signals:    ev.Signals,
		Unhashable: ev.Unhashable,
		Stream:     ev.Stream,
	}
	// A republish after a crash carries the same id, so it reads as the
	// same request.
	req.EventID = derivedID(key, events.TypeReviewRequested)
	if err := messaging.PublishEvent(ctx, s.pub, s.cfg.Topics.ReviewRequested, &req); err != nil {
		return fmt.Errorf("request review of %s: %w", ev.ContentID, err)
	}
	act := s.action(&ev.Meta, events.ActionQueueForReview, events.TriggerAuto, reason, best, ev.Matches, key, 1, ev.UploadedAt)
	if err := messaging.PublishEvent(ctx, s.pub, s.cfg.Topics.Actions, &act); err != nil {
		return fmt.Errorf("record review request of %s: %w", ev.ContentID, err)
	}
	if err := s.markDone(ctx, key, act.EventID, "", ""); err != nil {
		return err
	}
	s.queued.Add(1)
	s.metrics.actionTaken(ctx, events.ActionQueueForReview, events.TriggerAuto, ev.UploadedAt)
	log.Info("uncertain match queued for review", "idempotency_key", key, "reason", reason)
	return nil
}

// action builds a succeeded audit record; its event id is derived from the
// idempotency key and outcome, so a record republished after a crash is
// recognisably the same record.
func (s *Service) action(parent *events.Meta, action, trigger, reason string, best events.Match,
	evidence []events.Match, key string, attempts int, uploadedAt time.Time) events.EnforcementAction {
	if evidence == nil {
		evidence = []events.Match{}
	}
	act := events.EnforcementAction{
		Meta:           events.Follow(events.TypeEnforcementAction, parent),
		Action:         action,
		Trigger:        trigger,
		Outcome:        events.OutcomeSucceeded,
		Reason:         reason,
		Bank:           best.Bank,
		Labels:         best.Labels,
		Evidence:       evidence,
		IdempotencyKey: key,
		Attempts:       attempts,
		UploadedAt:     uploadedAt,
		ActedAt:        time.Now().UTC(),
	}
	act.EventID = derivedID(key, events.OutcomeSucceeded)
	return act
}

// ActionEventID is the event id of the audit record of the action with
// idempotency key key and the given outcome.
func ActionEventID(key, outcome string) string { return derivedID(key, outcome) }

func derivedID(key, what string) string {
	sum := sha256.Sum256([]byte(key + "\x00" + what))
	return hex.EncodeToString(sum[:16])
}

// DoneKey is the Redis key that marks the action with idempotency key key as
// done.
func DoneKey(prefix, key string) string { return prefix + ":enforcer:done:" + key }

// StatusKey is the Redis key that holds the last webhook action in effect on
// a content (remove, restrict or restore).
func StatusKey(prefix, contentID string) string { return prefix + ":enforcer:status:" + contentID }

// States of an action under its done key: absent (to do), sent (the
// platform accepted it but it is not recorded yet) or done (recorded; the key
// holds the audit record's event id).
const (
	stateNone = iota
	stateSent
	stateDone
)

const sentPrefix = "sent:"

// actionState reads the done key; for a sent action it also returns the
// webhook attempts it took.
func (s *Service) actionState(ctx context.Context, key string) (state, attempts int, err error) {
	v, err := s.rdb.Get(ctx, DoneKey(s.cfg.Redis.Prefix, key)).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return stateNone, 0, nil
	case err != nil:
		return 0, 0, fmt.Errorf("check done key: %w", err)
	}
	return parseState(v)
}

func parseState(v string) (state, attempts int, err error) {
	if rest, ok := strings.CutPrefix(v, sentPrefix); ok {
		n, _ := strconv.Atoi(rest)
		return stateSent, n, nil
	}
	return stateDone, 0, nil
}

func (s *Service) isDone(ctx context.Context, key string) (bool, error) {
	st, _, err := s.actionState(ctx, key)
	return st == stateDone, err
}

// contentStatus is the last webhook action in effect on contentID: remove,
// restrict, restore, or "" for none. Content acted on before statuses were
// kept has none: its plain remove and restrict keys tell.
func (s *Service) contentStatus(ctx context.Context, contentID string) (string, error) {
	p := s.cfg.Redis.Prefix
	vals, err := s.rdb.MGet(ctx, StatusKey(p, contentID),
		DoneKey(p, webhook.IdempotencyKey(contentID, events.ActionRemove)),
		DoneKey(p, webhook.IdempotencyKey(contentID, events.ActionRestrict))).Result()
	if err != nil {
		return "", fmt.Errorf("read content status: %w", err)
	}
	if st, ok := vals[0].(string); ok {
		return st, nil
	}
	for i, action := range []string{events.ActionRemove, events.ActionRestrict} {
		if _, ok := vals[i+1].(string); ok {
			return action, nil
		}
	}
	return "", nil
}

// markSent records that the platform accepted the action, so that a retry
// after a failure to record it does not call the platform again, and that it
// is in effect on the content.
func (s *Service) markSent(ctx context.Context, key string, attempts int, contentID, action string) error {
	if err := s.setKeys(ctx, key, sentPrefix+strconv.Itoa(attempts), contentID, action); err != nil {
		return fmt.Errorf("set sent marker: %w", err)
	}
	return nil
}

// markDone records the action as done (and, for a webhook action, the
// content's status), in one transaction. The done key expires after
// DoneKeyTTL, longer than any replay window; the status is the content's
// record and is kept.
func (s *Service) markDone(ctx context.Context, key, eventID, contentID, action string) error {
	if err := s.setKeys(ctx, key, eventID, contentID, action); err != nil {
		return fmt.Errorf("set done key: %w", err)
	}
	return nil
}

func (s *Service) setKeys(ctx context.Context, key, value, contentID, status string) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, DoneKey(s.cfg.Redis.Prefix, key), value, s.cfg.DoneKeyTTL)
		if status != "" {
			p.Set(ctx, StatusKey(s.cfg.Redis.Prefix, contentID), status, 0)
		}
		return nil
	})
	return err
}
