package hasher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/edges/fetch"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/mediahash"
	"github.com/takedown-pipeline/takedown/pkg/platform/cpu"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/platform/service"
)

// handle routes a message by its topic.
func (s *Service) handle(ctx context.Context, msg *messaging.Message) error {
	if msg.Topic == s.cfg.Topics.StreamSegments {
		return s.handleSegment(ctx, msg)
	}
	return s.handleIngested(ctx, msg)
}

// handleIngested fetches, hashes and publishes one upload.
func (s *Service) handleIngested(ctx context.Context, msg *messaging.Message) error {
	var in events.MediaIngested
	if err := events.Decode(msg.Value, events.TypeMediaIngested, &in); err != nil {
		return messaging.Permanent(err)
	}
	log := messaging.Log(ctx).With("content_id", in.ContentID, "event_id", in.EventID)

	media, err := s.fetch(ctx, in.MediaURL)
	if err != nil {
		return s.unhashableOr(ctx, ingestedBase(&in), nil, err)
	}
	if in.ContentType == events.ContentVideo {
		return s.handleVideo(ctx, &in, media)
	}
	var res mediahash.Result
	start := time.Now()
	if cerr := cpu.Do(ctx, func() {
		if decodeFault != nil {
			decodeFault(media.Data)
		}
		res, err = mediahash.Hash(ctx, media.Data, in.ContentType, s.limits)
	}); cerr != nil {
		return cerr // out of time waiting for a CPU slot: not the media's fault
	}
	service.Observe(ctx, s.metrics.hashSeconds.WithLabelValues(in.ContentType), time.Since(start).Seconds())
	if err != nil {
		if ctx.Err() != nil {
			return err // shutting down or out of time: not the media's fault
		}
		return s.unhashableOr(ctx, ingestedBase(&in), media,
			mediaError(fmt.Errorf("media from %s (%d bytes, served as %s): %w", in.MediaURL, len(media.Data), media.MimeType, err)))
	}
	info := res.Info
	if info.MimeType == "" || info.MimeType == "application/octet-stream" {
		info.MimeType = media.MimeType
	}
	out := ingestedBase(&in)
	out.Media, out.Signals = info, res.Signals
	if err := messaging.PublishEvent(ctx, s.pub, s.cfg.Topics.Hashed, &out); err != nil {
		return fmt.Errorf("publish %s: %w", events.TypeMediaHashed, err)
	}
	s.hashed.Add(1)
	log.Info("media hashed", "hashed_event_id", out.EventID, "mime_type", info.MimeType, "bytes", info.Bytes,
		"width", info.Width, "height", info.Height, "signals", len(out.Signals))
	return nil
}

// fetch gets the media, retrying a failing host with backoff. A host that
// stays down is the upload's problem, not the service's: the upload is then
// unhashable (host_unavailable) rather than stalling every upload behind it
// on the partition; a refused URL or answer is unhashable at once
// (host_refused, or too_large for a body over the limit). Failures of the
// hasher's own dependencies (publishing to Kafka) are not handled here and
// never dead-letter: the consumer waits them out.
func (s *Service) fetch(ctx context.Context, url string) (*fetch.Media, error) {
	backoff := s.fetchBackoff
	for attempt := 1; ; attempt++ {
		start := time.Now()
		media, err := s.fetcher.Fetch(ctx, url)
		outcome := fetchOutcome(ctx, err)
		s.metrics.fetches.WithLabelValues(outcome).Inc()
		service.Observe(ctx, s.metrics.fetchSeconds.WithLabelValues(outcome), time.Since(start).Seconds())
		if err == nil {
			s.metrics.fetchedBytes.Add(float64(len(media.Data)))
			return media, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("fetch media interrupted: %w", err) // not the host's fault
		}
		if fetch.IsPermanent(err) {
			reason := events.UnhashableHostRefused
			if errors.Is(err, fetch.ErrTooLarge) {
				reason = events.UnhashableTooLarge
			}
			return nil, unhashable(reason, fmt.Errorf("fetch media: %w", err))
		}
		if attempt >= s.cfg.FetchAttempts {
			return nil, unhashable(events.UnhashableHostUnavailable, fmt.Errorf("fetch media: still failing after %d attempts: %w", attempt, err))
		}
		messaging.Log(ctx).Warn("fetching media failed; retrying", "attempt", attempt, "retry_in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("fetch media interrupted: %w", err)
		case <-messaging.Stopping(ctx):
			return nil, fmt.Errorf("fetch media: shutting down between retries: %w", err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// fetchOutcome names the outcome of one fetch attempt for the metrics.
func fetchOutcome(ctx context.Context, err error) string {
	switch {
	case err == nil:
		return fetchOK
	case ctx.Err() != nil:
		return fetchInterrupted
	case errors.Is(err, fetch.ErrTooLarge):
		return fetchTooLarge
	case fetch.IsPermanent(err):
		return fetchRefused
	}
	return fetchFailed
}
