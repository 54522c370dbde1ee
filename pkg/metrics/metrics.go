// Package metrics holds a small, dependency-free registry of Prometheus
// metrics (counters, gauges and fixed-bucket histograms, each with optional
// labels) and writes them in the Prometheus text exposition format (version
// 0.0.4), so that a service can serve GET /metrics without pulling in the
// Prometheus client library.
//
// Every metric is safe for concurrent use. Values are float64 held in atomic
// words, so updating a metric never takes a lock once its label set exists.
package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ContentType is the media type of the text exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

var (
	nameRE  = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Registry holds metrics and writes them out sorted by name.
type Registry struct {
	mu      sync.Mutex
	metrics map[string]metric
	before  []func()
}

// BeforeWrite registers fn to run before every write of the registry, to set
// gauges from state kept elsewhere (e.g. one series per bank) only when
// someone looks.
func (r *Registry) BeforeWrite(fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.before = append(r.before, fn)
}

// Default is the registry of metrics that belong to the process rather than
// to one service's code (what package messaging counts for every consumer).
// pkg/service serves it on /metrics of every service, after the service's own
// registry if it has one.
var Default = NewRegistry()

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{metrics: map[string]metric{}} }

type metric interface {
	write(w *bufio.Writer)
}

// register adds m under name. Names and label names are fixed by the program,
// not by input, so a bad or duplicate one is a programming error and panics
// at start-up rather than producing output Prometheus would refuse.
func (r *Registry) register(name string, labels []string, m metric) {
	if !nameRE.MatchString(name) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", name))
	}
	for _, l := range labels {
		if !labelRE.MatchString(l) || strings.HasPrefix(l, "__") || l == "le" {
			panic(fmt.Sprintf("metrics: invalid label name %q of %s", l, name))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.metrics[name]; dup {
		panic(fmt.Sprintf("metrics: %s registered twice", name))
	}
	r.metrics[name] = m
}

// WriteTo writes every metric in the text format.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	before := slices.Clone(r.before)
	r.mu.Unlock()
	for _, fn := range before {
		fn()
	}
	r.mu.Lock()
	names := make([]string, 0, len(r.metrics))
	for n := range r.metrics {
		names = append(names, n)
	}
	ms := make([]metric, 0, len(names))
	slices.Sort(names)
	for _, n := range names {
		ms = append(ms, r.metrics[n])
	}
	r.mu.Unlock()
	cw := &countWriter{w: w}
	bw := bufio.NewWriter(cw)
	for _, m := range ms {
		m.write(bw)
	}
	err := bw.Flush()
	return cw.n, err
}

// Handler serves the registry, for GET /metrics.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		_, _ = r.WriteTo(w)
	})
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// family is what every metric type shares: a name, help, label names and one
// series per label-value combination.
type family[S any] struct {
	name, help, typ string
	labels          []string
	mu              sync.RWMutex
	series          map[string]*entry[S]
	newSeries       func() *S
}

type entry[S any] struct {
	values []string
	s      *S
}

func newFamily[S any](name, help, typ string, labels []string, mk func() *S) *family[S] {
	return &family[S]{name: name, help: help, typ: typ, labels: slices.Clone(labels), series: map[string]*entry[S]{}, newSeries: mk}
}

// with returns the series for the label values, creating it. A wrong number
// of values is a programming error.
func (f *family[S]) with(values []string) *S {
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("metrics: %s takes %d label values, got %d", f.name, len(f.labels), len(values)))
	}
	key := strings.Join(values, "\xff")
	f.mu.RLock()
	e, ok := f.series[key]
	f.mu.RUnlock()
	if ok {
		return e.s
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.series[key]; ok {
		return e.s
	}
	e = &entry[S]{values: slices.Clone(values), s: f.newSeries()}
	f.series[key] = e
	return e.s
}

// sorted returns the series sorted by label values, for stable output.
func (f *family[S]) sorted() []*entry[S] {
	f.mu.RLock()
	out := make([]*entry[S], 0, len(f.series))
	for _, e := range f.series {
		out = append(out, e)
	}
	f.mu.RUnlock()
	slices.SortFunc(out, func(a, b *entry[S]) int { return slices.Compare(a.values, b.values) })
	return out
}

