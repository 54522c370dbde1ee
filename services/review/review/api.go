package review

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/messaging"
	"github.com/takedown-pipeline/takedown/pkg/service"
)

// API limits.
const (
	maxBody         = 64 << 10
	defaultLimit    = 50
	maxLimit        = 500
	maxReviewerLen  = 128
	maxReasonLen    = 4096
	decisionTimeout = 30 * time.Second
)

type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	service.WriteJSON(w, code, errorBody{Error: fmt.Sprintf(format, args...)})
}

// unavailable answers a Redis failure; the details go to the log only.
func (s *Service) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("review queue unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusServiceUnavailable, "review queue unavailable; try again")
}

// decodeBody reads one JSON object into v, refusing unknown fields, trailing
// data and bodies over maxBody. It answers the request itself on failure.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.Decode(&struct{}{}) != io.EOF {
			err = errors.New("body must hold a single JSON object")
		}
	}
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "body larger than %d bytes", maxBody)
	case errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, "empty body: a JSON object is required")
	default:
		writeError(w, http.StatusBadRequest, "invalid JSON body: %v", err)
	}
	return false
}

func validReviewer(name string) error {
	if strings.TrimSpace(name) == "" {
		return errors.New("reviewer is required")
	}
	if len(name) > maxReviewerLen {
		return fmt.Errorf("reviewer longer than %d bytes", maxReviewerLen)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return errors.New("reviewer contains control characters")
		}
	}
	return nil
}

func (s *Service) listItems(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = StatePending
	}
	if state != StatePending && state != StateClaimed && state != StateDecided {
		writeError(w, http.StatusBadRequest, "state %q: want pending, claimed or decided", state)
		return
	}
	limit := defaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			writeError(w, http.StatusBadRequest, "limit %q: want a whole number from 1 to %d", v, maxLimit)
			return
		}
		limit = n
	}
	items, err := s.store.list(r.Context(), state, limit)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	if items == nil {
		items = []*Item{}
	}
	service.WriteJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (s *Service) getItem(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	it, err := s.store.get(r.Context(), id)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	if it == nil {
		writeError(w, http.StatusNotFound, "no review item %q", id)
		return
	}
	service.WriteJSON(w, http.StatusOK, it)
}

func (s *Service) getStats(w http.ResponseWriter, r *http.Request) {
	st, err := s.store.stats(r.Context())
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	service.WriteJSON(w, http.StatusOK, st)
}

type claimRequest struct {
	Reviewer string `json:"reviewer"`
}

func (s *Service) claimItem(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req claimRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if err := validReviewer(req.Reviewer); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	res, err := s.store.claim(r.Context(), id, req.Reviewer, s.cfg.LeaseDuration)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	switch res.status {
	case "ok":
		s.log.Info("review item claimed", "content_id", id, "reviewer", req.Reviewer, "lease_until", res.item.LeaseUntil)
		service.WriteJSON(w, http.StatusOK, res.item)
	case "missing":
		writeError(w, http.StatusNotFound, "no review item %q", id)
	case "held":
		writeError(w, http.StatusConflict, "claimed by %s until %s", res.item.ClaimedBy, heldUntil(res.item))
	case "decided":
		writeError(w, http.StatusConflict, "already decided (%s by %s)", res.item.Decision, res.item.DecidedBy)
	case "committed":
		// A decision was being published when its reviewer went away:
		// finish it, so the item does not stay stuck.
		it, _, err := s.publishDraft(context.WithoutCancel(r.Context()), id, res.item)
		if err != nil {
			s.unavailable(w, r, err)
			return
		}
		writeError(w, http.StatusConflict, "already decided (%s by %s)", it.Decision, it.DecidedBy)
	default:
		s.unavailable(w, r, fmt.Errorf("claim script status %q", res.status))
	}
}

type decisionRequest struct {
	Reviewer string `json:"reviewer"`
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
}

func (s *Service) decideItem(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req decisionRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if err := validReviewer(req.Reviewer); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if req.Decision != events.DecisionViolating && req.Decision != events.DecisionBenign {
		writeError(w, http.StatusBadRequest, "decision %q: want %q or %q",
			req.Decision, events.DecisionViolating, events.DecisionBenign)
		return
	}
	if len(req.Reason) > maxReasonLen {
		writeError(w, http.StatusBadRequest, "reason longer than %d bytes", maxReasonLen)
		return
	}
	// Once the event may be out, the item must be marked decided even if the
	// client goes away, or it would sit claimed with its decision published.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), decisionTimeout)
	defer cancel()
	it, code, msg, err := s.decide(ctx, id, req)
	switch {
	case err != nil && code == 0:
		s.unavailable(w, r, err)
	case err != nil:
		s.log.Error("decision not published", "content_id", id, "reviewer", req.Reviewer, "err", err)
		writeError(w, code, "%s", msg)
	case it == nil:
		writeError(w, code, "%s", msg)
	default:
		service.WriteJSON(w, code, it)
	}
}

