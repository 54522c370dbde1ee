package matcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/takedown-pipeline/takedown/pkg/bank"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/metrics"
)

// probeEvery is how long the cache stays bypassed after a Redis failure
// before a lookup tries Redis again. Without it every message would wait the
// full Redis timeout during an outage.
const probeEvery = time.Second

// errCacheBypassed is returned for lookups made while Redis is known down.
var errCacheBypassed = errors.New("redis is bypassed after a recent failure")

// verdictCache keeps per-signal verdicts in Redis. It is an optimisation only:
// every failure is reported to the caller, which then matches from memory.
type verdictCache struct {
	rdb     *redis.Client
	prefix  string
	ttl     time.Duration
	timeout time.Duration
	log     *slog.Logger

	hits, misses, bypasses atomic.Int64
	// errors and lookup are the Prometheus side; set by the service.
	errors *metrics.Counter
	lookup *metrics.Histogram

	mu      sync.Mutex
	down    error // the error that put Redis in bypass, nil while healthy
	retryAt time.Time
}

func newVerdictCache(addr, prefix string, ttl, timeout time.Duration, log *slog.Logger) *verdictCache {
	rdb := redis.NewClient(&redis.Options{
		Addr:         addr,
		DialTimeout:  timeout,
		ReadTimeout:  timeout,
		WriteTimeout: timeout,
		PoolTimeout:  timeout,
		// A retry cannot fit in the time budget; the fallback is to match
		// from memory, which is always correct.
		MaxRetries:            -1,
		DialerRetries:         1,
		ContextTimeoutEnabled: true,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
	})
	return &verdictCache{rdb: rdb, prefix: prefix, ttl: ttl, timeout: timeout, log: log}
}

// key names the verdict for one signal at one bank version. The version is a
// fingerprint of the bank's content, so any bank change moves every lookup
// to fresh keys and an old verdict can never be served for a newer bank.
//
// The value is the signal's bank.Hits before allow-lists (v2; v1 held
// resolved matches), so that allow-lists apply across an upload's signals.
// A signal's variant shows in its matches and a pdq signal's quality decides
// whether it is matched at all, so both are part of the key.
func (c *verdictCache) key(version uint64, sig events.Signal) string {
	q := "-"
	if sig.Quality != nil {
		q = strconv.Itoa(*sig.Quality)
	}
	return fmt.Sprintf("%s:matcher:v2:g%016x:v=%s:q=%s:%s:%s", c.prefix, version, sig.Variant, q, sig.Type, sig.Value)
}

// get returns the cached hits for keys, nil where there is none.
func (c *verdictCache) get(ctx context.Context, keys []string) ([]*bank.Hits, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	start := time.Now()
	vals, err := c.rdb.MGet(ctx, keys...).Result()
	if c.lookup != nil {
		c.lookup.ObserveDuration(time.Since(start))
	}
	if err != nil {
		c.failed(err)
		return nil, err
	}
	c.succeeded()
	out := make([]*bank.Hits, len(keys))
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		var h bank.Hits
		if err := json.Unmarshal([]byte(s), &h); err != nil || h.Block == nil || h.Allow == nil {
			// Not ours or damaged: recompute and overwrite.
			c.log.Debug("ignoring unreadable cached verdict", "key", keys[i], "err", err)
			continue
		}
		out[i] = &h
	}
	return out, nil
}

// put stores verdicts, an empty list included: "no match" is the common
// answer and the one most worth caching.
func (c *verdictCache) put(ctx context.Context, keys []string, verdicts []bank.Hits) error {
	if err := c.usable(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			b, err := json.Marshal(verdicts[i])
			if err != nil {
				return err
			}
			p.Set(ctx, k, b, c.ttl)
		}
		return nil
	})
	if err != nil {
		c.failed(err)
		return err
	}
	c.succeeded()
	return nil
}

// usable says whether to try Redis now: always while it is healthy, and once
// per probe interval while it is down.
func (c *verdictCache) usable() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down == nil || !time.Now().Before(c.retryAt) {
		return nil
	}
	return fmt.Errorf("%w: %w", errCacheBypassed, c.down)
}

// failed enters (or stays in) bypass. It logs only on the change of state, so
// an outage costs one log line, not one per message.
func (c *verdictCache) failed(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.errors != nil {
		c.errors.Inc()
	}
	if c.down == nil {
		c.log.Warn("redis unavailable; matching from memory until it returns", "err", err)
	}
	c.down = err
	c.retryAt = time.Now().Add(probeEvery)
}

// bypassed says whether Redis is currently known down.
func (c *verdictCache) bypassed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.down != nil
}

func (c *verdictCache) succeeded() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down != nil {
		c.log.Info("redis is back; caching verdicts again", "was", c.down)
		c.down = nil
	}
}

// state is "ok" or "bypassed: <err>". It asks Redis (within the timeout) so
// that a recovery shows even while no messages flow.
func (c *verdictCache) state(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		c.failed(err)
		return "bypassed: " + err.Error()
	}
	c.succeeded()
	return "ok"
}

func (c *verdictCache) close() error { return c.rdb.Close() }
