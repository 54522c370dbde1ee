package testenv

import (
	"io"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Scrape reads GET http://addr/metrics in the text format, failing t on
// anything but a 200.
func Scrape(t testing.TB, addr string) string {
	t.Helper()
	return scrape(t, addr, "")
}

// ScrapeOpenMetrics reads GET http://addr/metrics asking for OpenMetrics,
// the format that carries exemplars.
func ScrapeOpenMetrics(t testing.TB, addr string) string {
	t.Helper()
	return scrape(t, addr, "application/openmetrics-text; version=1.0.0")
}

func scrape(t testing.TB, addr, accept string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v\n%s", resp.StatusCode, err, b)
	}
	return string(b)
}

// Metric is the value of the series of family name (in the text format of
// page) whose labels include every pair of labels: a counter's or gauge's
// value, a histogram's sample count. Series that match are summed, so a
// subset of labels adds up the others. ok is false when none matches.
func Metric(t testing.TB, page, name string, labels map[string]string) (v float64, ok bool) {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(page))
	if err != nil {
		t.Fatalf("parsing /metrics: %v\n%s", err, page)
	}
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		for k, want := range labels {
			if labelValue(m, k) != want {
				continue next
			}
		}
		ok = true
		switch {
		case m.Counter != nil:
			v += m.GetCounter().GetValue()
		case m.Gauge != nil:
			v += m.GetGauge().GetValue()
		case m.Histogram != nil:
			v += float64(m.GetHistogram().GetSampleCount())
		case m.Untyped != nil:
			v += m.GetUntyped().GetValue()
		}
	}
	return v, ok
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
