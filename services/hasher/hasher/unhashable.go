package hasher

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/takedown-pipeline/takedown/pkg/edges/fetch"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/mediahash"
	"github.com/takedown-pipeline/takedown/pkg/hashing/video"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// unhashableError is a failure of the media itself (its host, its size,
// its format, its decoder), as opposed to one of the hasher or its
// dependencies. Such media is published as unhashable, never dropped: an
// uploader who knows the limits must not be able to evade matching by
// exceeding them.
type unhashableError struct {
	reason string // one of the events.Unhashable constants
	err    error
}

func (e *unhashableError) Error() string { return e.reason + ": " + e.err.Error() }
func (e *unhashableError) Unwrap() error { return e.err }

func unhashable(reason string, err error) error { return &unhashableError{reason: reason, err: err} }

// mediaError marks an error of decoding or hashing the media as
// unhashable, with the reason its cause gives.
func mediaError(err error) error {
	var te *video.ToolError
	var le *video.ResourceLimitError
	reason := events.UnhashableUnsupported
	switch {
	case errors.As(err, &le) && le.Resource == "cpu":
		reason = events.UnhashableDecoderTimeout
	case errors.Is(err, video.ErrResourceLimit), errors.Is(err, video.ErrCrashed):
		reason = events.UnhashableDecoderCrashed
	case errors.Is(err, mediahash.ErrTooLarge), errors.Is(err, fetch.ErrTooLarge):
		reason = events.UnhashableTooLarge
	case errors.Is(err, video.ErrTooLong):
		reason = events.UnhashableTooLong
	case errors.Is(err, mediahash.ErrTooManyPixels), errors.Is(err, video.ErrTooLarge):
		reason = events.UnhashableTooManyPixels
	case errors.Is(err, mediahash.ErrTimeout), errors.Is(err, video.ErrTimeout):
		reason = events.UnhashableDecoderTimeout
	case errors.As(err, &te) && te.Exit < 0:
		// Killed by a signal: a crash (or a resource limit), not a
		// refusal of the media.
		reason = events.UnhashableDecoderCrashed
	}
	return unhashable(reason, err)
}

// ingestedBase is the media.hashed of an upload, without its hashes.
func ingestedBase(in *events.MediaIngested) events.MediaHashed {
	return events.MediaHashed{
		Meta:        events.Follow(events.TypeMediaHashed, &in.Meta),
		MediaURL:    in.MediaURL,
		ContentType: in.ContentType,
		UploaderID:  in.UploaderID,
		UploadedAt:  in.UploadedAt,
	}
}

// segmentBase is the media.hashed of a live stream segment, without its
// hashes.
func segmentBase(seg *events.StreamSegment) events.MediaHashed {
	return events.MediaHashed{
		Meta:        events.Follow(events.TypeMediaHashed, &seg.Meta),
		MediaURL:    seg.MediaURL,
		ContentType: events.ContentVideo,
		UploaderID:  seg.UploaderID,
		UploadedAt:  seg.ReceivedAt,
		DurationMs:  seg.DurationMs,
		Stream:      seg.Ref(),
	}
}

// unhashableOr publishes out as unhashable when err is a failure of the
// media, and returns any other error as it is (a shutdown, a CPU slot not
// found in time, a failed publish: the message is tried again). media is
// what was fetched, nil if nothing was: its byte hashes go with the event,
// so that a reviewer can be shown bytes checked against them.
func (s *Service) unhashableOr(ctx context.Context, out events.MediaHashed, media *fetch.Media, err error) error {
	var ue *unhashableError
	if !errors.As(err, &ue) || ctx.Err() != nil {
		return err
	}
	return s.publishUnhashable(ctx, out, media, &events.Unhashable{Reason: ue.reason, Detail: ue.err.Error()})
}

func (s *Service) publishUnhashable(ctx context.Context, out events.MediaHashed, media *fetch.Media, u *events.Unhashable) error {
	out.Unhashable = u
	out.Signals = []events.Signal{}
	if media != nil {
		sha, md := sha256.Sum256(media.Data), md5.Sum(media.Data)
		out.Signals = append(out.Signals,
			events.Signal{Type: events.SignalSHA256, Value: hex.EncodeToString(sha[:])},
			events.Signal{Type: events.SignalMD5, Value: hex.EncodeToString(md[:])})
		out.Media = events.MediaInfo{MimeType: media.MimeType, Bytes: int64(len(media.Data))}
	}
	if err := messaging.PublishEvent(ctx, s.pub, s.cfg.Topics.Hashed, &out); err != nil {
		return fmt.Errorf("publish unhashable %s: %w", events.TypeMediaHashed, err)
	}
	s.hashed.Add(1)
	s.unhashable.Add(1)
	s.metrics.unhashable.WithLabelValues(u.Reason).Inc()
	attrs := []any{"content_id", out.ContentID, "hashed_event_id", out.EventID, "reason", u.Reason,
		"detail", u.Detail, "media_url", out.MediaURL, "bytes", out.Media.Bytes}
	if out.Stream != nil {
		attrs = append(attrs, "stream_sequence", out.Stream.Sequence)
	}
	messaging.Log(ctx).Warn("media cannot be hashed; published as unhashable", attrs...)
	return nil
}

// PublishUnhashable publishes the upload or stream segment of msg (a
// message of the ingested or the stream segments topic) as unhashable for
// reason (one of the events.Unhashable constants), without fetching it
// again: for a message that keeps crashing the hasher, counted outside the
// process. A message that does not decode is returned as a permanent
// error, for the dead-letter topic.
func (s *Service) PublishUnhashable(ctx context.Context, msg *messaging.Message, reason, detail string) error {
	var out events.MediaHashed
	if msg.Topic == s.cfg.Topics.StreamSegments {
		var seg events.StreamSegment
		if err := events.Decode(msg.Value, events.TypeStreamSegment, &seg); err != nil {
			return messaging.Permanent(err)
		}
		out = segmentBase(&seg)
	} else {
		var in events.MediaIngested
		if err := events.Decode(msg.Value, events.TypeMediaIngested, &in); err != nil {
			return messaging.Permanent(err)
		}
		out = ingestedBase(&in)
	}
	return s.publishUnhashable(ctx, out, nil, &events.Unhashable{Reason: reason, Detail: detail})
}
