// Package matcher holds the matcher service: it keeps every hash bank in
// memory by following the compacted bank.updates topic, matches the signals of
// each media.hashed event against them (with verdicts cached in Redis), and
// publishes a media.matched verdict for every upload, matched or not.
package matcher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/bank"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/messaging"
	"github.com/takedown-pipeline/takedown/pkg/service"
)

// Service is one matcher replica.
type Service struct {
	cfg    Config
	log    *slog.Logger
	banks  *bank.Banks
	follow *follower
	cache  *verdictCache // nil when caching is off
	health *service.Health

	pub messaging.Publisher

	processed, matched, invalidSignals atomic.Int64
}

// New checks cfg and builds a service; nothing connects until Run.
func New(cfg Config, log *slog.Logger) (*Service, error) {
	var errs []error
	if len(cfg.Brokers) == 0 {
		errs = append(errs, errors.New("no Kafka brokers"))
	}
	for name, t := range map[string]string{"hashed": cfg.Topics.Hashed, "matched": cfg.Topics.Matched,
		"bank updates": cfg.Topics.BankUpdates, "dead-letter": cfg.DLQTopic} {
		if t == "" {
			errs = append(errs, fmt.Errorf("empty %s topic", name))
		}
	}
	if cfg.Group == "" {
		errs = append(errs, errors.New("empty consumer group"))
	}
	for name, v := range map[string]int{"threshold-phash": cfg.ThresholdPHash, "threshold-dhash": cfg.ThresholdDHash} {
		if v < 0 || v > 64 {
			errs = append(errs, fmt.Errorf("%s %d: want 0..64 (bits of a 64-bit hash)", name, v))
		}
	}
	if cfg.CacheEnabled {
		if cfg.RedisPrefix == "" {
			errs = append(errs, fmt.Errorf("redis-prefix is empty: cached verdicts would collide with other keys"))
		}
		if cfg.CacheTTL <= 0 {
			errs = append(errs, fmt.Errorf("cache-ttl %v: want > 0", cfg.CacheTTL))
		}
		if cfg.RedisTimeout <= 0 {
			errs = append(errs, fmt.Errorf("redis-timeout %v: want > 0", cfg.RedisTimeout))
		}
		if cfg.RedisAddr == "" {
			errs = append(errs, errors.New("empty redis address (or turn the cache off)"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("matcher settings: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	banks := bank.NewBanks(cfg.Thresholds())
	s := &Service{
		cfg:    cfg,
		log:    log,
		banks:  banks,
		follow: newFollower(cfg.Brokers, cfg.Topics.BankUpdates, banks, log),
		health: service.NewHealth(),
		pub:    messaging.NewKafkaPublisher(cfg.Brokers),
	}
	if cfg.CacheEnabled {
		s.cache = newVerdictCache(cfg.RedisAddr, cfg.RedisPrefix, cfg.CacheTTL, cfg.RedisTimeout, log)
	}
	// Redis is reported but never fails readiness: without it the replica
	// matches from memory, just with more work.
	s.health.AddInfo("redis", s.redisState)
	s.health.AddInfo("bank", func(context.Context) string {
		fs := s.follow.status()
		d := fmt.Sprintf("%d entries, generation %d, caught up %v, %d updates applied, %d rejected",
			s.banks.Len(), s.banks.Generation(), fs.CaughtUp, fs.Applied, fs.Rejected)
		if fs.LastRejection != "" {
			d += "; last rejection: " + fs.LastRejection
		}
		return d
	})
	return s, nil
}

// Banks gives access to the replica's in-memory banks.
func (s *Service) Banks() *bank.Banks { return s.banks }

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
	following := false
	closeCache := func() error { return nil }
	if s.cache != nil {
		closeCache = s.cache.close
	}
	mux := http.NewServeMux()
	s.routes(mux)
	w := service.Worker{
		Name: "matcher", Log: s.log, Health: s.health,
		HTTPAddr: cfg.HTTPAddr, HTTP: mux,
		Brokers: cfg.Brokers,
		Topics: append(service.Topics(cfg.Partitions, cfg.Replication, cfg.Topics.Hashed, cfg.Topics.Matched, cfg.DLQTopic),
			messaging.TopicSpec{Name: cfg.Topics.BankUpdates, Partitions: cfg.Partitions, Replication: cfg.Replication, Compact: true}),
		// Not ready before the whole bank is loaded: a half-loaded replica
		// would answer "no match" for content that is banned.
		Prepare: func(ctx context.Context) error {
			caughtUp := make(chan struct{})
			following = true
			go func() {
				defer close(followDone)
				s.follow.run(followCtx, caughtUp)
			}()
			start := time.Now()
			s.log.Info("loading bank", "topic", cfg.Topics.BankUpdates)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-caughtUp:
			}
			st := s.banks.Stats()
			s.log.Info("bank loaded", "entries", st.Entries, "disabled", st.Disabled, "generation", st.Generation,
				"rejected", s.follow.rejected.Load(), "took", time.Since(start).Round(time.Millisecond))
			return nil
		},
		Consumer: messaging.ConsumerConfig{Brokers: cfg.Brokers, Group: cfg.Group, Topics: []string{cfg.Topics.Hashed}, Logger: s.log},
		Handle:   messaging.Chain(s.handle, messaging.Standard(s.log, cfg.Group, s.pub, cfg.DLQTopic, messaging.RetryConfig{})...),
		Close: []func() error{
			func() error {
				stopFollow()
				if following {
					<-followDone
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

// handle turns one media.hashed event into one media.matched verdict.
func (s *Service) handle(ctx context.Context, msg *messaging.Message) error {
	log := messaging.Log(ctx)
	var in events.MediaHashed
	if err := events.Decode(msg.Value, events.TypeMediaHashed, &in); err != nil {
		return messaging.Permanent(err)
	}
	sigs := make([]events.Signal, 0, len(in.Signals))
	for _, sig := range in.Signals {
		n, err := bank.Normalize(sig)
		if err != nil {
			if errors.Is(err, bank.ErrBlankHash) {
				continue // a flat image: normal, and nothing to match on
			}
			s.invalidSignals.Add(1)
			log.Warn("ignoring unusable signal", "content_id", in.ContentID, "err", err)
			continue
		}
		sigs = append(sigs, n)
	}
	if len(sigs) == 0 {
		return messaging.Permanentf("media.hashed %s for content %s: none of its %d signals can be matched",
			in.EventID, in.ContentID, len(in.Signals))
	}
	matches := s.match(ctx, sigs)

	out := events.MediaMatched{
		Meta:        events.Follow(events.TypeMediaMatched, &in.Meta),
		MediaURL:    in.MediaURL,
		ContentType: in.ContentType,
		UploaderID:  in.UploaderID,
		UploadedAt:  in.UploadedAt,
		Matches:     matches,
	}
	// A redelivered input yields a verdict with the same id, so consumers
	// can drop the duplicate.
	out.EventID = derivedID(in.EventID)
	if err := messaging.PublishEvent(ctx, s.pub, s.cfg.Topics.Matched, &out); err != nil {
		return err // transient: retried, then dead-lettered
	}
	s.processed.Add(1)
	if len(matches) > 0 {
		s.matched.Add(1)
		log.Info("upload matched", "content_id", in.ContentID, "matches", len(matches),
			"bank", matches[0].Bank, "entry", matches[0].EntryID, "distance", matches[0].Distance)
	} else {
		log.Debug("upload did not match", "content_id", in.ContentID)
	}
	return nil
}

func derivedID(parent string) string {
	sum := sha256.Sum256([]byte("media.matched:" + parent))
	return hex.EncodeToString(sum[:16])
}

// match looks every signal up, in Redis first when it can, and combines the
// per-signal verdicts. Redis trouble never fails a message: the bank in
// memory is the truth and the cache only saves work.
func (s *Service) match(ctx context.Context, sigs []events.Signal) []events.Match {
	var all []events.Match
	if s.cache == nil {
		for _, sig := range sigs {
			all = append(all, s.banks.MatchSignal(sig)...)
		}
		return bank.Combine(all)
	}
	version := s.banks.Version()
	keys := make([]string, len(sigs))
	for i, sig := range sigs {
		keys[i] = s.cache.key(version, sig)
	}
	cached, err := s.cache.get(ctx, keys)
	if err != nil {
		s.cache.bypasses.Add(int64(len(sigs)))
		for _, sig := range sigs {
			all = append(all, s.banks.MatchSignal(sig)...)
		}
		return bank.Combine(all)
	}
	if s.banks.Version() != version {
		// The bank changed while Redis answered: the hits describe the old
		// bank and must not be mixed with verdicts on the new one.
		cached = make([][]events.Match, len(sigs))
	}
	var missKeys []string
	var missVerdicts [][]events.Match
	for i, sig := range sigs {
		if cached[i] != nil {
			s.cache.hits.Add(1)
			all = append(all, cached[i]...)
			continue
		}
		s.cache.misses.Add(1)
		ms, v := s.banks.MatchSignalVersion(sig)
		all = append(all, ms...)
		// Stored under the version it was computed at, which may be newer
		// than the one looked up if the bank changed meanwhile.
		missKeys = append(missKeys, s.cache.key(v, sig))
		missVerdicts = append(missVerdicts, ms)
	}
	if len(missKeys) > 0 {
		if err := s.cache.put(ctx, missKeys, missVerdicts); err != nil {
			messaging.Log(ctx).Debug("verdicts not cached", "err", err)
		}
	}
	return bank.Combine(all)
}
