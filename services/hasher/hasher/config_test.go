package hasher

import (
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// TestConfigValidate checks that Validate names the setting it refuses.
func TestConfigValidate(t *testing.T) {
	testenv.CheckValidate(t, nil, []testenv.ValidateCase[Config]{
		{Name: "max-media-bytes", Change: func(c *Config) { c.MaxMediaBytes = 0 }, Want: "TAKEDOWN_MAX_MEDIA_BYTES=0"},
		{Name: "fetch-timeout", Change: func(c *Config) { c.FetchTimeout = -time.Second }, Want: "TAKEDOWN_FETCH_TIMEOUT=-1s"},
		{Name: "max-deliveries", Change: func(c *Config) { c.MaxDeliveries = 0 }, Want: "TAKEDOWN_MAX_DELIVERIES=0"},
		{Name: "fetch-attempts", Change: func(c *Config) { c.FetchAttempts = 0 }, Want: "TAKEDOWN_FETCH_ATTEMPTS=0"},
		{Name: "max-pixels", Change: func(c *Config) { c.MaxPixels = -1 }, Want: "TAKEDOWN_MAX_PIXELS=-1"},
		{Name: "video-fps", Change: func(c *Config) { c.VideoFPS = 61 }, Want: "TAKEDOWN_VIDEO_FPS=61"},
		{Name: "video-timeout", Change: func(c *Config) { c.VideoTimeout = -time.Second }, Want: "TAKEDOWN_VIDEO_TIMEOUT=-1s"},
		{Name: "stream-segments topic", Change: func(c *Config) { c.Topics.StreamSegments = c.Topics.Ingested }, Want: "TAKEDOWN_TOPIC_STREAM_SEGMENTS and TAKEDOWN_TOPIC_INGESTED"},
	})
}