// decide carries out one decision request. It returns the item and 200, or
// a status and message for the client; an error with code 0 is a Redis
// failure.
func (s *Service) decide(ctx context.Context, id string, req decisionRequest) (*Item, int, string, error) {
	parent, err := s.store.request(ctx, id)
	if err != nil {
		return nil, 0, "", err
	}
	if parent == nil {
		return nil, http.StatusNotFound, fmt.Sprintf("no review item %q", id), nil
	}
	ev := &events.ReviewDecided{
		Meta:        events.Follow(events.TypeReviewDecided, &parent.Meta),
		Decision:    req.Decision,
		Reviewer:    req.Reviewer,
		Reason:      req.Reason,
		MediaURL:    parent.MediaURL,
		ContentType: parent.ContentType,
		UploadedAt:  parent.UploadedAt,
		Matches:     parent.Matches,
		DecidedAt:   time.Now().UTC(),
	}
	if ev.Matches == nil {
		ev.Matches = []events.Match{}
	}
	draft, err := json.Marshal(ev)
	if err != nil {
		return nil, 0, "", fmt.Errorf("encode decision: %w", err)
	}
	draftKey := req.Decision + "\x00" + req.Reviewer + "\x00" + req.Reason
	res, err := s.store.prepare(ctx, id, req.Reviewer, draftKey, draft)
	if err != nil {
		return nil, 0, "", err
	}
	switch res.status {
	case "ok":
	case "missing":
		return nil, http.StatusNotFound, fmt.Sprintf("no review item %q", id), nil
	case "decided":
		return s.alreadyDecided(res.item, req)
	case "committed":
		it, _, err := s.publishDraft(ctx, id, res.item)
		if err != nil {
			return nil, 0, "", err
		}
		return s.alreadyDecided(it, req)
	case "held":
		return nil, http.StatusConflict, fmt.Sprintf("claimed by %s until %s; %s cannot decide it",
			res.item.ClaimedBy, heldUntil(res.item), req.Reviewer), nil
	case "unclaimed":
		return nil, http.StatusForbidden, fmt.Sprintf(
			"%s does not hold a lease on this item (never claimed, or the lease expired); claim it first", req.Reviewer), nil
	default:
		return nil, 0, "", fmt.Errorf("prepare script status %q", res.status)
	}

	it, published, err := s.publishDraft(ctx, id, res.item)
	if err != nil {
		if !published {
			return nil, http.StatusServiceUnavailable,
				"could not publish the decision; the item stays claimed, try again", err
		}
		return nil, 0, "", err
	}
	return s.alreadyDecided(it, req)
}

// publishDraft publishes the decision the item is committed to and records
// it. A retry reuses the stored draft, so a republish carries the same event
// id. published says whether the event went out.
func (s *Service) publishDraft(ctx context.Context, id string, it *Item) (_ *Item, published bool, _ error) {
	var out events.ReviewDecided
	if err := json.Unmarshal([]byte(it.draft), &out); err != nil {
		return nil, false, fmt.Errorf("stored decision draft of %s: %w", id, err)
	}
	pubCtx, span, err := s.decisionSpan(ctx, id)
	if err != nil {
		return nil, false, err
	}
	defer span.End()
	if err := messaging.PublishEvent(pubCtx, s.pub, s.cfg.Topics.ReviewDecided, &out); err != nil {
		return nil, false, err
	}
	fin, err := s.store.finalize(ctx, id, &out, it.draftKey)
	if err != nil {
		// The event is out; a retry republishes the same event id and then
		// records the decision.
		return nil, true, err
	}
	switch fin.status {
	case "ok":
		s.log.Info("review decided", "content_id", id, "reviewer", out.Reviewer, "decision", out.Decision,
			"event_id", out.EventID, "correlation_id", out.CorrelationID)
		return fin.item, true, nil
	case "decided":
		return fin.item, true, nil // a concurrent retry of the same draft finished first
	default:
		return nil, true, fmt.Errorf("finalize script status %q", fin.status)
	}
}

// alreadyDecided answers a decision on a decided item: the same decision by
// the same reviewer is a repeat and gets the original; anything else is a
// conflict.
func (s *Service) alreadyDecided(it *Item, req decisionRequest) (*Item, int, string, error) {
	if it.Decision == req.Decision && it.DecidedBy == req.Reviewer {
		return it, http.StatusOK, "", nil
	}
	return nil, http.StatusConflict, fmt.Sprintf("already decided (%s by %s)", it.Decision, it.DecidedBy), nil
}

// decisionSpan starts the span under which a decision is published. Its
// parent is the trace of the upload that was queued for review, so one trace
// runs from upload through review to takedown; the reviewer's own request is
// linked.
func (s *Service) decisionSpan(ctx context.Context, id string) (context.Context, trace.Span, error) {
	tp, err := s.store.traceparent(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	parent := ctx
	if tp != "" {
		parent = otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier{"traceparent": tp})
	}
	ctx, span := otel.Tracer("github.com/takedown-pipeline/takedown/services/review").Start(parent, "review decision",
		trace.WithLinks(trace.LinkFromContext(ctx)))
	return ctx, span, nil
}
