package matcher

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/redisconn"
)

// probeEvery is how long the cache stays bypassed after a Redis failure
// before a lookup tries Redis again. Without it every message would wait the
// full Redis timeout during an outage.
const probeEvery = time.Second

// errCacheBypassed is returned for lookups made while Redis is known down.
var errCacheBypassed = errors.New("redis is bypassed after a recent failure")

// verdictCache keeps per-signal verdicts in Redis. It is an optimisation only:
// every failure is reported to the caller, which then matches from memory.
//
// Redis is not trusted with verdicts: whoever can write to it could
// otherwise store "no match" for a banned picture. Every value carries an
// HMAC-SHA256 of its key and its JSON under a key only the matchers hold;
// a value without a valid MAC is a miss, recomputed and overwritten. The
// key is in the MAC so that a genuine value copied to another key (a
// "no match" onto a banned signal's key) does not verify either.
type verdictCache struct {
	rdb     *redis.Client
	prefix  string
	ttl     time.Duration
	timeout time.Duration
	log     *slog.Logger
	signKey []byte

	hits, misses, bypasses, forged atomic.Int64
	// errors, lookup and rejected are the Prometheus side; set by the
	// service.
	rejected prometheus.Counter
	// lastForgedLog rate-limits the warning about forged entries, which an
	// attacker could otherwise turn into a log flood.
	lastForgedLog atomic.Int64
	errors        prometheus.Counter
	lookup        prometheus.Histogram

	mu      sync.Mutex
	down    error // the error that put Redis in bypass, nil while healthy
	retryAt time.Time
}

func newVerdictCache(cfg config.Redis, signKey []byte, ttl, timeout time.Duration, log *slog.Logger) (*verdictCache, error) {
	rdb, err := redisconn.New(cfg, func(o *redis.UniversalOptions) {
		o.DialTimeout = timeout
		o.ReadTimeout = timeout
		o.WriteTimeout = timeout
		o.PoolTimeout = timeout
		// A retry cannot fit in the time budget; the fallback is to match
		// from memory, which is always correct.
		o.MaxRetries = -1
		o.DialerRetries = 1
		o.ContextTimeoutEnabled = true
	})
	if err != nil {
		return nil, err
	}
	return &verdictCache{rdb: rdb, prefix: cfg.Prefix, ttl: ttl, timeout: timeout, log: log, signKey: signKey}, nil
}

// macSize is the length of the hex MAC that starts a value, before ".".
const macSize = 2 * sha256.Size

// seal is the stored value: hex(HMAC(key NUL json)) "." json.
func (c *verdictCache) seal(key string, body []byte) []byte {
	out := make([]byte, 0, macSize+1+len(body))
	out = hex.AppendEncode(out, c.mac(key, body))
	out = append(out, '.')
	return append(out, body...)
}

// open returns the JSON of a value whose MAC verifies, or false.
func (c *verdictCache) open(key, value string) ([]byte, bool) {
	if len(value) < macSize+1 || value[macSize] != '.' {
		return nil, false
	}
	got, err := hex.DecodeString(value[:macSize])
	if err != nil {
		return nil, false
	}
	body := []byte(value[macSize+1:])
	return body, hmac.Equal(got, c.mac(key, body))
}

func (c *verdictCache) mac(key string, body []byte) []byte {
	m := hmac.New(sha256.New, c.signKey)
	m.Write([]byte(key))
	m.Write([]byte{0})
	m.Write(body)
	return m.Sum(nil)
}

// rejectForged counts a value that failed its MAC and warns, at most once a
// minute: someone other than a matcher with this key wrote to the cache (or
// a replica with another cache-signing-key shares the prefix).
func (c *verdictCache) rejectForged(key string) {
	n := c.forged.Add(1)
	if c.rejected != nil {
		c.rejected.Inc()
	}
	now := time.Now().UnixNano()
	last := c.lastForgedLog.Load()
	if now-last >= int64(time.Minute) && c.lastForgedLog.CompareAndSwap(last, now) {
		c.log.Warn("ignoring cached verdict with a bad signature: someone wrote to the cache without the signing key, or replicas have different cache-signing-key settings",
			"key", key, "rejected_total", n)
	}
}

// key names the verdict for one signal at one bank version. The version is a
// fingerprint of the bank's content, so any bank change moves every lookup
// to fresh keys and an old verdict can never be served for a newer bank.
//
// The value is the signal's bank.Hits before allow-lists (v2; v1 held
// resolved matches), so that allow-lists apply across an upload's signals;
// v3 values are signed (see seal). Older replicas read v2 keys and never
// see a v3 value during a rolling upgrade.
// A signal's variant shows in its matches and a pdq signal's quality decides
// whether it is matched at all, so both are part of the key.
func (c *verdictCache) key(version uint64, sig events.Signal) string {
	q := "-"
	if sig.Quality != nil {
		q = strconv.Itoa(*sig.Quality)
	}
	return fmt.Sprintf("%s:matcher:v3:g%016x:v=%s:q=%s:%s:%s", c.prefix, version, sig.Variant, q, sig.Type, sig.Value)
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
		c.lookup.Observe(time.Since(start).Seconds())
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
		body, ok := c.open(keys[i], s)
		if !ok {
			c.rejectForged(keys[i])
			continue
		}
		var h bank.Hits
		if err := json.Unmarshal(body, &h); err != nil || h.Block == nil || h.Allow == nil {
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
			p.Set(ctx, k, c.seal(k, b), c.ttl)
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
