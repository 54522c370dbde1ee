package matcher

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// Start-up benchmarks (make bench-startup), against the real broker. Sizes
// come from TAKEDOWN_BENCH_SNAPSHOT_ENTRIES (default 10M) and
// TAKEDOWN_BENCH_REPLAY_UPDATES (default 1M); each entry has a random pdq and
// md5 hash.

func benchSize(b *testing.B, env string, def int) int {
	if v := os.Getenv(env); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive number", env, v)
		}
		return n
	}
	return def
}

func benchUpdate(i int) events.BankUpdate {
	var pdq [32]byte
	var md5 [16]byte
	for j := range pdq {
		pdq[j] = byte(rand.Uint32())
	}
	for j := range md5 {
		md5[j] = byte(rand.Uint32())
	}
	u := events.BankUpdate{Op: events.BankOpAdd, Bank: fmt.Sprintf("bank%d", i%4), EntryID: fmt.Sprintf("e%09d", i),
		Labels: []string{"category:bench"},
		Signals: []events.Signal{{Type: events.SignalPDQ, Value: fmt.Sprintf("%x", pdq)},
			{Type: events.SignalMD5, Value: fmt.Sprintf("%x", md5)}}}
	u.Meta = events.NewMeta(events.TypeBankUpdate, u.Key(), "")
	return u
}

func benchConfig(b *testing.B, brokers []string) Config {
	var cfg Config
	set := config.New("bench").WithEnv(func(string) (string, bool) { return "", false })
	cfg.Bind(set)
	if err := set.Parse(nil); err != nil {
		b.Fatal(err)
	}
	cfg.Kafka.Brokers = brokers
	cfg.CacheEnabled = false
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.Group = testenv.Name("bench")
	cfg.Topics.Hashed = testenv.Name("bench-hashed")
	cfg.Topics.Matched = testenv.Name("bench-matched")
	cfg.Topics.BankUpdates = testenv.Name("bench-bank")
	cfg.DLQTopic = testenv.Name("bench-dlq")
	if err := messaging.EnsureTopics(context.Background(), config.Kafka{Brokers: brokers},
		messaging.TopicSpec{Name: cfg.Topics.BankUpdates, Partitions: 3, Compact: true}); err != nil {
		b.Fatal(err)
	}
	return cfg
}

// publishUpdates writes n generated updates, numbered from first, in
// batches.
func publishUpdates(b *testing.B, brokers []string, topic string, first, n int) {
	ctx := context.Background()
	k := config.Kafka{Brokers: brokers}
	if err := messaging.WaitForTopic(ctx, k, topic, time.Minute); err != nil {
		b.Fatal(err)
	}
	p, err := messaging.NewBulkPublisher(k, topic, 5000)
	if err != nil {
		b.Fatal(err)
	}
	for i := first; i < first+n; i++ {
		u := benchUpdate(i)
		v, err := json.Marshal(&u)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Add(ctx, messaging.Message{Key: []byte(u.Key()), Value: v}); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		b.Fatal(err)
	}
}

// startTimed runs a service until ready and returns how long that took
// (New included) and a stop function.
func startTimed(b *testing.B, cfg Config) (*Service, time.Duration, func()) {
	t0 := time.Now()
	svc, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	stop := testenv.Run(b, "matcher", svc.Run, svc.Ready)
	return svc, time.Since(t0), stop
}

func BenchmarkStartupFromSnapshot(b *testing.B) {
	brokers := testenv.KafkaBrokers(b)
	n := benchSize(b, "TAKEDOWN_BENCH_SNAPSHOT_ENTRIES", 10_000_000)
	const tail = 1000
	cfg := benchConfig(b, brokers)
	cfg.SnapshotDir = b.TempDir()
	cfg.SnapshotInterval = time.Hour

	t0 := time.Now()
	banks, err := bank.New(cfg.BankOptions())
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if err := banks.Apply(benchUpdate(i)); err != nil {
			b.Fatal(err)
		}
	}
	built := time.Since(t0)
	t0 = time.Now()
	// Offset 0 on every partition: the topic holds only the tail, which the
	// replica reads after loading.
	size, err := writeSnapshot(cfg.SnapshotDir, cfg.Topics.BankUpdates, banks, map[int]int64{0: 0, 1: 0, 2: 0})
	if err != nil {
		b.Fatal(err)
	}
	wrote := time.Since(t0)
	banks = nil
	runtime.GC()
	publishUpdates(b, brokers, cfg.Topics.BankUpdates, n, tail)
	b.ResetTimer()
	for range b.N {
		svc, took, stop := startTimed(b, cfg)
		if got := svc.Banks().Len(); got != n+tail {
			b.Fatalf("ready with %d entries, want %d", got, n+tail)
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(took.Seconds(), "s/startup")
		b.ReportMetric(float64(ms.HeapAlloc)/float64(n), "heap-B/entry")
		b.Logf("%d entries: built in %v, snapshot %d MB written in %v; start-up from it + %d-update tail: %v (source %s)",
			n, built.Round(time.Millisecond), size>>20, wrote.Round(time.Millisecond), tail, took.Round(time.Millisecond), svc.source.Load())
		b.StopTimer()
		cfg.SnapshotInterval = time.Hour
		// Stopping writes no new snapshot only if nothing changed; the tail
		// did change the banks, so rewrite time shows in the log too.
		t1 := time.Now()
		stop()
		b.Logf("graceful stop (writes the snapshot again): %v", time.Since(t1).Round(time.Millisecond))
		b.StartTimer()
	}
}

func BenchmarkStartupReplay(b *testing.B) {
	brokers := testenv.KafkaBrokers(b)
	n := benchSize(b, "TAKEDOWN_BENCH_REPLAY_UPDATES", 1_000_000)
	cfg := benchConfig(b, brokers)
	t0 := time.Now()
	publishUpdates(b, brokers, cfg.Topics.BankUpdates, 0, n)
	b.Logf("published %d updates in %v", n, time.Since(t0).Round(time.Millisecond))
	b.ResetTimer()
	for range b.N {
		svc, took, stop := startTimed(b, cfg)
		if got := svc.Banks().Len(); got != n {
			b.Fatalf("ready with %d entries, want %d", got, n)
		}
		b.ReportMetric(took.Seconds(), "s/startup")
		b.ReportMetric(float64(n)/took.Seconds(), "updates/s")
		b.Logf("replay of %d updates: %v (%.0f updates/s; 10M at this rate: %v)", n, took.Round(time.Millisecond),
			float64(n)/took.Seconds(), time.Duration(float64(took)*1e7/float64(n)).Round(time.Second))
		b.StopTimer()
		stop()
		b.StartTimer()
	}
}
