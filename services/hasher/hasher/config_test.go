package hasher

import (
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/config"
)

// TestConfigValidate checks that Validate names the setting it refuses.
func TestConfigValidate(t *testing.T) {
	var def Config
	set := config.New("hasher-test").WithEnv(func(string) (string, bool) { return "", false })
	def.Bind(set)
	if err := set.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := def.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"max-media-bytes", func(c *Config) { c.MaxMediaBytes = 0 }, "TAKEDOWN_MAX_MEDIA_BYTES=0"},
		{"fetch-timeout", func(c *Config) { c.FetchTimeout = -time.Second }, "TAKEDOWN_FETCH_TIMEOUT=-1s"},
		{"max-deliveries", func(c *Config) { c.MaxDeliveries = 0 }, "TAKEDOWN_MAX_DELIVERIES=0"},
		{"fetch-attempts", func(c *Config) { c.FetchAttempts = 0 }, "TAKEDOWN_FETCH_ATTEMPTS=0"},
		{"max-pixels", func(c *Config) { c.MaxPixels = -1 }, "TAKEDOWN_MAX_PIXELS=-1"},
		{"video-fps", func(c *Config) { c.VideoFPS = 61 }, "TAKEDOWN_VIDEO_FPS=61"},
		{"video-timeout", func(c *Config) { c.VideoTimeout = -time.Second }, "TAKEDOWN_VIDEO_TIMEOUT=-1s"},
		{"stream-segments topic", func(c *Config) { c.Topics.StreamSegments = c.Topics.Ingested }, "TAKEDOWN_TOPIC_STREAM_SEGMENTS and TAKEDOWN_TOPIC_INGESTED"},
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
}
