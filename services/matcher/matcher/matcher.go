// Package matcher holds the matcher service: it keeps every hash bank in
// memory by following the compacted bank.updates topic (starting from a local
// snapshot when it has one), matches the signals of each media.hashed event
// against them (with per-signal hits cached in Redis, allow-lists resolved
// across the whole upload), and publishes a media.matched verdict for every
// upload, matched or not. It serves health, stats and Prometheus metrics.
//
// A video's frames (media.hashed frames) are matched from memory against
// the bank videos (bank.Banks.MatchVideo: copy, contains and excerpt rules,
// with the matched time ranges on each match); a live stream segment's
// frames with MatchVideoFrames, every bank video with a matched frame, for
// the enforcer to add up per stream.
package matcher

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/platform/redisconn"
	"github.com/takedown-pipeline/takedown/pkg/platform/service"
	"github.com/takedown-pipeline/takedown/pkg/platform/topics"
)

// Service is one matcher replica.
type Service struct {
	cfg     Config
	log     *slog.Logger
	banks   atomic.Pointer[bank.Banks] // replaced once, by a snapshot, before matching starts
	follow  *follower
	cache   *verdictCache // nil when caching is off
	health  *service.Health
	metrics *matcherMetrics
	source  atomic.Value // string: where the banks came from at start

	pub messaging.Publisher

	processed, matched, invalidSignals atomic.Int64

	snapMu   sync.Mutex // one snapshot write at a time
	snapGen  uint64     // generation the last snapshot (or the loaded one) holds
	snapHave bool       // a snapshot of snapGen is on disk
}

// New checks cfg and builds a service; nothing connects until Run.
func New(cfg Config, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("matcher settings: %w", err)
	}
	banks, err := bank.New(cfg.BankOptions())
	if err != nil {
		return nil, fmt.Errorf("matcher settings: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Service{
		cfg:    cfg,
		log:    log,
		follow: newFollower(cfg.Kafka, cfg.Topics.BankUpdates, log),
		health: service.NewHealth(),
		pub:    messaging.NewKafkaPublisher(cfg.Kafka),
	}
	s.banks.Store(banks)
	s.source.Store("topic")
	if cfg.CacheEnabled {
		key := []byte(cfg.CacheSigningKey)
		if len(key) == 0 {
			key = make([]byte, 32)
			if _, err := rand.Read(key); err != nil {
				return nil, err
			}
			log.Info("TAKEDOWN_CACHE_SIGNING_KEY is unset: cached verdicts are signed with a random key of this process, " +
				"so the cache is private to this replica and lost on restart; set one key on every replica to share it")
		}
		if s.cache, err = newVerdictCache(cfg.Redis, key, cfg.CacheTTL, cfg.RedisTimeout, log); err != nil {
			return nil, fmt.Errorf("matcher settings: %w", err)
		}
	}
	s.metrics = newMatcherMetrics(s)
	if s.cache != nil {
		s.cache.errors = s.metrics.cacheErrors
		s.cache.lookup = s.metrics.cacheLookup
		s.cache.rejected = s.metrics.cacheRejected
	}
	// The cache is reported but never fails readiness: without Redis the
	// replica matches from memory, just with more work.
	s.health.AddInfo("cache", s.cacheState)
	s.health.AddInfo("bank", func(context.Context) string {
		fs := s.follow.status()
		b := s.Banks()
		d := fmt.Sprintf("%d entries, version %016x, generation %d, from %s, caught up %v, lag %d, %d updates applied, %d rejected",
			b.Len(), b.Version(), b.Generation(), s.source.Load(), fs.CaughtUp, fs.Lag, fs.Applied, fs.Rejected)
		if fs.LastRejection != "" {
			d += "; last rejection: " + fs.LastRejection
		}
		return d
	})
	return s, nil
}

