package matcher_test

import (
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/testenv"
	"github.com/takedown-pipeline/takedown/services/matcher/matcher"
)

// TestConfigValidate checks that Validate names the setting it refuses.
func TestConfigValidate(t *testing.T) {
	def := testenv.CheckValidate(t, nil, []testenv.ValidateCase[matcher.Config]{
		{Name: "group", Change: func(c *matcher.Config) { c.Group = "" }, Want: "empty consumer group"},
		{Name: "hashed topic", Change: func(c *matcher.Config) { c.Topics.Hashed = "" }, Want: "empty hashed topic"},
		{Name: "threshold-pdq", Change: func(c *matcher.Config) { c.ThresholdPDQ = 257 }, Want: "threshold-pdq 257"},
		{Name: "threshold-phash", Change: func(c *matcher.Config) { c.ThresholdPHash = -1 }, Want: "threshold-phash -1"},
		{Name: "min-pdq-quality", Change: func(c *matcher.Config) { c.MinPDQQuality = 101 }, Want: "min-pdq-quality 101"},
		{Name: "snapshot-interval", Change: func(c *matcher.Config) { c.SnapshotDir, c.SnapshotInterval = "/tmp/x", 0 }, Want: "snapshot-interval 0s"},
		{Name: "cache-ttl", Change: func(c *matcher.Config) { c.CacheTTL = 0 }, Want: "cache-ttl 0s"},
		{Name: "redis-timeout", Change: func(c *matcher.Config) { c.RedisTimeout = -time.Second }, Want: "redis-timeout -1s"},
		{Name: "redis-prefix", Change: func(c *matcher.Config) { c.Redis.Prefix = "" }, Want: "redis-prefix is empty"},
		{Name: "cache-signing-key", Change: func(c *matcher.Config) { c.CacheSigningKey = "short" }, Want: "TAKEDOWN_CACHE_SIGNING_KEY has 5 bytes"},
	})
	// With the cache off its settings are not checked.
	off := def
	off.CacheEnabled, off.CacheTTL = false, 0
	if err := off.Validate(); err != nil {
		t.Errorf("cache off, cache-ttl 0: %v", err)
	}
}
