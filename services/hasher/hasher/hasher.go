// Package hasher holds the hasher service: for every ingested upload it
// fetches the media (under the URL policy and size and time limits of package
// fetch), decodes and hashes it with package mediahash and publishes the
// signals as media.hashed.
//
// A video (content type video) gets its file's sha256 and md5 and the PDQ
// hashes of its frames sampled at VideoFPS (package videohash: ffmpeg as a
// subprocess, under the duration and time limits). So does each segment of
// a live stream, read from the stream segments topic as the platform
// produces it; its frames are placed in stream time and its media.hashed,
// keyed by the stream's id, says which segment it is.
//
// Media that cannot be hashed fails closed: a URL that is refused, a 4xx
// answer, a host still failing after every attempt (timeouts, 5xx answers and
// connection failures are retried first), media over the size, pixel or
// duration limit, an undecodable file, a decompression bomb or a decoder that
// crashed or timed out is published as media.hashed with Unhashable set (its
// reason, and the byte hashes of whatever was fetched), which the matcher
// passes on and the enforcer sends to review. Only a malformed event goes to
// the dead-letter topic. Hashing has no external effect, so a redelivered
// upload is simply hashed and published again.
package hasher

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/takedown-pipeline/takedown/pkg/edges/fetch"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/mediahash"
	"github.com/takedown-pipeline/takedown/pkg/platform/attempts"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/platform/redisconn"
	"github.com/takedown-pipeline/takedown/pkg/platform/service"
	"github.com/takedown-pipeline/takedown/pkg/platform/topics"
)

// Service is the hasher.
type Service struct {
	cfg     Config
	log     *slog.Logger
	fetcher *fetch.Client
	limits  mediahash.Limits
	retry   messaging.RetryConfig
	// fetchBackoff is the first wait between fetch attempts.
	fetchBackoff time.Duration
	pub          messaging.Publisher
	health       *service.Health
	// rdb holds the delivery counts (CountAttempts).
	rdb *redis.Client

	hashed, videos, segments, unhashable atomic.Int64
	metrics                              *hasherMetrics
}

// New checks cfg and creates the clients; nothing connects until Run.
func New(cfg Config, log *slog.Logger) (*Service, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("hasher config: %w", err)
	}
	allow, _ := fetch.ParseAllowlist(cfg.URLAllowlist) // checked by Validate
	if log == nil {
		log = slog.Default()
	}
	rdb, err := redisconn.New(cfg.Redis)
	if err != nil {
		return nil, fmt.Errorf("hasher config: %w", err)
	}
	return &Service{
		cfg: cfg,
		rdb: rdb,
		log: log,
		fetcher: fetch.NewClient(fetch.Config{
			Policy:   fetch.Policy{Allow: allow},
			MaxBytes: cfg.MaxMediaBytes,
			Timeout:  cfg.FetchTimeout,
		}),
		limits: mediahash.Limits{MaxPixels: cfg.MaxPixels, MaxBytes: cfg.MaxMediaBytes},
		pub:    messaging.NewKafkaPublisher(cfg.Kafka),
		// 2+4+8+16+30 s between six attempts: about a minute for a media
		// host to come back before its upload is parked.
		fetchBackoff: 2 * time.Second,
		health:       service.NewHealth(),
		metrics:      newHasherMetrics(),
	}, nil
}

// Addr is the bound HTTP address, once the service is ready.
func (s *Service) Addr() string { return s.health.Addr() }

// Ready reports whether the service is consuming and serving.
func (s *Service) Ready() bool { return s.health.Ready() }

// Stats counts what the hasher did since it started.
type Stats struct {
	// Hashed is media.hashed events published.
	Hashed int64 `json:"hashed"`
	// Videos is video uploads hashed, Segments live stream segments.
	Videos   int64 `json:"videos"`
	Segments int64 `json:"segments"`
	// Unhashable is media published as unhashable (counted in Hashed
	// too).
	Unhashable int64 `json:"unhashable"`
}

