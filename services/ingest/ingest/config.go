package ingest

import (
	"errors"
	"fmt"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/config"
	"github.com/takedown-pipeline/takedown/pkg/fetch"
)

// Defaults of the ingest settings.
const (
	DefaultHTTPAddr     = "127.0.0.1:8080"
	DefaultGroup        = "takedown-ingest"
	DefaultDedupTTL     = 7 * 24 * time.Hour
	DefaultMaxBodyBytes = 64 << 10
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
}

// Bind registers the settings: the common ones, then
//
//	group           TAKEDOWN_GROUP           takedown-ingest
//	url-allowlist   TAKEDOWN_URL_ALLOWLIST   (empty: public addresses only)
//	dedup-ttl       TAKEDOWN_DEDUP_TTL       168h
//	max-body-bytes  TAKEDOWN_MAX_BODY_BYTES  65536
func (c *Config) Bind(s *config.Set) {
	c.Common.Bind(s, "ingest", DefaultHTTPAddr)
	s.String(&c.Group, "group", DefaultGroup, "Kafka consumer group of the ingest service")
	s.List(&c.URLAllowlist, "url-allowlist", "",
		"CIDR prefixes or IP addresses media URLs may point at although they are not public (loopback, private, link-local...)")
	s.Duration(&c.DedupTTL, "dedup-ttl", DefaultDedupTTL,
		"how long a content id is remembered; a second upload of it within this time is dropped as a duplicate")
	s.Int64(&c.MaxBodyBytes, "max-body-bytes", DefaultMaxBodyBytes, "largest accepted body of an upload API request")
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

func (c Config) validate() error {
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
	return errors.Join(errs...)
}
