package review

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// Redis may lose the queue: a restart without persistence, a failover to an
// empty replica, a flush. Kafka still has everything that made it: every
// review.requested and every review.decided. The state key marks a Redis
// that holds the queue; when it is missing (at start, or noticed by the
// maintenance loop while running) the queue is rebuilt by replaying both
// topics from the beginning: the requests become items (pending, with their
// original enqueue time), the decisions decide them, overturns included.
// Leases are lost, which only returns claimed items to the queue. The
// replay is idempotent, so a rebuild over a queue that is still there, or
// two replicas rebuilding at once, change nothing that is right already.

// rebuildLockTTL bounds how long other replicas wait for one that rebuilds
// and then stops responding.
const rebuildLockTTL = 2 * time.Minute

// maintainEvery is how often the maintenance loop returns expired leases to
// the queue and checks that Redis still holds the queue.
const maintainEvery = time.Second

// unlockScript releases the rebuild lock if it is still this replica's.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// stateInfo is the value of the state key.
type stateInfo struct {
	RebuiltAt time.Time `json:"rebuilt_at"`
	By        string    `json:"by"`
	Requests  int64     `json:"requests"`
	Decisions int64     `json:"decisions"`
}

// ensureQueue rebuilds the queue from Kafka unless Redis has it.
func (s *Service) ensureQueue(ctx context.Context) error {
	n, err := s.rdb.Exists(ctx, s.store.stateKey()).Result()
	if err != nil {
		return fmt.Errorf("check queue state: %w", err)
	}
	if n == 1 {
		return nil
	}
	return s.rebuild(ctx)
}

