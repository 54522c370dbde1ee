package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/fetch"
	"github.com/takedown-pipeline/takedown/pkg/messaging"
	"github.com/takedown-pipeline/takedown/pkg/service"
)

// SegmentRequest is the body of POST /v1/streams/{id}/segments: one segment
// of a live stream, sent as soon as the platform has produced it.
type SegmentRequest struct {
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
	Sequence int64  `json:"sequence"`
}

// handleSegment publishes a live stream segment on the stream segments
// topic, keyed by the stream's id, for the hasher. Segments are not
// de-duplicated: hashing one twice is harmless and the enforcer counts a
// segment's matched footage once.
func (s *Service) handleSegment(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q: send application/json", ct))
			return
		}
	}
	var req SegmentRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", tooBig.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, fmt.Sprintf("bad request body: %v (fields: sequence, media_url, offset_ms, duration_ms, uploader_id, correlation_id)", err))
		return
	}
	if dec.Decode(&struct{}{}) != io.EOF {
		writeError(w, http.StatusBadRequest, "request body must hold a single JSON object")
		return
	}
	streamID := r.PathValue("id")
	problems := validateSegment(streamID, req)
	if req.MediaURL != "" && len(req.MediaURL) <= maxURLBytes {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		_, err := s.policy.CheckURL(ctx, req.MediaURL)
		cancel()
		switch {
		case err == nil:
		case !fetch.IsPermanent(err) && len(problems) == 0:
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("media_url could not be checked now (%v); try again", err))
			return
		case fetch.IsPermanent(err):
			problems = append(problems, "media_url refused: "+err.Error())
		}
	}
	if len(problems) > 0 {
		writeError(w, http.StatusBadRequest, problems...)
		return
	}
	ev := events.StreamSegment{
		Meta:     events.NewMeta(events.TypeStreamSegment, streamID, req.CorrelationID),
		Sequence: *req.Sequence, MediaURL: req.MediaURL, OffsetMs: *req.OffsetMs, DurationMs: req.DurationMs,
		UploaderID: req.UploaderID, ReceivedAt: time.Now().UTC(),
	}
	log := s.log.With("stream_id", streamID, "sequence", ev.Sequence, "event_id", ev.EventID)
	if err := messaging.PublishEvent(r.Context(), s.pub, s.cfg.Topics.StreamSegments, &ev); err != nil {
		log.Error("stream segment not queued", "err", err)
		writeError(w, http.StatusServiceUnavailable, "the segment could not be queued (Kafka unavailable); try again")
		return
	}
	s.segments.Add(1)
	log.Info("stream segment accepted", "offset_ms", ev.OffsetMs, "duration_ms", ev.DurationMs)
	service.WriteJSON(w, http.StatusAccepted, SegmentResponse{EventID: ev.EventID, StreamID: streamID, Sequence: ev.Sequence})
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
