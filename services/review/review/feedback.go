package review

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// A decision feeds the banks, so that the next copy of the same content is
// handled without a reviewer: violating adds the upload's hashes to the
// confirmed bank (a block bank: re-uploads are taken down). A benign decision
// keeps or restores that one upload only: its hashes go to the benign bank
// (an allow bank: re-uploads are let through, and their block matches of the
// same signal and region are suppressed) only once a second person agreed,
// as the allowlist-approval setting asks (see duties.go). An overturn
// disables the entry in the bank of the decision it overturns and, to
// violating, adds it to the confirmed bank.
//
// The entry id derives from the content id, so a republished decision (a
// retry, a redelivery) writes the same entry again instead of a second one,
// and an overturn knows which entry to disable.

// FeedbackEntryID names the bank entry of decisions on contentID (in the
// confirmed bank, or the benign one).
func FeedbackEntryID(contentID string) string {
	h := sha256.Sum256([]byte(contentID))
	return "review-" + hex.EncodeToString(h[:8])
}

// bankSignals are the upload's signals a bank entry may hold: the whole
// picture's (a variant is a hash of a rotation, a mirror or a region of the
// upload, not of the content) that the bank accepts (an all-zero perceptual
// hash is refused, so is anything malformed).
func bankSignals(sigs []events.Signal) []events.Signal {
	var out []events.Signal
	for _, s := range sigs {
		if s.Variant != "" {
			continue
		}
		if _, err := bank.Normalize(s); err != nil {
			continue
		}
		out = append(out, s)
	}
	return out
}

// feedbackUpdates are the bank updates of decision on the request's content
// by reviewer; previous is the decision it overturns ("" for a first
// decision).
func (s *Service) feedbackUpdates(req *events.ReviewRequested, decision, reviewer, previous string) []events.BankUpdate {
	if !s.cfg.Feedback {
		return nil
	}
	id := FeedbackEntryID(req.ContentID)
	bankOf := func(d string) string {
		if d == events.DecisionViolating {
			return s.cfg.ConfirmedBank
		}
		return s.cfg.BenignBank
	}
	var out []events.BankUpdate
	if previous != "" && bankOf(previous) != bankOf(decision) {
		out = append(out, events.NewBankDisable(bankOf(previous), id))
	}
	if decision == events.DecisionBenign {
		// Allow-listing waits for a second person (allowlistUpdates).
		return withMeta(req, out)
	}
	if sigs := bankSignals(req.Signals); len(sigs) > 0 {
		labels := []string{"reviewed-by:" + reviewer}
		if decision == events.DecisionViolating {
			for _, m := range req.Matches {
				labels = append(labels, m.Labels...)
			}
		}
		labels = slices.DeleteFunc(labels, func(l string) bool { return l == "" })
		slices.Sort(labels)
		u := events.NewBankAdd(bankOf(decision), slices.Compact(labels), sigs)
		u.EntryID = id
		out = append(out, u)
	}
	return withMeta(req, out)
}

// withMeta gives each update its event metadata: the upload's correlation
// id ties the entry to the upload and the decision that made it.
func withMeta(req *events.ReviewRequested, out []events.BankUpdate) []events.BankUpdate {
	for i := range out {
		out[i].Meta = events.NewMeta(events.TypeBankUpdate, out[i].Key(), req.CorrelationID)
	}
	return out
}

// allowlistUpdates are the bank updates that allow-list the upload of a
// benign decision once the approval rule is met: an add to the benign bank
// labelled with the decider and everyone who agreed.
func (s *Service) allowlistUpdates(req *events.ReviewRequested, decider string, agreed []string) []events.BankUpdate {
	if !s.cfg.Feedback {
		return nil
	}
	sigs := bankSignals(req.Signals)
	if len(sigs) == 0 {
		return nil
	}
	labels := []string{"reviewed-by:" + decider}
	for _, a := range agreed {
		labels = append(labels, "allowlisted-by:"+a)
	}
	slices.Sort(labels)
	u := events.NewBankAdd(s.cfg.BenignBank, slices.Compact(labels), sigs)
	u.EntryID = FeedbackEntryID(req.ContentID)
	return withMeta(req, []events.BankUpdate{u})
}

