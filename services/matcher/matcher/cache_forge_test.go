package matcher_test

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// Whoever can write to Redis must not be able to decide verdicts: a
// well-formed "no match" stored under the key the matcher reads for a
// banned picture, or a genuine signed "no match" copied there from another
// key, is ignored, and the picture still matches. (Before verdicts were
// signed, the matcher answered both with no match.)
func TestForgedCacheEntryIsIgnored(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	redisAddr := testenv.RedisAddr(t)
	cfg := testConfig(t, brokers, redisAddr)
	cfg.CacheSigningKey = "a key shared by the replicas, 32+"
	pub := publisher(t, brokers)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()

	bannedA, bannedB := randHex(64), randHex(64)
	publishBank(t, pub, cfg.Topics.BankUpdates,
		addEntry("tve", "a", []string{"terrorism"}, sha(bannedA)),
		addEntry("tve", "b", []string{"terrorism"}, sha(bannedB)))
	out := collect(t, brokers, cfg.Topics.Matched)
	svc := start(t, cfg)

	// A harmless upload makes the matcher cache its "no match": its key
	// shows how the matcher names keys, whatever the format's version.
	harmless := randHex(64)
	if v := out.verdict(t, publishHashed(t, pub, cfg.Topics.Hashed, sha(harmless))); len(v.Matches) != 0 {
		t.Fatalf("harmless upload matched: %+v", v.Matches)
	}
	keys, err := rdb.Keys(ctx, cfg.Redis.Prefix+":matcher:*:sha256:"+harmless).Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("cached keys of the harmless upload: %v, %v", keys, err)
	}
	genuine, err := rdb.Get(ctx, keys[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	keyOf := func(value string) string { return strings.TrimSuffix(keys[0], harmless) + value }

	for _, c := range []struct {
		name, banned, value string
	}{
		{"forged JSON", bannedA, `{"block":[],"allow":[]}`},
		{"genuine value copied from another key", bannedB, genuine},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := rdb.Set(ctx, keyOf(c.banned), c.value, 0).Err(); err != nil {
				t.Fatal(err)
			}
			before := stats(t, svc).Cache
			v := out.verdict(t, publishHashed(t, pub, cfg.Topics.Hashed, sha(c.banned)))
			if len(v.Matches) != 1 || v.Matches[0].Signal != c.banned {
				t.Fatalf("banned picture with a planted cache entry: matches %+v, want its bank entry", v.Matches)
			}
			after := stats(t, svc).Cache
			if after.Rejected != before.Rejected+1 || after.Hits != before.Hits {
				t.Errorf("cache stats %+v -> %+v: want one rejected entry and no hit", before, after)
			}
			// The planted value was replaced by the matcher's own.
			if got, _ := rdb.Get(ctx, keyOf(c.banned)).Result(); got == c.value {
				t.Errorf("planted value still cached")
			}
		})
	}
}
