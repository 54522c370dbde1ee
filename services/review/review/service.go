package review

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/platform/redisconn"
	"github.com/takedown-pipeline/takedown/pkg/platform/service"
	"github.com/takedown-pipeline/takedown/pkg/platform/telemetry"
	"github.com/takedown-pipeline/takedown/pkg/platform/topics"
)

// Service is the review queue: a Kafka consumer that fills it and an HTTP
// API and web UI that work it.
type Service struct {
	cfg      Config
	log      *slog.Logger
	rdb      *redis.Client
	store    *store
	pub      messaging.Publisher
	health   *service.Health
	verifier *tokenVerifier
	metrics  *reviewMetrics
	ui       *ui
	media    *mediaGate
	allow    allowBank
	// rebuilding is true while this replica rebuilds the queue from Kafka.
	rebuilding atomic.Bool
	background sync.WaitGroup
}

// New checks cfg, reads the token keys and connects nothing yet beyond
// creating the clients.
func New(cfg Config, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("review config: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	verifier, err := newVerifier(&cfg, log)
	if err != nil {
		return nil, fmt.Errorf("review config: %w", err)
	}
	rdb, err := redisconn.New(cfg.Redis)
	if err != nil {
		verifier.close()
		return nil, fmt.Errorf("review config: %w", err)
	}
	s := &Service{
		cfg:      cfg,
		log:      log,
		rdb:      rdb,
		store:    newStore(rdb, cfg.Redis.Prefix, cfg.DecidedTTL),
		pub:      messaging.NewKafkaPublisher(cfg.Kafka),
		health:   service.NewHealth(),
		verifier: verifier,
	}
	s.metrics = newReviewMetrics(s)
	if s.media, err = newMediaGate(s); err != nil {
		return nil, fmt.Errorf("review config: %w", err)
	}
	if s.ui, err = newUI(s); err != nil {
		return nil, err
	}
	s.health.AddCheck("redis", func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
	s.health.AddCheck("queue", func(context.Context) error {
		if s.rebuilding.Load() {
			return errors.New("rebuilding the queue from Kafka")
		}
		return nil
	})
	return s, nil
}

// Addr is the bound HTTP address, once the service is ready.
func (s *Service) Addr() string { return s.health.Addr() }

// Ready reports whether the service is consuming and serving.
func (s *Service) Ready() bool { return s.health.Ready() }

// Run consumes review requests and serves the API until ctx is cancelled, then
// shuts down in the order service.Worker describes.
func (s *Service) Run(ctx context.Context) error {
	t := s.cfg.Topics
	// The actions topic takes the audit records of privileged review actions.
	var feedback []string
	if s.cfg.Feedback {
		// Created compacted, as the matcher would, if the review service
		// happens to be the first to need it.
		feedback = append(feedback, t.BankUpdates)
	}
	bg, stopBackground := context.WithCancel(ctx)
	defer func() {
		stopBackground()
		s.background.Wait()
	}()
	w := service.Worker{
		Name: "review", Log: s.log, Health: s.health,
		HTTPAddr: s.cfg.HTTPAddr, HTTP: s.Handler(), Metrics: s.metrics.reg,
		Server: s.cfg.HTTP,
		Kafka:  s.cfg.Kafka,
		Topics: topics.Of("review", s.cfg.Common, feedback...), TopicsMustExist: !s.cfg.CreateTopics,
		Liveness:  s.cfg.LivenessTimeout,
		Preflight: []func(context.Context) error{func(ctx context.Context) error { return redisconn.Check(ctx, s.cfg.Redis) }},
		Prepare: func(ctx context.Context) error {
			// A Redis that lost the queue is refilled before the service
			// is ready, so no reviewer sees a queue with holes.
			if err := s.ensureQueue(ctx); err != nil {
				return err
			}
			s.background.Go(func() { s.maintain(bg) })
			s.background.Go(func() { s.media.cache.sweep(bg, time.Minute) })
			if s.cfg.Feedback {
				s.background.Go(func() {
					if err := s.allow.ensure(bg, s); err != nil && bg.Err() == nil {
						s.log.Warn("benign bank not checked yet; the first benign decision will try again", "err", err)
					}
				})
			}
			return nil
		},
		Consumer: messaging.ConsumerConfig{Kafka: s.cfg.Kafka, Group: s.cfg.Group, Topics: s.consumed(), Logger: s.log,
			Concurrency:    s.cfg.ConsumerConcurrency(2, 8),
			SessionTimeout: s.cfg.SessionTimeout, InstanceID: s.cfg.Instance(),
		},
		Handle: messaging.Chain(s.handle,
			messaging.Standard(s.log, s.cfg.Group, s.pub, s.cfg.DLQTopic, messaging.RetryConfig{})...),
		// The publisher serves the dead-letter middleware and the API's
		// decisions: it closes after both have stopped, and after the
		// background work that may publish (Close runs before the deferred
		// wait above, so that wait is stopped first).
		Close: []func() error{
			func() error { stopBackground(); s.background.Wait(); return nil },
			service.Closing("publisher", s.pub.Close), service.Closing("redis", s.rdb.Close),
			func() error { s.verifier.close(); return nil }},
		ReadyLog: []any{"lease", s.cfg.LeaseDuration, "feedback", s.cfg.Feedback, "allowlist_approval", s.cfg.AllowlistApproval},
	}
	return w.Run(ctx)
}

// Handler is the HTTP API and the web UI (see the package comment), health
// included (the worker serves /metrics). Every API and UI route needs a valid token.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	s.health.Register(mux)
	mux.HandleFunc("GET /v1/items", s.api(accessReviewer, s.listItems))
	mux.HandleFunc("GET /v1/items/{id}", s.api(accessReviewer, s.getItem))
	mux.HandleFunc("POST /v1/items/{id}/claim", s.api(accessReviewer, s.claimItem))
	mux.HandleFunc("POST /v1/items/{id}/decision", s.api(accessReviewer, s.forgetMedia(s.decideItem)))
	mux.HandleFunc("GET /v1/items/{id}/media", s.api(accessReviewer, s.media.serveMedia))
	mux.HandleFunc("GET /v1/items/{id}/preview", s.api(accessReviewer, s.media.servePreview))
	mux.HandleFunc("POST /v1/items/{id}/assign", s.api(accessLead, s.assignItem))
	mux.HandleFunc("POST /v1/items/{id}/overturn", s.api(accessLead, s.overturnItem))
	mux.HandleFunc("POST /v1/items/{id}/restore-related", s.api(accessLead, s.restoreRelatedItem))
	mux.HandleFunc("POST /v1/items/{id}/allowlist", s.api(accessReviewer, s.allowlistItem))
	mux.HandleFunc("POST /v1/items/{id}/allowlist/revoke", s.api(accessAdmin, s.revokeAllowlist))
	mux.HandleFunc("GET /v1/stats", s.api(accessReviewer, s.getStats))
	s.ui.register(mux)
	return telemetry.HTTP(mux)
}