// Stats returns the counters.
func (s *Service) Stats() Stats {
	return Stats{Hashed: s.hashed.Load(), Videos: s.videos.Load(), Segments: s.segments.Load(), Unhashable: s.unhashable.Load()}
}

// Handler serves /healthz, /readyz and GET /v1/stats.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	s.health.Register(mux)
	mux.HandleFunc("GET /v1/stats", func(w http.ResponseWriter, r *http.Request) {
		service.WriteJSON(w, http.StatusOK, s.Stats())
	})
	return mux
}

// Run consumes ingested uploads until ctx is cancelled, then shuts down in
// the order service.Worker describes.
func (s *Service) Run(ctx context.Context) error {
	t := s.cfg.Topics
	w := service.Worker{
		Name: "hasher", Log: s.log, Health: s.health,
		HTTPAddr: s.cfg.HTTPAddr, HTTP: s.Handler(), Metrics: s.metrics.reg,
		Server: s.cfg.HTTP,
		Kafka:  s.cfg.Kafka,
		Topics: topics.Of("hasher", s.cfg.Common), TopicsMustExist: !s.cfg.CreateTopics,
		Liveness: s.cfg.LivenessTimeout,
		Consumer: messaging.ConsumerConfig{
			Kafka:  s.cfg.Kafka,
			Group:  s.cfg.Group,
			Topics: []string{t.Ingested, t.StreamSegments},
			Logger: s.log,
			// Mostly waiting for media hosts; decoding and hashing are
			// bounded to the cores by package cpu.
			Concurrency:    s.cfg.ConsumerConcurrency(4, 16),
			SessionTimeout: s.cfg.SessionTimeout, InstanceID: s.cfg.Instance(),
			// Room for every attempt at a slow host, the backoffs between
			// them and the hashing after. Shutdown does not wait for all
			// that: the backoffs end at once when it starts
			// (messaging.Stopping).
			HandlerTimeout: time.Duration(s.cfg.FetchAttempts)*(s.cfg.FetchTimeout+30*time.Second) + max(mediahash.DefaultTimeout, s.cfg.VideoTimeout) + time.Minute,
		},
		// Deliveries are counted in Redis: without it a crash loop would
		// go unnoticed, so the hasher does not start without it.
		Preflight: []func(context.Context) error{func(ctx context.Context) error { return redisconn.Check(ctx, s.cfg.Redis) }},
		Handle: messaging.Chain(s.handle,
			messaging.Standard(s.log, s.cfg.Group, s.pub, s.cfg.DLQTopic, s.retry,
				messaging.CountAttempts(attempts.NewRedis(s.rdb, s.cfg.Redis.Prefix+":hasher:attempts:"+s.cfg.Group, attempts.DefaultTTL),
					s.cfg.MaxDeliveries, s.crashedOn))...),
		Close: []func() error{service.Closing("publisher", s.pub.Close), service.Closing("redis", s.rdb.Close)},
		ReadyLog: []any{"publishes", t.Hashed, "url_allowlist", s.cfg.URLAllowlist, "max_media_bytes", s.cfg.MaxMediaBytes,
			"fetch_timeout", s.cfg.FetchTimeout, "fetch_attempts", s.cfg.FetchAttempts, "max_pixels", s.cfg.MaxPixels,
			"max_deliveries", s.cfg.MaxDeliveries},
	}
	s.checkFFmpeg()
	return w.Run(ctx)
}

// crashedOn publishes a message that the hasher did not survive handling
// attempts times as unhashable, instead of crashing on it again.
func (s *Service) crashedOn(ctx context.Context, msg *messaging.Message, attempts int) error {
	return s.PublishUnhashable(ctx, msg, events.UnhashableDecoderCrashed, fmt.Sprintf(
		"the hasher stopped %d times while handling this upload (a decoder crash or out of memory); not tried again", attempts-1))
}