// feedbackMessages encodes updates for the bank topic; before an add to the
// benign bank it makes sure that bank is an allow bank.
func (s *Service) feedbackMessages(ctx context.Context, updates []events.BankUpdate) ([]messaging.Message, error) {
	var out []messaging.Message
	for i := range updates {
		u := &updates[i]
		if u.Op == events.BankOpAdd && u.Bank == s.cfg.BenignBank {
			if err := s.allow.ensure(ctx, s); err != nil {
				return nil, err
			}
		}
		m, err := messaging.EventMessage(s.cfg.Topics.BankUpdates, u)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// allowBank makes sure, once, that the benign bank is an allow bank. A bank
// nobody configured is a block bank, so without this a benign item would be
// taken down on its next upload.
type allowBank struct {
	mu sync.Mutex
	ok bool
}

// ensure finds the benign bank's configuration on the bank topic and, unless
// it is kind allow already, publishes it with kind allow, keeping every
// other setting (a configure replaces the whole configuration). It is done
// once per Redis (a key records it), so an operator's later change is not
// undone on every start.
func (a *allowBank) ensure(ctx context.Context, s *Service) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ok {
		return nil
	}
	key := s.store.allowBankKey(s.cfg.BenignBank)
	if n, err := s.rdb.Exists(ctx, key).Result(); err != nil {
		return fmt.Errorf("benign bank state: %w", err)
	} else if n == 1 {
		a.ok = true
		return nil
	}
	cfg, found, err := bankConfig(ctx, s.cfg.Kafka, s.cfg.Topics.BankUpdates, s.cfg.BenignBank)
	if err != nil {
		return fmt.Errorf("benign bank %s: %w", s.cfg.BenignBank, err)
	}
	if !found || cfg.Kind != events.BankKindAllow {
		if !found {
			cfg = events.DefaultBankConfig()
		}
		cfg.Kind = events.BankKindAllow
		u := events.NewBankConfigure(s.cfg.BenignBank, cfg)
		if err := messaging.PublishEvent(ctx, s.pub, s.cfg.Topics.BankUpdates, &u); err != nil {
			return fmt.Errorf("configure benign bank %s as an allow bank: %w", s.cfg.BenignBank, err)
		}
		s.metrics.feedback.WithLabelValues(s.cfg.BenignBank, events.BankOpConfigure).Inc()
		s.log.Info("benign bank configured as an allow bank", "bank", s.cfg.BenignBank, "was_configured", found)
	}
	if err := s.rdb.Set(ctx, key, cfg.Kind, 0).Err(); err != nil {
		return fmt.Errorf("benign bank state: %w", err)
	}
	a.ok = true
	return nil
}

// bankConfig reads the bank topic for the latest configuration of bankName
// (the record keyed "<bank>/"); found is false if there is none or the last
// one is a tombstone (the bank is back to the defaults).
func bankConfig(ctx context.Context, k config.Kafka, topic, bankName string) (cfg events.BankConfig, found bool, _ error) {
	key := bankName + "/"
	var mu sync.Mutex
	var lastOffset int64 = -1
	_, err := replayTopic(ctx, k, topic, func(_ context.Context, m *messaging.Message) error {
		if string(m.Key) != key {
			return nil
		}
		// One key lives on one partition, so offsets of its records compare.
		mu.Lock()
		defer mu.Unlock()
		if m.Offset < lastOffset {
			return nil
		}
		lastOffset = m.Offset
		if m.Value == nil {
			found = false
			return nil
		}
		var u events.BankUpdate
		if err := events.Decode(m.Value, events.TypeBankUpdate, &u); err != nil || u.Op != events.BankOpConfigure || u.Config == nil {
			return nil // the matcher skips it too
		}
		cfg, found = *u.Config, true
		return nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return cfg, false, err
	}
	return cfg, found, err
}
