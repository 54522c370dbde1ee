package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// seekSlack is how far before --from reading starts. Records are stamped by
// the enforcer's clock when published, after the action's acted_at, so
// seeking to --from itself would miss nothing; the slack covers a broker
// that stamps records with its own clock (log append time).
const seekSlack = time.Hour

// Outcomes of the transparency report: what led to an action.
const (
	outcomeAuto       = "auto"       // triggers auto and incident
	outcomeReviewed   = "reviewed"   // trigger review
	outcomeOverturned = "overturned" // trigger overturn
	noneName          = "(none)"     // the bank or label row of records without one
)

// Counts are the audit records of one row of the report.
type Counts struct {
	// Taken is the actions that succeeded (outcome succeeded). Queuing an
	// upload for review is no action on it (it stays up until a reviewer
	// decides): it is counted in QueuedForReview, never here.
	Taken int `json:"taken"`
	// ByAction splits Taken by action (remove, restrict, restore, ...).
	ByAction map[string]int `json:"by_action"`
	// QueuedForReview is the uploads sent to review (queue_for_review
	// succeeded).
	QueuedForReview int `json:"queued_for_review"`
	// Auto, Reviewed and Overturned split Taken by what led to the action:
	// no person (trigger auto or incident), a reviewer's decision, an
	// overturned decision.
	Auto       int `json:"auto"`
	Reviewed   int `json:"reviewed"`
	Overturned int `json:"overturned"`
	// Incident is the part of Auto taken under incident mode.
	Incident int `json:"incident"`
	// Failed is actions that failed for good (outcome failed); they are not
	// in Taken.
	Failed int `json:"failed"`
	// Retries is failed webhook attempts that were tried again (outcome
	// retrying).
	Retries int `json:"retries"`
}

// Latency is the time from upload to action over succeeded removals.
type Latency struct {
	// Removals is the number of succeeded removals with an upload time.
	Removals int `json:"removals"`
	// MedianSeconds is the median of acted_at - uploaded_at; null without
	// removals.
	MedianSeconds *float64 `json:"median_seconds"`
}

// Report is the transparency report over the audit records whose acted_at
// lies in [From, To).
type Report struct {
	Topic string `json:"topic"`
	// From is null when the report starts at the beginning of the topic.
	From *time.Time `json:"from"`
	To   time.Time  `json:"to"`
	// Records is the audit records in the window, each counted once.
	Records int `json:"records"`
	// Duplicates is records dropped because an earlier one had the same
	// event id (a republish after a crash).
	Duplicates int `json:"duplicates"`
	// Unreadable is records that are not enforcement-action events.
	Unreadable int               `json:"unreadable"`
	Total      Counts            `json:"total"`
	ByAction   map[string]Counts `json:"by_action"`
	ByBank     map[string]Counts `json:"by_bank"`
	ByLabel    map[string]Counts `json:"by_label"`
	// ReviewRecords counts, by action, the review service's own audit
	// records (assign, overturn, allow-list approvals, restore_related):
	// what people did in the review queue. They are no action on content,
	// so they are in no other count; the actions they lead to are.
	ReviewRecords map[string]int `json:"review_records"`
	// UploadToRemoval is the median time from upload to removal.
	UploadToRemoval Latency `json:"upload_to_removal"`
}

func newCounts() Counts { return Counts{ByAction: map[string]int{}} }

func (c *Counts) add(a *events.EnforcementAction) {
	switch a.Outcome {
	case events.OutcomeFailed:
		c.Failed++
		return
	case events.OutcomeRetrying:
		c.Retries++
		return
	case events.OutcomeSucceeded:
	default:
		return
	}
	if a.Action == events.ActionQueueForReview {
		c.QueuedForReview++
		return
	}
	c.Taken++
	c.ByAction[a.Action]++
	switch a.Trigger {
	case events.TriggerAuto:
		c.Auto++
	case events.TriggerIncident:
		c.Auto++
		c.Incident++
	case events.TriggerReview:
		c.Reviewed++
	case events.TriggerOverturn:
		c.Overturned++
	}
}

