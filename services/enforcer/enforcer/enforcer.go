// Package enforcer holds the enforcer service: it reads match verdicts and
// review decisions, decides with pkg/matching/policy (auto-removal distances, wider
// ones for incident banks, remove or restrict by bank and label), sends
// signed requests to the platform's webhook (remove, restrict, and restore
// when a decision is overturned), routes uncertain matches to human review,
// and writes an audit record of every action, retry and failure to the
// actions topic.
//
// Delivery is at least once; effects are once. Every action has an
// idempotency key (content id + action; an action caused by an overturn
// also names the decision it overturns, so that a chain of overturns can
// remove, restore and remove again). Before acting the enforcer looks for a
// Redis "done" key; once the platform accepted the action it marks the key
// "sent", publishes the audit record and only then marks it done. A crash
// before "sent" repeats the webhook call on redelivery, with the same
// idempotency key (the platform acts once); a crash after it records the
// action without calling the platform again, with the same audit event id
// (consumers see one record). Beside the keys, Redis holds what is in effect
// on each content (removed, restricted, restored), which an overturn
// consults.
//
// Media the hasher could not hash (media.matched with unhashable set) is
// recorded as an unhashable action and then queued for review, held by the
// platform and queued, or only recorded, as UnhashablePolicy says; see
// unhashable.go.
//
// Live streams: the verdicts of a stream's segments are added up per bank
// video in Redis, and the stream is stopped (action stop_stream) as soon as
// one bank video's matched footage reaches StreamMatch; see stream.go.
package enforcer

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/takedown-pipeline/takedown/pkg/edges/webhook"
	"github.com/takedown-pipeline/takedown/pkg/matching/policy"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/platform/redisconn"
	"github.com/takedown-pipeline/takedown/pkg/platform/service"
	"github.com/takedown-pipeline/takedown/pkg/platform/topics"
)

// Service is the enforcer.
type Service struct {
	cfg    Config
	log    *slog.Logger
	policy policy.Policy
	rules  policy.Rules
	hook   *webhook.Client
	rdb    *redis.Client
	pub    messaging.Publisher
	health *service.Health

	sent, restores, queued, duplicates, failures, retries, noops, streams atomic.Int64
	unhashable, holds                                                     atomic.Int64
	metrics                                                               *enforcerMetrics
}

// Stats counts what the enforcer did since it started.
type Stats struct {
	// TakedownsSent is takedowns (removals and restrictions) the platform
	// accepted.
	TakedownsSent int64 `json:"takedowns_sent"`
	// RestoresSent is restorations after an overturn the platform accepted.
	RestoresSent int64 `json:"restores_sent"`
	// ReviewsQueued is uncertain matches sent to human review.
	ReviewsQueued int64 `json:"reviews_queued"`
	// DuplicatesSkipped is redelivered events whose action was already done.
	DuplicatesSkipped int64 `json:"duplicates_skipped"`
	// Failures is actions that failed after every retry (dead-lettered).
	Failures int64 `json:"failures"`
	// Retries is failed webhook attempts that were tried again (each one
	// recorded with outcome retrying).
	Retries int64 `json:"retries"`
	// NothingToDo is overturns and decisions that found their action
	// already in effect or nothing to undo.
	NothingToDo int64 `json:"nothing_to_do"`
	// StreamsStopped is live streams stopped (stop_stream accepted by the
	// platform) on their matched footage.
	StreamsStopped int64 `json:"streams_stopped"`
	// Unhashable is media recorded as unhashable (action unhashable).
	Unhashable int64 `json:"unhashable"`
	// HoldsSent is holds of unhashable media the platform accepted.
	HoldsSent int64 `json:"holds_sent"`
}

