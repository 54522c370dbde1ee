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
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/platform/service"
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
	s.log.ErrorContext(r.Context(), "review queue unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusServiceUnavailable, "review queue unavailable; try again")
}

// decodeBody reads one JSON object into v, refusing unknown fields, trailing
// data and bodies over maxBody. An empty body is an empty object when
// optional. It answers the request itself on failure.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.Decode(&struct{}{}) != io.EOF {
			err = errors.New("body must hold a single JSON object")
		}
	}
	if err == nil || optional && errors.Is(err, io.EOF) {
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

// validDecision checks a decision and its reason: a decision must say why.
func validDecision(decision, reason string) error {
	if decision != events.DecisionViolating && decision != events.DecisionBenign {
		return fmt.Errorf("decision %q: want %q or %q", decision, events.DecisionViolating, events.DecisionBenign)
	}
	if strings.TrimSpace(reason) == "" {
		return errors.New("reason is required: say why")
	}
	if len(reason) > maxReasonLen {
		return fmt.Errorf("reason longer than %d bytes", maxReasonLen)
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
	it, no := s.existing(r.Context(), r.PathValue("id"))
	if no != nil {
		s.answer(w, r, *no)
		return
	}
	if err := s.withRelated(r.Context(), it); err != nil {
		s.unavailable(w, r, err)
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

// outcome is the result of an action on an item: the item and 200, or a
// status and message for the client. An error with code 0 is a Redis or
// Kafka failure (503).
type outcome struct {
	item *Item
	code int
	msg  string
	err  error
}

func ok(it *Item) outcome { return outcome{item: it, code: http.StatusOK} }

func refusal(code int, format string, args ...any) outcome {
	return outcome{code: code, msg: fmt.Sprintf(format, args...)}
}

func failure(err error) outcome { return outcome{err: err} }

// noItem answers a request about an item the queue does not hold.
func noItem(id string) outcome { return refusal(http.StatusNotFound, "no review item %q", id) }

// existing reads item id for a request, or gives the outcome to answer
// with when it cannot: Redis failing, or no such item.
func (s *Service) existing(ctx context.Context, id string) (*Item, *outcome) {
	it, err := s.store.get(ctx, id)
	if err != nil {
		o := failure(err)
		return nil, &o
	}
	if it == nil {
		o := noItem(id)
		return nil, &o
	}
	return it, nil
}

// answer writes an outcome as JSON.
func (s *Service) answer(w http.ResponseWriter, r *http.Request, o outcome) {
	switch {
	case o.err != nil && o.code == 0:
		s.unavailable(w, r, o.err)
	case o.err != nil:
		s.log.ErrorContext(r.Context(), "review action failed", "method", r.Method, "path", r.URL.Path, "err", o.err)
		writeError(w, o.code, "%s", o.msg)
	case o.item == nil:
		writeError(w, o.code, "%s", o.msg)
	default:
		service.WriteJSON(w, o.code, o.item)
	}
}

type claimRequest struct {
	// Reviewer may be left out; if given it must be the token's subject.
	Reviewer string `json:"reviewer"`
}

func (s *Service) claimItem(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	var req claimRequest
	if !decodeBody(w, r, &req, true) {
		return
	}
	if err := checkNamedReviewer(p, req.Reviewer); err != nil {
		s.refuse(w, r, err)
		return
	}
	s.answer(w, r, s.claim(r.Context(), r.PathValue("id"), p))
}

// claim leases the item to p.
func (s *Service) claim(ctx context.Context, id string, p *principal) outcome {
	res, err := s.store.claim(ctx, id, p.Subject, s.cfg.LeaseDuration)
	if err != nil {
		return failure(err)
	}
	switch res.status {
	case "ok":
		if res.extra == "1" {
			s.metrics.leaseExpiries.Inc()
		}
		s.metrics.claims.Inc()
		s.log.Info("review item claimed", "content_id", id, "reviewer", p.Subject, "lease_until", res.item.LeaseUntil)
		return ok(res.item)
	case "missing":
		return noItem(id)
	case "held":
		return refusal(http.StatusConflict, "claimed by %s until %s", res.item.ClaimedBy, heldUntil(res.item))
	case "decided":
		return refusal(http.StatusConflict, "already decided (%s by %s)", res.item.Decision, res.item.DecidedBy)
	case "committed":
		return s.finishStuck(ctx, id, res.item)
	}
	return failure(fmt.Errorf("claim script status %q", res.status))
}

// finishStuck publishes a decision that was being published when its
// reviewer went away, so the item does not stay stuck, and refuses the
// action that found it.
func (s *Service) finishStuck(ctx context.Context, id string, it *Item) outcome {
	done, _, err := s.publishDraft(context.WithoutCancel(ctx), id, it)
	if err != nil {
		return failure(err)
	}
	return refusal(http.StatusConflict, "already decided (%s by %s)", done.Decision, done.DecidedBy)
}

type assignRequest struct {
	Reviewer string `json:"reviewer"`
}

// assignItem is a lead's reassignment: the item is leased to the named
// reviewer, whoever held it.
func (s *Service) assignItem(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	id := r.PathValue("id")
	var req assignRequest
	if !decodeBody(w, r, &req, false) {
		return
	}
	if err := validReviewer(req.Reviewer); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	s.answer(w, r, s.assign(r.Context(), id, req.Reviewer, p))
}

func (s *Service) assign(ctx context.Context, id, reviewer string, lead *principal) outcome {
	res, err := s.store.assign(ctx, id, reviewer, lead.Subject, s.cfg.LeaseDuration)
	if err != nil {
		return failure(err)
	}
	switch res.status {
	case "ok":
		s.metrics.assignments.Inc()
		s.log.Info("review item assigned", "content_id", id, "reviewer", reviewer, "by", lead.Subject,
			"previous_holder", res.extra, "lease_until", res.item.LeaseUntil)
		why := "assigned to " + reviewer
		if res.extra != "" && res.extra != reviewer {
			why += ", taken from " + res.extra
		}
		if err := s.audit(ctx, res.item, events.ActionAssign, lead.Subject, why, "review/"+id+"/assign/"+events.NewID()); err != nil {
			return outcome{code: http.StatusServiceUnavailable, err: err,
				msg: "the item is assigned but its audit record could not be published; repeat the assignment"}
		}
		return ok(res.item)
	case "missing":
		return noItem(id)
	case "decided":
		return refusal(http.StatusConflict, "already decided (%s by %s): overturn it instead", res.item.Decision, res.item.DecidedBy)
	case "committed":
		return s.finishStuck(ctx, id, res.item)
	}
	return failure(fmt.Errorf("assign script status %q", res.status))
}

type decisionRequest struct {
	// Reviewer may be left out; if given it must be the token's subject.
	Reviewer string `json:"reviewer"`
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
}

func (s *Service) decideItem(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	var req decisionRequest
	if !decodeBody(w, r, &req, false) {
		return
	}
	if err := checkNamedReviewer(p, req.Reviewer); err != nil {
		s.refuse(w, r, err)
		return
	}
	if err := validDecision(req.Decision, req.Reason); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	s.answer(w, r, s.decide(r.Context(), r.PathValue("id"), p.Subject, req.Decision, req.Reason))
}

// decide carries out one decision by reviewer, who must hold the lease.
func (s *Service) decide(ctx context.Context, id, reviewer, decision, reason string) outcome {
	// Once the event may be out, the item must be marked decided even if the
	// client goes away, or it would sit claimed with its decision published.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), decisionTimeout)
	defer cancel()
	parent, err := s.store.request(ctx, id)
	if err != nil {
		return failure(err)
	}
	if parent == nil {
		return noItem(id)
	}
	ev := &events.ReviewDecided{
		Meta:        events.Follow(events.TypeReviewDecided, &parent.Meta),
		Decision:    decision,
		Reviewer:    reviewer,
		Reason:      reason,
		MediaURL:    parent.MediaURL,
		ContentType: parent.ContentType,
		UploadedAt:  parent.UploadedAt,
		Matches:     parent.Matches,
		DecidedAt:   time.Now().UTC(),
		Stream:      parent.Stream,
	}
	if ev.Matches == nil {
		ev.Matches = []events.Match{}
	}
	draft, err := json.Marshal(ev)
	if err != nil {
		return failure(fmt.Errorf("encode decision: %w", err))
	}
	draftKey := decision + "\x00" + reviewer + "\x00" + reason
	res, err := s.store.prepare(ctx, id, reviewer, draftKey, draft)
	if err != nil {
		return failure(err)
	}
	switch res.status {
	case "ok":
	case "missing":
		return noItem(id)
	case "decided":
		return alreadyDecided(res.item, decision, reviewer)
	case "committed":
		it, _, err := s.publishDraft(ctx, id, res.item)
		if err != nil {
			return failure(err)
		}
		return alreadyDecided(it, decision, reviewer)
	case "held":
		return refusal(http.StatusConflict, "claimed by %s until %s; %s cannot decide it",
			res.item.ClaimedBy, heldUntil(res.item), reviewer)
	case "unclaimed":
		return refusal(http.StatusForbidden,
			"%s does not hold a lease on this item (never claimed, or the lease expired); claim it first", reviewer)
	default:
		return failure(fmt.Errorf("prepare script status %q", res.status))
	}

	it, published, err := s.publishDraft(ctx, id, res.item)
	if err != nil {
		if !published {
			return outcome{code: http.StatusServiceUnavailable, err: err,
				msg: "could not publish the decision; the item stays claimed, try again"}
		}
		return failure(err)
	}
	return alreadyDecided(it, decision, reviewer)
}

// publishDraft publishes the decision the item is committed to, with the
// bank updates it feeds back, and records it. A retry reuses the stored
// draft, so a republish carries the same event id. published says whether
// the event went out.
func (s *Service) publishDraft(ctx context.Context, id string, it *Item) (_ *Item, published bool, _ error) {
	var out events.ReviewDecided
	if err := json.Unmarshal([]byte(it.draft), &out); err != nil {
		return nil, false, fmt.Errorf("stored decision draft of %s: %w", id, err)
	}
	if err := s.publishDecision(ctx, id, &out, &it.request, ""); err != nil {
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
		s.metrics.decisions.WithLabelValues(out.Decision, "decision").Inc()
		s.log.Info("review decided", "content_id", id, "reviewer", out.Reviewer, "decision", out.Decision,
			"reason", out.Reason, "event_id", out.EventID, "correlation_id", out.CorrelationID)
		return fin.item, true, nil
	case "decided":
		return fin.item, true, nil // a concurrent retry of the same draft finished first
	default:
		return nil, true, fmt.Errorf("finalize script status %q", fin.status)
	}
}

// publishDecision publishes ev and the bank updates it feeds back (previous
// is the decision it overturns, "" for none), with extra messages (audit
// records), in one produce call, under the span of the upload's trace.
func (s *Service) publishDecision(ctx context.Context, id string, ev *events.ReviewDecided, req *events.ReviewRequested, previous string,
	extra ...messaging.Message) error {
	msg, err := messaging.EventMessage(s.cfg.Topics.ReviewDecided, ev)
	if err != nil {
		return err
	}
	updates := s.feedbackUpdates(req, ev.Decision, ev.Reviewer, previous)
	fb, err := s.feedbackMessages(ctx, updates)
	if err != nil {
		return fmt.Errorf("feedback of the decision on %s: %w", id, err)
	}
	pubCtx, span, err := s.decisionSpan(ctx, id)
	if err != nil {
		return err
	}
	defer span.End()
	if err := s.pub.Publish(pubCtx, append(append([]messaging.Message{msg}, fb...), extra...)...); err != nil {
		return err
	}
	for _, u := range updates {
		s.metrics.feedback.WithLabelValues(u.Bank, u.Op).Inc()
	}
	return nil
}

// alreadyDecided answers a decision on a decided item: the same decision by
// the same reviewer is a repeat and gets the original; anything else is a
// conflict.
func alreadyDecided(it *Item, decision, reviewer string) outcome {
	if it.Decision == decision && it.DecidedBy == reviewer {
		return ok(it)
	}
	return refusal(http.StatusConflict, "already decided (%s by %s)", it.Decision, it.DecidedBy)
}

type overturnRequest struct {
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
}

// overturnItem is a lead's new decision on a decided item.
func (s *Service) overturnItem(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	var req overturnRequest
	if !decodeBody(w, r, &req, false) {
		return
	}
	if err := validDecision(req.Decision, req.Reason); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	o := s.overturn(r.Context(), r.PathValue("id"), p, req.Decision, req.Reason)
	if o.item != nil && o.err == nil {
		// The lead who restored the item sees what else the decision
		// removed.
		if err := s.withRelated(r.Context(), o.item); err != nil {
			o = failure(err)
		}
	}
	s.answer(w, r, o)
}

// overturn publishes a review.decided that replaces the item's decision
// (Overturns names it) and records it, the overturned decision kept in the
// item's history. Like a decision it is committed before it is published,
// so a retry republishes the same event. No lead may overturn a decision
// they made or approved, now or earlier (403). Restoring content that an
// incident or critical bank matched needs two leads: the first one's
// overturn is a proposal (202, nothing published), a second lead's same
// overturn approves and publishes it with both names.
func (s *Service) overturn(ctx context.Context, id string, lead *principal, decision, reason string) outcome {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), decisionTimeout)
	defer cancel()
	// The item may change between the read and the script (another lead's
	// proposal); the script then answers changed and we look again.
	for range 3 {
		o, again := s.overturnOnce(ctx, id, lead, decision, reason)
		if !again {
			return o
		}
	}
	return refusal(http.StatusConflict, "the item keeps changing; look again")
}

func (s *Service) overturnOnce(ctx context.Context, id string, lead *principal, decision, reason string) (_ outcome, again bool) {
	it, no := s.existing(ctx, id)
	if no != nil {
		return *no, false
	}
	if it.State != StateDecided {
		return refusal(http.StatusConflict, "the item is %s: only a decided item can be overturned", it.State), false
	}
	if it.overturnKey == "" && it.Decision == decision {
		if it.Overturns != "" && (it.DecidedBy == lead.Subject || it.ApprovedBy == lead.Subject) {
			return ok(it), false // a repeat of this overturn
		}
		return refusal(http.StatusConflict, "already %s (by %s): an overturn must change the decision", it.Decision, it.DecidedBy), false
	}
	needTwo := restoreNeedsTwo(it, decision)
	ev := &events.ReviewDecided{
		Meta:     events.Follow(events.TypeReviewDecided, &it.request.Meta),
		Decision: decision, Reviewer: lead.Subject, Reason: reason,
		MediaURL: it.MediaURL, ContentType: it.ContentType, UploadedAt: it.UploadedAt,
		Matches: it.Matches, DecidedAt: time.Now().UTC(), Overturns: it.DecidedEventID,
		Stream: it.request.Stream,
	}
	args := overturnArgs{replaces: it.DecidedEventID, lead: lead.Subject, needTwo: needTwo, decision: decision, reason: reason}
	if p := it.PendingOverturn; needTwo && p != nil && p.ProposedBy != lead.Subject {
		// A second lead approves the proposal as it was made: the
		// proposer's decision and reason, with the approver's name.
		if p.Decision != decision {
			return refusal(http.StatusConflict, "%s proposed %s, not %s: approve that or wait", p.ProposedBy, p.Decision, decision), false
		}
		ev.Reviewer, ev.Reason, ev.ApprovedBy = p.ProposedBy, p.Reason, lead.Subject
		args.proposer = p.ProposedBy
	}
	draft, err := json.Marshal(ev)
	if err != nil {
		return failure(fmt.Errorf("encode overturn: %w", err)), false
	}
	args.key = it.DecidedEventID + "\x00" + decision + "\x00" + ev.Reviewer + "\x00" + ev.Reason + "\x00" + ev.ApprovedBy
	res, err := s.store.prepareOverturn(ctx, id, args, draft)
	if err != nil {
		return failure(err), false
	}
	switch res.status {
	case "ok":
		done, err := s.publishOverturn(ctx, res.item)
		if err != nil {
			return outcome{code: http.StatusServiceUnavailable, err: err,
				msg: "could not publish the overturn; it is kept and goes out on the next try (by anyone)"}, false
		}
		return ok(done), false
	case "proposed", "repeat":
		// The audit record of a proposal has a fixed id, so a repeat
		// republishes the same record (in case the first try failed).
		p := res.item.PendingOverturn
		if p == nil {
			return failure(fmt.Errorf("overturn of %s proposed but no proposal stored", id)), false
		}
		key := "review/" + id + "/overturn_proposed/" + it.DecidedEventID + "/" + p.ProposedBy
		msg := fmt.Sprintf("proposed %s (was %s by %s): %s", p.Decision, it.Decision, it.DecidedBy, p.Reason)
		if err := s.audit(ctx, res.item, events.ActionOverturnProposed, lead.Subject, msg, key); err != nil {
			return outcome{code: http.StatusServiceUnavailable, err: err,
				msg: "the proposal is recorded but its audit record could not be published; repeat it"}, false
		}
		if res.status == "proposed" {
			s.log.Info("overturn proposed, waiting for a second lead", "content_id", id, "lead", lead.Subject,
				"decision", decision, "overturned", it.Decision, "overturned_by", it.DecidedBy)
		}
		return outcome{item: res.item, code: http.StatusAccepted}, false
	case "self":
		return refusal(http.StatusForbidden, "%s made or approved a decision on this item: no one may overturn their own decision; ask another lead",
			lead.Subject), false
	case "missing":
		return noItem(id), false
	case "committed":
		done, err := s.publishOverturn(ctx, res.item)
		if err != nil {
			return failure(err), false
		}
		return refusal(http.StatusConflict, "another overturn was in flight and is now recorded (%s by %s)", done.Decision, done.DecidedBy), false
	case "changed":
		if res.item != nil && res.item.DecidedEventID == it.DecidedEventID {
			return outcome{}, true // only the proposal changed: look again
		}
		return refusal(http.StatusConflict, "the decision changed meanwhile (now %s by %s); look again", res.item.Decision, res.item.DecidedBy), false
	case "undecided":
		return refusal(http.StatusConflict, "the decision changed meanwhile (now %s by %s); look again", res.item.Decision, res.item.DecidedBy), false
	}
	return failure(fmt.Errorf("prepare overturn script status %q", res.status)), false
}

// restoreNeedsTwo says whether overturning the item to decision restores
// content (violating to benign) that an incident bank or a critical bank
// matched: that needs a second lead.
func restoreNeedsTwo(it *Item, decision string) bool {
	if it.Decision != events.DecisionViolating || decision != events.DecisionBenign {
		return false
	}
	for _, m := range it.Matches {
		if m.Incident || m.Severity == events.SeverityCritical {
			return true
		}
	}
	return false
}

// publishOverturn publishes the overturn the item is committed to, with its
// audit record, and records it. it is the item as prepared: its decision is
// the one overturned.
func (s *Service) publishOverturn(ctx context.Context, it *Item) (*Item, error) {
	var out events.ReviewDecided
	if err := json.Unmarshal([]byte(it.overturnDraft), &out); err != nil {
		return nil, fmt.Errorf("stored overturn draft of %s: %w", it.ID, err)
	}
	actor, why := out.Reviewer, fmt.Sprintf("overturned %s by %s to %s: %s", it.Decision, it.DecidedBy, out.Decision, out.Reason)
	if out.ApprovedBy != "" {
		actor = out.ApprovedBy
		why = fmt.Sprintf("approved %s's overturn of %s by %s to %s: %s", out.Reviewer, it.Decision, it.DecidedBy, out.Decision, out.Reason)
	}
	audit, err := s.auditMessage(it, events.ActionOverturn, actor, why, "review/"+it.ID+"/overturn/"+out.EventID)
	if err != nil {
		return nil, err
	}
	if err := s.publishDecision(ctx, it.ID, &out, &it.request, it.Decision, audit); err != nil {
		return nil, err
	}
	fin, err := s.store.finalizeOverturn(ctx, it, &out, it.overturnKey)
	if err != nil {
		return nil, err
	}
	switch fin.status {
	case "ok":
		s.metrics.decisions.WithLabelValues(out.Decision, "overturn").Inc()
		s.log.Info("review decision overturned", "content_id", it.ID, "lead", out.Reviewer, "approved_by", out.ApprovedBy,
			"decision", out.Decision, "overturned", it.Decision, "overturned_by", it.DecidedBy, "reason", out.Reason,
			"event_id", out.EventID, "overturns", out.Overturns)
	case "done":
	default:
		return nil, fmt.Errorf("finalize overturn script status %q", fin.status)
	}
	return fin.item, nil
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
