package enforcer

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/takedown-pipeline/takedown/pkg/edges/webhook"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// Media the hasher could not hash fails closed: it is never let through
// unremarked as if it had been checked. It is always recorded (action
// unhashable on the actions topic), then handled as UnhashablePolicy says:
// queued for review, held by the platform and queued, or let be.

// handleUnhashable records unhashable media and applies the policy.
func (s *Service) handleUnhashable(ctx context.Context, log *slog.Logger, ev *events.MediaMatched) error {
	u := ev.Unhashable
	reason := "unhashable (" + u.Reason + ")"
	if u.Detail != "" {
		reason += ": " + u.Detail
	}
	log = log.With("unhashable", u.Reason, "policy", s.cfg.UnhashablePolicy)
	if err := s.recordUnhashable(ctx, log, ev, reason); err != nil {
		return err
	}
	if len(ev.Matches) > 0 && ev.Stream == nil {
		// Its bytes are a known file (the matcher matched their sha256 or
		// md5): that is enough to act on, hashable or not.
		log.Info("unhashable media matched by its file hash; acting on the match")
		return s.decideOnMatches(ctx, log, ev)
	}
	switch s.cfg.UnhashablePolicy {
	case UnhashableAllow:
		return nil
	case UnhashableHold:
		held := s.enforce(ctx, log, actRequest{
			parent: &ev.Meta, action: events.ActionHold, key: webhook.IdempotencyKey(ev.ContentID, events.ActionHold),
			trigger: events.TriggerAuto, reason: reason + "; held until reviewed", uploadedAt: ev.UploadedAt,
			needed: func(status string) (bool, string) {
				if status != "" {
					return false, fmt.Sprintf("content is %s already: no hold", events.ActionDone(status))
				}
				return true, ""
			},
		})
		if held != nil && !messaging.IsPermanent(held) {
			return held // the platform or a dependency is down: tried again
		}
		// A hold the platform refused is recorded as failed; the upload
		// still goes to a person, and the refusal is dead-lettered like
		// any other for replay.
		if err := s.queueForReview(ctx, log, ev, reason, events.Match{}); err != nil {
			return err
		}
		return held
	default:
		return s.queueForReview(ctx, log, ev, reason, events.Match{})
	}
}

// recordUnhashable publishes the unhashable record once per upload (per
// segment of a live stream).
func (s *Service) recordUnhashable(ctx context.Context, log *slog.Logger, ev *events.MediaMatched, reason string) error {
	what := events.ActionUnhashable
	if ev.Stream != nil {
		what = fmt.Sprintf("%s\x00segment\x00%d", what, ev.Stream.Sequence)
	}
	key := webhook.IdempotencyKey(ev.ContentID, what)
	if done, err := s.isDone(ctx, key); err != nil || done {
		if done {
			s.duplicates.Add(1)
			log.Info("unhashable media already recorded; skipping the record", "idempotency_key", key)
		}
		return err
	}
	// No webhook call: the record is the action, hence no attempts.
	act := s.action(&ev.Meta, events.ActionUnhashable, events.TriggerAuto, reason, events.Match{}, nil, key, 0, ev.UploadedAt)
	if err := messaging.PublishEvent(ctx, s.pub, s.cfg.Topics.Actions, &act); err != nil {
		return fmt.Errorf("record unhashable %s: %w", ev.ContentID, err)
	}
	if err := s.markDone(ctx, key, act.EventID, "", ""); err != nil {
		return err
	}
	s.unhashable.Add(1)
	log.Warn("media could not be hashed; recorded", "idempotency_key", key, "reason", reason)
	return nil
}

// releaseHold handles a benign decision: content that is held (unhashable
// media under the hold policy) is restored; anything else needs nothing.
func (s *Service) releaseHold(ctx context.Context, log *slog.Logger, ev *events.ReviewDecided) error {
	status, err := s.contentStatus(ctx, ev.ContentID)
	if err != nil {
		return err
	}
	if status != events.ActionHold {
		log.Info("reviewer decided benign; no action", "reason", ev.Reason)
		return nil
	}
	return s.enforce(ctx, log, actRequest{
		parent: &ev.Meta, action: events.ActionRestore, key: webhook.IdempotencyKey(ev.ContentID, events.ActionRestore),
		trigger: events.TriggerReview, reason: decisionReason(ev) + "; releases the hold", evidence: ev.Matches,
		uploadedAt: ev.UploadedAt,
		needed: func(status string) (bool, string) {
			if status != events.ActionHold {
				return false, "decided benign and no longer held: nothing to release"
			}
			return true, ""
		},
	})
}
