package main

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

var windowStart = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// reportRec is one hand-made audit record.
type reportRec struct {
	content, action, trigger, outcome, bank string
	labels                                  []string
	acted                                   time.Time
	delay                                   time.Duration // acted - uploaded
	stamp                                   time.Time     // the Kafka record's time; zero: acted
	sameAs                                  int           // 1-based index of the record this one republishes; 0: none
}

func novAt(day, hour, minute int) time.Time {
	return time.Date(2026, 11, day, hour, minute, 0, 0, time.UTC)
}

// reportSet is the test's data; the comments give each record's part in the
// expected counts of TestReport.
var reportSet = []reportRec{
	/* 1 */ {content: "c1", action: "remove", trigger: "auto", outcome: "succeeded", bank: "tve", labels: []string{"category:terror"}, acted: novAt(2, 10, 0), delay: 10 * time.Second},
	/* 2 */ {content: "c2", action: "remove", trigger: "incident", outcome: "succeeded", bank: "cip", labels: []string{"category:terror", "incident:x"}, acted: novAt(2, 11, 0), delay: 4 * time.Second},
	/* 3 */ {content: "c3", action: "remove", trigger: "review", outcome: "succeeded", bank: "tve", labels: []string{"category:terror"}, acted: novAt(3, 9, 0), delay: time.Hour},
	/* 4 */ {content: "c4", action: "restrict", trigger: "auto", outcome: "succeeded", bank: "memes", labels: []string{"category:borderline"}, acted: novAt(3, 9, 5), delay: 7 * time.Second},
	/* 5 */ {content: "c3", action: "restore", trigger: "overturn", outcome: "succeeded", bank: "tve", labels: []string{"category:terror"}, acted: novAt(4, 8, 0), delay: 47 * time.Hour},
	/* 6 */ {content: "c5", action: "remove", trigger: "overturn", outcome: "succeeded", bank: "tve", acted: novAt(4, 12, 0), delay: 2 * time.Minute},
	/* 7 */ {content: "c6", action: "queue_for_review", trigger: "auto", outcome: "succeeded", bank: "tve", labels: []string{"category:terror"}, acted: novAt(5, 1, 0), delay: time.Second},
	/* 8 */ {content: "c7", action: "remove", trigger: "auto", outcome: "retrying", bank: "tve", labels: []string{"category:terror"}, acted: novAt(5, 2, 0), delay: time.Second},
	/* 9 */ {content: "c7", action: "remove", trigger: "auto", outcome: "retrying", bank: "tve", labels: []string{"category:terror"}, acted: novAt(5, 2, 1), delay: 2 * time.Second},
	/* 10 */ {content: "c7", action: "remove", trigger: "auto", outcome: "failed", bank: "tve", labels: []string{"category:terror"}, acted: novAt(5, 2, 2), delay: 3 * time.Second},
	/* 11: republishes 1 after a crash, later */ {content: "c1", action: "remove", trigger: "auto", outcome: "succeeded", bank: "tve", labels: []string{"category:terror"}, acted: novAt(2, 10, 1), delay: 70 * time.Second, sameAs: 1},
	/* 12: before the window */ {content: "c8", action: "remove", trigger: "auto", outcome: "succeeded", bank: "tve", acted: time.Date(2026, 10, 30, 12, 0, 0, 0, time.UTC), delay: time.Second},
	/* 13: at the window's end, which is exclusive */ {content: "c9", action: "remove", trigger: "auto", outcome: "succeeded", bank: "tve", acted: novAt(8, 0, 0), delay: time.Second},
	/* 14: in the window, stamped 30 minutes before it */ {content: "c10", action: "remove", trigger: "auto", outcome: "succeeded", bank: "cip", acted: novAt(1, 0, 1), delay: time.Minute, stamp: windowStart.Add(-30 * time.Minute)},
	/* 15: just before the window, stamped inside the slack: read, then left out */ {content: "c11", action: "remove", trigger: "auto", outcome: "succeeded", bank: "tve", acted: windowStart.Add(-time.Minute), delay: time.Second},
	/* 16: the review service's record of a lead's assignment: no action on content */ {content: "c6", action: "assign", trigger: "review", outcome: "succeeded", bank: "tve", labels: []string{"category:terror"}, acted: novAt(5, 1, 30), delay: time.Second},
	/* 17: the review service's record of an overturn (5 is the restore it led to) */ {content: "c3", action: "overturn", trigger: "review", outcome: "succeeded", bank: "tve", labels: []string{"category:terror"}, acted: novAt(4, 7, 59), delay: time.Second},
}

