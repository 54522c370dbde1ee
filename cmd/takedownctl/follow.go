package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/policy"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// followSettings are what `submit --wait` needs to follow an upload: the
// topics each stage writes, where they are, and the review UI to link to.
type followSettings struct {
	kafka     config.Kafka
	ingested  string
	hashed    string
	matched   string
	review    string
	actions   string
	reviewURL string
	timeout   time.Duration
}

func (f *followSettings) bind(s *config.Set) {
	f.kafka.Bind(s)
	d := config.DefaultTopics()
	// The names and help of the services' own topic settings.
	s.String(&f.ingested, "topic-ingested", d.Ingested, "topic of validated uploads")
	s.String(&f.hashed, "topic-hashed", d.Hashed, "topic of hashed media")
	s.String(&f.matched, "topic-matched", d.Matched, "topic of match verdicts")
	s.String(&f.review, "topic-review-requested", d.ReviewRequested, "topic of items routed to human review")
	s.String(&f.actions, "topic-actions", d.Actions, "topic of enforcement audit records")
	s.String(&f.reviewURL, "review-url", "http://127.0.0.1:8083", "base URL of the review UI, for the link to a queued upload (--wait)")
	s.Duration(&f.timeout, "timeout", 2*time.Minute, "how long --wait follows the upload before giving up")
}

// sighting is one record of the followed upload on a pipeline topic.
type sighting struct {
	topic string
	at    time.Time // when the stage's service wrote it (its own clock)
	ev    any       // the decoded event
}

