package metrics

import (
	"bufio"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// sample is one parsed sample line.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// parse reads the text format line by line, as a scraper would, and fails
// the test on anything it does not accept: every sample must follow the
// HELP and TYPE lines of its family.
func parse(t *testing.T, text string) (samples []sample, types map[string]string, help map[string]string) {
	t.Helper()
	types, help = map[string]string{}, map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# HELP "):
			name, h, _ := strings.Cut(strings.TrimPrefix(line, "# HELP "), " ")
			help[name] = h
		case strings.HasPrefix(line, "# TYPE "):
			name, typ, _ := strings.Cut(strings.TrimPrefix(line, "# TYPE "), " ")
			if _, ok := help[name]; !ok {
				t.Errorf("line %d: TYPE of %s before its HELP", n, name)
			}
			types[name] = typ
		case line == "" || strings.HasPrefix(line, "#"):
			t.Errorf("line %d: unexpected %q", n, line)
		default:
			s, err := parseSample(line)
			if err != nil {
				t.Fatalf("line %d %q: %v", n, line, err)
			}
			family := s.name
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(s.name, suf); ok && types[b] == "histogram" {
					family = b
				}
			}
			if _, ok := types[family]; !ok {
				t.Errorf("line %d: sample %s without a TYPE line", n, s.name)
			}
			samples = append(samples, s)
		}
	}
	return samples, types, help
}

func parseSample(line string) (sample, error) {
	s := sample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, fmt.Errorf("no value")
	}
	s.name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for rest[0] != '}' {
			eq := strings.IndexByte(rest, '=')
			if eq < 0 || len(rest) < eq+2 || rest[eq+1] != '"' {
				return s, fmt.Errorf("bad label at %q", rest)
			}
			name := rest[:eq]
			rest = rest[eq+2:]
			var v strings.Builder
			for {
				if rest == "" {
					return s, fmt.Errorf("unterminated label value")
				}
				c := rest[0]
				rest = rest[1:]
				if c == '"' {
					break
				}
				if c == '\n' {
					return s, fmt.Errorf("raw line feed in label value")
				}
				if c == '\\' {
					switch rest[0] {
					case '\\':
						v.WriteByte('\\')
					case '"':
						v.WriteByte('"')
					case 'n':
						v.WriteByte('\n')
					default:
						return s, fmt.Errorf("bad escape \\%c", rest[0])
					}
					rest = rest[1:]
					continue
				}
				v.WriteByte(c)
			}
			s.labels[name] = v.String()
			if rest != "" && rest[0] == ',' {
				rest = rest[1:]
			}
		}
		rest = rest[1:]
	}
	if rest == "" || rest[0] != ' ' {
		return s, fmt.Errorf("no space before value")
	}
	v, err := strconv.ParseFloat(strings.TrimPrefix(rest[1:], "+"), 64)
	if err != nil {
		return s, err
	}
	s.value = v
	return s, nil
}

func find(samples []sample, name string, labels map[string]string) (float64, bool) {
	for _, s := range samples {
		if s.name != name || len(s.labels) != len(labels) {
			continue
		}
		ok := true
		for k, v := range labels {
			ok = ok && s.labels[k] == v
		}
		if ok {
			return s.value, true
		}
	}
	return 0, false
}

func TestRegistryOutput(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("app_requests_total", "Requests served.")
	cv := r.NewCounterVec("app_errors_total", "Errors by kind.\nSecond line \\ backslash.", "kind")
	g := r.NewGauge("app_up", "Whether the app is up.")
	gv := r.NewGaugeVec("app_bank_entries", "Entries per bank.", "bank")
	h := r.NewHistogram("app_latency_seconds", "Latency.", []float64{0.01, 0.1, 1})
	hv := r.NewHistogramVec("app_size_bytes", "Sizes.", []float64{10}, "kind")
	r.GaugeFunc("app_func", "From a func.", func() float64 { return 42.5 })

	c.Inc()
	c.Add(2)
	c.Add(-5) // ignored
	cv.With(`quote " backslash \ newline` + "\n").Inc()
	cv.With("plain").Add(3)
	g.Set(1)
	g.Add(-0.5)
	gv.With("tve").Set(1e7)
	for _, v := range []float64{0.005, 0.01, 0.05, 0.5, 5} {
		h.Observe(v)
	}
	hv.With("a").Observe(20)

	var b strings.Builder
	if _, err := r.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	samples, types, help := parse(t, b.String())

	wantTypes := map[string]string{"app_requests_total": "counter", "app_errors_total": "counter", "app_up": "gauge",
		"app_bank_entries": "gauge", "app_latency_seconds": "histogram", "app_size_bytes": "histogram", "app_func": "gauge"}
	for n, typ := range wantTypes {
		if types[n] != typ {
			t.Errorf("TYPE of %s = %q, want %q", n, types[n], typ)
		}
	}
	if help["app_errors_total"] != `Errors by kind.\nSecond line \\ backslash.` {
		t.Errorf("escaped HELP = %q", help["app_errors_total"])
	}
	cases := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"app_requests_total", nil, 3},
		{"app_errors_total", map[string]string{"kind": `quote " backslash \ newline` + "\n"}, 1},
		{"app_errors_total", map[string]string{"kind": "plain"}, 3},
		{"app_up", nil, 0.5},
		{"app_bank_entries", map[string]string{"bank": "tve"}, 1e7},
		{"app_latency_seconds_bucket", map[string]string{"le": "0.01"}, 2}, // le is inclusive
		{"app_latency_seconds_bucket", map[string]string{"le": "0.1"}, 3},
		{"app_latency_seconds_bucket", map[string]string{"le": "1"}, 4},
		{"app_latency_seconds_bucket", map[string]string{"le": "+Inf"}, 5},
		{"app_latency_seconds_count", nil, 5},
		{"app_latency_seconds_sum", nil, 5.565},
		{"app_size_bytes_bucket", map[string]string{"kind": "a", "le": "10"}, 0},
		{"app_size_bytes_bucket", map[string]string{"kind": "a", "le": "+Inf"}, 1},
		{"app_size_bytes_count", map[string]string{"kind": "a"}, 1},
		{"app_func", nil, 42.5},
	}
	for _, c := range cases {
		got, ok := find(samples, c.name, c.labels)
		if !ok {
			t.Errorf("no sample %s%v in:\n%s", c.name, c.labels, b.String())
			continue
		}
		if d := got - c.want; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if !strings.Contains(b.String(), `app_errors_total{kind="quote \" backslash \\ newline\n"} 1`+"\n") {
		t.Errorf("label value not escaped as the format requires:\n%s", b.String())
	}
}