// publishReportSet writes the set (and one record that is not an action) to
// a new three-partition topic, keyed by content id as the enforcer does.
func publishReportSet(t *testing.T) (brokers []string, topic string) {
	t.Helper()
	brokers = testenv.KafkaBrokers(t)
	topic = testenv.Name("report-actions")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := messaging.EnsureTopics(ctx, config.Kafka{Brokers: brokers}, messaging.TopicSpec{Name: topic, Partitions: 3, Replication: 1}); err != nil {
		t.Fatal(err)
	}
	if err := messaging.WaitForTopic(ctx, config.Kafka{Brokers: brokers}, topic, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	// First in its partition and stamped long before the window: only a
	// report from the start of the topic reads it.
	msgs := []messaging.Message{{Topic: topic, Key: []byte("old-junk"), Value: []byte("not an action either"), Time: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)}}
	ids := make([]string, len(reportSet))
	for i, r := range reportSet {
		a := events.EnforcementAction{
			Meta:   events.NewMeta(events.TypeEnforcementAction, r.content, ""),
			Action: r.action, Trigger: r.trigger, Outcome: r.outcome, Reason: "test", Bank: r.bank, Labels: r.labels,
			Evidence: []events.Match{}, IdempotencyKey: r.content + "/" + r.action, Attempts: 1,
			UploadedAt: r.acted.Add(-r.delay), ActedAt: r.acted,
		}
		if r.sameAs > 0 {
			a.EventID = ids[r.sameAs-1]
		}
		ids[i] = a.EventID
		body, err := json.Marshal(&a)
		if err != nil {
			t.Fatal(err)
		}
		stamp := r.stamp
		if stamp.IsZero() {
			stamp = r.acted
		}
		msgs = append(msgs, messaging.Message{Topic: topic, Key: []byte(r.content), Value: body, Time: stamp})
	}
	msgs = append(msgs, messaging.Message{Topic: topic, Key: []byte("junk"), Value: []byte("not an action"), Time: novAt(3, 0, 0)})
	testenv.Publish(t, config.Kafka{Brokers: brokers}, msgs...)
	return brokers, topic
}

