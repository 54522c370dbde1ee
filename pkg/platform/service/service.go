// Package service holds what every long-running binary of the pipeline does
// the same way: logging setup, signal handling, the health and readiness
// endpoints, and an orderly shutdown.
package service

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/telemetry"
)

// NewLogger returns a slog logger writing to stderr. A line written with a
// context holding a span (log.InfoContext(ctx, ...), or a logger bound by
// telemetry.WithContext) carries that span's trace_id and span_id.
func NewLogger(service, level, format string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	if strings.EqualFold(format, "json") {
		h = slog.NewJSONHandler(os.Stderr, opts)
	} else {
		h = slog.NewTextHandler(os.Stderr, opts)
	}
	return slog.New(telemetry.LogHandler(h)).With("service", service)
}

// SignalContext is cancelled on SIGINT or SIGTERM.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// Check reports the health of one dependency; nil is healthy.
type Check func(ctx context.Context) error

// Health serves /healthz (the process is alive: every liveness check
// passes) and /readyz (it should get traffic: ready flag set and every check
// passing).
//
// The two fail for different things. Readiness fails while the service
// cannot do its work but restarting it would not help: starting up,
// shutting down, Redis unreachable, the review queue rebuilding. Liveness
// fails only when the process is stuck in a way only a restart ends (a
// consumer loop that stopped, a handler that ignores its deadline), so that
// Kubernetes restarts the pod; an outage of Kafka, Redis or the platform,
// which every replica waits out alike, must never fail it, or every pod
// would be restarted at once, over and over, and come back to the same
// outage.
type Health struct {
	ready  atomic.Bool
	addr   atomic.Pointer[string]
	admin  atomic.Pointer[string]
	mu     sync.Mutex
	checks map[string]Check
	infos  map[string]Info
	alive  map[string]func() error
}

// Info reports a detail of the service's state that readiness shows but
// does not depend on (the matcher's Redis cache: without it the replica still
// matches, from memory).
type Info func(ctx context.Context) string

// NewHealth returns a Health that is not ready yet.
func NewHealth() *Health {
	return &Health{checks: map[string]Check{}, infos: map[string]Info{}, alive: map[string]func() error{}}
}

// AddLiveness registers a liveness check: /healthz fails while it returns
// an error. It must answer from memory at once (no I/O): a probe that times
// out fails as well.
func (h *Health) AddLiveness(name string, alive func() error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.alive[name] = alive
}

// Alive runs the liveness checks and returns whether all pass, with the
// failures.
func (h *Health) Alive() (bool, map[string]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]string{"status": "alive"}
	ok := true
	for name, alive := range h.alive {
		if err := alive(); err != nil {
			ok = false
			out[name] = err.Error()
		}
	}
	if !ok {
		out["status"] = "stalled"
	}
	return ok, out
}

// SetReady marks the service ready or, during shutdown, not ready.
func (h *Health) SetReady(v bool) { h.ready.Store(v) }

// Ready reports the ready flag (not the checks).
func (h *Health) Ready() bool { return h.ready.Load() }

// SetAddr records the address the service's HTTP server is bound to.
func (h *Health) SetAddr(addr string) { h.addr.Store(&addr) }

// Addr is the bound HTTP address, or "" before the server is up.
func (h *Health) Addr() string {
	if p := h.addr.Load(); p != nil {
		return *p
	}
	return ""
}

// SetAdminAddr records the address of the admin listener, if there is one.
func (h *Health) SetAdminAddr(addr string) { h.admin.Store(&addr) }

// AdminAddr is the bound admin address: the separate listener's when there
// is one, else the HTTP server's.
func (h *Health) AdminAddr() string {
	if p := h.admin.Load(); p != nil {
		return *p
	}
	return h.Addr()
}

// AddInfo registers a detail shown by /readyz that never fails it.
func (h *Health) AddInfo(name string, i Info) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.infos[name] = i
}

// AddCheck registers a readiness check.
func (h *Health) AddCheck(name string, c Check) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = c
}

