// Package attempts counts message deliveries in Redis for
// messaging.CountAttempts: the count survives the process, so a message that
// crashes a service is seen coming back after the restart, and every key
// expires, so counts of messages long done never accumulate.
package attempts

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultTTL is how long a count is kept after its last delivery: far
// longer than a crash loop takes to reach its limit, short enough that the
// counts of a busy topic stay a few hours' worth of keys.
const DefaultTTL = 24 * time.Hour

// Redis is a messaging.AttemptCounter and messaging.AttemptResetter.
type Redis struct {
	rdb    redis.Cmdable
	prefix string
	ttl    time.Duration
}

// NewRedis counts under prefix+":"+key, e.g. with prefix
// "PREFIX:hasher:attempts:GROUP" (the service's Redis prefix, the service,
// and the consumer group, since each group has deliveries of its own). A ttl
// of 0 means DefaultTTL.
func NewRedis(rdb redis.Cmdable, prefix string, ttl time.Duration) *Redis {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Redis{rdb: rdb, prefix: prefix, ttl: ttl}
}

// Key is the Redis key of a count.
func (r *Redis) Key(key string) string { return r.prefix + ":" + key }

// Count is key's count, 0 when it has none.
func (r *Redis) Count(ctx context.Context, key string) (int64, error) {
	n, err := r.rdb.Get(ctx, r.Key(key)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, err
}

// Incr adds one to key's count and renews its expiry, in one transaction so
// that no count is ever left without one.
func (r *Redis) Incr(ctx context.Context, key string) (int64, error) {
	k := r.Key(key)
	var incr *redis.IntCmd
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, k)
		p.Expire(ctx, k, r.ttl)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return incr.Val(), nil
}

// Reset forgets key's count.
func (r *Redis) Reset(ctx context.Context, key string) error {
	return r.rdb.Del(ctx, r.Key(key)).Err()
}
