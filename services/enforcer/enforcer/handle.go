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

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/messaging"
	"github.com/takedown-pipeline/takedown/pkg/policy"
	"github.com/takedown-pipeline/takedown/pkg/webhook"
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
	d := s.policy.Decide(ev.Matches)
	switch d.Action {
	case policy.ActionRemove:
		return s.takedown(ctx, log, takedownRequest{
			parent: &ev.Meta, trigger: events.TriggerAuto, reason: d.Reason,
			best: d.Best, evidence: ev.Matches, uploadedAt: ev.UploadedAt,
		})
	case policy.ActionReview:
		return s.queueForReview(ctx, log, &ev, d)
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
	if ev.Decision != events.DecisionViolating {
		log.Info("reviewer decided benign; no action", "reason", ev.Reason)
		return nil
	}
	reason := fmt.Sprintf("reviewer %s decided violating", ev.Reviewer)
	if ev.Reason != "" {
		reason += ": " + ev.Reason
	}
	return s.takedown(ctx, log, takedownRequest{
		parent: &ev.Meta, trigger: events.TriggerReview, reason: reason,
		// The closest match names the bank and labels on the record.
		best: s.policy.Decide(ev.Matches).Best, evidence: ev.Matches, uploadedAt: ev.UploadedAt,
	})
}

type takedownRequest struct {
	parent          *events.Meta
	trigger, reason string
	best            events.Match
	evidence        []events.Match
	uploadedAt      time.Time
}

// takedown asks the platform to remove the content, once per content id
// whatever triggered it: an automatic removal and a later review verdict on
// the same content share one idempotency key.
func (s *Service) takedown(ctx context.Context, log *slog.Logger, r takedownRequest) error {
	key := webhook.IdempotencyKey(r.parent.ContentID, events.ActionRemove)
	state, sentAttempts, err := s.actionState(ctx, key)
	if err != nil {
		return err
	}
	if state == stateDone {
		s.duplicates.Add(1)
		log.Info("already done; skipping takedown", "idempotency_key", key, "trigger", r.trigger)
		return nil
	}
	evidence := r.evidence
	if evidence == nil {
		evidence = []events.Match{}
	}
	if state == stateSent {
		// The platform accepted this takedown before, but recording it
		// failed: record it now without calling the platform again.
		log.Info("takedown already accepted by the platform; recording it", "idempotency_key", key)
		return s.recordTakedown(ctx, log, r, key, evidence, sentAttempts)
	}
	attempts, sendErr := s.hook.Send(ctx, webhook.Takedown{
		Action:         events.ActionRemove,
		ContentID:      r.parent.ContentID,
		Reason:         r.reason,
		Bank:           r.best.Bank,
		Labels:         r.best.Labels,
		Evidence:       evidence,
		IdempotencyKey: key,
		CorrelationID:  r.parent.CorrelationID,
		Trigger:        r.trigger,
		RequestedAt:    time.Now().UTC(),
	})
	if sendErr == nil {
		if err := s.markSent(ctx, key, attempts); err != nil {
			return err
		}
		return s.recordTakedown(ctx, log, r, key, evidence, attempts)
	}
	act := s.action(r.parent, events.ActionRemove, r.trigger, r.reason, r.best, evidence, key, attempts, r.uploadedAt)
	if ctx.Err() != nil {
		// Out of time (shutdown or handler timeout), not refused: the
		// message stays uncommitted and is tried again.
		return fmt.Errorf("takedown of %s interrupted: %w", r.parent.ContentID, sendErr)
	}
	act.Outcome = events.OutcomeFailed
	act.Error = sendErr.Error()
	// Each failure is a fact of its own: a replay that fails again must not
	// look like a duplicate of the first record.
	act.EventID = events.NewID()
	if err := messaging.PublishEvent(ctx, s.pub, s.cfg.Topics.Actions, &act); err != nil {
		return fmt.Errorf("record failed takedown of %s: %w (takedown error: %v)", r.parent.ContentID, err, sendErr)
	}
	s.failures.Add(1)
	log.Error("takedown failed; recorded and dead-lettered", "idempotency_key", key,
		"trigger", r.trigger, "attempts", attempts, "err", sendErr)
	// No done key: replaying the dead letter tries the takedown again.
	return messaging.Permanent(fmt.Errorf("takedown of %s failed after %d attempt(s): %w", r.parent.ContentID, attempts, sendErr))
}