// rebuild replays review.requested and review.decided into Redis, unless
// another replica is doing it, in which case it waits for that one.
func (s *Service) rebuild(ctx context.Context) error {
	host, _ := os.Hostname()
	me := host + "/" + events.NewID()[:8]
	for {
		ok, err := s.rdb.SetNX(ctx, s.store.rebuildLockKey(), me, rebuildLockTTL).Result()
		if err != nil {
			return fmt.Errorf("rebuild lock: %w", err)
		}
		if ok {
			break
		}
		// Another replica rebuilds: wait for its state key, or for its lock
		// to lapse (it died) and take over.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if n, err := s.rdb.Exists(ctx, s.store.stateKey()).Result(); err == nil && n == 1 {
			return nil
		}
	}
	s.rebuilding.Store(true)
	defer s.rebuilding.Store(false)
	defer unlockScript.Run(context.WithoutCancel(ctx), s.rdb, []string{s.store.rebuildLockKey()}, me)

	start := time.Now()
	s.log.Warn("Redis holds no review queue: rebuilding it from Kafka",
		"requests_topic", s.cfg.Topics.ReviewRequested, "decisions_topic", s.cfg.Topics.ReviewDecided)
	info := stateInfo{By: me}
	var err error
	info.Requests, err = replayTopic(ctx, s.cfg.Kafka, s.cfg.Topics.ReviewRequested, s.restoreRequest)
	if err == nil {
		// After the requests, so that a decision finds its item; the
		// decisions of one content share a partition, so an overturn comes
		// after the decision it overturns.
		info.Decisions, err = replayTopic(ctx, s.cfg.Kafka, s.cfg.Topics.ReviewDecided, s.restoreDecision)
	}
	if err != nil {
		s.metrics.rebuilds.WithLabelValues("error").Inc()
		return fmt.Errorf("rebuild the review queue from Kafka: %w", err)
	}
	info.RebuiltAt = time.Now().UTC()
	body, _ := json.Marshal(info)
	if err := s.rdb.Set(ctx, s.store.stateKey(), body, 0).Err(); err != nil {
		s.metrics.rebuilds.WithLabelValues("error").Inc()
		return fmt.Errorf("mark the rebuilt queue: %w", err)
	}
	s.metrics.rebuilds.WithLabelValues("ok").Inc()
	st, _ := s.store.stats(ctx)
	s.log.Warn("review queue rebuilt from Kafka", "requests", info.Requests, "decisions", info.Decisions,
		"pending", st.Pending, "decided", st.Decided, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// restoreRequest queues a replayed review request as handleRequested would;
// one it would dead-letter is skipped.
func (s *Service) restoreRequest(ctx context.Context, m *messaging.Message) error {
	var req events.ReviewRequested
	if err := events.Decode(m.Value, events.TypeReviewRequested, &req); err != nil || req.MediaURL == "" {
		return nil
	}
	_, err := s.store.enqueue(ctx, &req, m.Header("traceparent"), req.OccurredAt)
	return err
}

// restoreDecision records a replayed decision: on an item without one, or
// over the decision it overturns. Anything else is older than what the item
// holds and is skipped.
func (s *Service) restoreDecision(ctx context.Context, m *messaging.Message) error {
	var ev events.ReviewDecided
	if err := events.Decode(m.Value, events.TypeReviewDecided, &ev); err != nil || ev.CausedBy != "" {
		// A restore of a related upload has no item (related.go).
		return nil
	}
	// The item may change between the read and the script (a live overturn):
	// the script then answers changed and the decision is looked at again.
	for range 10 {
		it, err := s.store.get(ctx, ev.ContentID)
		if err != nil {
			return err
		}
		expected, history := "", ""
		if it != nil && it.State == StateDecided {
			expected = it.DecidedEventID
			switch {
			case expected == ev.EventID:
				return nil
			case ev.Overturns != expected:
				return nil // an older decision than the item's
			}
			if history, err = historyWith(it); err != nil {
				return err
			}
		}
		req := synthesizedRequest(&ev)
		body, err := json.Marshal(req)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		id := ev.ContentID
		status, err := restoreDecisionScript.Run(ctx, s.rdb,
			[]string{s.store.itemKey(id), s.store.pendingKey(), s.store.claimedKey(), s.store.decidedKey()},
			id, body, m.Header("traceparent"), priorityOf(ev.Matches).Rank, strconv.FormatInt(ev.UploadedAt.UnixMicro(), 10),
			ev.Decision, ev.Reviewer, ev.Reason, ev.EventID, ev.DecidedAt.UnixMicro(), ev.Overturns, history, expected,
			ev.ApprovedBy, s.store.decidedTTL.Milliseconds()).Text()
		if err != nil {
			return fmt.Errorf("restore decision %s on %s: %w", ev.EventID, id, err)
		}
		if status != "changed" {
			return nil
		}
	}
	return fmt.Errorf("restore decision %s on %s: the item kept changing", ev.EventID, ev.ContentID)
}

// synthesizedRequest stands in for the review request of a decision whose
// request is no longer on its topic (retention): what the decision carries.
func synthesizedRequest(ev *events.ReviewDecided) *events.ReviewRequested {
	return &events.ReviewRequested{
		Meta: events.Meta{EventType: events.TypeReviewRequested, SchemaVersion: events.SchemaVersion,
			ContentID: ev.ContentID, ClientID: ev.ClientID, CorrelationID: ev.CorrelationID, OccurredAt: ev.UploadedAt},
		MediaURL: ev.MediaURL, ContentType: ev.ContentType, UploadedAt: ev.UploadedAt,
		Reason:  "restored from its decision (the review request was no longer on its topic)",
		Matches: ev.Matches,
		Stream:  ev.Stream,
	}
}

// maintain runs until ctx ends: it returns expired leases to the queue and
// rebuilds the queue when Redis lost it.
func (s *Service) maintain(ctx context.Context) {
	t := time.NewTicker(maintainEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := s.store.requeueExpired(ctx)
		if n > 0 {
			s.metrics.leaseExpiries.Add(float64(n))
			s.log.Info("expired leases returned to the queue", "items", n)
		}
		if err != nil && ctx.Err() == nil {
			s.log.Warn("returning expired leases", "err", err)
		}
		if now, err := s.store.now(ctx); err == nil {
			if _, err := s.store.forgetExpiredDecisions(ctx, now); err != nil && ctx.Err() == nil {
				s.log.Warn("dropping expired decisions", "err", err)
			}
		}
		if err := s.ensureQueue(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, redis.ErrClosed) {
			s.log.Error("review queue state", "err", err)
		}
	}
}