// checkCache stops the start on a Redis that refuses the matcher's
// settings (a wrong password, an untrusted certificate): that is a setting
// to fix, and a replica that silently never caches would hide it. Redis
// being down is not: the replica matches from memory until it returns.
func (s *Service) checkCache(ctx context.Context) error {
	if s.cache == nil {
		return nil
	}
	err := redisconn.Check(ctx, s.cfg.Redis)
	if err == nil || ctx.Err() != nil {
		return nil
	}
	if redisconn.IsConfig(err) {
		return fmt.Errorf("verdict cache: %w (or turn the cache off: TAKEDOWN_CACHE=false)", err)
	}
	s.cache.failed(err)
	return nil
}

// Banks gives access to the replica's in-memory banks.
func (s *Service) Banks() *bank.Banks { return s.banks.Load() }

// Ready reports whether the bank is loaded and media are being matched.
func (s *Service) Ready() bool { return s.health.Ready() }

// Addr is the bound HTTP address, valid once Run has started serving.
func (s *Service) Addr() string { return s.health.Addr() }

// Run serves until ctx is cancelled: it loads the whole bank, then matches
// media.hashed events while following bank updates. It returns nil after a
// clean shutdown.
func (s *Service) Run(ctx context.Context) error {
	cfg := s.cfg
	// Bank following outlives the media consumer during shutdown, so a
	// message still in hand is matched against a live bank.
	followCtx, stopFollow := context.WithCancel(context.WithoutCancel(ctx))
	followDone := make(chan struct{})
	snapDone := make(chan struct{})
	following := false
	closeCache := func() error { return nil }
	if s.cache != nil {
		closeCache = s.cache.close
	}
	mux := http.NewServeMux()
	s.routes(mux)
	w := service.Worker{
		Name: "matcher", Log: s.log, Health: s.health,
		HTTPAddr: cfg.HTTPAddr, HTTP: mux, Metrics: s.metrics.reg,
		Server: cfg.HTTP,
		Kafka:  cfg.Kafka,
		Topics: topics.Of("matcher", cfg.Common), TopicsMustExist: !cfg.CreateTopics,
		Liveness: cfg.LivenessTimeout,
		// After the topics are made: an existing bank topic is kept as it
		// is, so one that would expire entries is refused here.
		Preflight: []func(context.Context) error{func(ctx context.Context) error {
			return checkBankTopic(ctx, cfg.Kafka, cfg.Topics.BankUpdates)
		}, s.checkCache},
		// Not ready before the whole bank is loaded: a half-loaded replica
		// would answer "no match" for content that is banned.
		Prepare: func(ctx context.Context) error {
			start := time.Now()
			parts, err := s.follow.listPartitions(ctx)
			if err != nil {
				return err
			}
			from := s.loadSnapshot(parts)
			caughtUp := make(chan struct{})
			following = true
			banks := s.Banks()
			go func() {
				defer close(followDone)
				s.follow.run(followCtx, banks, parts, from, caughtUp)
			}()
			s.log.Info("loading bank", "topic", cfg.Topics.BankUpdates, "from", s.source.Load())
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-caughtUp:
			}
			st := banks.Stats()
			s.log.Info("bank loaded", "entries", st.Entries, "disabled", st.Disabled, "generation", st.Generation,
				"from", s.source.Load(), "applied", s.follow.applied.Load(), "rejected", s.follow.rejected.Load(),
				"took", time.Since(start).Round(time.Millisecond))
			go func() {
				defer close(snapDone)
				s.snapshotLoop(followCtx)
			}()
			return nil
		},
		// Every handler matches against the one shared bank index, under
		// its read lock; the CPU of matching is bounded by package cpu.
		Consumer: messaging.ConsumerConfig{Kafka: cfg.Kafka, Group: cfg.Group, Topics: []string{cfg.Topics.Hashed}, Logger: s.log,
			Concurrency:    cfg.ConsumerConcurrency(2, 8),
			SessionTimeout: cfg.SessionTimeout, InstanceID: cfg.Instance(),
		},
		Handle: messaging.Chain(s.handle, messaging.Standard(s.log, cfg.Group, s.pub, cfg.DLQTopic, messaging.RetryConfig{})...),
		Close: []func() error{
			func() error {
				stopFollow()
				if following {
					<-followDone
					<-snapDone
					// The follower has stopped: the offsets are final and
					// the snapshot saves exactly what was applied.
					s.writeSnapshot("shutdown")
				}
				return nil
			},
			service.Closing("publisher", s.pub.Close),
			service.Closing("redis", closeCache),
		},
		ReadyLog: []any{"publishes", cfg.Topics.Matched, "bank_topic", cfg.Topics.BankUpdates},
	}
	return w.Run(ctx)
}

