package hasher

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/edges/fetch"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/mediahash"
	"github.com/takedown-pipeline/takedown/pkg/hashing/video"
	"github.com/takedown-pipeline/takedown/pkg/hashing/videohash"
	"github.com/takedown-pipeline/takedown/pkg/platform/cpu"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/platform/service"
)

// checkFFmpeg warns at start when ffmpeg or ffprobe cannot be found: the
// hasher still hashes pictures, and videos are unhashable (unsupported)
// until the tools are installed.
func (s *Service) checkFFmpeg() {
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			s.log.Warn("video hashing unavailable: videos are unhashable until it is installed", "binary", bin, "err", err)
		}
	}
}

func (s *Service) videoOptions() video.Options {
	return video.Options{FPS: float64(s.cfg.VideoFPS), MaxDuration: s.cfg.VideoMaxDuration, Timeout: s.cfg.VideoTimeout,
		CPULimit: s.cfg.VideoCPULimit, MemoryLimit: s.cfg.VideoMemoryLimit}
}

// hashVideo returns the byte hashes and the sampled frames of a video. Every
// failure of the media (not a video, corrupt, too long, too large, too slow
// to decode, a crashed decoder) and a missing ffmpeg make it unhashable,
// with the reason. A shutdown is not.
func (s *Service) hashVideo(ctx context.Context, url string, media *fetch.Media) (mediahash.Result, videohash.Result, error) {
	var err error
	var bytes mediahash.Result
	start := time.Now()
	defer func() {
		service.Observe(ctx, s.metrics.hashSeconds.WithLabelValues(events.ContentVideo), time.Since(start).Seconds())
	}()
	if cerr := cpu.Do(ctx, func() { bytes, err = mediahash.Hash(ctx, media.Data, events.ContentVideo, s.limits) }); cerr != nil {
		return bytes, videohash.Result{}, cerr // out of time waiting for a CPU slot: not the media's fault
	}
	if err != nil {
		if ctx.Err() != nil {
			return bytes, videohash.Result{}, err
		}
		return bytes, videohash.Result{}, mediaError(fmt.Errorf("media from %s (%d bytes): %w", url, len(media.Data), err))
	}
	frames, err := videohash.UploadBytes(ctx, media.Data, s.videoOptions())
	if err != nil {
		if ctx.Err() != nil {
			return bytes, frames, err // shutting down or out of time: not the media's fault
		}
		if errors.Is(err, video.ErrNoFFmpeg) {
			return bytes, frames, unhashable(events.UnhashableUnsupported, fmt.Errorf("video from %s cannot be hashed on this hasher (ffmpeg is not installed): %w", url, err))
		}
		return bytes, frames, mediaError(fmt.Errorf("video from %s (%d bytes, served as %s): %w", url, len(media.Data), media.MimeType, err))
	}
	if halved := frames.Thin(0); halved > 0 {
		messaging.Log(ctx).Info("video frames thinned to fit one event", "frames", len(frames.Frames),
			"interval_ms", frames.IntervalMs, "sampled", frames.Sampled)
	}
	return bytes, frames, nil
}

// videoInfo is the media description of a hashed video.
func videoInfo(b mediahash.Result, v videohash.Result, media *fetch.Media) events.MediaInfo {
	info := b.Info
	if info.MimeType == "" || info.MimeType == "application/octet-stream" {
		info.MimeType = media.MimeType
	}
	info.Width, info.Height = v.Info.Width, v.Info.Height
	return info
}

// handleVideo hashes and publishes one video upload.
func (s *Service) handleVideo(ctx context.Context, in *events.MediaIngested, media *fetch.Media) error {
	start := time.Now()
	b, v, err := s.hashVideo(ctx, in.MediaURL, media)
	if err != nil {
		return s.unhashableOr(ctx, ingestedBase(in), media, err)
	}
	out := ingestedBase(in)
	out.Media, out.Signals = videoInfo(b, v, media), b.Signals
	out.DurationMs, out.FrameIntervalMs, out.Frames = v.DurationMs, v.IntervalMs, v.Frames
	if err := messaging.PublishEvent(ctx, s.pub, s.cfg.Topics.Hashed, &out); err != nil {
		return fmt.Errorf("publish %s: %w", events.TypeMediaHashed, err)
	}
	s.hashed.Add(1)
	s.videos.Add(1)
	messaging.Log(ctx).Info("video hashed", "content_id", in.ContentID, "hashed_event_id", out.EventID,
		"duration_ms", v.DurationMs, "frames", len(v.Frames), "sampled", v.Sampled, "width", out.Media.Width,
		"height", out.Media.Height, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// handleSegment hashes one live stream segment as it arrives and publishes
// its frames in stream time, keyed by the stream's id.
func (s *Service) handleSegment(ctx context.Context, msg *messaging.Message) error {
	var seg events.StreamSegment
	if err := events.Decode(msg.Value, events.TypeStreamSegment, &seg); err != nil {
		return messaging.Permanent(err)
	}
	log := messaging.Log(ctx).With("stream_id", seg.ContentID, "sequence", seg.Sequence, "event_id", seg.EventID)
	media, err := s.fetch(ctx, seg.MediaURL)
	if err != nil {
		return s.unhashableOr(ctx, segmentBase(&seg), nil, err)
	}
	b, v, err := s.hashVideo(ctx, seg.MediaURL, media)
	if err != nil {
		return s.unhashableOr(ctx, segmentBase(&seg), media, err)
	}
	v.Shift(seg.OffsetMs)
	out := segmentBase(&seg)
	out.Media, out.Signals = videoInfo(b, v, media), b.Signals
	out.FrameIntervalMs, out.Frames = v.IntervalMs, v.Frames
	if err := messaging.PublishEvent(ctx, s.pub, s.cfg.Topics.Hashed, &out); err != nil {
		return fmt.Errorf("publish %s: %w", events.TypeMediaHashed, err)
	}
	s.hashed.Add(1)
	s.segments.Add(1)
	log.Info("stream segment hashed", "hashed_event_id", out.EventID, "offset_ms", seg.OffsetMs,
		"frames", len(v.Frames), "since_received", time.Since(seg.ReceivedAt).Round(time.Millisecond))
	return nil
}
