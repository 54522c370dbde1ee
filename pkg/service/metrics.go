package service

import (
	"bytes"
	"net/http"

	"github.com/takedown-pipeline/takedown/pkg/metrics"
)

// withProcessMetrics serves metrics.Default on GET /metrics after whatever
// the service's own handler serves there, so that every service shows the
// metrics package messaging keeps (dead-lettered messages) whether or not it
// has a registry of its own. Other paths go to h untouched.
func withProcessMetrics(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			h.ServeHTTP(w, r)
			return
		}
		rec := &recorder{header: http.Header{}, code: http.StatusOK}
		if h != nil {
			h.ServeHTTP(rec, r)
		}
		switch rec.code {
		case http.StatusOK:
			for k, v := range rec.header {
				w.Header()[k] = v
			}
		case http.StatusNotFound, http.StatusMethodNotAllowed:
			// The service has no registry: the process's is the whole page.
			rec.body.Reset()
		default:
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.code)
			_, _ = w.Write(rec.body.Bytes())
			return
		}
		w.Header().Set("Content-Type", metrics.ContentType)
		w.Header().Del("Content-Length")
		_, _ = w.Write(rec.body.Bytes())
		_, _ = metrics.Default.WriteTo(w)
	})
}

// recorder keeps a response in memory (a service's /metrics page is small).
type recorder struct {
	header http.Header
	code   int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