func (f *family[S]) header(w *bufio.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, f.typ)
}

// labelText renders {a="x",b="y"} with extra pairs appended; "" without any.
func labelText(names, values []string, extra ...string) string {
	if len(names) == 0 && len(extra) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n)
		b.WriteString(`="`)
		b.WriteString(escapeLabel(values[i]))
		b.WriteByte('"')
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteString(extra[i])
		b.WriteString(`="`)
		b.WriteString(escapeLabel(extra[i+1]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// escapeLabel escapes a label value as the format requires: backslash,
// double quote and line feed.
func escapeLabel(s string) string {
	if !strings.ContainsAny(s, "\\\"\n") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return r.Replace(s)
}

// escapeHelp escapes help text: backslash and line feed.
func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// atomicFloat is a float64 updated with compare-and-swap.
type atomicFloat struct{ bits atomic.Uint64 }

func (a *atomicFloat) load() float64   { return math.Float64frombits(a.bits.Load()) }
func (a *atomicFloat) store(v float64) { a.bits.Store(math.Float64bits(v)) }
func (a *atomicFloat) add(d float64) {
	for {
		old := a.bits.Load()
		if a.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

// Counter is a value that only goes up.
type Counter struct{ v atomicFloat }

// Inc adds one.
func (c *Counter) Inc() { c.v.add(1) }

// Add adds d; a negative d is ignored, as a counter never goes down.
func (c *Counter) Add(d float64) {
	if d > 0 {
		c.v.add(d)
	}
}

// Value returns the current value.
func (c *Counter) Value() float64 { return c.v.load() }

// CounterVec is a counter family with labels.
type CounterVec struct{ f *family[Counter] }

// NewCounterVec registers a counter family with the given label names.
func (r *Registry) NewCounterVec(name, help string, labels ...string) *CounterVec {
	f := newFamily(name, help, "counter", labels, func() *Counter { return &Counter{} })
	r.register(name, labels, f)
	return &CounterVec{f}
}

// NewCounter registers a counter without labels.
func (r *Registry) NewCounter(name, help string) *Counter {
	return r.NewCounterVec(name, help).With()
}

// With returns the counter for the label values, in label-name order.
func (v *CounterVec) With(values ...string) *Counter { return v.f.with(values) }

func (f *family[S]) write(w *bufio.Writer) {
	f.header(w)
	for _, e := range f.sorted() {
		switch s := any(e.s).(type) {
		case *Counter:
			fmt.Fprintf(w, "%s%s %s\n", f.name, labelText(f.labels, e.values), formatValue(s.Value()))
		case *Gauge:
			fmt.Fprintf(w, "%s%s %s\n", f.name, labelText(f.labels, e.values), formatValue(s.Value()))
		case *Histogram:
			s.write(w, f.name, f.labels, e.values)
		}
	}
}

// Gauge is a value that goes up and down.
type Gauge struct{ v atomicFloat }

// Set sets the value.
func (g *Gauge) Set(v float64) { g.v.store(v) }

// Add adds d (which may be negative).
func (g *Gauge) Add(d float64) { g.v.add(d) }

// Value returns the current value.
func (g *Gauge) Value() float64 { return g.v.load() }

// GaugeVec is a gauge family with labels.
type GaugeVec struct{ f *family[Gauge] }

// NewGaugeVec registers a gauge family with the given label names.
func (r *Registry) NewGaugeVec(name, help string, labels ...string) *GaugeVec {
	f := newFamily(name, help, "gauge", labels, func() *Gauge { return &Gauge{} })
	r.register(name, labels, f)
	return &GaugeVec{f}
}

// NewGauge registers a gauge without labels.
func (r *Registry) NewGauge(name, help string) *Gauge { return r.NewGaugeVec(name, help).With() }

// With returns the gauge for the label values, in label-name order.
func (v *GaugeVec) With(values ...string) *Gauge { return v.f.with(values) }

// Reset forgets every series, e.g. before setting the gauges of a set of
// things that may have shrunk.
func (v *GaugeVec) Reset() {
	v.f.mu.Lock()
	v.f.series = map[string]*entry[Gauge]{}
	v.f.mu.Unlock()
}

// GaugeFunc registers a gauge whose value is read from fn at every scrape,
// for values another component already keeps.
func (r *Registry) GaugeFunc(name, help string, fn func() float64) {
	r.register(name, nil, &funcMetric{name: name, help: help, typ: "gauge", fn: fn})
}

// CounterFunc registers a counter whose value is read from fn at every
// scrape; fn must never return less than it did before.
func (r *Registry) CounterFunc(name, help string, fn func() float64) {
	r.register(name, nil, &funcMetric{name: name, help: help, typ: "counter", fn: fn})
}

type funcMetric struct {
	name, help, typ string
	fn              func() float64
}

func (m *funcMetric) write(w *bufio.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %s\n", m.name, escapeHelp(m.help), m.name, m.typ, m.name, formatValue(m.fn()))
}

// Histogram counts observations in fixed, cumulative buckets.
type Histogram struct {
	upper  []float64 // sorted upper bounds, +Inf excluded
	counts []atomic.Uint64
	count  atomic.Uint64
	sum    atomicFloat
}

// Observe records one value.
func (h *Histogram) Observe(v float64) {
	i, _ := slices.BinarySearch(h.upper, v) // first bound >= v: buckets are "le"
	h.counts[i].Add(1)
	h.count.Add(1)
	h.sum.add(v)
}

// ObserveDuration records d in seconds, the Prometheus base unit.
func (h *Histogram) ObserveDuration(d time.Duration) { h.Observe(d.Seconds()) }

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.count.Load() }

func (h *Histogram) write(w *bufio.Writer, name string, labels, values []string) {
	var cum uint64
	for i, ub := range h.upper {
		cum += h.counts[i].Load()
		fmt.Fprintf(w, "%s_bucket%s %d\n", name, labelText(labels, values, "le", formatValue(ub)), cum)
	}
	cum += h.counts[len(h.upper)].Load()
	// The +Inf bucket and _count are written from the same reads, so they
	// agree even while observations land during the scrape.
	fmt.Fprintf(w, "%s_bucket%s %d\n", name, labelText(labels, values, "le", "+Inf"), cum)
	fmt.Fprintf(w, "%s_sum%s %s\n", name, labelText(labels, values), formatValue(h.sum.load()))
	fmt.Fprintf(w, "%s_count%s %d\n", name, labelText(labels, values), cum)
}

// HistogramVec is a histogram family with labels.
type HistogramVec struct{ f *family[Histogram] }

// NewHistogramVec registers a histogram family. buckets are the upper bounds;
// they must be finite and strictly increasing (+Inf is implied).
func (r *Registry) NewHistogramVec(name, help string, buckets []float64, labels ...string) *HistogramVec {
	for i, b := range buckets {
		if math.IsNaN(b) || math.IsInf(b, 0) || i > 0 && b <= buckets[i-1] {
			panic(fmt.Sprintf("metrics: %s: buckets must be finite and strictly increasing: %v", name, buckets))
		}
	}
	ub := slices.Clone(buckets)
	f := newFamily(name, help, "histogram", labels, func() *Histogram {
		return &Histogram{upper: ub, counts: make([]atomic.Uint64, len(ub)+1)}
	})
	r.register(name, labels, f)
	return &HistogramVec{f}
}

// NewHistogram registers a histogram without labels.
func (r *Registry) NewHistogram(name, help string, buckets []float64) *Histogram {
	return r.NewHistogramVec(name, help, buckets).With()
}

// With returns the histogram for the label values, in label-name order.
func (v *HistogramVec) With(values ...string) *Histogram { return v.f.with(values) }

// LatencyBuckets are upper bounds in seconds from 100 µs to 10 s, for
// request and lookup latencies.
var LatencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
