package ingest

import (
	"errors"
	"fmt"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/edges/fetch"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

// Defaults of the ingest settings.
const (
	DefaultHTTPAddr     = "127.0.0.1:8080"
	DefaultGroup        = "takedown-ingest"
	DefaultDedupTTL     = 7 * 24 * time.Hour
	DefaultMaxBodyBytes = 64 << 10
	// DefaultUploadedClient is the client of media.uploaded records that
	// name none (a platform producing to the topic itself).
	DefaultUploadedClient     = "platform"
	DefaultSignatureTolerance = 5 * time.Minute
	DefaultClientRate         = 50
	DefaultClientBurst        = 100
	DefaultSegmentDedupTTL    = 24 * time.Hour
)

// Config holds the ingest settings.
type Config struct {
	config.Common
	// Group is the Kafka consumer group reading uploads.
	Group string
	// URLAllowlist lists CIDR prefixes or addresses that media URLs may
	// point at although they are not public (see package fetch).
	URLAllowlist []string
	// DedupTTL is how long a content id is remembered: an upload of the
	// same content id within it is a duplicate and is dropped.
	DedupTTL time.Duration
	// MaxBodyBytes bounds the body of an upload request.
	MaxBodyBytes int64
	// Clients lists the API's clients and their keys (see parseClients),
	// one secret setting so that it can be mounted from a file.
	Clients string
	// AllowAnonymous admits unsigned requests as client "anonymous".
	AllowAnonymous bool
	// UploadedClient is the client of media.uploaded records without one.
	UploadedClient string
	// SignatureTolerance is how far a signature's time may be from ours.
	SignatureTolerance time.Duration
	// ClientRate and ClientBurst are each client's token bucket: requests
	// per second, and how many may come at once.
	ClientRate, ClientBurst int
	// SegmentDedupTTL is how long a stream segment is remembered.
	SegmentDedupTTL time.Duration
}

// Bind registers the settings: the common ones, then the ingest service's own
// (docs/settings.md lists them all; make docs writes it from here).
func (c *Config) Bind(s *config.Set) {
	c.Common.Bind(s, "ingest", DefaultHTTPAddr)
	s.String(&c.Group, "group", DefaultGroup, "Kafka consumer group of this service")
	s.List(&c.URLAllowlist, "url-allowlist", "",
		"CIDR prefixes or IP addresses media URLs may point at although they are not public (loopback, private, link-local...)")
	s.Duration(&c.DedupTTL, "dedup-ttl", DefaultDedupTTL,
		"how long a content id is remembered; a second upload of it within this time is dropped as a duplicate")
	s.Int64(&c.MaxBodyBytes, "max-body-bytes", DefaultMaxBodyBytes, "largest accepted body of an upload API request")
	s.Secret(&c.Clients, "ingest-clients",
		"API clients and their signing keys: client:keyid=secret entries, separated by commas or new lines")
	s.Bool(&c.AllowAnonymous, "ingest-allow-anonymous", false,
		"accept unsigned API requests as client \"anonymous\" (never in production)")
	s.String(&c.UploadedClient, "uploaded-client", DefaultUploadedClient,
		"client of media.uploaded records that name none (a platform producing to the topic itself)")
	s.Duration(&c.SignatureTolerance, "signature-tolerance", DefaultSignatureTolerance,
		"how far a request signature's time may be from the server's clock")
	s.Int(&c.ClientRate, "client-rate", DefaultClientRate, "API requests per second allowed to each client (more are answered 429 with Retry-After)")
	s.Int(&c.ClientBurst, "client-burst", DefaultClientBurst, "API requests a client may send at once, above its rate")
	s.Duration(&c.SegmentDedupTTL, "segment-dedup-ttl", DefaultSegmentDedupTTL,
		"how long a stream segment (client, stream, sequence) is remembered; a repeat within it is not published again")
}

// withDefaults fills what a Config built in code (rather than by Bind) may
// leave empty.
func (c Config) withDefaults() Config {
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	if c.DedupTTL == 0 {
		c.DedupTTL = DefaultDedupTTL
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.DLQTopic == "" {
		c.DLQTopic = "ingest.dlq"
	}
	if c.UploadedClient == "" {
		c.UploadedClient = DefaultUploadedClient
	}
	if c.SignatureTolerance == 0 {
		c.SignatureTolerance = DefaultSignatureTolerance
	}
	if c.ClientRate == 0 {
		c.ClientRate = DefaultClientRate
	}
	if c.ClientBurst == 0 {
		c.ClientBurst = DefaultClientBurst
	}
	if c.SegmentDedupTTL == 0 {
		c.SegmentDedupTTL = DefaultSegmentDedupTTL
	}
	if c.Redis.Prefix == "" {
		c.Redis.Prefix = "takedown"
	}
	d := config.DefaultTopics()
	if c.Topics.Uploaded == "" {
		c.Topics.Uploaded = d.Uploaded
	}
	if c.Topics.Ingested == "" {
		c.Topics.Ingested = d.Ingested
	}
	if c.Topics.StreamSegments == "" {
		c.Topics.StreamSegments = d.StreamSegments
	}
	return c
}

// Validate checks the settings and returns every problem at once; New fills
// the defaults (withDefaults) first and adds the "ingest config: " prefix.
func (c Config) Validate() error {
	var errs []error
	if err := c.Redis.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Kafka.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.DedupTTL < time.Second {
		errs = append(errs, fmt.Errorf("TAKEDOWN_DEDUP_TTL=%s: must be at least 1s", c.DedupTTL))
	}
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("TAKEDOWN_MAX_BODY_BYTES=%d: must be at least 1024", c.MaxBodyBytes))
	}
	if _, err := fetch.ParseAllowlist(c.URLAllowlist); err != nil {
		errs = append(errs, err)
	}
	if keys, err := parseClients(c.Clients); err != nil {
		errs = append(errs, err)
	} else if len(keys) == 0 && !c.AllowAnonymous {
		errs = append(errs, fmt.Errorf("%s is empty: give the API's clients and keys (client:keyid=secret), "+
			"or set %s=true to accept unsigned requests (never in production)",
			config.EnvName("ingest-clients"), config.EnvName("ingest-allow-anonymous")))
	}
	if err := events.CheckClientID(c.UploadedClient); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", config.EnvName("uploaded-client"), err))
	}
	if c.SignatureTolerance < time.Second {
		errs = append(errs, fmt.Errorf("%s=%s: must be at least 1s", config.EnvName("signature-tolerance"), c.SignatureTolerance))
	}
	if c.ClientRate < 1 {
		errs = append(errs, fmt.Errorf("%s=%d: must be at least 1", config.EnvName("client-rate"), c.ClientRate))
	}
	if c.ClientBurst < 1 {
		errs = append(errs, fmt.Errorf("%s=%d: must be at least 1", config.EnvName("client-burst"), c.ClientBurst))
	}
	if c.SegmentDedupTTL < time.Second {
		errs = append(errs, fmt.Errorf("%s=%s: must be at least 1s", config.EnvName("segment-dedup-ttl"), c.SegmentDedupTTL))
	}
	if err := c.HTTP.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