// buildReport counts acts (in topic order; duplicates by event id are
// dropped) whose ActedAt is in [from, to); a zero from is no lower bound.
func buildReport(acts []events.EnforcementAction, from, to time.Time) Report {
	r := Report{To: to, Total: newCounts(), ByAction: map[string]Counts{}, ByBank: map[string]Counts{}, ByLabel: map[string]Counts{},
		ReviewRecords: map[string]int{}}
	if !from.IsZero() {
		r.From = &from
	}
	bump := func(m map[string]Counts, key string, a *events.EnforcementAction) {
		c, ok := m[key]
		if !ok {
			c = newCounts()
		}
		c.add(a)
		m[key] = c
	}
	// seen maps an event id to whether its first record is in the window:
	// a republished record repeats the first one (with a later acted_at).
	seen := map[string]bool{}
	var delays []time.Duration
	for i := range acts {
		a := &acts[i]
		if in, dup := seen[a.EventID]; dup {
			if in {
				r.Duplicates++
			}
			continue
		}
		in := !a.ActedAt.Before(from) && a.ActedAt.Before(to)
		seen[a.EventID] = in
		if !in {
			continue
		}
		r.Records++
		if events.IsReviewRecord(a.Action) {
			r.ReviewRecords[a.Action]++
			continue
		}
		r.Total.add(a)
		if a.Action != events.ActionQueueForReview {
			// by_action holds actions taken or tried; queuing for review
			// is counted in each row's queued_for_review.
			bump(r.ByAction, a.Action, a)
		}
		bank := a.Bank
		if bank == "" {
			bank = noneName
		}
		bump(r.ByBank, bank, a)
		labels := a.Labels
		if len(labels) == 0 {
			labels = []string{noneName}
		}
		for _, l := range labels {
			bump(r.ByLabel, l, a)
		}
		if a.Action == events.ActionRemove && a.Outcome == events.OutcomeSucceeded && !a.UploadedAt.IsZero() {
			delays = append(delays, a.ActedAt.Sub(a.UploadedAt))
		}
	}
	r.UploadToRemoval.Removals = len(delays)
	if m, ok := median(delays); ok {
		s := m.Seconds()
		r.UploadToRemoval.MedianSeconds = &s
	}
	return r
}

