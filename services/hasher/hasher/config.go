package hasher

import (
	"errors"
	"fmt"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/edges/fetch"
	"github.com/takedown-pipeline/takedown/pkg/hashing/mediahash"
	"github.com/takedown-pipeline/takedown/pkg/hashing/video"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

// Defaults of the hasher settings.
const (
	DefaultHTTPAddr      = "127.0.0.1:8081"
	DefaultGroup         = "takedown-hasher"
	DefaultMaxMediaBytes = 50 << 20
	DefaultFetchTimeout  = 30 * time.Second
	DefaultFetchAttempts = 6
	DefaultMaxPixels     = mediahash.DefaultMaxPixels
	DefaultVideoFPS      = 1
	DefaultVideoMaxDur   = video.DefaultMaxDuration
	DefaultVideoTimeout  = video.DefaultTimeout
	DefaultVideoCPULimit = video.DefaultCPULimit
	DefaultVideoMemLimit = video.DefaultMemoryLimit
	// DefaultMaxDeliveries: a crash can be bad luck (the node's OOM killer
	// choosing the hasher for another's memory); three in a row on the
	// same upload are the upload.
	DefaultMaxDeliveries = 3
)

// Config holds the hasher settings.
type Config struct {
	config.Common
	// Group is the Kafka consumer group reading ingested uploads.
	Group string
	// URLAllowlist lists CIDR prefixes or addresses that media may be
	// fetched from although they are not public (see package fetch).
	URLAllowlist []string
	// MaxMediaBytes bounds a fetched media file.
	MaxMediaBytes int64
	// FetchTimeout bounds one fetch, redirects and body included.
	FetchTimeout time.Duration
	// FetchAttempts is how often a media host that fails transiently is
	// tried (backoff 2 s doubling, at most 30 s) before the upload is
	// unhashable (host_unavailable).
	FetchAttempts int
	// MaxPixels bounds the width*height of a decoded image.
	MaxPixels int64
	// VideoFPS is how many frames of a video (or a stream segment) are
	// hashed per second. Bank videos hold every frame, so any rate finds
	// their frames; more frames a second cost hashing time and event size
	// (see package videohash).
	VideoFPS int
	// VideoMaxDuration refuses longer videos (read from the container
	// before anything is decoded).
	VideoMaxDuration time.Duration
	// VideoTimeout bounds the hashing of one video.
	VideoTimeout time.Duration
	// VideoCPULimit and VideoMemoryLimit bound each run of ffmpeg and
	// ffprobe: CPU time over all its threads, and address space in bytes
	// (RLIMIT_CPU and RLIMIT_AS, through prlimit). Negative: no limit.
	VideoCPULimit    time.Duration
	VideoMemoryLimit int64
	// MaxDeliveries is how many times one message may be delivered without
	// the hasher surviving its handling (a native crash in a decoder, the
	// OOM killer) before it is published as unhashable (decoder_crashed)
	// instead of tried again. Deliveries are counted in Redis, outside the
	// process.
	MaxDeliveries int
}

// Bind registers the settings: the common ones, then the hasher's own
// (docs/settings.md lists them all; make docs writes it from here).
func (c *Config) Bind(s *config.Set) {
	c.Common.Bind(s, "hasher", DefaultHTTPAddr)
	s.String(&c.Group, "group", DefaultGroup, "Kafka consumer group of this service")
	s.List(&c.URLAllowlist, "url-allowlist", "",
		"CIDR prefixes or IP addresses media may be fetched from although they are not public (loopback, private, link-local...)")
	s.Int64(&c.MaxMediaBytes, "max-media-bytes", DefaultMaxMediaBytes, "largest media file fetched; larger ones are unhashable (sent to review)")
	s.Duration(&c.FetchTimeout, "fetch-timeout", DefaultFetchTimeout, "time limit of one media fetch, redirects and body included")
	s.Int(&c.FetchAttempts, "fetch-attempts", DefaultFetchAttempts,
		"attempts at a media host that fails transiently (5xx, timeout), 2s apart doubling to 30s, before the upload is unhashable (sent to review)")
	s.Int64(&c.MaxPixels, "max-pixels", DefaultMaxPixels,
		"largest width*height of an image decoded; larger ones (decompression bombs) are unhashable (sent to review)")
	s.Int(&c.VideoFPS, "video-fps", DefaultVideoFPS, "frames of a video (or a live stream segment) hashed per second, 1-60")
	s.Duration(&c.VideoMaxDuration, "video-max-duration", DefaultVideoMaxDur, "longest video hashed; longer ones are unhashable (sent to review)")
	s.Duration(&c.VideoTimeout, "video-timeout", DefaultVideoTimeout, "time limit of hashing one video (ffmpeg included); slower ones are unhashable (sent to review)")
	s.Duration(&c.VideoCPULimit, "video-cpu-limit", DefaultVideoCPULimit,
		"CPU time (all threads) one run of ffmpeg or ffprobe may use, through prlimit; at least 1s, negative: no limit")
	s.Int64(&c.VideoMemoryLimit, "video-memory-limit", DefaultVideoMemLimit,
		"address space in bytes one run of ffmpeg or ffprobe may map, through prlimit; at least 268435456 (256 MiB), negative: no limit")
	s.Int(&c.MaxDeliveries, "max-deliveries", DefaultMaxDeliveries,
		"deliveries of one upload that the hasher may not survive (a decoder crash, the OOM killer), counted in Redis, before the upload is unhashable (decoder_crashed) instead of tried again")
}

// withDefaults fills what a Config built in code (rather than by Bind) may
// leave empty.
func (c Config) withDefaults() Config {
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	if c.MaxMediaBytes == 0 {
		c.MaxMediaBytes = DefaultMaxMediaBytes
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = DefaultFetchTimeout
	}
	if c.FetchAttempts == 0 {
		c.FetchAttempts = DefaultFetchAttempts
	}
	if c.MaxPixels == 0 {
		c.MaxPixels = DefaultMaxPixels
	}
	if c.VideoFPS == 0 {
		c.VideoFPS = DefaultVideoFPS
	}
	if c.MaxDeliveries == 0 {
		c.MaxDeliveries = DefaultMaxDeliveries
	}
	if c.VideoMaxDuration == 0 {
		c.VideoMaxDuration = DefaultVideoMaxDur
	}
	if c.VideoTimeout == 0 {
		c.VideoTimeout = DefaultVideoTimeout
	}
	if c.VideoCPULimit == 0 {
		c.VideoCPULimit = DefaultVideoCPULimit
	}
	if c.VideoMemoryLimit == 0 {
		c.VideoMemoryLimit = DefaultVideoMemLimit
	}
	if c.DLQTopic == "" {
		c.DLQTopic = "hasher.dlq"
	}
	d := config.DefaultTopics()
	if c.Topics.Ingested == "" {
		c.Topics.Ingested = d.Ingested
	}
	if c.Topics.Hashed == "" {
		c.Topics.Hashed = d.Hashed
	}
	if c.Topics.StreamSegments == "" {
		c.Topics.StreamSegments = d.StreamSegments
	}
	return c
}

// Validate checks the settings and returns every problem at once; New fills
// the defaults (withDefaults) first and adds the "hasher config: " prefix.
func (c Config) Validate() error {
	var errs []error
	if err := c.Kafka.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.MaxMediaBytes < 1 {
		errs = append(errs, fmt.Errorf("TAKEDOWN_MAX_MEDIA_BYTES=%d: must be positive", c.MaxMediaBytes))
	}
	if c.FetchTimeout < 0 {
		errs = append(errs, fmt.Errorf("TAKEDOWN_FETCH_TIMEOUT=%s: must be positive", c.FetchTimeout))
	}
	if c.MaxDeliveries < 1 {
		errs = append(errs, fmt.Errorf("TAKEDOWN_MAX_DELIVERIES=%d: must be positive", c.MaxDeliveries))
	}
	if err := c.Redis.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.FetchAttempts < 1 {
		errs = append(errs, fmt.Errorf("TAKEDOWN_FETCH_ATTEMPTS=%d: must be positive", c.FetchAttempts))
	}
	if c.MaxPixels < 1 {
		errs = append(errs, fmt.Errorf("TAKEDOWN_MAX_PIXELS=%d: must be positive", c.MaxPixels))
	}
	if c.VideoFPS < 1 || c.VideoFPS > 60 {
		errs = append(errs, fmt.Errorf("TAKEDOWN_VIDEO_FPS=%d: want 1..60 frames a second", c.VideoFPS))
	}
	if c.VideoMaxDuration < 0 || c.VideoTimeout < 0 {
		errs = append(errs, fmt.Errorf("TAKEDOWN_VIDEO_MAX_DURATION=%v, TAKEDOWN_VIDEO_TIMEOUT=%v: must be positive", c.VideoMaxDuration, c.VideoTimeout))
	}
	if c.VideoCPULimit > 0 && c.VideoCPULimit < time.Second {
		errs = append(errs, fmt.Errorf("TAKEDOWN_VIDEO_CPU_LIMIT=%v: at least 1s (the kernel counts whole seconds), or negative for none", c.VideoCPULimit))
	}
	if c.VideoMemoryLimit > 0 && c.VideoMemoryLimit < video.MinMemoryLimit {
		errs = append(errs, fmt.Errorf("TAKEDOWN_VIDEO_MEMORY_LIMIT=%d: at least %d bytes (ffmpeg cannot load its libraries in less), or negative for none",
			c.VideoMemoryLimit, int64(video.MinMemoryLimit)))
	}
	if c.Topics.StreamSegments == c.Topics.Ingested {
		errs = append(errs, fmt.Errorf("TAKEDOWN_TOPIC_STREAM_SEGMENTS and TAKEDOWN_TOPIC_INGESTED are both %q: the hasher tells the events apart by topic", c.Topics.Ingested))
	}
	if _, err := fetch.ParseAllowlist(c.URLAllowlist); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
