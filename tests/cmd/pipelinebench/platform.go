package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/edges/webhook"
)

// call is one webhook request the platform received.
type call struct {
	ContentID, ClientID, Action, Key string
	At                               time.Time
	Status                           int // what the platform answered
}

// platform hosts the uploads' media (each fetch optionally delayed) and
// receives the enforcer's takedowns: it verifies each signature, records
// every call, and answers 503 while told to.
type platform struct {
	secret []byte
	srv    *http.Server
	base   string

	mu    sync.Mutex
	media map[string][]byte
	calls []call

	latency  atomic.Int64 // per fetch, ns
	outage   atomic.Bool  // answer 503
	rejected atomic.Int64 // bad signatures or bodies
	fetches  atomic.Int64
}

func newPlatform(secret []byte) (*platform, error) {
	p := &platform{secret: secret, media: map[string][]byte{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /media/{name}", p.serveMedia)
	mux.HandleFunc("POST /webhook", p.serveWebhook)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.base = "http://" + ln.Addr().String()
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *platform) close() { _ = p.srv.Close() }

func (p *platform) host(name string, data []byte) string {
	p.mu.Lock()
	p.media[name] = data
	p.mu.Unlock()
	return p.base + "/media/" + name
}

func (p *platform) serveMedia(w http.ResponseWriter, r *http.Request) {
	p.fetches.Add(1)
	if d := time.Duration(p.latency.Load()); d > 0 {
		time.Sleep(d)
	}
	p.mu.Lock()
	data, ok := p.media[r.PathValue("name")]
	p.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	_, _ = w.Write(data)
}

func (p *platform) serveWebhook(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, webhook.MaxBodyBytes))
	if err != nil {
		p.rejected.Add(1)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := webhook.Verify(p.secret, r.Header.Get(webhook.HeaderSignature), body, at, 0); err != nil {
		p.rejected.Add(1)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var td webhook.Takedown
	if err := json.Unmarshal(body, &td); err != nil || td.IdempotencyKey == "" || r.Header.Get(webhook.HeaderIdempotencyKey) != td.IdempotencyKey {
		p.rejected.Add(1)
		http.Error(w, "bad takedown body or Idempotency-Key", http.StatusBadRequest)
		return
	}
	status := http.StatusOK
	if p.outage.Load() {
		status = http.StatusServiceUnavailable
	}
	p.mu.Lock()
	p.calls = append(p.calls, call{ContentID: td.ContentID, ClientID: td.ClientID, Action: td.Action, Key: td.IdempotencyKey, At: at, Status: status})
	p.mu.Unlock()
	w.WriteHeader(status)
}

// snapshot returns a copy of the calls so far.
func (p *platform) snapshot() []call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]call(nil), p.calls...)
}
