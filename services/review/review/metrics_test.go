package review

import (
	"bufio"
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// metricValue returns the value of one series ("name" or `name{labels}`) in
// a Prometheus text exposition, failing the test if it is absent.
func metricValue(t *testing.T, exposition []byte, series string) float64 {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(exposition))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	t.Fatalf("no series %s in\n%s", series, exposition)
	return 0
}

func scrape(t *testing.T, r *running) []byte {
	t.Helper()
	code, body := call(t, http.MethodGet, r.base+"/metrics", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	return body
}

// The metrics show the queue by state, the age of its oldest pending item,
// decisions by outcome, and a lease that ran out.
func TestMetrics(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	// Long enough for bob to claim and decide on a loaded machine (400 ms
	// was not, under -race), short enough for alice's lease to run out soon.
	cfg.LeaseDuration = 2 * time.Second
	r := start(t, cfg)
	old, young := newRequest(testenv.Name("old")), newRequest(testenv.Name("young"))
	publish(t, cfg, requestMsg(t, cfg, old))
	r.waitItem(t, old.ContentID)
	m := scrape(t, r)
	if metricValue(t, m, `takedown_review_queue_items{state="pending"}`) != 1 ||
		metricValue(t, m, `takedown_review_queue_items{state="decided"}`) != 0 {
		t.Errorf("queue gauges with one pending item:\n%s", m)
	}
	// By priority band: the test's match names no severity (medium) and no
	// incident bank; every other band is there at 0.
	for series, want := range map[string]float64{
		`takedown_review_pending_items{incident="false",severity="medium"}`:   1,
		`takedown_review_pending_items{incident="false",severity="critical"}`: 0,
		`takedown_review_pending_items{incident="true",severity="medium"}`:    0,
	} {
		if got := metricValue(t, m, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	time.Sleep(1100 * time.Millisecond) // the oldest item waits a second
	publish(t, cfg, requestMsg(t, cfg, young))
	r.waitItem(t, young.ContentID)
	if age := metricValue(t, scrape(t, r), "takedown_review_oldest_pending_age_seconds"); age < 1 || age > waitFor.Seconds() {
		t.Errorf("oldest pending age %v s, want the old item's (over 1 s)", age)
	}

	// Alice's lease runs out and the maintenance loop returns her item.
	if code, body := r.claim(t, old.ContentID, "alice"); code != http.StatusOK {
		t.Fatalf("claim: %d %s", code, body)
	}
	testenv.WaitFor(t, waitFor, "the lease expiry to be counted", func() bool {
		return metricValue(t, scrape(t, r), "takedown_review_lease_expiries_total") == 1
	})
	if code, body := r.claim(t, old.ContentID, "bob"); code != http.StatusOK {
		t.Fatalf("claim: %d %s", code, body)
	}
	if code, body := r.decide(t, old.ContentID, "bob", events.DecisionViolating, "r"); code != http.StatusOK {
		t.Fatalf("decide: %d %s", code, body)
	}
	m = scrape(t, r)
	for series, want := range map[string]float64{
		`takedown_review_queue_items{state="pending"}`:                          1,
		`takedown_review_queue_items{state="claimed"}`:                          0,
		`takedown_review_queue_items{state="decided"}`:                          1,
		`takedown_review_decisions_total{decision="violating",kind="decision"}`: 1,
		"takedown_review_claims_total":                                          2,
		`takedown_review_requests_total{result="queued"}`:                       2,
		"takedown_review_queue_scrape_failed":                                   0,
		"takedown_review_rebuilding":                                            0,
	} {
		if got := metricValue(t, m, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if age := metricValue(t, m, "takedown_review_oldest_pending_age_seconds"); age > 30 {
		t.Errorf("oldest pending age %v s: the young item was queued just now", age)
	}
}