func runReport(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	err := cmdReport(ctx, args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// counts builds a Counts from the hand-counted numbers.
func counts(taken, auto, incident, reviewed, overturned, failed, retries int, byAction map[string]int) Counts {
	if byAction == nil {
		byAction = map[string]int{}
	}
	return Counts{Taken: taken, ByAction: byAction, Auto: auto, Incident: incident, Reviewed: reviewed,
		Overturned: overturned, Failed: failed, Retries: retries}
}

// queued sets the uploads queued for review of c.
func queued(c Counts, n int) Counts {
	c.QueuedForReview = n
	return c
}

func TestReport(t *testing.T) {
	brokers, topic := publishReportSet(t)
	common := []string{"--kafka-brokers", strings.Join(brokers, ","), "--topic-actions", topic}
	out, errOut, err := runReport(t, append(common, "--from", "2026-11-01", "--to", "2026-11-07", "--json")...)
	if err != nil {
		t.Fatalf("report: %v\n%s", err, errOut)
	}
	var got Report
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, out)
	}

	// Counted by hand from reportSet. In the window [Nov 1, Nov 8): records
	// 1-10, 14, 16 and 17 (11 repeats 1; 12, 13 and 15 are outside). 16 and
	// 17 are review queue records, counted in ReviewRecords only.
	want := Report{
		Topic: topic, To: time.Date(2026, 11, 8, 0, 0, 0, 0, time.UTC),
		Records: 13, Duplicates: 1, Unreadable: 1,
		ReviewRecords: map[string]int{"assign": 1, "overturn": 1},
		// Succeeded: 1, 2, 3, 4, 5, 6, 7, 14. Auto: 1, 2 (incident), 4, 7,
		// 14; reviewed: 3; overturned: 5, 6. Failed: 10; retries: 8, 9.
		// 7 is queued for review: no action taken.
		Total: queued(counts(7, 4, 1, 1, 2, 1, 2, map[string]int{"remove": 5, "restrict": 1, "restore": 1}), 1),
		ByAction: map[string]Counts{
			"remove":   counts(5, 3, 1, 1, 1, 1, 2, map[string]int{"remove": 5}), // 1, 2, 3, 6, 14
			"restrict": counts(1, 1, 0, 0, 0, 0, 0, map[string]int{"restrict": 1}),
			"restore":  counts(1, 0, 0, 0, 1, 0, 0, map[string]int{"restore": 1}),
		},
		ByBank: map[string]Counts{
			// 1, 3, 5, 6 succeeded; 7 queued; 8, 9 retried; 10 failed.
			"tve":   queued(counts(4, 1, 0, 1, 2, 1, 2, map[string]int{"remove": 3, "restore": 1}), 1),
			"cip":   counts(2, 2, 1, 0, 0, 0, 0, map[string]int{"remove": 2}), // 2, 14
			"memes": counts(1, 1, 0, 0, 0, 0, 0, map[string]int{"restrict": 1}),
		},
		ByLabel: map[string]Counts{
			// 1, 2, 3, 5 succeeded; 7 queued; 8, 9, 10.
			"category:terror":     queued(counts(4, 2, 1, 1, 1, 1, 2, map[string]int{"remove": 3, "restore": 1}), 1),
			"incident:x":          counts(1, 1, 1, 0, 0, 0, 0, map[string]int{"remove": 1}),
			"category:borderline": counts(1, 1, 0, 0, 0, 0, 0, map[string]int{"restrict": 1}),
			"(none)":              counts(2, 1, 0, 0, 1, 0, 0, map[string]int{"remove": 2}), // 6, 14
		},
	}
	// The succeeded removals in the window are 1, 2, 3, 6 and 14.
	var delays []float64
	for _, i := range []int{1, 2, 3, 6, 14} {
		delays = append(delays, reportSet[i-1].delay.Seconds())
	}
	slices.Sort(delays)
	med := delays[len(delays)/2]
	if med != 60 {
		t.Fatalf("the test's own median is %v s, want 60 (4, 10, 60, 120, 3600)", med)
	}
	want.UploadToRemoval = Latency{Removals: 5, MedianSeconds: &med}
	from := windowStart
	want.From = &from
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.MarshalIndent(got, "", "  ")
		wj, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("report:\n%s\nwant:\n%s", gj, wj)
	}
	if !strings.Contains(errOut, "skipped 1 records") {
		t.Errorf("stderr %q should mention the unreadable record", errOut)
	}
	// The field names are the documented ones.
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"topic", "from", "to", "records", "duplicates", "unreadable", "total", "by_action", "by_bank", "by_label", "review_records", "upload_to_removal"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	total := raw["total"].(map[string]any)
	for _, k := range []string{"taken", "by_action", "queued_for_review", "auto", "reviewed", "overturned", "incident", "failed", "retries"} {
		if _, ok := total[k]; !ok {
			t.Errorf("JSON total lacks %q", k)
		}
	}

	t.Run("table", func(t *testing.T) {
		out, _, err := runReport(t, append(common, "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-08T00:00:00Z")...)
		if err != nil {
			t.Fatal(err)
		}
		rows := map[string]string{}
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 0 {
				rows[f[0]] = strings.Join(f, " ")
			}
		}
		for name, want := range map[string]string{
			"records:":         "records: 13 (duplicates dropped: 1, unreadable: 1)",
			"actions":          "actions taken: 7 (auto 4, of which incident 1; reviewed 1; overturned 2); failed: 1; retried attempts: 2",
			"queued":           "queued for review (no action taken yet): 1",
			"review":           "review queue records (no action on content): assign 1, overturn 1",
			"median":           "median time from upload to removal: 1m0s over 5 removals",
			"ACTION":           "ACTION TAKEN AUTO INCIDENT REVIEWED OVERTURNED FAILED RETRIES",
			"remove":           "remove 5 3 1 1 1 1 2",
			"queue_for_review": "",
			"BANK":             "BANK TAKEN AUTO REVIEWED OVERTURNED REMOVE RESTRICT RESTORE FAILED RETRIES QUEUED_FOR_REVIEW",
			"tve":              "tve 4 1 1 2 3 0 1 1 2 1",
			"category:terror":  "category:terror 4 2 1 1 3 0 1 1 2 1",
		} {
			if rows[name] != want {
				t.Errorf("row %q, want %q\n%s", rows[name], want, out)
			}
		}
		// Columns line up: every number of the BANK table starts where its
		// header does.
		lines := strings.Split(out, "\n")
		for i, l := range lines {
			if strings.HasPrefix(l, "BANK") {
				col := strings.Index(l, "TAKEN")
				if tve := lines[i+3]; !strings.HasPrefix(tve, "tve") || tve[col] != '4' {
					t.Errorf("TAKEN column at %d does not line up:\n%s\n%s", col, l, tve)
				}
			}
		}
	})

	t.Run("whole topic", func(t *testing.T) {
		// Without --from: from the start, 12, 13 and 15 included, and the
		// record the seek skipped; 16 and 17 are records but no action.
		out, _, err := runReport(t, append(common, "--to", "2030-01-01", "--json")...)
		if err != nil {
			t.Fatal(err)
		}
		var r Report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		if r.From != nil || r.Records != 16 || r.Total.Taken != 10 || r.Total.ByAction["remove"] != 8 || r.Duplicates != 1 || r.Unreadable != 2 {
			t.Errorf("whole topic: records %d, taken %d, removals %d, duplicates %d, unreadable %d, from %v; want 16, 10, 8, 1, 2, null",
				r.Records, r.Total.Taken, r.Total.ByAction["remove"], r.Duplicates, r.Unreadable, r.From)
		}
	})

	t.Run("empty window", func(t *testing.T) {
		out, _, err := runReport(t, append(common, "--from", "2027-01-01", "--to", "2027-02-01", "--json")...)
		if err != nil {
			t.Fatal(err)
		}
		var r Report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		if r.Records != 0 || r.UploadToRemoval.MedianSeconds != nil || r.Unreadable != 0 {
			t.Errorf("empty window: %+v", r)
		}
	})
}

