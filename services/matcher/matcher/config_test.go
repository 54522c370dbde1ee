package matcher_test

import (
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/config"
	"github.com/takedown-pipeline/takedown/services/matcher/matcher"
)

// TestConfigValidate checks that Validate names the setting it refuses.
func TestConfigValidate(t *testing.T) {
	var def matcher.Config
	set := config.New("matcher").WithEnv(func(string) (string, bool) { return "", false })
	def.Bind(set)
	if err := set.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := def.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*matcher.Config)
		want   string
	}{
		{"group", func(c *matcher.Config) { c.Group = "" }, "empty consumer group"},
		{"hashed topic", func(c *matcher.Config) { c.Topics.Hashed = "" }, "empty hashed topic"},
		{"threshold-pdq", func(c *matcher.Config) { c.ThresholdPDQ = 257 }, "threshold-pdq 257"},
		{"threshold-phash", func(c *matcher.Config) { c.ThresholdPHash = -1 }, "threshold-phash -1"},
		{"min-pdq-quality", func(c *matcher.Config) { c.MinPDQQuality = 101 }, "min-pdq-quality 101"},
		{"snapshot-interval", func(c *matcher.Config) { c.SnapshotDir, c.SnapshotInterval = "/tmp/x", 0 }, "snapshot-interval 0s"},
		{"cache-ttl", func(c *matcher.Config) { c.CacheTTL = 0 }, "cache-ttl 0s"},
		{"redis-timeout", func(c *matcher.Config) { c.RedisTimeout = -time.Second }, "redis-timeout -1s"},
		{"redis-prefix", func(c *matcher.Config) { c.Redis.Prefix = "" }, "redis-prefix is empty"},
		{"cache-signing-key", func(c *matcher.Config) { c.CacheSigningKey = "short" }, "TAKEDOWN_CACHE_SIGNING_KEY has 5 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := def
			tc.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error naming %q", err, tc.want)
			}
		})
	}
	// With the cache off its settings are not checked.
	off := def
	off.CacheEnabled, off.CacheTTL = false, 0
	if err := off.Validate(); err != nil {
		t.Errorf("cache off, cache-ttl 0: %v", err)
	}
}