// New checks cfg and creates the clients; nothing connects until Run.
func New(cfg Config, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("enforcer config: %w", err)
	}
	rules, _ := cfg.Rules() // checked by Validate
	if log == nil {
		log = slog.Default()
	}
	rdb, err := redisconn.New(cfg.Redis)
	if err != nil {
		return nil, fmt.Errorf("enforcer config: %w", err)
	}
	s := &Service{
		cfg:    cfg,
		log:    log,
		policy: cfg.Policy(),
		rules:  rules,
		hook: &webhook.Client{
			URL:         cfg.WebhookURL,
			Secret:      []byte(cfg.WebhookSecret),
			Timeout:     cfg.WebhookTimeout,
			MaxAttempts: cfg.WebhookAttempts,
			MinBackoff:  cfg.WebhookBackoffMin,
			MaxBackoff:  cfg.WebhookBackoffMax,
		},
		rdb:     rdb,
		pub:     messaging.NewKafkaPublisher(cfg.Kafka),
		health:  service.NewHealth(),
		metrics: newEnforcerMetrics(),
	}
	s.hook.OnAttempt = s.metrics.webhookAttempt
	s.health.AddCheck("redis", func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
	return s, nil
}

// Addr is the bound HTTP address, once the service is ready.
func (s *Service) Addr() string { return s.health.Addr() }

// Ready reports whether the service is consuming and serving.
func (s *Service) Ready() bool { return s.health.Ready() }

// Stats returns the counters.
func (s *Service) Stats() Stats {
	return Stats{
		TakedownsSent:     s.sent.Load(),
		RestoresSent:      s.restores.Load(),
		ReviewsQueued:     s.queued.Load(),
		DuplicatesSkipped: s.duplicates.Load(),
		Failures:          s.failures.Load(),
		Retries:           s.retries.Load(),
		NothingToDo:       s.noops.Load(),
		StreamsStopped:    s.streams.Load(),
		Unhashable:        s.unhashable.Load(),
		HoldsSent:         s.holds.Load(),
	}
}

// Handler serves /healthz, /readyz (Redis ping) and GET /v1/stats.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	s.health.Register(mux)
	mux.HandleFunc("GET /v1/stats", func(w http.ResponseWriter, r *http.Request) {
		service.WriteJSON(w, http.StatusOK, s.Stats())
	})
	return mux
}

// Run consumes match verdicts and review decisions until ctx is cancelled,
// then shuts down in the order service.Worker describes.
func (s *Service) Run(ctx context.Context) error {
	t := s.cfg.Topics
	w := service.Worker{
		Name: "enforcer", Log: s.log, Health: s.health,
		HTTPAddr: s.cfg.HTTPAddr, HTTP: s.Handler(), Metrics: s.metrics.reg,
		Server: s.cfg.HTTP,
		Kafka:  s.cfg.Kafka,
		Topics: topics.Of("enforcer", s.cfg.Common), TopicsMustExist: !s.cfg.CreateTopics,
		Liveness: s.cfg.LivenessTimeout,
		// Without Redis no action can be checked for "already done": better
		// to refuse to start than to consume and block on every message.
		Preflight: []func(context.Context) error{func(ctx context.Context) error { return redisconn.Check(ctx, s.cfg.Redis) }},
		Consumer: messaging.ConsumerConfig{
			Kafka:  s.cfg.Kafka,
			Group:  s.cfg.Group,
			Topics: []string{t.Matched, t.ReviewDecided},
			Logger: s.log,
			// Mostly waiting for the webhook and Redis.
			Concurrency:    s.cfg.ConsumerConcurrency(2, 8),
			SessionTimeout: s.cfg.SessionTimeout, InstanceID: s.cfg.Instance(),
			// A takedown in hand is finished on shutdown, retries included.
			HandlerTimeout: s.cfg.handlerTimeout(),
		},
		// Only permanent failures are dead-lettered: bad input and takedowns
		// the platform refused or never accepted (already recorded as
		// failed). An outage of Redis or Kafka delays a takedown; it never
		// parks one.
		Handle: messaging.Chain(s.handle,
			messaging.Standard(s.log, s.cfg.Group, s.pub, s.cfg.DLQTopic, messaging.RetryConfig{})...),
		Close: []func() error{service.Closing("publisher", s.pub.Close), service.Closing("redis", s.rdb.Close)},
		ReadyLog: []any{"webhook", s.cfg.webhookHost(), "auto_distance", s.policy.AutoDistance,
			"incident_distance", s.policy.IncidentDistance, "action_rules", s.rules.String(), "stream_match", s.cfg.StreamMatch},
	}
	return w.Run(ctx)
}
