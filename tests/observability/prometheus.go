package observability

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RulesDir holds the Prometheus rules and their promtool unit tests.
func RulesDir() string {
	return filepath.Join(RepoRoot(), "deployments", "helm", "takedown", "rules")
}

// DashboardQueries returns every query of the Grafana dashboards in
// deployments/helm/takedown/dashboards, keyed by "file: panel: query", so an
// end-to-end test can check that each returns data from live services.
func DashboardQueries() (map[string]string, error) {
	files, err := filepath.Glob(filepath.Join(RepoRoot(), "deployments", "helm", "takedown", "dashboards", "*.json"))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var d struct {
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				out[filepath.Base(f)+": "+p.Title+": "+tg.Expr] = tg.Expr
			}
		}
	}
	return out, nil
}

// Promtool returns promtool's path, skipping the test when it is not
// installed (failing it under `make test`: .ci/run installs it).
func Promtool(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv(EnvRequire) != "" {
			t.Fatal("promtool is not installed: scripts/prometheus.sh install (Debian's prometheus package) provides it")
		}
		t.Skip("promtool is not installed: run scripts/prometheus.sh install (Debian's prometheus package)")
	}
	return p
}

// Prometheus is a private Prometheus a test started (StartPrometheus).
type Prometheus struct {
	// URL is its base URL.
	URL string
}

// StartPrometheus starts a Prometheus of the test's own, on a free port and
// in a temporary directory, scraping targets every second with the rules of
// RulesDir loaded. Each target is host:port[/path], or job=host:port[/path]
// to name its job (the job label; "takedown" otherwise); the path is
// /metrics unless given. The test's cleanup stops it.
// A missing prometheus binary skips the test (fails it under `make test`).
func StartPrometheus(t testing.TB, targets ...string) *Prometheus {
	t.Helper()
	if _, err := exec.LookPath("prometheus"); err != nil {
		if os.Getenv(EnvRequire) != "" {
			t.Fatal("prometheus is not installed: scripts/prometheus.sh install (Debian's prometheus package) provides it")
		}
		t.Skip("prometheus is not installed: run scripts/prometheus.sh install (Debian's prometheus package)")
	}
	port := FreePort(t)
	env := []string{
		"TAKEDOWN_TEST_PROMETHEUS_PORT=" + strconv.Itoa(port),
		"TAKEDOWN_TEST_PROMETHEUS_DIR=" + t.TempDir(),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Registered first: a start that fails half-way leaves a process to stop.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := script(ctx, "prometheus.sh", env, "stop"); err != nil {
			t.Errorf("stopping Prometheus: %v", err)
		}
	})
	if _, err := script(ctx, "prometheus.sh", env, append([]string{"start"}, targets...)...); err != nil {
		t.Fatal(err)
	}
	return &Prometheus{URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
}

// Sample is one element of an instant vector.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Query runs an instant query (/api/v1/query) now and returns its vector
// (a scalar answer is one sample without labels).
func (p *Prometheus) Query(ctx context.Context, expr string) ([]Sample, error) {
	var a struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     any    `json:"result"`
		} `json:"data"`
	}
	if err := getJSON(ctx, p.URL+"/api/v1/query?"+url.Values{"query": {expr}}.Encode(), &a); err != nil {
		return nil, err
	}
	if a.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", expr, a.Error)
	}
	value := func(pair any) (float64, error) {
		p, ok := pair.([]any)
		if !ok || len(p) != 2 {
			return 0, fmt.Errorf("query %q: unexpected value %v", expr, pair)
		}
		s, _ := p[1].(string)
		return strconv.ParseFloat(s, 64)
	}
	switch a.Data.ResultType {
	case "vector":
		rows, _ := a.Data.Result.([]any)
		out := make([]Sample, 0, len(rows))
		for _, r := range rows {
			m, _ := r.(map[string]any)
			v, err := value(m["value"])
			if err != nil {
				return nil, err
			}
			labels := map[string]string{}
			metric, _ := m["metric"].(map[string]any)
			for k, l := range metric {
				labels[k] = fmt.Sprint(l)
			}
			out = append(out, Sample{Labels: labels, Value: v})
		}
		return out, nil
	case "scalar":
		v, err := value(a.Data.Result)
		if err != nil {
			return nil, err
		}
		return []Sample{{Labels: map[string]string{}, Value: v}}, nil
	default:
		return nil, fmt.Errorf("query %q: result type %s, want vector or scalar", expr, a.Data.ResultType)
	}
}

// WaitQuery polls expr until it returns at least one sample (a scrape or a
// rule evaluation has to happen first) and returns the samples. It fails
// the test when that takes over within.
func (p *Prometheus) WaitQuery(t testing.TB, expr string, within time.Duration) []Sample {
	t.Helper()
	var out []Sample
	poll(t, within, fmt.Sprintf("Prometheus query %q with data", expr), func(ctx context.Context) (bool, error) {
		var err error
		out, err = p.Query(ctx, expr)
		if err != nil {
			return false, err
		}
		return len(out) > 0, fmt.Errorf("no samples")
	})
	return out
}

// RuleGroups returns the names of the rule groups Prometheus loaded, each
// with the health of its rules ("ok" when all evaluated without error, the
// first error otherwise).
func (p *Prometheus) RuleGroups(ctx context.Context) (map[string]string, error) {
	var a struct {
		Data struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := getJSON(ctx, p.URL+"/api/v1/rules", &a); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, g := range a.Data.Groups {
		health := "ok"
		for _, r := range g.Rules {
			if r.Health != "ok" {
				health = strings.TrimSpace(r.Name + ": " + r.Health + " " + r.LastError)
				break
			}
		}
		out[g.Name] = health
	}
	return out, nil
}
