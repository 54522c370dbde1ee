package matcher

import (
	"github.com/takedown-pipeline/takedown/pkg/metrics"
)

// matcherMetrics are the replica's Prometheus metrics, served on GET /metrics.
type matcherMetrics struct {
	reg *metrics.Registry

	processed, matched, suppressed, invalidSignals *metrics.Counter
	suppressedMatches                              *metrics.Counter
	videos                                         *metrics.CounterVec

	cacheHits, cacheMisses, cacheErrors, cacheBypassedUploads, cacheRejected *metrics.Counter
	cacheLookup                                                              *metrics.Histogram
	match                                                                    *metrics.Histogram

	bankEntries, bankDisabled *metrics.GaugeVec
	snapshotWrites            *metrics.CounterVec
}

func newMatcherMetrics(s *Service) *matcherMetrics {
	r := metrics.NewRegistry()
	m := &matcherMetrics{
		reg:               r,
		processed:         r.NewCounter("takedown_matcher_uploads_processed_total", "Uploads (media.hashed events) that got a verdict."),
		matched:           r.NewCounter("takedown_matcher_uploads_matched_total", "Uploads whose verdict has at least one match."),
		suppressed:        r.NewCounter("takedown_matcher_uploads_suppressed_total", "Uploads with block matches that an allow-list match suppressed."),
		suppressedMatches: r.NewCounter("takedown_matcher_suppressed_matches_total", "Block matches suppressed by allow-list matches."),
		invalidSignals:    r.NewCounter("takedown_matcher_invalid_signals_total", "Malformed signals skipped inside uploads."),
		cacheHits:         r.NewCounter("takedown_matcher_cache_hits_total", "Per-signal verdict lookups answered by Redis."),
		cacheMisses:       r.NewCounter("takedown_matcher_cache_misses_total", "Per-signal verdict lookups Redis had no answer for (matched from memory)."),
		cacheErrors:       r.NewCounter("takedown_matcher_cache_errors_total", "Failed or timed-out Redis operations of the verdict cache."),
		cacheRejected: r.NewCounter("takedown_matcher_cache_rejected_total",
			"Cached verdicts ignored because their signature did not verify (forged, or another cache-signing-key)."),
		cacheBypassedUploads: r.NewCounter("takedown_matcher_cache_bypassed_uploads_total",
			"Uploads matched from memory without the cache because Redis was failing."),
		cacheLookup: r.NewHistogram("takedown_matcher_cache_lookup_seconds",
			"Time of one Redis round trip fetching an upload's cached verdicts (MGET).", metrics.LatencyBuckets),
		match: r.NewHistogram("takedown_matcher_match_seconds",
			"Time to reach the verdict of one upload, cache included.", metrics.LatencyBuckets),
		bankEntries:    r.NewGaugeVec("takedown_matcher_bank_entries", "Enabled entries per bank.", "bank"),
		bankDisabled:   r.NewGaugeVec("takedown_matcher_bank_disabled_entries", "Disabled entries per bank.", "bank"),
		snapshotWrites: r.NewCounterVec("takedown_matcher_snapshot_writes_total", "Bank snapshot writes by outcome.", "outcome"),
		videos: r.NewCounterVec("takedown_matcher_videos_total",
			"Videos matched by their frames, by kind (upload, or segment of a live stream).", "kind"),
	}
	cacheBypassed := func() float64 {
		if s.cache != nil && s.cache.bypassed() {
			return 1
		}
		return 0
	}
	r.GaugeFunc("takedown_matcher_cache_bypassed", "1 while Redis is failing and verdicts are matched from memory without the cache.", cacheBypassed)
	r.GaugeFunc("takedown_matcher_bank_entries_total", "Enabled entries in all banks.", func() float64 { return float64(s.Banks().Len()) })
	// A float64 keeps 53 bits: the low 52 of the version tell replicas apart
	// in a dashboard; /v1/stats has all 64 in hex.
	r.GaugeFunc("takedown_matcher_bank_version", "Bank content version (low 52 bits); equal on replicas holding the same banks.",
		func() float64 { return float64(s.Banks().Version() & (1<<52 - 1)) })
	r.GaugeFunc("takedown_matcher_bank_generation", "Bank changes applied by this replica.", func() float64 { return float64(s.Banks().Generation()) })
	r.GaugeFunc("takedown_matcher_bank_lag", "Records of bank.updates not yet applied, as of the last record read.",
		func() float64 { return float64(s.follow.status().Lag) })
	r.GaugeFunc("takedown_matcher_bank_caught_up", "1 once the banks are loaded up to the end of bank.updates seen at start.", func() float64 {
		if s.follow.caughtUp.Load() {
			return 1
		}
		return 0
	})
	r.CounterFunc("takedown_matcher_bank_updates_applied_total", "Records of bank.updates applied since start.", func() float64 { return float64(s.follow.applied.Load()) })
	r.CounterFunc("takedown_matcher_bank_updates_rejected_total", "Records of bank.updates skipped as invalid since start.", func() float64 { return float64(s.follow.rejected.Load()) })
	r.BeforeWrite(func() {
		st := s.Banks().Stats()
		m.bankEntries.Reset()
		m.bankDisabled.Reset()
		for name, b := range st.Banks {
			m.bankEntries.With(name).Set(float64(b.Entries))
			m.bankDisabled.With(name).Set(float64(b.Disabled))
		}
	})
	return m
}