// median is the middle value, or the mean of the two middle ones.
func median(ds []time.Duration) (time.Duration, bool) {
	if len(ds) == 0 {
		return 0, false
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return s[n/2-1] + (s[n/2]-s[n/2-1])/2, true
}

// parseReportTime reads an RFC 3339 time or a date (YYYY-MM-DD, UTC). A date
// given as the end of the window means the end of that day.
func parseReportTime(flag, v string, end bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	d, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s %q: want an RFC 3339 time (2026-11-23T14:00:00Z) or a date (2026-11-23)", flag, v)
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}

func cmdReport(ctx context.Context, args []string, out, errOut io.Writer) error {
	var (
		kafkaCfg          config.Kafka
		topic, fromS, toS string
		asJSON            bool
	)
	s := newSet(ctx, "takedownctl report")
	kafkaCfg.Bind(s)
	s.String(&topic, "topic-actions", events.TypeEnforcementAction, "topic of enforcement audit records")
	s.String(&fromS, "from", "", "start of the window (acted_at), RFC 3339 or YYYY-MM-DD (default: the beginning of the topic)")
	s.String(&toS, "to", "", "end of the window, exclusive, RFC 3339 or YYYY-MM-DD (that whole day included) (default: now)")
	s.Bool(&asJSON, "json", false, "print JSON instead of tables")
	if err := s.Parse(args); err != nil {
		return err
	}
	if len(s.Args()) != 0 {
		return usageError{"report takes no arguments: give the window with --from and --to"}
	}
	if len(kafkaCfg.Brokers) == 0 || topic == "" {
		return usageError{"report needs --kafka-brokers and --topic-actions"}
	}
	var from time.Time
	to := time.Now().UTC()
	var err error
	if fromS != "" {
		if from, err = parseReportTime("from", fromS, false); err != nil {
			return err
		}
	}
	if toS != "" {
		if to, err = parseReportTime("to", toS, true); err != nil {
			return err
		}
	}
	if !from.IsZero() && !to.After(from) {
		return fmt.Errorf("--to %s is not after --from %s", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	if err := messaging.Check(ctx, kafkaCfg); err != nil {
		return err
	}
	acts, unreadable, err := readActions(ctx, kafkaCfg, topic, from)
	if err != nil {
		return err
	}
	r := buildReport(acts, from, to)
	r.Topic = topic
	r.Unreadable = unreadable
	if unreadable > 0 {
		fmt.Fprintf(errOut, "takedownctl report: skipped %d records of %s that are not enforcement actions\n", unreadable, topic)
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return printReport(out, &r)
}

// readActions reads every partition of topic, from the offset of the first
// record stamped at or after from minus seekSlack (the start without from) to
// its end when the call started. Records that do not decode are counted, not
// returned. A missing topic is an error: the report cannot tell "no actions"
// from a wrong topic name.
func readActions(ctx context.Context, k config.Kafka, topic string, from time.Time) ([]events.EnforcementAction, int, error) {
	var (
		mu         sync.Mutex
		byPart     = map[int][]events.EnforcementAction{}
		unreadable int
	)
	rc := messaging.ReplayConfig{Kafka: k, Topic: topic}
	if !from.IsZero() {
		rc.Since = from.Add(-seekSlack)
	}
	_, err := messaging.Replay(ctx, rc, func(_ context.Context, m *messaging.Message) error {
		var a events.EnforcementAction
		err := events.Decode(m.Value, events.TypeEnforcementAction, &a)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			unreadable++
			return nil
		}
		byPart[m.Partition] = append(byPart[m.Partition], a)
		return nil
	})
	if errors.Is(err, messaging.ErrTopicNotFound) {
		return nil, 0, fmt.Errorf("topic %s does not exist on %s: no enforcement actions recorded yet, or a wrong --topic-actions",
			topic, strings.Join(k.Brokers, ","))
	}
	if err != nil {
		return nil, 0, err
	}
	// Records of one content share a partition, so a republished record
	// follows the one it repeats: partition order is all deduplication needs.
	var all []events.EnforcementAction
	for _, p := range slices.Sorted(maps.Keys(byPart)) {
		all = append(all, byPart[p]...)
	}
	return all, unreadable, nil
}

// printReport writes the report as aligned tables.
func printReport(w io.Writer, r *Report) error {
	from := "the beginning of the topic"
	if r.From != nil {
		from = r.From.Format(time.RFC3339)
	}
	t := r.Total
	fmt.Fprintf(w, "Enforcement report from %s to %s (by acted_at; topic %s)\n", from, r.To.Format(time.RFC3339), r.Topic)
	fmt.Fprintf(w, "records: %d (duplicates dropped: %d, unreadable: %d)\n", r.Records, r.Duplicates, r.Unreadable)
	fmt.Fprintf(w, "actions taken: %d (auto %d, of which incident %d; reviewed %d; overturned %d); failed: %d; retried attempts: %d\n",
		t.Taken, t.Auto, t.Incident, t.Reviewed, t.Overturned, t.Failed, t.Retries)
	fmt.Fprintf(w, "queued for review (no action taken yet): %d\n", t.QueuedForReview)
	if len(r.ReviewRecords) > 0 {
		var parts []string
		for _, a := range slices.Sorted(maps.Keys(r.ReviewRecords)) {
			parts = append(parts, fmt.Sprintf("%s %d", a, r.ReviewRecords[a]))
		}
		fmt.Fprintf(w, "review queue records (no action on content): %s\n", strings.Join(parts, ", "))
	}
	if m := r.UploadToRemoval.MedianSeconds; m != nil {
		fmt.Fprintf(w, "median time from upload to removal: %s over %d removals\n",
			time.Duration(*m*float64(time.Second)).Round(time.Millisecond), r.UploadToRemoval.Removals)
	} else {
		fmt.Fprintln(w, "median time from upload to removal: no removals")
	}

	actions := []string{events.ActionRemove, events.ActionRestrict, events.ActionRestore}
	for _, a := range slices.Sorted(maps.Keys(r.ByAction)) {
		if !slices.Contains(actions, a) {
			actions = append(actions, a)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w)
	fmt.Fprintln(tw, "ACTION\tTAKEN\tAUTO\tINCIDENT\tREVIEWED\tOVERTURNED\tFAILED\tRETRIES")
	for _, a := range actions {
		c := r.ByAction[a]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", a, c.Taken, c.Auto, c.Incident, c.Reviewed, c.Overturned, c.Failed, c.Retries)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, group := range []struct {
		title string
		rows  map[string]Counts
	}{{"BANK", r.ByBank}, {"LABEL", r.ByLabel}} {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\tTAKEN\tAUTO\tREVIEWED\tOVERTURNED\t%s\tFAILED\tRETRIES\tQUEUED_FOR_REVIEW\n", group.title,
			strings.ToUpper(strings.Join(actions, "\t")))
		for _, name := range slices.Sorted(maps.Keys(group.rows)) {
			c := group.rows[name]
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t", name, c.Taken, c.Auto, c.Reviewed, c.Overturned)
			for _, a := range actions {
				fmt.Fprintf(tw, "%d\t", c.ByAction[a])
			}
			fmt.Fprintf(tw, "%d\t%d\t%d\n", c.Failed, c.Retries, c.QueuedForReview)
		}
		if len(group.rows) == 0 {
			fmt.Fprintf(tw, "(no records)\n")
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