// followUpload reads the pipeline's topics from just before submitted on,
// picks the records of the upload (contentID as the pipeline scopes it,
// and its correlation id), prints each stage with the time it took, and
// returns once the outcome is known: removed (or another action), queued
// for review, no match, or not hashable. The outcome comes from the
// pipeline's own records: the matcher's verdict is written for every
// upload, an empty one for no match, and every action is an audit record.
func followUpload(ctx context.Context, f followSettings, scopedID, correlationID string, submitted time.Time, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	seen := make(chan sighting, 64)
	decoders := map[string]func([]byte) (events.Event, error){
		f.ingested: decodeAs[events.MediaIngested](events.TypeMediaIngested),
		f.hashed:   decodeAs[events.MediaHashed](events.TypeMediaHashed),
		f.matched:  decodeAs[events.MediaMatched](events.TypeMediaMatched),
		f.review:   decodeAs[events.ReviewRequested](events.TypeReviewRequested),
		f.actions:  decodeAs[events.EnforcementAction](events.TypeEnforcementAction),
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(decoders))
	for topic, decode := range decoders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Records are stamped by their producer; a little slack covers
			// a clock behind this one.
			_, err := messaging.Replay(ctx, messaging.ReplayConfig{Kafka: f.kafka, Topic: topic, Since: submitted.Add(-5 * time.Second),
				Follow: true, Logger: slog.New(slog.DiscardHandler)}, func(_ context.Context, m *messaging.Message) error {
				ev, err := decode(m.Value)
				if err != nil {
					return nil // not ours to judge
				}
				h := ev.Header()
				if h.ContentID != scopedID || (h.CorrelationID != "" && h.CorrelationID != correlationID) {
					return nil
				}
				at := h.OccurredAt
				if a, ok := ev.(*events.EnforcementAction); ok && !a.ActedAt.IsZero() {
					at = a.ActedAt
				}
				select {
				case seen <- sighting{topic: topic, at: at, ev: ev}:
				case <-ctx.Done():
				}
				return nil
			})
			if err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("following %s: %w", topic, err)
			}
		}()
	}
	defer wg.Wait()
	defer cancel()

	var (
		stages  []followStage
		outcome string // set once the pipeline's answer is in
		failed  error  // an action that failed for good
		had     = map[string]bool{}
	)
	add := func(name string, at time.Time, note string) {
		if !had[name] {
			had[name] = true
			stages = append(stages, followStage{name, at, note})
		}
	}
	queued := func(reason, contentID string, at time.Time) {
		add("queued for review", at, "")
		outcome = fmt.Sprintf("queued for review: %s\n  review it at %s/ui/items/%s", reason,
			strings.TrimRight(f.reviewURL, "/"), url.PathEscape(contentID))
	}
	for {
		// The topics are read side by side, so an action may be read
		// before the verdict it rests on: the answer waits for the stages
		// before it.
		if (outcome != "" || failed != nil) && had["ingested"] && had["hashed"] && had["matched"] {
			printStages(out, submitted, stages)
			if failed != nil {
				return failed
			}
			fmt.Fprintln(out, "outcome: "+outcome)
			return nil
		}
		var s sighting
		select {
		case s = <-seen:
		case err := <-errs:
			return err
		case <-ctx.Done():
			printStages(out, submitted, stages)
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				last := "none"
				if len(stages) > 0 {
					last = stages[len(stages)-1].name
				}
				return fmt.Errorf("no outcome within %s; last stage seen: %s (see the services' logs, or a longer --timeout)", f.timeout, last)
			}
			return ctx.Err()
		}
		switch ev := s.ev.(type) {
		case *events.MediaIngested:
			add("ingested", s.at, "")
		case *events.MediaHashed:
			note := fmt.Sprintf("%d signals", len(ev.Signals))
			if len(ev.Frames) > 0 {
				note += fmt.Sprintf(", %d video frames", len(ev.Frames))
			}
			if ev.Unhashable != nil {
				note = "not hashable: " + ev.Unhashable.String()
			}
			add("hashed", s.at, note)
		case *events.MediaMatched:
			switch {
			case ev.Unhashable != nil:
				add("matched", s.at, "nothing to match on; the enforcer decides")
			case len(ev.Matches) == 0:
				note := "no match"
				if len(ev.Suppressed) > 0 {
					note = fmt.Sprintf("no match (%d block matches cancelled by an allow-list)", len(ev.Suppressed))
				}
				add("matched", s.at, note)
				outcome = "no match: the upload was checked against every bank and nothing matched"
			default:
				d := policy.Default().Decide(ev.Matches)
				n := fmt.Sprintf("%d matches", len(ev.Matches))
				if len(ev.Matches) == 1 {
					n = "1 match"
				}
				add("matched", s.at, fmt.Sprintf("%s, closest %s distance %d to bank %s", n,
					d.Best.SignalType, d.Best.Distance, d.Best.Bank))
				if d.Action == policy.ActionNone && outcome == "" {
					outcome = "no action: no match is within the default policy's review distances (" + d.Reason + ")"
				}
			}
		case *events.ReviewRequested:
			queued(ev.Reason, ev.ContentID, s.at)
		case *events.EnforcementAction:
			switch {
			case ev.Actor != "":
				// A person's review action, not the enforcer's.
			case ev.Outcome == events.OutcomeRetrying:
				fmt.Fprintf(out, "  (%s attempt %d failed, retrying: %s)\n", ev.Action, ev.Attempts, ev.Error)
			case ev.Action == events.ActionUnhashable:
				add("recorded unhashable", s.at, ev.Reason)
			case ev.Action == events.ActionQueueForReview:
				// review.requested says the same; either may come first.
				queued(ev.Reason, ev.ContentID, s.at)
			case ev.Outcome == events.OutcomeFailed:
				add(ev.Action+" failed", s.at, ev.Error)
				failed = fmt.Errorf("outcome: %s failed after %d attempts: %s (%s)", ev.Action, ev.Attempts, ev.Error, ev.Reason)
			default:
				add(events.ActionDone(ev.Action), s.at, "")
				outcome = fmt.Sprintf("%s (trigger %s): %s", events.ActionDone(ev.Action), ev.Trigger, ev.Reason)
			}
		}
	}
}

// followStage is one stage an upload passed, stamped by the service that
// wrote its record.
type followStage struct {
	name string
	at   time.Time
	note string
}

// printStages prints stages in time order, each with the time since the
// submission and since the stage before.
func printStages(out io.Writer, submitted time.Time, stages []followStage) {
	slices.SortStableFunc(stages, func(a, b followStage) int { return a.at.Compare(b.at) })
	last := submitted
	for _, st := range stages {
		took := max(st.at.Sub(last), 0) // another machine's clock may be behind
		note := ""
		if st.note != "" {
			note = ": " + st.note
		}
		fmt.Fprintf(out, "  %-20s +%-10s took %s%s\n", st.name, st.at.Sub(submitted).Round(time.Millisecond), took.Round(time.Millisecond), note)
		last = st.at
	}
}

// decodeAs decodes a record as an event of type T (a struct embedding
// events.Meta).
func decodeAs[T any, P interface {
	*T
	events.Event
}](typ string) func([]byte) (events.Event, error) {
	return func(b []byte) (events.Event, error) {
		var v T
		if err := events.Decode(b, typ, P(&v)); err != nil {
			return nil, err
		}
		return P(&v), nil
	}
}
