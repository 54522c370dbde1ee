package matcher_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
	"github.com/takedown-pipeline/takedown/services/matcher/matcher"
)

const deadline = 60 * time.Second

func testLogger() *slog.Logger {
	if os.Getenv("MATCHER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testConfig returns the defaults with unique topics, group and key prefix.
func testConfig(t *testing.T, brokers []string, redisAddr string) matcher.Config {
	t.Helper()
	var cfg matcher.Config
	set := config.New("matcher-test").WithEnv(func(string) (string, bool) { return "", false })
	cfg.Bind(set)
	if err := set.Parse(nil); err != nil {
		t.Fatal(err)
	}
	testenv.Isolate(t, &cfg.Common, "matcher")
	cfg.Kafka.Brokers = brokers
	cfg.Redis.Addr = redisAddr
	// The tests build hashes bit by bit, easiest with the 64-bit types,
	// which are off by default.
	cfg.EnablePHash, cfg.EnableDHash = true, true
	cfg.Group = testenv.Name("matcher-test")
	// Outputs get one partition so the test can read them in order without
	// a group; the bank topic keeps three so catch-up covers several.
	err := messaging.EnsureTopics(context.Background(), config.Kafka{Brokers: brokers},
		messaging.TopicSpec{Name: cfg.Topics.Matched, Partitions: 1},
		messaging.TopicSpec{Name: cfg.DLQTopic, Partitions: 1},
		messaging.TopicSpec{Name: cfg.Topics.BankUpdates, Partitions: 3, Compact: true},
	)
	if err != nil {
		t.Fatal(err)
	}
	waitTopics(t, brokers[0], cfg.Topics.Matched, cfg.DLQTopic, cfg.Topics.BankUpdates)
	return cfg
}

// waitTopics waits until the broker serves new topics: creation returns
// before every partition has a leader.
func waitTopics(t *testing.T, broker string, topics ...string) {
	t.Helper()
	testenv.WaitTopics(t, config.Kafka{Brokers: []string{broker}}, topics...)
}

// start runs a service until the test ends and waits for it to be ready.
func start(t *testing.T, cfg matcher.Config) *matcher.Service {
	t.Helper()
	svc, err := matcher.New(cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	testenv.Run(t, "matcher", svc.Run, svc.Ready)
	return svc
}

func publisher(t *testing.T, brokers []string) messaging.Publisher {
	pub := messaging.NewKafkaPublisher(config.Kafka{Brokers: brokers})
	t.Cleanup(func() { pub.Close() })
	return pub
}

func addEntry(bank, id string, labels []string, sigs ...events.Signal) *events.BankUpdate {
	u := &events.BankUpdate{Op: events.BankOpAdd, Bank: bank, EntryID: id, Labels: labels, Signals: sigs}
	u.Meta = events.NewMeta(events.TypeBankUpdate, u.Key(), "")
	return u
}

func disableEntry(bank, id string) *events.BankUpdate {
	u := &events.BankUpdate{Op: events.BankOpDisable, Bank: bank, EntryID: id}
	u.Meta = events.NewMeta(events.TypeBankUpdate, u.Key(), "")
	return u
}

func publishBank(t *testing.T, pub messaging.Publisher, topic string, us ...*events.BankUpdate) {
	t.Helper()
	for _, u := range us {
		if err := messaging.PublishEvent(context.Background(), pub, topic, u); err != nil {
			t.Fatal(err)
		}
	}
}

var uploadedAt = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

func publishHashed(t *testing.T, pub messaging.Publisher, topic string, sigs ...events.Signal) *events.MediaHashed {
	t.Helper()
	id := testenv.Name("content")
	ev := &events.MediaHashed{
		Meta:        events.NewMeta(events.TypeMediaHashed, id, ""),
		MediaURL:    "https://cdn.example.com/" + id + ".jpg",
		ContentType: events.ContentImage,
		UploaderID:  "user-7",
		UploadedAt:  uploadedAt,
		Media:       events.MediaInfo{MimeType: "image/jpeg", Bytes: 1234},
		Signals:     sigs,
	}
	if err := messaging.PublishEvent(context.Background(), pub, topic, ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// collector reads a topic from the start, keyed by content id.
type collector struct {
	mu   sync.Mutex
	raw  map[string][]byte
	msgs map[string]*messaging.Message
}

func collect(t *testing.T, brokers []string, topic string) *collector {
	c := &collector{raw: map[string][]byte{}, msgs: map[string]*messaging.Message{}}
	testenv.Follow(t, config.Kafka{Brokers: brokers}, topic, func(m *messaging.Message) {
		var meta events.Meta
		_ = json.Unmarshal(m.Value, &meta)
		key := meta.ContentID
		if key == "" {
			key = string(m.Key)
		}
		c.mu.Lock()
		c.raw[key] = m.Value
		c.msgs[key] = m
		c.mu.Unlock()
	})
	return c
}

func (c *collector) wait(t *testing.T, key string) *messaging.Message {
	t.Helper()
	var m *messaging.Message
	testenv.WaitFor(t, deadline, "a record for "+key, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		var ok bool
		m, ok = c.msgs[key]
		return ok
	})
	return m
}

func (c *collector) verdict(t *testing.T, in *events.MediaHashed) events.MediaMatched {
	t.Helper()
	m := c.wait(t, in.ContentID)
	var out events.MediaMatched
	if err := events.Decode(m.Value, events.TypeMediaMatched, &out); err != nil {
		t.Fatalf("verdict for %s: %v", in.ContentID, err)
	}
	if !strings.Contains(string(m.Value), `"matches":[`) {
		t.Fatalf("verdict without a matches list: %s", m.Value)
	}
	return out
}

func publishUnhashable(t *testing.T, pub messaging.Publisher, topic string, u *events.Unhashable, sigs ...events.Signal) *events.MediaHashed {
	t.Helper()
	id := testenv.Name("content")
	ev := &events.MediaHashed{
		Meta:     events.NewMeta(events.TypeMediaHashed, id, ""),
		MediaURL: "https://cdn.example.com/" + id + ".mp4", ContentType: events.ContentVideo,
		UploaderID: "user-7", UploadedAt: uploadedAt, Signals: sigs, Unhashable: u,
	}
	if err := messaging.PublishEvent(context.Background(), pub, topic, ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func randHex(n int) string {
	var b strings.Builder
	for b.Len() < n {
		fmt.Fprintf(&b, "%016x", rand.Uint64())
	}
	return b.String()[:n]
}

func sha(v string) events.Signal { return events.Signal{Type: events.SignalSHA256, Value: v} }
func phash(h uint64) events.Signal {
	return events.Signal{Type: events.SignalPHash, Value: fmt.Sprintf("%016x", h)}
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode
}

func stats(t *testing.T, svc *matcher.Service) matcher.Stats {
	t.Helper()
	var st matcher.Stats
	if code := getJSON(t, "http://"+svc.Addr()+"/v1/stats", &st); code != http.StatusOK {
		t.Fatalf("GET /v1/stats: %d", code)
	}
	return st
}

// TestMatcher runs one replica against the real broker and Redis through
// loading, matching, caching, live updates and disables.
func TestMatcher(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	redisAddr := testenv.RedisAddr(t)
	cfg := testConfig(t, brokers, redisAddr)
	pub := publisher(t, brokers)
	ctx := context.Background()

	shaA, shaC := randHex(64), randHex(64)
	ph := rand.Uint64() | 1
	bankBefore := []*events.BankUpdate{
		addEntry("tve", "sha-entry", []string{"terrorism"}, sha(shaA)),
		addEntry("tve", "ph-entry", []string{"violent-extremism", "isis"}, phash(ph)),
		addEntry("other", "to-disable", []string{"x"}, sha(shaC)),
	}
	for i := range 40 {
		bankBefore = append(bankBefore, addEntry("filler", fmt.Sprint(i), nil, sha(randHex(64))))
	}
	publishBank(t, pub, cfg.Topics.BankUpdates, bankBefore...)
	// Two records the replica must skip without losing the rest.
	if err := pub.Publish(ctx, messaging.Message{Topic: cfg.Topics.BankUpdates, Key: []byte("junk/1"), Value: []byte("not json")}); err != nil {
		t.Fatal(err)
	}
	publishBank(t, pub, cfg.Topics.BankUpdates,
		addEntry("tve", "bad", nil, events.Signal{Type: events.SignalPHash, Value: "zzzz"}))

	out := collect(t, brokers, cfg.Topics.Matched)
	svc := start(t, cfg)

	// Loaded before ready: no waiting here.
	if n := svc.Banks().Len(); n != len(bankBefore) {
		t.Fatalf("ready with %d bank entries, want %d", n, len(bankBefore))
	}
	if st := stats(t, svc); st.Bank.Rejected != 2 || !st.Bank.CaughtUp || st.Bank.Banks["filler"].Entries != 40 {
		t.Fatalf("stats after load: %+v", st.Bank)
	}

	t.Run("exact, near and no match", func(t *testing.T) {
		exact := publishHashed(t, pub, cfg.Topics.Hashed, sha(shaA), phash(rand.Uint64()|1))
		near := publishHashed(t, pub, cfg.Topics.Hashed, sha(randHex(64)), phash(ph^0b1011_0000_0001))
		none := publishHashed(t, pub, cfg.Topics.Hashed, sha(randHex(64)), phash(^ph))

		got := out.verdict(t, exact)
		want := []events.Match{{Bank: "tve", EntryID: "sha-entry", Labels: []string{"terrorism"},
			SignalType: "sha256", Signal: shaA, Distance: 0, Threshold: 0}}
		if !reflect.DeepEqual(got.Matches, want) {
			t.Errorf("exact copy: matches %+v, want %+v", got.Matches, want)
		}
		if got.MediaURL != exact.MediaURL || got.ContentType != exact.ContentType || got.UploaderID != exact.UploaderID ||
			!got.UploadedAt.Equal(exact.UploadedAt) || got.CorrelationID != exact.CorrelationID || got.EventID == exact.EventID {
			t.Errorf("verdict does not carry the upload over: %+v (from %+v)", got, exact)
		}

		got = out.verdict(t, near)
		// Match labels come sorted (pkg/matching/bank merges entry and bank labels).
		want = []events.Match{{Bank: "tve", EntryID: "ph-entry", Labels: []string{"isis", "violent-extremism"},
			SignalType: "phash", Signal: fmt.Sprintf("%016x", ph^0b1011_0000_0001), Distance: 4, Threshold: 10}}
		if !reflect.DeepEqual(got.Matches, want) {
			t.Errorf("near copy: matches %+v, want %+v", got.Matches, want)
		}

		if got = out.verdict(t, none); len(got.Matches) != 0 {
			t.Errorf("unrelated upload matched: %+v", got.Matches)
		}
	})

	t.Run("unhashable media passes on, matched by its file hashes", func(t *testing.T) {
		// The byte hashes of a file over the limit that the bank holds:
		// matched, for the enforcer to act on; a file of unknown bytes and
		// a fetch that got nothing: unmatched. All go on with the reason.
		known := publishUnhashable(t, pub, cfg.Topics.Hashed, &events.Unhashable{Reason: events.UnhashableTooLong, Detail: "video too long: 3h"}, sha(shaA))
		unknown := publishUnhashable(t, pub, cfg.Topics.Hashed, &events.Unhashable{Reason: events.UnhashableTooLarge}, sha(randHex(64)))
		nothing := publishUnhashable(t, pub, cfg.Topics.Hashed, &events.Unhashable{Reason: events.UnhashableHostUnavailable})
		for _, in := range []*events.MediaHashed{known, unknown, nothing} {
			got := out.verdict(t, in)
			want := 0
			if in == known {
				want = 1
			}
			if got.Unhashable == nil || *got.Unhashable != *in.Unhashable || len(got.Matches) != want {
				t.Errorf("verdict on unhashable %s: unhashable %+v, matches %+v; want %+v, %d matches", in.ContentID, got.Unhashable, got.Matches, in.Unhashable, want)
			}
			if want == 1 && (got.Matches[0].SignalType != events.SignalSHA256 || got.Matches[0].Distance != 0) {
				t.Errorf("match of the known file: %+v, want its sha256 at distance 0", got.Matches[0])
			}
			if len(got.Signals) != len(in.Signals) || got.CorrelationID != in.CorrelationID || got.MediaURL != in.MediaURL {
				t.Errorf("verdict %+v does not carry %+v over", got, in)
			}
		}
	})

	t.Run("second identical query hits the cache", func(t *testing.T) {
		before := stats(t, svc).Cache
		first := publishHashed(t, pub, cfg.Topics.Hashed, sha(randHex(64)), phash(ph^0b11))
		v1 := out.verdict(t, first)
		mid := stats(t, svc).Cache
		second := publishHashed(t, pub, cfg.Topics.Hashed, first.Signals...)
		v2 := out.verdict(t, second)
		after := stats(t, svc).Cache
		if mid.Misses-before.Misses != 2 || mid.Hits != before.Hits {
			t.Errorf("first query: hits %d->%d misses %d->%d, want 2 misses", before.Hits, mid.Hits, before.Misses, mid.Misses)
		}
		if after.Hits-mid.Hits != 2 || after.Misses != mid.Misses {
			t.Errorf("second query: hits %d->%d misses %d->%d, want 2 hits", mid.Hits, after.Hits, mid.Misses, after.Misses)
		}
		if !reflect.DeepEqual(v1.Matches, v2.Matches) || len(v1.Matches) != 1 {
			t.Errorf("cached verdict %+v differs from computed %+v", v2.Matches, v1.Matches)
		}
	})

	t.Run("update while running takes effect", func(t *testing.T) {
		shaD := randHex(64)
		publishBank(t, pub, cfg.Topics.BankUpdates, addEntry("live", "new", []string{"fresh"}, sha(shaD)))
		end := time.Now().Add(deadline)
		for {
			v := out.verdict(t, publishHashed(t, pub, cfg.Topics.Hashed, sha(shaD)))
			if len(v.Matches) == 1 && v.Matches[0].Bank == "live" && v.Matches[0].EntryID == "new" {
				break
			}
			if len(v.Matches) != 0 || time.Now().After(end) {
				t.Fatalf("live update: matches %+v", v.Matches)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("disable beats a cached verdict", func(t *testing.T) {
		rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
		defer rdb.Close()
		v := out.verdict(t, publishHashed(t, pub, cfg.Topics.Hashed, sha(shaC)))
		if len(v.Matches) != 1 || v.Matches[0].EntryID != "to-disable" {
			t.Fatalf("before disable: matches %+v", v.Matches)
		}
		keys, err := rdb.Keys(ctx, cfg.Redis.Prefix+":matcher:v3:*:sha256:"+shaC).Result()
		if err != nil || len(keys) != 1 {
			t.Fatalf("cached verdict keys %v, %v: want exactly one", keys, err)
		}
		gen := svc.Banks().Generation()
		publishBank(t, pub, cfg.Topics.BankUpdates, disableEntry("other", "to-disable"))
		testenv.WaitFor(t, deadline, "the disable to be applied", func() bool {
			e, _ := svc.Banks().Entry("other", "to-disable")
			return e.Disabled
		})
		if svc.Banks().Generation() <= gen {
			t.Fatalf("generation %d did not move past %d", svc.Banks().Generation(), gen)
		}
		if n, err := rdb.Exists(ctx, keys[0]).Result(); err != nil || n != 1 {
			t.Fatalf("old verdict gone from Redis (%d, %v): the test would prove nothing", n, err)
		}
		v = out.verdict(t, publishHashed(t, pub, cfg.Topics.Hashed, sha(shaC)))
		if len(v.Matches) != 0 {
			t.Fatalf("disabled entry still matched (stale cached verdict?): %+v", v.Matches)
		}
	})

	t.Run("tombstone disables", func(t *testing.T) {
		shaT := randHex(64)
		publishBank(t, pub, cfg.Topics.BankUpdates, addEntry("tve", "tomb", nil, sha(shaT)))
		if err := pub.Publish(ctx, messaging.Message{Topic: cfg.Topics.BankUpdates, Key: []byte("tve/tomb")}); err != nil {
			t.Fatal(err)
		}
		end := time.Now().Add(deadline)
		for {
			e, ok := svc.Banks().Entry("tve", "tomb")
			if ok && e.Disabled {
				break
			}
			if time.Now().After(end) {
				t.Fatalf("tombstone not applied: %+v %v", e, ok)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("bad input is dead-lettered", func(t *testing.T) {
		dlq := collect(t, brokers, cfg.DLQTopic)
		if err := pub.Publish(ctx, messaging.Message{Topic: cfg.Topics.Hashed, Key: []byte("garbage"), Value: []byte("{")}); err != nil {
			t.Fatal(err)
		}
		bad := publishHashed(t, pub, cfg.Topics.Hashed, events.Signal{Type: events.SignalSHA256, Value: "nope"})
		for _, key := range []string{"garbage", bad.ContentID} {
			m := dlq.wait(t, key)
			if !strings.Contains(headerOf(m, messaging.HeaderDLQError), "invalid") &&
				!strings.Contains(headerOf(m, messaging.HeaderDLQError), "none of its") {
				t.Errorf("%s: dead-letter reason %q", key, headerOf(m, messaging.HeaderDLQError))
			}
		}
	})

	t.Run("health and stats", func(t *testing.T) {
		var details map[string]string
		if code := getJSON(t, "http://"+svc.Addr()+"/readyz", &details); code != http.StatusOK || details["cache"] != "ok" {
			t.Errorf("/readyz: %d %v", code, details)
		}
		if code := getJSON(t, "http://"+svc.Addr()+"/healthz", &details); code != http.StatusOK {
			t.Errorf("/healthz: %d", code)
		}
		st := stats(t, svc)
		if st.Bank.Banks["tve"].Entries != 2 || st.Bank.Banks["other"].Disabled != 1 || st.Bank.Generation == 0 ||
			st.Messages.Processed < 8 || st.Messages.Matched < 5 || !st.Ready || !st.Cache.Enabled || st.Cache.Bypasses != 0 {
			t.Errorf("stats: %+v", st)
		}
	})
}

func headerOf(m *messaging.Message, key string) string { return m.Header(key) }

// TestRedisDown checks that a replica without Redis still matches, and says
// so without calling itself unready.
func TestRedisDown(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	cfg := testConfig(t, brokers, "127.0.0.1:1") // nothing listens on port 1
	pub := publisher(t, brokers)
	shaA := randHex(64)
	publishBank(t, pub, cfg.Topics.BankUpdates, addEntry("tve", "e1", []string{"l"}, sha(shaA)))
	out := collect(t, brokers, cfg.Topics.Matched)
	svc := start(t, cfg)

	for range 3 {
		v := out.verdict(t, publishHashed(t, pub, cfg.Topics.Hashed, sha(shaA)))
		if len(v.Matches) != 1 || v.Matches[0].EntryID != "e1" {
			t.Fatalf("matches without Redis: %+v", v.Matches)
		}
	}
	v := out.verdict(t, publishHashed(t, pub, cfg.Topics.Hashed, sha(randHex(64))))
	if len(v.Matches) != 0 {
		t.Fatalf("unrelated upload matched: %+v", v.Matches)
	}
	var details map[string]string
	code := getJSON(t, "http://"+svc.Addr()+"/readyz", &details)
	if code != http.StatusOK || !strings.HasPrefix(details["cache"], "bypassed: ") {
		t.Fatalf("/readyz with Redis down: %d %v", code, details)
	}
	st := stats(t, svc)
	if st.Cache.Bypasses < 4 || st.Cache.Hits != 0 || !strings.HasPrefix(st.Cache.State, "bypassed: ") {
		t.Fatalf("cache stats with Redis down: %+v", st.Cache)
	}
}

// TestReplicasEachLoadWholeBank runs two replicas in one consumer group: the
// group splits media.hashed between them, but each must hold every bank
// entry of every partition, before and after start.
func TestReplicasEachLoadWholeBank(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	cfg := testConfig(t, brokers, testenv.RedisAddr(t))
	pub := publisher(t, brokers)
	var us []*events.BankUpdate
	for i := range 30 {
		us = append(us, addEntry(fmt.Sprintf("bank%d", i%3), fmt.Sprint(i), nil, sha(randHex(64))))
	}
	publishBank(t, pub, cfg.Topics.BankUpdates, us...)

	cfg2 := cfg
	a := start(t, cfg)
	b := start(t, cfg2)
	for name, svc := range map[string]*matcher.Service{"a": a, "b": b} {
		if n := svc.Banks().Len(); n != len(us) {
			t.Errorf("replica %s ready with %d entries, want %d", name, n, len(us))
		}
	}
	if a.Banks().Version() != b.Banks().Version() {
		t.Errorf("replicas hold different banks: versions %x and %x", a.Banks().Version(), b.Banks().Version())
	}

	publishBank(t, pub, cfg.Topics.BankUpdates, addEntry("late", "1", nil, sha(randHex(64))))
	end := time.Now().Add(deadline)
	for a.Banks().Len() != len(us)+1 || b.Banks().Len() != len(us)+1 {
		if time.Now().After(end) {
			t.Fatalf("late update: replicas hold %d and %d entries, want %d", a.Banks().Len(), b.Banks().Len(), len(us)+1)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConfig(t *testing.T) {
	env := map[string]string{
		"TAKEDOWN_THRESHOLD_PHASH": "8",
		"TAKEDOWN_THRESHOLD_DHASH": "6",
		"TAKEDOWN_CACHE_TTL":       "1m",
		"TAKEDOWN_REDIS_TIMEOUT":   "50ms",
		"TAKEDOWN_CACHE":           "false",
		"TAKEDOWN_GROUP":           "g",
		"TAKEDOWN_THRESHOLD_PDQ":   "40",
		"TAKEDOWN_MIN_PDQ_QUALITY": "70",
		"TAKEDOWN_SNAPSHOT_DIR":    "/var/lib/matcher",
	}
	var cfg matcher.Config
	set := config.New("matcher").WithEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	cfg.Bind(set)
	if err := set.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if cfg.ThresholdPHash != 8 || cfg.ThresholdPDQ != 40 || cfg.MinPDQQuality != 70 || cfg.SnapshotDir != "/var/lib/matcher" || cfg.ThresholdDHash != 6 || cfg.CacheTTL != time.Minute ||
		cfg.RedisTimeout != 50*time.Millisecond || cfg.CacheEnabled || cfg.Group != "g" || cfg.HTTPAddr != "127.0.0.1:8082" {
		t.Fatalf("from environment: %+v", cfg)
	}

	var def matcher.Config
	set = config.New("matcher").WithEnv(func(string) (string, bool) { return "", false })
	def.Bind(set)
	if err := set.Parse([]string{"-threshold-phash", "12"}); err != nil {
		t.Fatal(err)
	}
	if def.ThresholdPHash != 12 || def.ThresholdDHash != 10 || def.ThresholdPDQ != 31 || def.MinPDQQuality != 50 || def.SnapshotDir != "" || def.SnapshotInterval != 5*time.Minute || def.CacheTTL != 10*time.Minute ||
		def.RedisTimeout != 200*time.Millisecond || !def.CacheEnabled || def.Group != "takedown-matcher" ||
		def.DLQTopic != "matcher.dlq" {
		t.Fatalf("defaults: %+v", def)
	}

	bad := def
	bad.ThresholdDHash = 65
	bad.CacheTTL = 0
	bad.ThresholdPDQ = 257
	bad.MinPDQQuality = 101
	_, err := matcher.New(bad, nil)
	if err == nil || !strings.Contains(err.Error(), "threshold-dhash") || !strings.Contains(err.Error(), "cache-ttl") ||
		!strings.Contains(err.Error(), "threshold-pdq") || !strings.Contains(err.Error(), "min-pdq-quality") {
		t.Fatalf("New with bad settings: %v", err)
	}
	if _, err := matcher.New(def, nil); err != nil {
		t.Fatalf("New with defaults: %v", err)
	}
}

// TestIncidentBankAndSignals checks the verdict's plumbing for the enforcer
// and review: each match carries its bank's incident flag and severity, and
// the verdict carries the upload's usable signals, normalised.
func TestIncidentBankAndSignals(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	cfg := testConfig(t, brokers, testenv.RedisAddr(t))
	pub := publisher(t, brokers)

	shaCIP, shaPlain := randHex(64), randHex(64)
	cip := events.DefaultBankConfig()
	cip.Incident, cip.Severity = true, events.SeverityCritical
	cipConf := events.NewBankConfigure("cip", cip)
	high := events.DefaultBankConfig()
	high.Severity = events.SeverityHigh
	highConf := events.NewBankConfigure("graphic", high)
	publishBank(t, pub, cfg.Topics.BankUpdates, &cipConf, &highConf,
		addEntry("cip", "attack", []string{"incident:2019"}, sha(shaCIP)),
		addEntry("graphic", "g1", nil, sha(shaCIP)),
		addEntry("plain", "p1", nil, sha(shaPlain)))
	out := collect(t, brokers, cfg.Topics.Matched)
	start(t, cfg)

	upper := strings.ToUpper(shaCIP)
	md5 := randHex(32)
	in := publishHashed(t, pub, cfg.Topics.Hashed,
		events.Signal{Type: events.SignalSHA256, Value: upper},
		events.Signal{Type: events.SignalMD5, Value: md5},
		// Blank (a flat picture) and malformed: not usable, not carried.
		events.Signal{Type: events.SignalPDQ, Value: strings.Repeat("0", 64)},
		events.Signal{Type: events.SignalPHash, Value: "xyz"})
	v := out.verdict(t, in)
	byBank := map[string]events.Match{}
	for _, m := range v.Matches {
		byBank[m.Bank] = m
	}
	if m := byBank["cip"]; !m.Incident || m.Severity != events.SeverityCritical || m.EntryID != "attack" {
		t.Errorf("incident bank's match %+v, want incident and severity critical", m)
	}
	if m := byBank["graphic"]; m.Incident || m.Severity != events.SeverityHigh {
		t.Errorf("graphic bank's match %+v, want severity high, not incident", m)
	}
	if len(v.Matches) != 2 {
		t.Errorf("matches %+v, want the cip and graphic entries", v.Matches)
	}
	wantSigs := []events.Signal{{Type: events.SignalSHA256, Value: shaCIP}, {Type: events.SignalMD5, Value: md5}}
	if !reflect.DeepEqual(v.Signals, wantSigs) {
		t.Errorf("verdict signals %+v, want the usable ones normalised %+v", v.Signals, wantSigs)
	}

	plain := out.verdict(t, publishHashed(t, pub, cfg.Topics.Hashed, sha(shaPlain)))
	if len(plain.Matches) != 1 || plain.Matches[0].Incident || plain.Matches[0].Severity != "" {
		t.Errorf("unconfigured bank's matches %+v, want one without incident or severity", plain.Matches)
	}
	if raw := string(out.wait(t, plain.ContentID).Value); strings.Contains(raw, `"incident"`) || strings.Contains(raw, `"severity"`) {
		t.Errorf("a plain match should leave incident and severity out of the JSON: %s", raw)
	}
}

// A bank topic that would expire entries (the broker's default policy, as a
// topic auto-created by a producer has) stops the matcher at start-up, with
// the setting to fix: it would otherwise stop matching known content a week
// after it was banked.
func TestMatcherRefusesAnExpiringBankTopic(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	cfg := testConfig(t, brokers, testenv.RedisAddr(t))
	cfg.CacheEnabled = false
	cfg.Topics.BankUpdates = testenv.Name("bank-delete")
	if err := messaging.EnsureTopics(context.Background(), config.Kafka{Brokers: brokers},
		messaging.TopicSpec{Name: cfg.Topics.BankUpdates, Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	s, err := matcher.New(cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err = s.Run(ctx)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("Run returned %v after %s; want a refusal", err, time.Since(start))
	}
	for _, want := range []string{cfg.Topics.BankUpdates, "cleanup.policy=delete", "retention.ms=", "cleanup.policy=compact", "TAKEDOWN_TOPIC_BANK_UPDATES"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("refusal took %s", took)
	}
	if s.Ready() {
		t.Error("ready on a bank topic that expires entries")
	}
}
