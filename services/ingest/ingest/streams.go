package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/platform/service"
	"github.com/takedown-pipeline/takedown/pkg/platform/telemetry"
)

// SegmentRequest is the body of POST /v1/streams/{id}/segments: one segment
// of a live stream, sent as soon as the platform has produced it.
type SegmentRequest struct {
	// StreamID must be the stream id of the path: the signature covers the
	// body only, so the body must say which stream it is for.
	StreamID string `json:"stream_id"`
	// Sequence numbers the stream's segments from 0.
	Sequence *int64 `json:"sequence"`
	MediaURL string `json:"media_url"`
	// OffsetMs is where the segment starts in the stream; DurationMs its
	// length (at most 10 minutes).
	OffsetMs   *int64 `json:"offset_ms"`
	DurationMs int64  `json:"duration_ms"`
	UploaderID string `json:"uploader_id"`
	// CorrelationID joins the segment to the platform's records; empty
	// starts a new one.
	CorrelationID string `json:"correlation_id,omitempty"`
}

// SegmentResponse is the 202 answer of POST /v1/streams/{id}/segments.
type SegmentResponse struct {
	EventID  string `json:"event_id"`
	StreamID string `json:"stream_id"`
	ClientID string `json:"client_id"`
	Sequence int64  `json:"sequence"`
	// Duplicate is true when this segment (client, stream, sequence, media
	// URL) had been posted before: it is not published again, and EventID
	// is the first post's (the answer is then 200, not 202).
	Duplicate bool `json:"duplicate,omitempty"`
}

// handleSegment publishes a live stream segment on the stream segments
// topic, keyed by the stream's id scoped to the client (so that no client can
// post into another's stream), for the hasher. A segment is published once
// per (client, stream, sequence): a repeat with the same media URL is
// answered as a duplicate, one with another media URL is refused.
func (s *Service) handleSegment(w http.ResponseWriter, r *http.Request, c caller, body []byte) {
	const fields = "stream_id, sequence, media_url, offset_ms, duration_ms, uploader_id, correlation_id"
	var req SegmentRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, jsonProblem(err, fields))
		return
	}
	if dec.Decode(&struct{}{}) != io.EOF {
		writeError(w, http.StatusBadRequest, "request body must hold a single JSON object")
		return
	}
	streamID := r.PathValue("id")
	problems := validateSegment(streamID, req)
	if req.StreamID != streamID {
		problems = append(problems, fmt.Sprintf("stream_id %q in the body is not the stream id %q of the path "+
			"(the signature covers the body, so the body names the stream)", req.StreamID, streamID))
	}
	if s.refused(w, r, req.MediaURL, problems) {
		return
	}
	ev := events.StreamSegment{
		Meta:     events.NewMeta(events.TypeStreamSegment, events.ScopedID(c.client, streamID), req.CorrelationID),
		Sequence: *req.Sequence, MediaURL: req.MediaURL, OffsetMs: *req.OffsetMs, DurationMs: req.DurationMs,
		UploaderID: req.UploaderID, ReceivedAt: time.Now().UTC(),
	}
	ev.ClientID = c.client
	log := telemetry.WithContext(s.log, r.Context()).With("client", c.client, "stream_id", streamID, "sequence", ev.Sequence, "event_id", ev.EventID)
	key := s.segmentKey(c.client, streamID, ev.Sequence)
	claim := mediaClaim{Fingerprint: mediaFingerprint(req.MediaURL), EventID: ev.EventID}
	stored, err := s.claimMedia(r.Context(), key, claim, s.cfg.SegmentDedupTTL)
	repeat := err == nil && stored.EventID != claim.EventID
	switch {
	case err != nil:
		log.Error("stream segment not checked against earlier ones", "err", err)
		writeError(w, http.StatusServiceUnavailable, "the segment could not be checked now; try again")
		return
	case stored.Fingerprint != claim.Fingerprint:
		s.conflicts.Add(1)
		log.Warn("stream segment refused: sequence already posted with other media")
		writeError(w, http.StatusConflict, fmt.Sprintf("sequence %d of stream %q was already posted with a different media_url", ev.Sequence, streamID))
		return
	case repeat && stored.Queued:
		s.dupSegments.Add(1)
		log.Info("stream segment posted again; not published again", "first_event_id", stored.EventID)
		service.WriteJSON(w, http.StatusOK, SegmentResponse{EventID: stored.EventID, StreamID: streamID, ClientID: c.client, Sequence: ev.Sequence, Duplicate: true})
		return
	case repeat:
		// The first post claimed the sequence but was not seen to
		// publish it (it may have died in between): its event goes out
		// again under its own id, which the consumers take for a
		// redelivery.
		s.dupSegments.Add(1)
		ev.EventID = stored.EventID
		log = log.With("event_id", ev.EventID)
		log.Info("stream segment posted again before its first post was seen to queue it; queuing the first's event")
	}
	if err := s.publishClaimed(r.Context(), log, key, stored, repeat, func(ctx context.Context) error {
		return messaging.PublishEvent(ctx, s.pub, s.cfg.Topics.StreamSegments, &ev)
	}); err != nil {
		log.Error("stream segment not queued", "err", err)
		writeError(w, http.StatusServiceUnavailable, "the segment could not be queued now; try again")
		return
	}
	if repeat {
		service.WriteJSON(w, http.StatusOK, SegmentResponse{EventID: ev.EventID, StreamID: streamID, ClientID: c.client, Sequence: ev.Sequence, Duplicate: true})
		return
	}
	s.segments.Add(1)
	log.Info("stream segment accepted", "offset_ms", ev.OffsetMs, "duration_ms", ev.DurationMs)
	service.WriteJSON(w, http.StatusAccepted, SegmentResponse{EventID: ev.EventID, StreamID: streamID, ClientID: c.client, Sequence: ev.Sequence})
}

// validateSegment lists every problem of a segment request.
func validateSegment(streamID string, req SegmentRequest) []string {
	// The upload checks cover the ids and the URL.
	_, problems := validateUpload(UploadRequest{ContentID: streamID, MediaURL: req.MediaURL, ContentType: events.ContentVideo,
		UploaderID: req.UploaderID, CorrelationID: req.CorrelationID}, time.Now())
	for i, p := range problems {
		problems[i] = strings.Replace(p, "content_id", "stream id", 1)
	}
	switch {
	case req.Sequence == nil:
		problems = append(problems, "sequence is required (the segment's number in the stream, from 0)")
	case *req.Sequence < 0:
		problems = append(problems, fmt.Sprintf("sequence %d: want 0 or more", *req.Sequence))
	}
	switch {
	case req.OffsetMs == nil:
		problems = append(problems, "offset_ms is required (where the segment starts in the stream)")
	case *req.OffsetMs < 0:
		problems = append(problems, fmt.Sprintf("offset_ms %d: want 0 or more", *req.OffsetMs))
	}
	if max := events.MaxSegmentDuration.Milliseconds(); req.DurationMs <= 0 || req.DurationMs > max {
		problems = append(problems, fmt.Sprintf("duration_ms %d: want 1..%d", req.DurationMs, max))
	}
	return problems
}
