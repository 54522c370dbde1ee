package matcher

import (
	"time"

	"github.com/takedown-pipeline/takedown/pkg/bank"
	"github.com/takedown-pipeline/takedown/pkg/config"
	"github.com/takedown-pipeline/takedown/pkg/events"
)

// Config holds the matcher's settings.
type Config struct {
	config.Common
	// Group is the consumer group for media.hashed. Bank updates are read
	// outside any group: every replica needs all of them.
	Group          string
	ThresholdPHash int
	ThresholdDHash int
	// CacheTTL bounds how long a verdict stays in Redis. Verdicts are keyed
	// by the bank's content version, so the TTL only limits memory use; it
	// is never what keeps a verdict fresh.
	CacheTTL time.Duration
	// RedisTimeout is the most a lookup waits for Redis before matching from
	// memory instead; matching itself takes well under a millisecond.
	RedisTimeout time.Duration
	CacheEnabled bool
}

// Bind registers the settings.
func (c *Config) Bind(s *config.Set) {
	c.Common.Bind(s, "matcher", "127.0.0.1:8082")
	s.String(&c.Group, "group", "takedown-matcher", "consumer group for hashed media")
	s.Int(&c.ThresholdPHash, "threshold-phash", 10, "largest pHash Hamming distance (of 64 bits) that counts as a match")
	s.Int(&c.ThresholdDHash, "threshold-dhash", 10, "largest dHash Hamming distance (of 64 bits) that counts as a match")
	s.Duration(&c.CacheTTL, "cache-ttl", 10*time.Minute, "lifetime of a cached verdict in Redis")
	s.Duration(&c.RedisTimeout, "redis-timeout", 200*time.Millisecond, "longest wait for Redis before matching from memory")
	s.Bool(&c.CacheEnabled, "cache", true, "cache verdicts in Redis (off: always match from memory)")
}

// Thresholds are the bank thresholds the settings ask for.
func (c *Config) Thresholds() bank.Thresholds {
	return bank.Thresholds{events.SignalPHash: c.ThresholdPHash, events.SignalDHash: c.ThresholdDHash}
}