func TestReportRefusesBadInput(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--from", "yesterday"}, `--from "yesterday": want an RFC 3339 time`},
		{[]string{"--to", "2026-13-01"}, `--to "2026-13-01"`},
		{[]string{"--from", "2026-11-02", "--to", "2026-11-01"}, "is not after --from"},
		{[]string{"extra"}, "takes no arguments"},
		{[]string{"--topic-actions", ""}, "needs --kafka-brokers and --topic-actions"},
	}
	for _, tt := range tests {
		_, _, err := runReport(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("report %v: error %v, want one mentioning %q", tt.args, err, tt.want)
		}
	}
	t.Run("missing topic", func(t *testing.T) {
		brokers := testenv.KafkaBrokers(t)
		_, _, err := runReport(t, "--kafka-brokers", strings.Join(brokers, ","), "--topic-actions", testenv.Name("no-such-topic"))
		if err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("report of a missing topic: %v", err)
		}
	})
}

func TestMedianAndTimes(t *testing.T) {
	s := time.Second
	for _, tt := range []struct {
		in   []time.Duration
		want time.Duration
		ok   bool
	}{
		{nil, 0, false},
		{[]time.Duration{5 * s}, 5 * s, true},
		{[]time.Duration{9 * s, 1 * s, 4 * s}, 4 * s, true},
		{[]time.Duration{10 * s, 1 * s, 4 * s, 2 * s}, 3 * s, true}, // (2 + 4) / 2
	} {
		if got, ok := median(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("median(%v) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	for _, tt := range []struct {
		in   string
		end  bool
		want time.Time
	}{
		{"2026-11-23", false, time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)},
		{"2026-11-23", true, time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)},
		{"2026-11-23T14:00:00+02:00", true, time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)},
		{"2026-11-23T14:00:00.5Z", false, time.Date(2026, 11, 23, 14, 0, 0, 5e8, time.UTC)},
	} {
		if got, err := parseReportTime("from", tt.in, tt.end); err != nil || !got.Equal(tt.want) {
			t.Errorf("parseReportTime(%q, end %v) = %v, %v; want %v", tt.in, tt.end, got, err, tt.want)
		}
	}
}
