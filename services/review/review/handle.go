package review

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// consumed are the topics the service consumes: review requests and, with
// feedback on, the enforcer's audit records, for the uploads removed through
// the confirmed-bank entries that decisions made (related.go).
func (s *Service) consumed() []string {
	if !s.cfg.Feedback {
		return []string{s.cfg.Topics.ReviewRequested}
	}
	return []string{s.cfg.Topics.ReviewRequested, s.cfg.Topics.Actions}
}

// handle routes a message by its topic.
func (s *Service) handle(ctx context.Context, msg *messaging.Message) error {
	if msg.Topic == s.cfg.Topics.Actions && msg.Topic != s.cfg.Topics.ReviewRequested {
		return s.handleAction(ctx, msg)
	}
	return s.handleRequested(ctx, msg)
}

// handleRequested queues one review request. Redelivery is harmless: the
// item id is the content id and an existing item is left as it is.
func (s *Service) handleRequested(ctx context.Context, msg *messaging.Message) error {
	var req events.ReviewRequested
	if err := events.Decode(msg.Value, events.TypeReviewRequested, &req); err != nil {
		return messaging.Permanent(err)
	}
	if req.MediaURL == "" {
		// Nothing a reviewer could look at.
		return messaging.Permanentf("%w: review.requested %s has no media_url", events.ErrInvalid, req.EventID)
	}
	added, err := s.store.enqueue(ctx, &req, msg.Header("traceparent"), time.Time{})
	if err != nil {
		return err
	}
	log := messaging.Log(ctx).With("content_id", req.ContentID, "event_id", req.EventID)
	if added {
		s.metrics.requests.WithLabelValues("queued").Inc()
		p := priorityOf(req.Matches)
		log.Info("review item queued", "reason", req.Reason, "matches", len(req.Matches),
			"rank", p.Rank, "incident", p.Incident, "severity", p.Severity)
	} else {
		s.metrics.requests.WithLabelValues("duplicate").Inc()
		log.Info("review already queued for this content; request ignored")
	}
	return nil
}

// handleAction records an enforcer's removal that a confirmed-bank entry of
// this service caused. Anything else on the actions topic (the review
// service's own audit records among them) is no concern of this service
// and is skipped, malformed records included: the topic is the audit
// trail, not this service's input to police. Redelivery is harmless: the
// record is stored under the content id.
func (s *Service) handleAction(ctx context.Context, msg *messaging.Message) error {
	var act events.EnforcementAction
	if err := events.Decode(msg.Value, events.TypeEnforcementAction, &act); err != nil {
		return nil
	}
	if act.Outcome != events.OutcomeSucceeded || act.Action != events.ActionRemove && act.Action != events.ActionRestrict ||
		act.Trigger != events.TriggerAuto && act.Trigger != events.TriggerIncident {
		return nil
	}
	entries, _ := s.confirmedEntries(&act)
	if len(entries) == 0 {
		return nil
	}
	body, err := json.Marshal(&act)
	if err != nil {
		return messaging.Permanent(err)
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, e := range entries {
			// Kept as long as a decided item, whose overturn needs them.
			p.HSet(ctx, s.store.relatedKey(e), act.ContentID, body)
			p.PExpire(ctx, s.store.relatedKey(e), s.store.decidedTTL)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record related upload %s: %w", act.ContentID, err)
	}
	messaging.Log(ctx).Info("upload removed through a review entry of the confirmed bank recorded",
		"content_id", act.ContentID, "action", act.Action, "entries", entries, "action_event_id", act.EventID)
	return nil
}
