package review

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/policy"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// A violating decision puts the upload's hashes in the confirmed bank, and
// the enforcer then removes every re-upload that matches that entry without
// asking anyone. When a lead overturns the decision to benign, the entry is
// disabled and the item restored, but the re-uploads stay removed: they were
// removed by the enforcer, not decided. So the service follows the
// enforcer's audit records on the actions topic and keeps, per confirmed
// entry it made, the uploads removed because of it ("related uploads"). The
// item of an overturned decision lists them, and one lead action
// (restore-related) asks the enforcer to restore them: a review.decided
// benign per upload with CausedBy naming the overturn and Overturns the
// removal's audit record, whose event id derives from both, so a repeat or
// a redelivery is the same restore (the enforcer's idempotency key derives
// from the content and Overturns).
//
// An upload whose other matches call for removal on their own (by the
// default policy) is listed but not restored here.

// RelatedUpload is an upload the enforcer removed (or restricted) because
// it matched the confirmed-bank entry of the item's decision.
type RelatedUpload struct {
	ContentID string `json:"content_id"`
	// Action is what the enforcer did: remove or restrict.
	Action  string    `json:"action"`
	ActedAt time.Time `json:"acted_at"`
	// ActionEventID is the event id of the enforcer's audit record.
	ActionEventID string    `json:"action_event_id"`
	UploadedAt    time.Time `json:"uploaded_at"`
	// OtherMatches are the upload's matches of other bank entries
	// ("bank/entry").
	OtherMatches []string `json:"other_matches,omitempty"`
	// Kept says why restore-related leaves it removed: its other matches
	// call for removal on their own. Empty when it is restored with the
	// item.
	Kept string `json:"kept,omitempty"`
	// Restore is set once a lead asked for its restore.
	Restore *RelatedRestore `json:"restore,omitempty"`
}

// RelatedRestore records the restore of a related upload that a lead asked
// for: the review.decided it published for the enforcer.
type RelatedRestore struct {
	RequestedBy string    `json:"requested_by"`
	ApprovedBy  string    `json:"approved_by,omitempty"`
	RequestedAt time.Time `json:"requested_at"`
	EventID     string    `json:"event_id"`
}

// PendingRelatedRestore is a restore of related uploads proposed by one lead
// that waits for a second (the same rule as the overturn: restoring content
// an incident or critical bank matched takes two leads).
type PendingRelatedRestore struct {
	ProposedBy string    `json:"proposed_by"`
	Reason     string    `json:"reason"`
	ProposedAt time.Time `json:"proposed_at"`
}

func (s *store) relatedKey(entryID string) string  { return s.prefix + "related:" + entryID }
func (s *store) restoredKey(entryID string) string { return s.prefix + "related-restored:" + entryID }

// relatedProposalKey holds the proposal for the decision with event id
// decided, so a later decision starts afresh.
func (s *store) relatedProposalKey(id, decided string) string {
	return s.prefix + "related-proposal:" + id + ":" + decided
}

// confirmedEntries are the review entries of the confirmed bank that the
// action's evidence names, and the evidence's other matches.
func (s *Service) confirmedEntries(act *events.EnforcementAction) (entries []string, others []events.Match) {
	for _, m := range act.Evidence {
		if m.Bank == s.cfg.ConfirmedBank && strings.HasPrefix(m.EntryID, "review-") {
			if m.EntryID != FeedbackEntryID(act.ContentID) && !slices.Contains(entries, m.EntryID) {
				entries = append(entries, m.EntryID)
			}
			continue
		}
		others = append(others, m)
	}
	return entries, others
}

// relatedRecord is a related upload with the audit record it came from.
type relatedRecord struct {
	RelatedUpload
	act events.EnforcementAction
}

// restorable says whether restore-related restores it: not yet asked for,
// and not kept.
func (r *relatedRecord) restorable() bool { return r.Restore == nil && r.Kept == "" }

// related reads the uploads removed because of the confirmed entry of
// contentID's decisions, oldest action first.
func (s *Service) related(ctx context.Context, contentID string) ([]*relatedRecord, error) {
	entry := FeedbackEntryID(contentID)
	var acts, restored *redis.MapStringStringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		acts = p.HGetAll(ctx, s.store.relatedKey(entry))
		restored = p.HGetAll(ctx, s.store.restoredKey(entry))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("related uploads of %s: %w", contentID, err)
	}
	var out []*relatedRecord
	for cid, body := range acts.Val() {
		r := &relatedRecord{}
		if err := json.Unmarshal([]byte(body), &r.act); err != nil {
			s.log.Warn("unreadable related upload record skipped", "content_id", contentID, "related", cid, "err", err)
			continue
		}
		_, others := s.confirmedEntries(&r.act)
		r.RelatedUpload = RelatedUpload{ContentID: cid, Action: r.act.Action, ActedAt: r.act.ActedAt,
			ActionEventID: r.act.EventID, UploadedAt: r.act.UploadedAt}
		for _, m := range others {
			if o := m.Bank + "/" + m.EntryID; !slices.Contains(r.OtherMatches, o) {
				r.OtherMatches = append(r.OtherMatches, o)
			}
		}
		// The enforcer's thresholds may be set otherwise; the default
		// policy is the reference the review service has.
		if d := policy.Default().Decide(others); d.Action == policy.ActionRemove {
			r.Kept = "its other matches call for removal on their own: " + d.Reason
		}
		if v, ok := restored.Val()[restoredField(cid, r.act.EventID)]; ok {
			var rr RelatedRestore
			if json.Unmarshal([]byte(v), &rr) == nil {
				r.Restore = &rr
			}
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *relatedRecord) int {
		if c := a.ActedAt.Compare(b.ActedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ContentID, b.ContentID)
	})
	return out, nil
}