// recordTakedown publishes the audit record of a takedown the platform
// accepted and marks it done.
func (s *Service) recordTakedown(ctx context.Context, log *slog.Logger, r takedownRequest, key string, evidence []events.Match, attempts int) error {
	act := s.action(r.parent, events.ActionRemove, r.trigger, r.reason, r.best, evidence, key, attempts, r.uploadedAt)
	if err := messaging.PublishEvent(ctx, s.pub, s.cfg.Topics.Actions, &act); err != nil {
		return fmt.Errorf("record takedown of %s: %w", r.parent.ContentID, err)
	}
	if err := s.markDone(ctx, key, act.EventID); err != nil {
		return err
	}
	s.sent.Add(1)
	log.Info("takedown sent", "idempotency_key", key, "trigger", r.trigger, "attempts", attempts,
		"bank", r.best.Bank, "entry_id", r.best.EntryID, "reason", r.reason)
	return nil
}

// queueForReview asks for a person's verdict, once per content id.
func (s *Service) queueForReview(ctx context.Context, log *slog.Logger, ev *events.MediaMatched, d policy.Decision) error {
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
		Reason:      d.Reason,
		Matches:     ev.Matches,
	}
	// A republish after a crash carries the same id, so it reads as the
	// same request.
	req.EventID = derivedID(key, events.TypeReviewRequested)
	if err := messaging.PublishEvent(ctx, s.pub, s.cfg.Topics.ReviewRequested, &req); err != nil {
		return fmt.Errorf("request review of %s: %w", ev.ContentID, err)
	}
	act := s.action(&ev.Meta, events.ActionQueueForReview, events.TriggerAuto, d.Reason, d.Best, ev.Matches, key, 1, ev.UploadedAt)
	if err := messaging.PublishEvent(ctx, s.pub, s.cfg.Topics.Actions, &act); err != nil {
		return fmt.Errorf("record review request of %s: %w", ev.ContentID, err)
	}
	if err := s.markDone(ctx, key, act.EventID); err != nil {
		return err
	}
	s.queued.Add(1)
	log.Info("uncertain match queued for review", "idempotency_key", key, "reason", d.Reason)
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
	v, err := s.rdb.Get(ctx, DoneKey(s.cfg.RedisPrefix, key)).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return stateNone, 0, nil
	case err != nil:
		return 0, 0, fmt.Errorf("check done key: %w", err)
	case strings.HasPrefix(v, sentPrefix):
		n, _ := strconv.Atoi(strings.TrimPrefix(v, sentPrefix))
		return stateSent, n, nil
	}
	return stateDone, 0, nil
}

func (s *Service) isDone(ctx context.Context, key string) (bool, error) {
	st, _, err := s.actionState(ctx, key)
	return st == stateDone, err
}

// markSent records that the platform accepted the action, so that a retry
// after a failure to record it does not call the platform again.
func (s *Service) markSent(ctx context.Context, key string, attempts int) error {
	if err := s.rdb.Set(ctx, DoneKey(s.cfg.RedisPrefix, key), sentPrefix+strconv.Itoa(attempts), 0).Err(); err != nil {
		return fmt.Errorf("set sent marker: %w", err)
	}
	return nil
}

// markDone records the action as done for good: no TTL, because a
// redelivery can come from a replay long after the fact.
func (s *Service) markDone(ctx context.Context, key, eventID string) error {
	if err := s.rdb.Set(ctx, DoneKey(s.cfg.RedisPrefix, key), eventID, 0).Err(); err != nil {
		return fmt.Errorf("set done key: %w", err)
	}
	return nil
}
