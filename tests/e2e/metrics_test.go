package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// checkMetrics scrapes the five services after TestUploadToTakedown took an
// upload down automatically and one through review: each page passes
// promlint, has the runtime, process and build metrics, and shows what the
// service did; the end-to-end histogram carries a trace id.
func checkMetrics(t *testing.T, pl *pipeline) {
	t.Helper()
	type want struct {
		name   string
		labels map[string]string
		min    float64
	}
	handled := func(topic string, n float64) want {
		return want{"takedown_messages_handled_total", map[string]string{"topic": topic, "outcome": messaging.OutcomeOK}, n}
	}
	services := []struct {
		name, addr string
		want       []want
	}{
		{"ingest", pl.ingest.Addr(), []want{
			handled(pl.topics.Uploaded, 2),
			{"takedown_ingest_requests_total", map[string]string{"route": "/v1/uploads", "status": "202"}, 2},
		}},
		{"hasher", pl.hasher.Addr(), []want{
			handled(pl.topics.Ingested, 2),
			{"takedown_hasher_fetches_total", map[string]string{"outcome": "ok"}, 2},
			{"takedown_hasher_fetch_duration_seconds", map[string]string{"outcome": "ok"}, 2},
			{"takedown_hasher_fetched_bytes_total", nil, 1},
			{"takedown_hasher_hash_duration_seconds", map[string]string{"media_type": events.ContentImage}, 2},
		}},
		{"matcher", pl.matcher.Addr(), []want{
			handled(pl.topics.Hashed, 2),
			{"takedown_matcher_uploads_matched_total", nil, 2},
			{"takedown_matcher_bank_entries", nil, 1},
		}},
		{"review", pl.review.Addr(), []want{
			handled(pl.topics.ReviewRequested, 1),
			{"takedown_review_decisions_total", nil, 1},
		}},
		{"enforcer", pl.enforcer.Addr(), []want{
			handled(pl.topics.Matched, 2),
			handled(pl.topics.ReviewDecided, 1),
			{"takedown_enforcer_webhook_requests_total", map[string]string{"outcome": "ok", "status_class": "2xx"}, 2},
			{"takedown_enforcer_webhook_duration_seconds", nil, 2},
			{"takedown_enforcer_actions_total", map[string]string{"action": events.ActionRemove, "trigger": events.TriggerAuto}, 1},
			{"takedown_enforcer_actions_total", map[string]string{"action": events.ActionRemove, "trigger": events.TriggerReview}, 1},
			{"takedown_enforcer_actions_total", map[string]string{"action": events.ActionQueueForReview}, 1},
			{"takedown_upload_to_action_seconds", map[string]string{"action": events.ActionRemove}, 2},
		}},
	}
	for _, svc := range services {
		var page string
		// The last commit or decision may still be on its way.
		testenv.WaitFor(t, 10*time.Second, svc.name+"'s metrics", func() bool {
			page = testenv.Scrape(t, svc.addr)
			for _, w := range svc.want {
				if v, ok := testenv.Metric(t, page, w.name, w.labels); !ok || v < w.min {
					return false
				}
			}
			return true
		})
		problems, err := promlint.New(strings.NewReader(page)).Lint()
		if err != nil {
			t.Fatalf("%s: promlint: %v", svc.name, err)
		}
		for _, p := range problems {
			t.Errorf("%s: promlint: %s: %s", svc.name, p.Metric, p.Text)
		}
		for _, m := range []string{"go_goroutines", "process_resident_memory_bytes"} {
			if _, ok := testenv.Metric(t, page, m, nil); !ok {
				t.Errorf("%s: %s missing", svc.name, m)
			}
		}
		if v, _ := testenv.Metric(t, page, "takedown_build_info", map[string]string{"service": svc.name}); v != 1 {
			t.Errorf("%s: takedown_build_info{service=%q} = %v, want 1", svc.name, svc.name, v)
		}
	}
	om := testenv.ScrapeOpenMetrics(t, pl.enforcer.Addr())
	if !strings.Contains(om, `takedown_upload_to_action_seconds_bucket{action="remove"`) || !hasExemplar(om, "takedown_upload_to_action_seconds_bucket{") {
		t.Errorf("no trace_id exemplar on takedown_upload_to_action_seconds:\n%s", om)
	}
}

func hasExemplar(page, prefix string) bool {
	for _, line := range strings.Split(page, "\n") {
		if strings.HasPrefix(line, prefix) && strings.Contains(line, `# {trace_id="`) {
			return true
		}
	}
	return false
}
