// Package ingest holds the ingest service, the pipeline's front door. It
// takes uploads from platforms, either over its HTTP API (POST /v1/uploads,
// which publishes media.uploaded) or produced by the platform directly to
// media.uploaded; it validates them, applies the media URL policy, drops
// duplicate uploads (same client, content id and media URL, remembered in
// Redis for DedupTTL) and publishes each accepted upload once as
// media.ingested.
//
// Every API request is signed by a client's key (see authenticated), and
// everything a client submits is namespaced to it: from media.ingested and
// stream.segments on, a content id is events.ScopedID(client, id), so two
// clients' ids never collide in any service's state.
//
// Live streams come in segment by segment: POST /v1/streams/{id}/segments
// checks a segment as it does an upload and publishes it on the stream
// segments topic (keyed by the stream's id), which the hasher reads; a
// platform may also produce there itself.
package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/takedown-pipeline/takedown/pkg/edges/fetch"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/platform/redisconn"
	"github.com/takedown-pipeline/takedown/pkg/platform/service"
	"github.com/takedown-pipeline/takedown/pkg/platform/telemetry"
	"github.com/takedown-pipeline/takedown/pkg/platform/topics"
)

// Service is the ingest service.
type Service struct {
	cfg    Config
	log    *slog.Logger
	policy fetch.Policy
	rdb    *redis.Client
	pub    messaging.Publisher
	health *service.Health
	// keys are the API's signing keys by key id.
	keys    map[string]clientKey
	limits  *limiters
	metrics *ingestMetrics

	accepted, ingested, duplicates, segments      atomic.Int64
	unauthorized, limited, conflicts, dupSegments atomic.Int64
}

// New checks cfg and creates the clients; nothing connects until Run.
func New(cfg Config, log *slog.Logger) (*Service, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ingest config: %w", err)
	}
	allow, _ := fetch.ParseAllowlist(cfg.URLAllowlist) // checked by Validate
	if log == nil {
		log = slog.Default()
	}
	keys, _ := parseClients(cfg.Clients) // checked by Validate
	rdb, err := redisconn.New(cfg.Redis)
	if err != nil {
		return nil, fmt.Errorf("ingest config: %w", err)
	}
	s := &Service{
		cfg:     cfg,
		log:     log,
		policy:  fetch.Policy{Allow: allow},
		rdb:     rdb,
		pub:     messaging.NewKafkaPublisher(cfg.Kafka),
		health:  service.NewHealth(),
		keys:    keys,
		limits:  newLimiters(cfg.ClientRate, cfg.ClientBurst),
		metrics: newIngestMetrics(),
	}
	s.health.AddCheck("redis", func(ctx context.Context) error { return rdb.Ping(ctx).Err() })
	return s, nil
}

// Addr is the bound HTTP address, once the service is ready.
func (s *Service) Addr() string { return s.health.Addr() }

// Ready reports whether the service is consuming and serving.
func (s *Service) Ready() bool { return s.health.Ready() }

// Stats counts what the service did since it started.
type Stats struct {
	// Accepted is uploads accepted by the HTTP API.
	Accepted int64 `json:"accepted"`
	// Ingested is media.ingested events published.
	Ingested int64 `json:"ingested"`
	// Duplicates is uploads dropped because their content id was seen.
	Duplicates int64 `json:"duplicates"`
	// Segments is live stream segments accepted by the HTTP API.
	Segments int64 `json:"segments"`
	// DuplicateSegments is segments posted again (same client, stream and
	// sequence) and not published again.
	DuplicateSegments int64 `json:"duplicate_segments"`
	// Unauthorized is API requests refused for their signature; Limited
	// those refused by a client's rate limit; Conflicts those refused
	// because their id was already used for other media.
	Unauthorized int64 `json:"unauthorized"`
	Limited      int64 `json:"rate_limited"`
	Conflicts    int64 `json:"conflicts"`
}

// Stats returns the counters.
func (s *Service) Stats() Stats {
	return Stats{Accepted: s.accepted.Load(), Ingested: s.ingested.Load(), Duplicates: s.duplicates.Load(), Segments: s.segments.Load(),
		DuplicateSegments: s.dupSegments.Load(), Unauthorized: s.unauthorized.Load(), Limited: s.limited.Load(), Conflicts: s.conflicts.Load()}
}

// Handler serves the upload API, /healthz, /readyz (Redis ping) and
// GET /v1/stats.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	s.health.Register(mux)
	mux.HandleFunc("POST /v1/uploads", s.metrics.measured("/v1/uploads", s.authenticated(s.handleUpload)))
	mux.HandleFunc("POST /v1/streams/{id}/segments", s.metrics.measured("/v1/streams/{id}/segments", s.authenticated(s.handleSegment)))
	mux.HandleFunc("GET /v1/stats", func(w http.ResponseWriter, r *http.Request) {
		service.WriteJSON(w, http.StatusOK, s.Stats())
	})
	return telemetry.HTTP(mux)
}

// Run serves the API and consumes uploads until ctx is cancelled, then shuts
// down in the order service.Worker describes.
func (s *Service) Run(ctx context.Context) error {
	if s.cfg.AllowAnonymous {
		s.log.Warn("TAKEDOWN_INGEST_ALLOW_ANONYMOUS=true: ANYONE WHO REACHES THE API CAN SUBMIT UPLOADS AND STREAM SEGMENTS " +
			"as client anonymous, unsigned. Never run so in production.")
	}
	clients := map[string]bool{}
	for _, k := range s.keys {
		clients[k.client] = true
	}
	t := s.cfg.Topics
	w := service.Worker{
		Name: "ingest", Log: s.log, Health: s.health,
		HTTPAddr: s.cfg.HTTPAddr, HTTP: s.Handler(), Metrics: s.metrics.reg,
		Server: s.cfg.HTTP,
		Kafka:  s.cfg.Kafka,
		Topics: topics.Of("ingest", s.cfg.Common), TopicsMustExist: !s.cfg.CreateTopics,
		Liveness: s.cfg.LivenessTimeout,
		// Without Redis no upload can be deduplicated: refuse to start
		// rather than consume and fail every message.
		// A wrong password or an untrusted certificate stops it too, naming
		// the setting.
		Preflight: []func(context.Context) error{func(ctx context.Context) error { return redisconn.Check(ctx, s.cfg.Redis) }},
		Consumer: messaging.ConsumerConfig{Kafka: s.cfg.Kafka, Group: s.cfg.Group, Topics: []string{t.Uploaded}, Logger: s.log,
			Concurrency:    s.cfg.ConsumerConcurrency(2, 8),
			SessionTimeout: s.cfg.SessionTimeout, InstanceID: s.cfg.Instance(),
		},
		Handle: messaging.Chain(s.handleUploaded,
			messaging.Standard(s.log, s.cfg.Group, s.pub, s.cfg.DLQTopic, messaging.RetryConfig{})...),
		// The API publishes too: the publisher closes after HTTP stopped.
		Close: []func() error{service.Closing("publisher", s.pub.Close), service.Closing("redis", s.rdb.Close)},
		ReadyLog: []any{"publishes", t.Ingested, "url_allowlist", s.cfg.URLAllowlist, "dedup_ttl", s.cfg.DedupTTL,
			"api_clients", len(clients), "api_keys", len(s.keys), "allow_anonymous", s.cfg.AllowAnonymous},
	}
	return w.Run(ctx)
}