// Status runs the checks and returns whether all pass, with details.
func (h *Health) Status(ctx context.Context) (bool, map[string]string) {
	h.mu.Lock()
	checks := make(map[string]Check, len(h.checks))
	for k, v := range h.checks {
		checks[k] = v
	}
	infos := make(map[string]Info, len(h.infos))
	for k, v := range h.infos {
		infos[k] = v
	}
	h.mu.Unlock()
	ok := h.ready.Load()
	out := map[string]string{"ready": fmt.Sprint(ok)}
	for name, i := range infos {
		out[name] = i(ctx)
	}
	for name, c := range checks {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := c(cctx)
		cancel()
		if err != nil {
			ok = false
			out[name] = err.Error()
		} else {
			out[name] = "ok"
		}
	}
	return ok, out
}

// Register adds the endpoints to mux.
func (h *Health) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ok, details := h.Alive()
		code := http.StatusOK
		if !ok {
			code = http.StatusServiceUnavailable
		}
		WriteJSON(w, code, details)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ok, details := h.Status(r.Context())
		code := http.StatusOK
		if !ok {
			code = http.StatusServiceUnavailable
		}
		WriteJSON(w, code, details)
	})
}

// WriteJSON answers with v as JSON and status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Serve runs an HTTP server on addr with the default timeouts; see
// ServeWith.
func Serve(ctx context.Context, log *slog.Logger, addr string, handler http.Handler) (stop func() error, bound string, err error) {
	return ServeWith(ctx, log, addr, handler, config.HTTPServer{})
}

// ServeWith runs an HTTP server on addr until ctx is cancelled, then shuts it
// down gracefully. The listener is opened before ServeWith returns control to
// the caller's goroutine so that a port clash is reported at once. The
// server's read, write and idle timeouts are opts' (zero: the defaults), so a
// client that trickles its request or never reads the answer cannot hold a
// connection for long.
func ServeWith(ctx context.Context, log *slog.Logger, addr string, handler http.Handler, opts config.HTTPServer) (stop func() error, bound string, err error) {
	opts = opts.WithDefaults()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: min(10*time.Second, opts.ReadTimeout),
		ReadTimeout:       opts.ReadTimeout,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       opts.IdleTimeout,
		// Header bytes beyond this are refused with 431 before any handler
		// runs (the default is 1 MB).
		MaxHeaderBytes: 64 << 10,
	}
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	log.Info("http server listening", "addr", ln.Addr().String())
	stop = func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return err
		}
		return <-done
	}
	return stop, ln.Addr().String(), nil
}

// AdminPaths are the paths SplitAdmin moves to the admin listener.
var AdminPaths = []string{"/healthz", "/readyz", "/metrics"}

// SplitAdmin splits a service's handler in two: public serves everything
// but AdminPaths (404 for them), admin serves only AdminPaths. Both
// delegate to h, so a service registers its endpoints once whatever the
// listeners are.
func SplitAdmin(h http.Handler) (public, admin http.Handler) {
	isAdmin := func(p string) bool {
		for _, a := range AdminPaths {
			if p == a {
				return true
			}
		}
		return false
	}
	public = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isAdmin(r.URL.Path) {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
	admin = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isAdmin(r.URL.Path) {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
	return public, admin
}

// Main wires a service binary: it parses settings (bind registers them and
// returns the common ones), sets up logging, signals and tracing, runs run
// until SIGINT/SIGTERM, and exits non-zero on failure.
func Main(name string, bind func(*config.Set) *config.Common, run func(ctx context.Context, log *slog.Logger) error) {
	set := config.New(name)
	common := bind(set)
	if err := set.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(2)
	}
	if err := common.Validate(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(2)
	}
	log := NewLogger(name, common.LogLevel, common.LogFormat)
	slog.SetDefault(log)
	// The version is the one of service.version and takedown_build_info:
	// a log line tells which build wrote it without a metrics scrape.
	_, revision := telemetry.Build()
	log.Info("starting", "version", telemetry.ServiceVersion(), "revision", revision, "go", runtime.Version())
	SetMemoryLimit(log, *common)
	ctx, stop := SignalContext()
	defer stop()
	shutdownTracing, err := telemetry.Setup(ctx, name)
	if err != nil {
		log.Error("tracing setup failed", "err", err)
		os.Exit(1)
	}
	runErr := run(ctx, log)
	tctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := shutdownTracing(tctx); err != nil {
		log.Warn("flushing traces", "err", err)
	}
	if runErr != nil {
		log.Error("service failed", "err", runErr)
		os.Exit(1)
	}
	log.Info("stopped cleanly")
}
