package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/takedown-pipeline/takedown/pkg/edges/fetch"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/platform/service"
	"github.com/takedown-pipeline/takedown/pkg/platform/telemetry"
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

// UploadResponse is the answer of POST /v1/uploads: 202 for a new upload,
// 200 with Duplicate for a content id the client already uploaded with the
// same media (within the dedup TTL), which is not queued again.
type UploadResponse struct {
	// EventID is the upload's media.uploaded event: for a duplicate, the
	// first upload's.
	EventID   string `json:"event_id"`
	ContentID string `json:"content_id"`
	// ClientID is the client the upload was accepted for: its ids are
	// scoped to it.
	ClientID string `json:"client_id"`
	// CorrelationID is the first upload's for a duplicate.
	CorrelationID string `json:"correlation_id"`
	// Duplicate is true when the content id was already accepted with this
	// media: nothing was queued, the ids are the first upload's.
	Duplicate bool `json:"duplicate,omitempty"`
	// Status is "accepted" for a new upload and "already_accepted" for a
	// duplicate.
	Status string `json:"status"`
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

// refused adds the media URL's problems to a request's and answers the
// request when there are any: 400, or 503 when the URL could not be checked
// for now (a DNS failure) and nothing else is wrong. It reports whether it
// answered.
func (s *Service) refused(w http.ResponseWriter, r *http.Request, mediaURL string, problems []string) bool {
	if mediaURL != "" && len(mediaURL) <= maxURLBytes {
		switch p, transient := s.checkMediaURL(r.Context(), mediaURL); {
		case transient && len(problems) == 0:
			writeError(w, http.StatusServiceUnavailable, p)
			return true
		case p != "" && !transient:
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		writeError(w, http.StatusBadRequest, problems...)
		return true
	}
	return false
}

// handleUpload publishes a client's upload on media.uploaded, as the
// client's: the event's client_id is the caller's, so that the upload's ids
// are scoped to it from media.ingested on.
func (s *Service) handleUpload(w http.ResponseWriter, r *http.Request, c caller, body []byte) {
	req, problem := decodeUpload(body)
	if problem != "" {
		writeError(w, http.StatusBadRequest, problem)
		return
	}
	uploadedAt, problems := validateUpload(req, time.Now())
	if s.refused(w, r, req.MediaURL, problems) {
		return
	}
	// Bound to the request: its lines carry the request span's trace id.
	log := telemetry.WithContext(s.log, r.Context()).With("client", c.client, "content_id", req.ContentID)
	ev := events.MediaUploaded{
		Meta:        events.NewMeta(events.TypeMediaUploaded, req.ContentID, req.CorrelationID),
		MediaURL:    req.MediaURL,
		ContentType: req.ContentType,
		UploaderID:  req.UploaderID,
		UploadedAt:  uploadedAt,
	}
	ev.ClientID = c.client
	// An id names one piece of media: the same id with other media must
	// not pass for a duplicate of the first (the consumer would drop it).
	// The claim also keeps the first upload's ids, which answer a repeat.
	key := s.uploadKey(c.client, req.ContentID)
	claim := mediaClaim{Fingerprint: mediaFingerprint(req.MediaURL), EventID: ev.EventID, CorrelationID: ev.CorrelationID}
	stored, err := s.claimMedia(r.Context(), key, claim, s.cfg.DedupTTL)
	if err != nil {
		log.Error("upload not checked against earlier uploads", "err", err)
		writeError(w, http.StatusServiceUnavailable, "the upload could not be checked now; try again")
		return
	}
	if stored.Fingerprint != claim.Fingerprint {
		s.conflicts.Add(1)
		log.Warn("upload refused: content id already used for other media", "previous_media", stored.Fingerprint)
		writeError(w, http.StatusConflict, fmt.Sprintf("content_id %q was uploaded with a different media_url within the last %s; "+
			"an id names one piece of media: give different media a new content_id", req.ContentID, s.cfg.DedupTTL))
		return
	}
	repeat := stored.EventID != claim.EventID
	if repeat {
		// A repeat (a client's retry, or the same upload sent twice) is
		// answered with the first upload's ids.
		s.duplicates.Add(1)
		log = log.With("first_event_id", stored.EventID)
		if stored.Queued {
			log.Info("upload already accepted; not queued again", "dedup_ttl", s.cfg.DedupTTL)
			s.answerRepeat(w, req.ContentID, c.client, stored)
			return
		}
		// The first request claimed the id but was not seen to publish:
		// it may have died in between, and this retry may be all the
		// client sends. Its event goes out again under its own id; the
		// consumer takes a second copy for a redelivery.
		ev.EventID, ev.CorrelationID = stored.EventID, stored.CorrelationID
		log.Info("upload repeated before its first request was seen to queue it; queuing the first's event")
	}
	log = log.With("correlation_id", ev.CorrelationID, "event_id", ev.EventID)
	if err := s.publishClaimed(r.Context(), log, key, stored, repeat, func(ctx context.Context) error {
		return messaging.PublishEvent(ctx, s.pub, s.cfg.Topics.Uploaded, &ev)
	}); err != nil {
		log.Error("upload not queued", "err", err)
		writeError(w, http.StatusServiceUnavailable, "the upload could not be queued now; try again")
		return
	}
	if repeat {
		s.answerRepeat(w, req.ContentID, c.client, stored)
		return
	}
	s.accepted.Add(1)
	log.Info("upload accepted", "content_type", ev.ContentType, "key_id", c.keyID)
	service.WriteJSON(w, http.StatusAccepted, UploadResponse{EventID: ev.EventID, ContentID: ev.ContentID,
		ClientID: c.client, CorrelationID: ev.CorrelationID, Status: "accepted"})
}

// answerRepeat answers a repeated upload with the first upload's ids.
func (s *Service) answerRepeat(w http.ResponseWriter, contentID, client string, first mediaClaim) {
	service.WriteJSON(w, http.StatusOK, UploadResponse{EventID: first.EventID, ContentID: contentID,
		ClientID: client, CorrelationID: first.CorrelationID, Duplicate: true, Status: "already_accepted"})
}

// checkMediaURL applies the URL policy and returns a problem for the
// caller, and whether it is transient (the host could not be looked up
// now). The policy's own errors name the addresses a host resolves to and
// the resolver's answers: they go to the log only. The caller learns what
// it wrote itself (a malformed URL, a private address it typed), and for a
// host name only that it is refused, so the API cannot be used to probe
// which internal names exist.
func (s *Service) checkMediaURL(ctx context.Context, raw string) (problem string, transient bool) {
	if _, err := s.policy.CheckSyntax(raw); err != nil {
		return "media_url refused: " + strings.TrimPrefix(err.Error(), fetch.ErrBadURL.Error()+": "), false
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := s.policy.CheckURL(ctx, raw)
	if err == nil {
		return "", false
	}
	s.log.InfoContext(ctx, "media_url refused", "media_url", raw, "err", err)
	if !fetch.IsPermanent(err) {
		return "media_url could not be checked now; try again", true
	}
	var addrErr *fetch.AddressError
	if errors.As(err, &addrErr) && addrErr.Host == addrErr.Addr.String() {
		return fmt.Sprintf("media_url refused: %s is a %s address; media is only fetched from public addresses",
			addrErr.Addr, addrErr.Reason), false
	}
	host := raw
	if u, err := url.Parse(raw); err == nil {
		host = u.Hostname()
	}
	return fmt.Sprintf("media_url refused: host %q is not fetched from; media is only fetched from hosts "+
		"that exist and have public addresses only", host), false
}

// decodeUpload reads one JSON object, refusing unknown fields (a misspelt
// optional field would otherwise be silently ignored) and trailing data.
func decodeUpload(body []byte) (req UploadRequest, problem string) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	if err == nil {
		if dec.Decode(&struct{}{}) != io.EOF {
			return req, "request body must hold a single JSON object"
		}
		return req, ""
	}
	return req, jsonProblem(err, "content_id, media_url, content_type, uploader_id, uploaded_at, correlation_id")
}

// jsonProblem describes a decoding error for the caller; fields lists the
// known fields.
func jsonProblem(err error, fields string) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "request body is empty; send a JSON object"
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("malformed JSON: %v", err)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return "request body must be a JSON object"
		}
		return fmt.Sprintf("%s must be a JSON %s, not %s", typ.Field, typ.Type.Kind(), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return fmt.Sprintf("unknown field %s; known fields are %s", field, fields)
	default:
		return "request body is not a valid JSON object; known fields are " + fields
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
