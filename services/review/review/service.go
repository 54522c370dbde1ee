package review

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/takedown-pipeline/takedown/pkg/config"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/messaging"
	"github.com/takedown-pipeline/takedown/pkg/service"
	"github.com/takedown-pipeline/takedown/pkg/telemetry"
)

// Config holds the review service's settings.
type Config struct {
	config.Common
	// Group is the Kafka consumer group.
	Group string
	// LeaseDuration is how long a claim keeps other reviewers off an item.
	LeaseDuration time.Duration
}

// DefaultHTTPAddr is where the API listens unless told otherwise.
const DefaultHTTPAddr = "127.0.0.1:8083"

// Bind registers the settings: the common ones, then
// group (TAKEDOWN_GROUP, default takedown-review) and
// lease-duration (TAKEDOWN_LEASE_DURATION, default 15m).
func (c *Config) Bind(s *config.Set) {
	c.Common.Bind(s, "review", DefaultHTTPAddr)
	s.String(&c.Group, "group", "takedown-review", "Kafka consumer group of the review service")
	s.Duration(&c.LeaseDuration, "lease-duration", 15*time.Minute,
		"how long a reviewer's claim on an item lasts before others may take it")
}

func (c *Config) validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("kafka-brokers is empty"))
	}
	if c.RedisAddr == "" {
		errs = append(errs, errors.New("redis-addr is empty"))
	}
	if c.RedisPrefix == "" {
		errs = append(errs, errors.New("redis-prefix is empty"))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("group is empty"))
	}
	if c.Topics.ReviewRequested == "" || c.Topics.ReviewDecided == "" || c.DLQTopic == "" {
		errs = append(errs, errors.New("topic-review-requested, topic-review-decided and dlq-topic must be set"))
	}
	if c.LeaseDuration < time.Millisecond {
		errs = append(errs, fmt.Errorf("lease-duration %v: must be at least 1ms", c.LeaseDuration))
	}
	return errors.Join(errs...)
}

// Service is the review queue: a Kafka consumer that fills it and an HTTP
// API that works it.
type Service struct {
	cfg    Config
	log    *slog.Logger
	rdb    *redis.Client
	store  *store
	pub    messaging.Publisher
	health *service.Health
}

// New checks cfg and connects nothing yet beyond creating the clients.
func New(cfg Config, log *slog.Logger) (*Service, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("review config: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	rdb := redis.NewClient(&redis.Options{Addr: cfg.RedisAddr})
	s := &Service{
		cfg:    cfg,
		log:    log,
		rdb:    rdb,
		store:  newStore(rdb, cfg.RedisPrefix),
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

// Run consumes review requests and serves the API until ctx is cancelled, then
// shuts down in the order service.Worker describes.
func (s *Service) Run(ctx context.Context) error {
	t := s.cfg.Topics
	w := service.Worker{
		Name: "review", Log: s.log, Health: s.health,
		HTTPAddr: s.cfg.HTTPAddr, HTTP: s.Handler(),
		Brokers: s.cfg.Brokers,
		Topics:  service.Topics(s.cfg.Partitions, s.cfg.Replication, t.ReviewRequested, t.ReviewDecided, s.cfg.DLQTopic),
		Preflight: []func(context.Context) error{service.Reachable("redis at "+s.cfg.RedisAddr,
			func(ctx context.Context) error { return s.rdb.Ping(ctx).Err() })},
		Consumer: messaging.ConsumerConfig{Brokers: s.cfg.Brokers, Group: s.cfg.Group, Topics: []string{t.ReviewRequested}, Logger: s.log},
		Handle: messaging.Chain(s.handleRequested,
			messaging.Standard(s.log, s.cfg.Group, s.pub, s.cfg.DLQTopic, messaging.RetryConfig{})...),
		// The publisher serves the dead-letter middleware and the API's
		// decisions: it closes after both have stopped.
		Close:    []func() error{service.Closing("publisher", s.pub.Close), service.Closing("redis", s.rdb.Close)},
		ReadyLog: []any{"lease", s.cfg.LeaseDuration},
	}
	return w.Run(ctx)
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
	added, err := s.store.enqueue(ctx, &req, msg.Header("traceparent"))
	if err != nil {
		return err
	}
	log := messaging.Log(ctx).With("content_id", req.ContentID, "event_id", req.EventID)
	if added {
		log.Info("review item queued", "reason", req.Reason, "matches", len(req.Matches))
	} else {
		log.Info("review already queued for this content; request ignored")
	}
	return nil
}

// Handler is the HTTP API (see the package comment), health included.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	s.health.Register(mux)
	mux.HandleFunc("GET /v1/items", s.listItems)
	mux.HandleFunc("GET /v1/items/{id}", s.getItem)
	mux.HandleFunc("POST /v1/items/{id}/claim", s.claimItem)
	mux.HandleFunc("POST /v1/items/{id}/decision", s.decideItem)
	mux.HandleFunc("GET /v1/stats", s.getStats)
	return telemetry.HTTP(mux)
}