func TestGaugeVecReset(t *testing.T) {
	r := NewRegistry()
	gv := r.NewGaugeVec("x", "x", "bank")
	gv.With("gone").Set(1)
	gv.Reset()
	gv.With("kept").Set(2)
	var b strings.Builder
	if _, err := r.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	samples, _, _ := parse(t, b.String())
	if _, ok := find(samples, "x", map[string]string{"bank": "gone"}); ok {
		t.Errorf("series survived Reset:\n%s", b.String())
	}
	if v, ok := find(samples, "x", map[string]string{"bank": "kept"}); !ok || v != 2 {
		t.Errorf("kept = %v %v", v, ok)
	}
}

func TestRegisterMistakesPanic(t *testing.T) {
	cases := []struct {
		name string
		f    func(r *Registry)
	}{
		{"bad name", func(r *Registry) { r.NewCounter("1bad", "") }},
		{"bad label", func(r *Registry) { r.NewCounterVec("ok", "", "a-b") }},
		{"reserved label", func(r *Registry) { r.NewGaugeVec("ok", "", "le") }},
		{"duplicate", func(r *Registry) { r.NewGauge("dup", ""); r.NewCounter("dup", "") }},
		{"unsorted buckets", func(r *Registry) { r.NewHistogram("h", "", []float64{1, 1}) }},
		{"wrong label count", func(r *Registry) { r.NewCounterVec("c", "", "a").With("x", "y") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("no panic")
				}
			}()
			c.f(NewRegistry())
		})
	}
}

func TestConcurrentUpdates(t *testing.T) {
	r := NewRegistry()
	cv := r.NewCounterVec("c", "c", "k")
	h := r.NewHistogram("h", "h", LatencyBuckets)
	const workers, each = 8, 1000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				cv.With(strconv.Itoa(w % 2)).Inc()
				h.Observe(float64(i) / each)
			}
		}()
		wg.Add(1)
		go func() { // scrapes race with updates
			defer wg.Done()
			var b strings.Builder
			_, _ = r.WriteTo(&b)
		}()
	}
	wg.Wait()
	var b strings.Builder
	if _, err := r.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	samples, _, _ := parse(t, b.String())
	a, _ := find(samples, "c", map[string]string{"k": "0"})
	z, _ := find(samples, "c", map[string]string{"k": "1"})
	if a+z != workers*each || h.Count() != workers*each {
		t.Errorf("counts %v+%v, histogram %d; want %d", a, z, h.Count(), workers*each)
	}
}

func TestHandler(t *testing.T) {
	r := NewRegistry()
	r.NewCounter("served_total", "Served.").Inc()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); ct != ContentType {
		t.Errorf("Content-Type %q", ct)
	}
	samples, _, _ := parse(t, rec.Body.String())
	if v, ok := find(samples, "served_total", nil); !ok || v != 1 {
		t.Errorf("served_total = %v %v", v, ok)
	}
}

func TestFuncMetricsAndBeforeWrite(t *testing.T) {
	r := NewRegistry()
	n := 0.0
	r.CounterFunc("calls_total", "Calls.", func() float64 { return n })
	gv := r.NewGaugeVec("per_bank", "Per bank.", "bank")
	r.BeforeWrite(func() { n++; gv.With("b").Set(n * 10) })
	for want := 1.0; want <= 2; want++ {
		var b strings.Builder
		if _, err := r.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		samples, types, _ := parse(t, b.String())
		if types["calls_total"] != "counter" {
			t.Errorf("TYPE calls_total = %q", types["calls_total"])
		}
		if v, _ := find(samples, "calls_total", nil); v != want {
			t.Errorf("scrape %v: calls_total = %v", want, v)
		}
		if v, _ := find(samples, "per_bank", map[string]string{"bank": "b"}); v != want*10 {
			t.Errorf("scrape %v: per_bank = %v (BeforeWrite must run before the values are read)", want, v)
		}
	}
}
