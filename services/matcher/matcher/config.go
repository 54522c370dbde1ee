package matcher

import (
	"errors"
	"fmt"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

// Config holds the matcher's settings.
type Config struct {
	config.Common
	// Group is the consumer group for media.hashed. Bank updates are read
	// outside any group: every replica needs all of them.
	Group          string
	ThresholdPDQ   int
	ThresholdPHash int
	ThresholdDHash int
	// MinPDQQuality: query pdq hashes of lower quality match only under
	// the reduced tier below.
	MinPDQQuality int
	// LowPDQQuality and LowPDQThreshold: query pdq hashes of quality from
	// LowPDQQuality up to MinPDQQuality match only within LowPDQThreshold;
	// lower ones match nothing (see pkg/matching/bank).
	LowPDQQuality, LowPDQThreshold int
	// EnablePHash and EnableDHash turn the 64-bit hashes on for banks that
	// do not configure them; off by default (see pkg/matching/bank: they put
	// unrelated pictures within a few bits of each other).
	EnablePHash, EnableDHash bool
	// CacheTTL bounds how long a verdict stays in Redis. Verdicts are keyed
	// by the bank's content version, so the TTL only limits memory use; it
	// is never what keeps a verdict fresh.
	CacheTTL time.Duration
	// RedisTimeout is the most a lookup waits for Redis before matching from
	// memory instead; matching itself takes well under a millisecond.
	RedisTimeout time.Duration
	CacheEnabled bool
	// CacheSigningKey signs every cached verdict (HMAC-SHA256 over key and
	// value) so that whoever can write to Redis cannot forge one. Replicas
	// share the cache only when they share the key; empty: a random key per
	// process.
	CacheSigningKey string
	// SnapshotDir, when set, is where the replica keeps a snapshot of its
	// banks and the bank.updates offsets it covers, to start from it instead
	// of replaying the whole topic.
	SnapshotDir      string
	SnapshotInterval time.Duration
	// VideoQueryPercent, VideoReferencePercent, VideoMinContains and
	// VideoExcerpt are the video match rules of banks that do not set
	// their own percentages (see pkg/matching/bank, "Videos").
	VideoQueryPercent, VideoReferencePercent int
	VideoMinContains, VideoExcerpt           time.Duration
}

// Bind registers the settings.
func (c *Config) Bind(s *config.Set) {
	d := bank.DefaultThresholds()
	c.Common.Bind(s, "matcher", "127.0.0.1:8082")
	s.String(&c.Group, "group", "takedown-matcher", "Kafka consumer group of this service")
	s.Int(&c.ThresholdPDQ, "threshold-pdq", d[events.SignalPDQ], "largest PDQ Hamming distance (of 256 bits) that counts as a match, for banks that do not set their own")
	s.Int(&c.ThresholdPHash, "threshold-phash", d[events.SignalPHash], "largest pHash Hamming distance (of 64 bits) that counts as a match, for banks that do not set their own")
	s.Int(&c.ThresholdDHash, "threshold-dhash", d[events.SignalDHash], "largest dHash Hamming distance (of 64 bits) that counts as a match, for banks that do not set their own")
	s.Bool(&c.EnablePHash, "enable-phash", false, "match pHash for banks that do not configure it (off: pHash collides on unrelated pictures)")
	s.Bool(&c.EnableDHash, "enable-dhash", false, "match dHash for banks that do not configure it (off: dHash collides on unrelated pictures)")
	s.Int(&c.MinPDQQuality, "min-pdq-quality", bank.DefaultMinPDQQuality, "lowest quality (0-100) of an upload's PDQ hash that is matched at the bank's threshold")
	s.Int(&c.LowPDQQuality, "low-pdq-quality", bank.DefaultLowPDQQuality, "lowest quality (0-100) of an upload's PDQ hash that is matched at all; from it up to min-pdq-quality only within low-pdq-threshold (0: no such tier)")
	s.Int(&c.LowPDQThreshold, "low-pdq-threshold", bank.DefaultLowPDQThreshold, "largest PDQ distance at which a hash of quality between low-pdq-quality and min-pdq-quality matches")
	s.Duration(&c.CacheTTL, "cache-ttl", 10*time.Minute, "lifetime of a cached verdict in Redis")
	s.Duration(&c.RedisTimeout, "redis-timeout", 200*time.Millisecond, "longest wait for Redis before matching from memory")
	s.Bool(&c.CacheEnabled, "cache", true, "cache verdicts in Redis (off: always match from memory)")
	s.Secret(&c.CacheSigningKey, "cache-signing-key",
		"key that signs cached verdicts (HMAC-SHA256), shared by the replicas; empty: a random key per replica, so replicas do not share the cache")
	s.String(&c.SnapshotDir, "snapshot-dir", "", "directory for a bank snapshot to start from instead of replaying bank.updates (empty: no snapshots)")
	s.Duration(&c.SnapshotInterval, "snapshot-interval", 5*time.Minute, "how often to write the bank snapshot when the banks changed (with snapshot-dir)")
	s.Int(&c.VideoQueryPercent, "video-query-percent", bank.DefaultVideoQueryPercent,
		"share (1-100) of a video's frames that must match a bank video for a copy match, for banks that do not set their own")
	s.Int(&c.VideoReferencePercent, "video-reference-percent", bank.DefaultVideoReferencePercent,
		"share (1-100) of a bank video's frames a video must hold for a contains match, for banks that do not set their own")
	s.Duration(&c.VideoMinContains, "video-min-contains", bank.DefaultVideoMinContains, "shortest matched time of a contains match")
	s.Duration(&c.VideoExcerpt, "video-excerpt", bank.DefaultVideoExcerpt,
		"one matched stretch of a bank video this long matches on its own (excerpt); negative: off")
}

// VideoRules are the video match rules the settings ask for.
func (c *Config) VideoRules() bank.VideoRules {
	return bank.VideoRules{QueryPercent: c.VideoQueryPercent, ReferencePercent: c.VideoReferencePercent,
		MinContains: c.VideoMinContains, Excerpt: c.VideoExcerpt}
}

// Thresholds are the bank thresholds the settings ask for.
func (c *Config) Thresholds() bank.Thresholds {
	return bank.Thresholds{events.SignalPDQ: c.ThresholdPDQ, events.SignalPHash: c.ThresholdPHash, events.SignalDHash: c.ThresholdDHash}
}

// BankOptions are the bank options the settings ask for.
func (c *Config) BankOptions() bank.Options {
	q := c.MinPDQQuality
	if q == 0 {
		q = -1 // bank.Options reads 0 as "the default"; the setting 0 means "any quality"
	}
	// bank.Options reads 0 as "the default" in these too.
	low, lowThr := c.LowPDQQuality, c.LowPDQThreshold
	if low <= 0 {
		low = -1
	}
	if lowThr <= 0 {
		lowThr = -1
	}
	return bank.Options{Thresholds: c.Thresholds(), MinPDQQuality: q, LowPDQQuality: low, LowPDQThreshold: lowThr,
		Enabled: map[string]bool{events.SignalPHash: c.EnablePHash, events.SignalDHash: c.EnableDHash}}
}

// Validate checks the settings and returns every problem at once; New
// adds the "matcher settings: " prefix.
func (c Config) Validate() error {
	var errs []error
	if err := c.Kafka.Validate(); err != nil {
		errs = append(errs, err)
	}
	for name, t := range map[string]string{"hashed": c.Topics.Hashed, "matched": c.Topics.Matched,
		"bank updates": c.Topics.BankUpdates, "dead-letter": c.DLQTopic} {
		if t == "" {
			errs = append(errs, fmt.Errorf("empty %s topic", name))
		}
	}
	if c.Group == "" {
		errs = append(errs, errors.New("empty consumer group"))
	}
	for name, v := range map[string]int{"threshold-phash": c.ThresholdPHash, "threshold-dhash": c.ThresholdDHash} {
		if v < 0 || v > 64 {
			errs = append(errs, fmt.Errorf("%s %d: want 0..64 (bits of a 64-bit hash)", name, v))
		}
	}
	if c.ThresholdPDQ < 0 || c.ThresholdPDQ > 256 {
		errs = append(errs, fmt.Errorf("threshold-pdq %d: want 0..256 (bits of a PDQ hash)", c.ThresholdPDQ))
	}
	if c.MinPDQQuality < 0 || c.MinPDQQuality > 100 {
		errs = append(errs, fmt.Errorf("min-pdq-quality %d: want 0..100", c.MinPDQQuality))
	}
	if c.SnapshotDir != "" && c.SnapshotInterval <= 0 {
		errs = append(errs, fmt.Errorf("snapshot-interval %v: want > 0", c.SnapshotInterval))
	}
	if err := c.VideoRules().Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.CacheEnabled {
		if c.Redis.Prefix == "" {
			errs = append(errs, fmt.Errorf("redis-prefix is empty: cached verdicts would collide with other keys"))
		}
		if c.CacheTTL <= 0 {
			errs = append(errs, fmt.Errorf("cache-ttl %v: want > 0", c.CacheTTL))
		}
		if c.RedisTimeout <= 0 {
			errs = append(errs, fmt.Errorf("redis-timeout %v: want > 0", c.RedisTimeout))
		}
		if n := len(c.CacheSigningKey); n > 0 && n < 16 {
			errs = append(errs, fmt.Errorf("TAKEDOWN_CACHE_SIGNING_KEY has %d bytes: want at least 16 (32 random bytes are best)", n))
		}
		if err := c.Redis.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%w (or turn the cache off: TAKEDOWN_CACHE=false)", err))
		}
	}
	return errors.Join(errs...)
}
