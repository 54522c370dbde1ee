package matcher

import (
	"context"
	"fmt"
	"net/http"

	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/platform/service"
)

// Stats is the body of GET /v1/stats.
type Stats struct {
	Ready    bool         `json:"ready"`
	Bank     BankStats    `json:"bank"`
	Cache    CacheStats   `json:"cache"`
	Messages MessageStats `json:"messages"`
}

// BankStats describes the replica's copy of the banks.
type BankStats struct {
	bank.Stats
	// Version is the content fingerprint that keys cached verdicts.
	Version string `json:"version"`
	FollowerStatus
}

// CacheStats counts per-signal verdict lookups.
type CacheStats struct {
	Enabled bool `json:"enabled"`
	// State is "ok", "disabled" or "bypassed: <last Redis error>".
	State  string `json:"state"`
	Hits   int64  `json:"hits"`
	Misses int64  `json:"misses"`
	// Bypasses counts signals matched without the cache because Redis
	// failed.
	Bypasses int64 `json:"bypasses"`
	// Rejected counts cached verdicts ignored because their signature did
	// not verify (forged, or written under another cache-signing-key).
	Rejected int64 `json:"rejected"`
}

// MessageStats counts media.hashed events handled.
type MessageStats struct {
	// Processed is every event that got a verdict.
	Processed int64 `json:"processed"`
	// Matched is the events whose verdict had at least one match.
	Matched int64 `json:"matched"`
	// InvalidSignals counts malformed signals skipped inside events.
	InvalidSignals int64 `json:"invalid_signals"`
}

// Stats reports the replica's counters. It asks Redis for its state, bounded
// by the Redis timeout.
func (s *Service) Stats(ctx context.Context) Stats {
	b := s.Banks()
	fs := s.follow.status()
	fs.Source, _ = s.source.Load().(string)
	st := Stats{
		Ready: s.Ready(),
		Bank: BankStats{
			Stats:          b.Stats(),
			Version:        fmt.Sprintf("%016x", b.Version()),
			FollowerStatus: fs,
		},
		Messages: MessageStats{
			Processed:      s.processed.Load(),
			Matched:        s.matched.Load(),
			InvalidSignals: s.invalidSignals.Load(),
		},
	}
	st.Cache.State = s.cacheState(ctx)
	if s.cache != nil {
		st.Cache.Enabled = true
		st.Cache.Hits = s.cache.hits.Load()
		st.Cache.Misses = s.cache.misses.Load()
		st.Cache.Bypasses = s.cache.bypasses.Load()
		st.Cache.Rejected = s.cache.forged.Load()
	}
	return st
}

func (s *Service) cacheState(ctx context.Context) string {
	if s.cache == nil {
		return "disabled"
	}
	return s.cache.state(ctx)
}

func (s *Service) routes(mux *http.ServeMux) {
	s.health.Register(mux)
	mux.HandleFunc("GET /v1/stats", func(w http.ResponseWriter, r *http.Request) {
		service.WriteJSON(w, http.StatusOK, s.Stats(r.Context()))
	})
}