// loadSnapshot installs the snapshot of the snapshot directory, if there is
// a usable one, and returns the offsets to follow the topic from; nil means
// a full replay into the empty banks New made. A snapshot that cannot be
// used is logged and ignored: the topic is the truth, the snapshot a
// shortcut.
func (s *Service) loadSnapshot(parts []messaging.PartitionOffsets) map[int]int64 {
	if s.cfg.SnapshotDir == "" {
		return nil
	}
	start := time.Now()
	banks, h, err := readSnapshot(s.cfg.SnapshotDir, s.cfg.Topics.BankUpdates, s.cfg.BankOptions())
	if errors.Is(err, fs.ErrNotExist) {
		s.log.Info("no bank snapshot yet; replaying the bank topic", "dir", s.cfg.SnapshotDir)
		return nil
	}
	if err != nil {
		s.log.Warn("ignoring bank snapshot; replaying the bank topic", "dir", s.cfg.SnapshotDir, "err", err)
		return nil
	}
	from, _ := h.partitionOffsets() // checked by readSnapshot
	byID := map[int]messaging.PartitionOffsets{}
	for _, p := range parts {
		byID[p.Partition] = p
	}
	for id, off := range from {
		p, ok := byID[id]
		switch {
		case !ok:
			err = fmt.Errorf("partition %d is not in the topic (recreated?)", id)
		case off < p.First:
			// Records the snapshot does not hold are gone from the log
			// (retention or deleted records): only a replay is complete.
			err = fmt.Errorf("partition %d: snapshot resumes at offset %d, the log now starts at %d", id, off, p.First)
		case off > p.End:
			err = fmt.Errorf("partition %d: snapshot resumes at offset %d, past the log's end %d (topic recreated?)", id, off, p.End)
		}
		if err != nil {
			s.log.Warn("bank snapshot does not fit the topic; replaying the bank topic", "err", err)
			return nil
		}
	}
	s.banks.Store(banks)
	s.source.Store("snapshot")
	s.snapMu.Lock()
	s.snapGen = banks.Generation()
	s.snapHave = true
	s.snapMu.Unlock()
	s.log.Info("bank snapshot loaded", "entries", banks.Len(), "written_at", h.WrittenAt,
		"offsets", h.Offsets, "took", time.Since(start).Round(time.Millisecond))
	return from
}

// snapshotLoop writes a snapshot every snapshot interval in which the banks
// changed, until ctx ends.
func (s *Service) snapshotLoop(ctx context.Context) {
	if s.cfg.SnapshotDir == "" {
		return
	}
	t := time.NewTicker(s.cfg.SnapshotInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.writeSnapshot("interval")
		}
	}
}

// writeSnapshot saves the banks if they changed since the last snapshot.
// Failures are logged and counted: the replica works without snapshots, it
// only starts slower.
func (s *Service) writeSnapshot(why string) {
	if s.cfg.SnapshotDir == "" {
		return
	}
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	banks := s.Banks()
	gen := banks.Generation()
	if gen == s.snapGen && (s.snapHave || gen == 0) {
		return // unchanged, or nothing ever applied
	}
	// Offsets first: the banks written after them hold at least as much.
	offsets := s.follow.offsets()
	start := time.Now()
	n, err := writeSnapshot(s.cfg.SnapshotDir, s.cfg.Topics.BankUpdates, banks, offsets)
	if err != nil {
		s.metrics.snapshotWrites.WithLabelValues("error").Inc()
		s.log.Error("cannot write bank snapshot", "dir", s.cfg.SnapshotDir, "err", err)
		return
	}
	s.metrics.snapshotWrites.WithLabelValues("ok").Inc()
	s.snapGen = gen
	s.snapHave = true
	s.log.Info("bank snapshot written", "why", why, "entries", banks.Len(), "bytes", n,
		"took", time.Since(start).Round(time.Millisecond))
}
