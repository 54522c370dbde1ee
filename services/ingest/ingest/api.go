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
	"unicode"
	"unicode/utf8"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/fetch"
	"github.com/takedown-pipeline/takedown/pkg/messaging"
	"github.com/takedown-pipeline/takedown/pkg/service"
)

// UploadRequest is the body of POST /v1/uploads.
type UploadRequest struct {
	ContentID   string `json:"content_id"`
	MediaURL    string `json:"media_url"`
	ContentType string `json:"content_type"`
	UploaderID  string `json:"uploader_id"`
	// UploadedAt is RFC 3339; empty means now.
	UploadedAt string `json:"uploaded_at,omitempty"`
	// CorrelationID joins the upload to the platform's own records; empty
	// starts a new one (the event id).
	CorrelationID string `json:"correlation_id,omitempty"`
}

// UploadResponse is the 202 answer of POST /v1/uploads.
type UploadResponse struct {
	EventID       string `json:"event_id"`
	ContentID     string `json:"content_id"`
	CorrelationID string `json:"correlation_id"`
}

// ErrorResponse is every error answer of the API.
type ErrorResponse struct {
	Error string `json:"error"`
	// Problems lists each problem of an invalid request.
	Problems []string `json:"problems,omitempty"`
}

// Field limits of the API.
const (
	maxIDBytes  = 256
	maxURLBytes = 4096
)

func writeError(w http.ResponseWriter, code int, problems ...string) {
	msg := problems[0]
	if len(problems) > 1 {
		msg = fmt.Sprintf("%d problems: %s", len(problems), strings.Join(problems, "; "))
	}
	resp := ErrorResponse{Error: msg}
	if code == http.StatusBadRequest {
		resp.Problems = problems
	}
	service.WriteJSON(w, code, resp)
}

func (s *Service) handleUpload(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q: send application/json", ct))
			return
		}
	}
	req, problem, code := decodeUpload(w, r, s.cfg.MaxBodyBytes)
	if problem != "" {
		writeError(w, code, problem)
		return
	}
	uploadedAt, problems := validateUpload(req, time.Now())

	// The URL policy needs a well-formed URL; resolving the host is only
	// worth it when the URL is otherwise fine.
	if req.MediaURL != "" && len(req.MediaURL) <= maxURLBytes {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		_, err := s.policy.CheckURL(ctx, req.MediaURL)
		cancel()
		if err != nil {
			if !fetch.IsPermanent(err) {
				// A DNS failure is not the caller's fault.
				if len(problems) == 0 {
					writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("media_url could not be checked now (%v); try again", err))
					return
				}
			} else {
				problems = append(problems, "media_url refused: "+err.Error())
			}
		}
	}
	if len(problems) > 0 {
		writeError(w, http.StatusBadRequest, problems...)
		return
	}

	ev := events.MediaUploaded{
		Meta:        events.NewMeta(events.TypeMediaUploaded, req.ContentID, req.CorrelationID),
		MediaURL:    req.MediaURL,
		ContentType: req.ContentType,
		UploaderID:  req.UploaderID,
		UploadedAt:  uploadedAt,
	}
	log := s.log.With("content_id", ev.ContentID, "correlation_id", ev.CorrelationID, "event_id", ev.EventID)
	if err := messaging.PublishEvent(r.Context(), s.pub, s.cfg.Topics.Uploaded, &ev); err != nil {
		log.Error("upload not queued", "err", err)
		writeError(w, http.StatusServiceUnavailable, "the upload could not be queued (Kafka unavailable); try again")
		return
	}
	s.accepted.Add(1)
	log.Info("upload accepted", "content_type", ev.ContentType)
	service.WriteJSON(w, http.StatusAccepted, UploadResponse{EventID: ev.EventID, ContentID: ev.ContentID, CorrelationID: ev.CorrelationID})
}

// decodeUpload reads one JSON object, refusing unknown fields (a misspelt
// optional field would otherwise be silently ignored), trailing data and
// bodies over max bytes.
func decodeUpload(w http.ResponseWriter, r *http.Request, max int64) (req UploadRequest, problem string, code int) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, max))
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	if err == nil {
		if dec.Decode(&struct{}{}) != io.EOF {
			return req, "request body must hold a single JSON object", http.StatusBadRequest
		}
		return req, "", 0
	}
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return req, fmt.Sprintf("request body larger than %d bytes", tooBig.Limit), http.StatusRequestEntityTooLarge
	case errors.Is(err, io.EOF):
		return req, "request body is empty; send a JSON object", http.StatusBadRequest
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return req, fmt.Sprintf("malformed JSON: %v", err), http.StatusBadRequest
	case errors.As(err, &typ):
		if typ.Field == "" {
			return req, "request body must be a JSON object", http.StatusBadRequest
		}
		return req, fmt.Sprintf("%s must be a JSON %s, not %s", typ.Field, typ.Type.Kind(), typ.Value), http.StatusBadRequest
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return req, fmt.Sprintf("unknown field %s; known fields are content_id, media_url, content_type, uploader_id, uploaded_at, correlation_id", field), http.StatusBadRequest
	default:
		return req, fmt.Sprintf("bad request body: %v", err), http.StatusBadRequest
	}
}

// validateUpload lists every problem of req (not only the first, so a
// client fixes them in one go) and returns the upload time.
func validateUpload(req UploadRequest, now time.Time) (time.Time, []string) {
	var problems []string
	id := func(name, v string, required bool) {
		switch {
		case v == "":
			if required {
				problems = append(problems, name+" is required")
			}
		case len(v) > maxIDBytes:
			problems = append(problems, fmt.Sprintf("%s is %d bytes long; at most %d are allowed", name, len(v), maxIDBytes))
		case !utf8.ValidString(v):
			problems = append(problems, name+" is not valid UTF-8")
		case strings.IndexFunc(v, unicode.IsControl) >= 0:
			problems = append(problems, name+" contains control characters")
		case strings.TrimSpace(v) != v:
			problems = append(problems, name+" has leading or trailing white space")
		}
	}
	id("content_id", req.ContentID, true)
	id("uploader_id", req.UploaderID, true)
	id("correlation_id", req.CorrelationID, false)

	switch {
	case req.MediaURL == "":
		problems = append(problems, "media_url is required")
	case len(req.MediaURL) > maxURLBytes:
		problems = append(problems, fmt.Sprintf("media_url is %d bytes long; at most %d are allowed", len(req.MediaURL), maxURLBytes))
	}

	switch req.ContentType {
	case events.ContentImage, events.ContentVideo:
	case "":
		problems = append(problems, `content_type is required ("image" or "video")`)
	default:
		problems = append(problems, fmt.Sprintf(`content_type %q is not supported; use "image" or "video"`, req.ContentType))
	}

	uploadedAt := now.UTC()
	if req.UploadedAt != "" {
		t, err := time.Parse(time.RFC3339Nano, req.UploadedAt)
		if err != nil {
			problems = append(problems, fmt.Sprintf("uploaded_at %q is not an RFC 3339 time such as 2024-05-01T12:00:00Z", req.UploadedAt))
		} else {
			uploadedAt = t.UTC()
		}
	}
	return uploadedAt, problems
}