// overturnedToBenign says whether the item's decision is an overturn of a
// violating decision to benign: the one whose related uploads matter.
func overturnedToBenign(it *Item) bool {
	return it.State == StateDecided && it.Decision == events.DecisionBenign && it.Overturns != "" &&
		len(it.History) > 0 && it.History[len(it.History)-1].Decision == events.DecisionViolating
}

// withRelated adds to an item whose violating decision was overturned to
// benign the uploads removed because of that decision, and any pending
// proposal to restore them.
func (s *Service) withRelated(ctx context.Context, it *Item) error {
	if it == nil || !overturnedToBenign(it) {
		return nil
	}
	recs, err := s.related(ctx, it.ContentID)
	if err != nil {
		return err
	}
	it.Related = make([]RelatedUpload, len(recs))
	for i, r := range recs {
		it.Related[i] = r.RelatedUpload
	}
	p, err := s.relatedProposal(ctx, it)
	if err != nil {
		return err
	}
	it.PendingRelatedRestore = p
	return nil
}

func (s *Service) relatedProposal(ctx context.Context, it *Item) (*PendingRelatedRestore, error) {
	v, err := s.rdb.Get(ctx, s.store.relatedProposalKey(it.ID, it.DecidedEventID)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("restore proposal of %s: %w", it.ID, err)
	}
	var p PendingRelatedRestore
	if err := json.Unmarshal([]byte(v), &p); err != nil {
		return nil, fmt.Errorf("restore proposal of %s: %w", it.ID, err)
	}
	return &p, nil
}

// restoreRelatedItem is a lead's request to restore the item's related
// uploads.
func (s *Service) restoreRelatedItem(w http.ResponseWriter, r *http.Request) {
	reason, ok := decodeReason(w, r)
	if !ok {
		return
	}
	s.answer(w, r, s.restoreRelated(r.Context(), r.PathValue("id"), principalOf(r), reason))
}

// relatedNeedsTwo says whether restoring the uploads takes two leads: as
// for the overturn, when the item or any of them matched an incident bank
// or a critical one.
func relatedNeedsTwo(it *Item, recs []*relatedRecord) bool {
	if restoreNeedsTwo(&Item{Decision: events.DecisionViolating, Matches: it.Matches}, events.DecisionBenign) {
		return true
	}
	for _, r := range recs {
		if restoreNeedsTwo(&Item{Decision: events.DecisionViolating, Matches: r.act.Evidence}, events.DecisionBenign) {
			return true
		}
	}
	return false
}

