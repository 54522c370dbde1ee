// Package enforcer holds the enforcer service: it reads match verdicts and
// review decisions, decides with pkg/policy, sends signed takedown requests to
// the platform's webhook, routes uncertain matches to human review, and writes
// an audit record of every action to the actions topic.
//
// Delivery is at least once; effects are once. Every action has an
// idempotency key (content id + action). Before acting the enforcer looks for
// a Redis "done" key; after acting it publishes the audit record and only
// then sets the done key. A crash in between repeats the action on
// redelivery, but with the same webhook idempotency key (the platform acts
// once) and the same audit event id (consumers see one record).
package enforcer

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/takedown-pipeline/takedown/pkg/messaging"
	"github.com/takedown-pipeline/takedown/pkg/policy"
	"github.com/takedown-pipeline/takedown/pkg/service"
	"github.com/takedown-pipeline/takedown/pkg/webhook"
)

// Service is the enforcer.
type Service struct {
	cfg    Config
	log    *slog.Logger
	policy policy.Policy
	hook   *webhook.Client
	rdb    *redis.Client
	pub    messaging.Publisher
	health *service.Health

	sent, queued, duplicates, failures atomic.Int64
}

// Stats counts what the enforcer did since it started.
type Stats struct {
	// TakedownsSent is takedowns the platform accepted.
	TakedownsSent int64 `json:"takedowns_sent"`
	// ReviewsQueued is uncertain matches sent to human review.
	ReviewsQueued int64 `json:"reviews_queued"`
	// DuplicatesSkipped is redelivered events whose action was already done.
	DuplicatesSkipped int64 `json:"duplicates_skipped"`
	// Failures is takedowns that failed after every retry (dead-lettered).
	Failures int64 `json:"failures"`
}

// New checks cfg and creates the clients; nothing connects until Run.
func New(cfg Config, log *slog.Logger) (*Service, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("enforcer config: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr})
	s := &Service{
		cfg:    cfg,
		log:    log,
		policy: cfg.Policy(),
		hook: &webhook.Client{
			URL:         cfg.WebhookURL,
			Secret:      []byte(cfg.WebhookSecret),
			Timeout:     cfg.WebhookTimeout,
			MaxAttempts: cfg.WebhookAttempts,
			MinBackoff:  cfg.WebhookBackoffMin,
			MaxBackoff:  cfg.WebhookBackoffMax,
		},
		rdb:    rdb,
		pub:    messaging.NewKafkaPublisher(cfg.Brokers),
		health: service.NewHealth(),
	}
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
		ReviewsQueued:     s.queued.Load(),
		DuplicatesSkipped: s.duplicates.Load(),
		Failures:          s.failures.Load(),
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
		HTTPAddr: s.cfg.HTTPAddr, HTTP: s.Handler(),
		Brokers: s.cfg.Brokers,
		Topics: service.Topics(s.cfg.Partitions, s.cfg.Replication,
			t.Matched, t.ReviewDecided, t.ReviewRequested, t.Actions, s.cfg.DLQTopic),
		// Without Redis no action can be checked for "already done": better
		// to refuse to start than to consume and block on every message.
		Preflight: []func(context.Context) error{service.Reachable("redis at "+s.cfg.RedisAddr,
			func(ctx context.Context) error { return s.rdb.Ping(ctx).Err() })},
		Consumer: messaging.ConsumerConfig{
			Brokers: s.cfg.Brokers,
			Group:   s.cfg.Group,
			Topics:  []string{t.Matched, t.ReviewDecided},
			Logger:  s.log,
			// A takedown in hand is finished on shutdown, retries included.
			HandlerTimeout: s.cfg.handlerTimeout(),
		},
		// Only permanent failures are dead-lettered: bad input and takedowns
		// the platform refused or never accepted (already recorded as
		// failed). An outage of Redis or Kafka delays a takedown; it never
		// parks one.
		Handle: messaging.Chain(s.handle,
			messaging.Standard(s.log, s.cfg.Group, s.pub, s.cfg.DLQTopic, messaging.RetryConfig{})...),
		Close:    []func() error{service.Closing("publisher", s.pub.Close), service.Closing("redis", s.rdb.Close)},
		ReadyLog: []any{"webhook", s.cfg.webhookHost(), "auto_distance", s.policy.AutoDistance},
	}
	return w.Run(ctx)
}