// restoreRelated publishes, for each related upload not restored yet and
// matched by nothing else, a benign review.decided that the enforcer turns
// into a restore, with an audit record of the lead's request. When that
// needs two leads, the first one's request is a proposal (202) and a second
// lead's approves it.
func (s *Service) restoreRelated(ctx context.Context, id string, lead *principal, reason string) outcome {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), decisionTimeout)
	defer cancel()
	it, no := s.existing(ctx, id)
	if no != nil {
		return *no
	}
	if !overturnedToBenign(it) {
		return refusal(http.StatusConflict, "only an item whose violating decision was overturned to benign has uploads to restore with it")
	}
	recs, err := s.related(ctx, it.ContentID)
	if err != nil {
		return failure(err)
	}
	recs = slices.DeleteFunc(recs, func(r *relatedRecord) bool { return !r.restorable() })
	if len(recs) == 0 {
		if err := s.withRelated(ctx, it); err != nil {
			return failure(err)
		}
		return ok(it) // nothing (left) to restore: a repeat finds this
	}
	requester, approver := lead.Subject, ""
	if relatedNeedsTwo(it, recs) {
		p, err := s.relatedProposal(ctx, it)
		if err != nil {
			return failure(err)
		}
		if p == nil || p.ProposedBy == lead.Subject {
			return s.proposeRestoreRelated(ctx, it, lead, reason, p)
		}
		requester, approver, reason = p.ProposedBy, lead.Subject, p.Reason
	}
	now := time.Now().UTC()
	var msgs []messaging.Message
	marks := map[string]any{}
	for _, r := range recs {
		ev := &events.ReviewDecided{
			Meta:     events.Follow(events.TypeReviewDecided, &r.act.Meta),
			Decision: events.DecisionBenign, Reviewer: requester, ApprovedBy: approver,
			Reason: fmt.Sprintf("removed because it matched the confirmed-bank entry of decision %s on %s, overturned to benign by %s: %s",
				it.History[len(it.History)-1].EventID, it.ContentID, it.DecidedBy, reason),
			UploadedAt: r.act.UploadedAt, Matches: r.act.Evidence, DecidedAt: now,
			Overturns: r.act.EventID, CausedBy: it.DecidedEventID,
		}
		if ev.Matches == nil {
			ev.Matches = []events.Match{}
		}
		ev.EventID = derivedEventID(it.DecidedEventID, r.act.EventID)
		m, err := messaging.EventMessage(s.cfg.Topics.ReviewDecided, ev)
		if err != nil {
			return failure(err)
		}
		actor, why := requester, fmt.Sprintf("asked to restore %s, removed because of the overturned decision on %s: %s", r.ContentID, it.ContentID, reason)
		if approver != "" {
			actor, why = approver, fmt.Sprintf("approved %s's restore of %s, removed because of the overturned decision on %s: %s",
				requester, r.ContentID, it.ContentID, reason)
		}
		a, err := s.auditMessage(it, events.ActionRestoreRelated, actor, why, "review/"+it.ID+"/restore-related/"+ev.EventID)
		if err != nil {
			return failure(err)
		}
		msgs = append(msgs, m, a)
		mark, _ := json.Marshal(RelatedRestore{RequestedBy: requester, ApprovedBy: approver, RequestedAt: now, EventID: ev.EventID})
		marks[restoredField(r.ContentID, r.act.EventID)] = string(mark)
	}
	if err := s.pub.Publish(ctx, msgs...); err != nil {
		return outcome{code: http.StatusServiceUnavailable, err: err, msg: "could not publish the restores; nothing is recorded, try again"}
	}
	entry := FeedbackEntryID(it.ContentID)
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.store.restoredKey(entry), marks)
		p.PExpire(ctx, s.store.restoredKey(entry), s.store.decidedTTL)
		p.Del(ctx, s.store.relatedProposalKey(it.ID, it.DecidedEventID))
		return nil
	})
	if err != nil {
		// The restores are out; a repeat publishes the same events, which
		// the enforcer recognises.
		return failure(fmt.Errorf("record the restores of %s's related uploads: %w", id, err))
	}
	s.log.Info("related uploads restored", "content_id", id, "lead", requester, "approved_by", approver,
		"uploads", len(recs), "overturn", it.DecidedEventID)
	if err := s.withRelated(ctx, it); err != nil {
		return failure(err)
	}
	return ok(it)
}

// proposeRestoreRelated records lead's proposal (p is the one stored, if
// any: the same lead's, which a repeat keeps) and its audit record.
func (s *Service) proposeRestoreRelated(ctx context.Context, it *Item, lead *principal, reason string, p *PendingRelatedRestore) outcome {
	if p == nil {
		p = &PendingRelatedRestore{ProposedBy: lead.Subject, Reason: reason, ProposedAt: time.Now().UTC()}
		body, _ := json.Marshal(p)
		set, err := s.rdb.SetNX(ctx, s.store.relatedProposalKey(it.ID, it.DecidedEventID), body, s.store.decidedTTL).Result()
		if err != nil {
			return failure(fmt.Errorf("restore proposal of %s: %w", it.ID, err))
		}
		if !set {
			return refusal(http.StatusConflict, "another lead proposed this restore meanwhile; look again")
		}
	}
	key := "review/" + it.ID + "/restore-related-proposed/" + it.DecidedEventID + "/" + p.ProposedBy
	if err := s.audit(ctx, it, events.ActionRestoreRelated, lead.Subject,
		"proposed to restore the uploads removed because of the overturned decision: "+p.Reason, key); err != nil {
		return outcome{code: http.StatusServiceUnavailable, err: err,
			msg: "the proposal is recorded but its audit record could not be published; repeat it"}
	}
	if err := s.withRelated(ctx, it); err != nil {
		return failure(err)
	}
	return outcome{item: it, code: http.StatusAccepted}
}

// restoredField is the field of a restore in the restored hash: per
// removal, so an upload removed again later (after a second overturn back
// to violating and a new re-upload match) is not taken as restored.
func restoredField(contentID, removal string) string { return contentID + "\x00" + removal }

// derivedEventID is the event id of the restore of the upload whose removal
// is the audit record removal, asked for after the overturn overturn.
func derivedEventID(overturn, removal string) string {
	sum := sha256.Sum256([]byte("restore-related\x00" + overturn + "\x00" + removal))
	return hex.EncodeToString(sum[:16])
}
