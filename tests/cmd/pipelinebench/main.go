// Command pipelinebench runs the whole pipeline as production runs it (the
// five service binaries as separate processes, a real Kafka broker and a real
// redis-server of its own, a media host and a platform webhook on loopback)
// and measures it: `pipelinebench bench` (make bench-e2e) prints throughput,
// upload-to-takedown latency and CPU per upload per process; `pipelinebench
// chaos` (make chaos) injects faults while uploads flow and counts lost,
// duplicate and false takedowns.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// opts are the settings both modes share.
type opts struct {
	root, data  string
	ports       ports
	concurrency string // TAKEDOWN_CONSUMER_CONCURRENCY for every service; empty: the services' defaults
	originals   int
	pool        int
	seed        uint64
	keep        bool
	serviceEnv  envList
}

// envList is a repeatable KEY=VALUE flag.
type envList []string

func (e *envList) String() string { return strings.Join(*e, " ") }
func (e *envList) Set(v string) error {
	if !(strings.HasPrefix(v, "TAKEDOWN_") || strings.HasPrefix(v, "GO")) || !strings.Contains(v, "=") {
		return fmt.Errorf("want TAKEDOWN_NAME=value or a Go runtime variable (GOGC=400), got %q", v)
	}
	*e = append(*e, v)
	return nil
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func envStr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "bench" && os.Args[1] != "chaos") {
		fmt.Fprintln(os.Stderr, "usage: pipelinebench bench|chaos [flags] (-h for the flags)")
		os.Exit(2)
	}
	mode := os.Args[1]
	fs := flag.NewFlagSet("pipelinebench "+mode, flag.ExitOnError)
	var o opts
	fs.StringVar(&o.root, "root", "..", "repository root (where scripts/ is)")
	fs.StringVar(&o.data, "data", envStr("PIPELINEBENCH_DATA", "/tmp/takedown-pipelinebench"), "private data dir of the broker, Redis, binaries and service logs (PIPELINEBENCH_DATA)")
	fs.IntVar(&o.ports.kafka, "kafka-port", 29092, "the harness's own broker's plaintext port (its controller and SASL ports are the next two)")
	fs.IntVar(&o.ports.redis, "redis-port", 26379, "the harness's own redis-server's port (its TLS port is the next)")
	fs.IntVar(&o.ports.services, "service-port", 28080, "the five services listen on this port and the four after it")
	fs.StringVar(&o.concurrency, "concurrency", os.Getenv("TAKEDOWN_CONSUMER_CONCURRENCY"), "TAKEDOWN_CONSUMER_CONCURRENCY of every service (empty: their defaults)")
	fs.IntVar(&o.originals, "originals", 40, "banked originals")
	fs.IntVar(&o.pool, "pool", envInt("PIPELINEBENCH_POOL", 150), "distinct altered copies and as many unrelated pictures uploads are drawn from (PIPELINEBENCH_POOL); uploads reuse them under new content ids")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the generated pictures")
	fs.BoolVar(&o.keep, "keep", false, "leave the broker and Redis running at the end")
	fs.Var(&o.serviceEnv, "service-env", "TAKEDOWN_NAME=value or GOGC, GOMEMLIMIT...: a setting for every service, for experiments (repeatable)")
	var b benchOpts
	var c chaosOpts
	switch mode {
	case "bench":
		b.bind(fs)
	case "chaos":
		c.bind(fs)
	}
	_ = fs.Parse(os.Args[2:])
	o.ports.kafkaController, o.ports.kafkaSASL, o.ports.redisTLS = o.ports.kafka+1, o.ports.kafka+2, o.ports.redis+1
	root, err := filepath.Abs(o.root)
	if err == nil {
		o.root = root
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := 0
	if err := func() error {
		h, err := setup(ctx, o)
		if h != nil {
			defer h.teardown(o.keep)
		}
		if err != nil {
			return err
		}
		if mode == "bench" {
			return runBench(ctx, h, b)
		}
		ok, err := runChaos(ctx, h, c)
		if err == nil && !ok {
			code = 1
		}
		return err
	}(); err != nil {
		fmt.Fprintln(os.Stderr, "pipelinebench:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// harness is a running stack with its platform, client and pictures.
type harness struct {
	o      opts
	st     *stack
	plat   *platform
	cl     *client
	pool   *pool
	cancel context.CancelFunc
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "%s pipelinebench: "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, a...)...)
}

func setup(ctx context.Context, o opts) (*harness, error) {
	h := &harness{o: o, st: newStack(o.root, o.data, o.ports)}
	logf("GOMAXPROCS %d; data, binaries and service logs in %s", runtime.GOMAXPROCS(0), o.data)
	logf("building the five services")
	if err := h.st.build(); err != nil {
		return nil, err
	}
	logf("starting the harness's own Kafka on %s and redis-server on %s", h.st.brokers, h.st.redis)
	if err := h.st.startInfra(); err != nil {
		return h, err
	}
	logf("generating %d banked originals, %d altered copies and %d unrelated pictures (%dx%d)", o.originals, o.pool, o.pool, picW, picH)
	var err error
	if h.pool, err = loadPool(ctx, o.data, o.seed, o.originals, o.pool); err != nil {
		return h, err
	}
	secret := events.NewID() + events.NewID()
	if h.plat, err = newPlatform([]byte(secret)); err != nil {
		return h, err
	}
	keyID, keySecret := "bench-"+events.NewID()[:8], events.NewID()+events.NewID()
	st := h.st
	st.svcEnv = []string{
		"TAKEDOWN_KAFKA_BROKERS=" + st.brokers,
		"TAKEDOWN_REDIS_ADDR=" + st.redis,
		"TAKEDOWN_URL_ALLOWLIST=127.0.0.0/8",
		"TAKEDOWN_LOG_LEVEL=info",
	}
	if o.concurrency != "" {
		st.svcEnv = append(st.svcEnv, "TAKEDOWN_CONSUMER_CONCURRENCY="+o.concurrency)
	}
	st.svcEnv = append(st.svcEnv, o.serviceEnv...)
	st.extra["ingest"] = []string{
		"TAKEDOWN_INGEST_CLIENTS=bench:" + keyID + "=" + keySecret,
		// One client sends every upload of a platform here: its rate limit
		// (50/s by default) would otherwise be what is measured.
		"TAKEDOWN_CLIENT_RATE=100000", "TAKEDOWN_CLIENT_BURST=100000",
	}
	// No one signs in to the bench's review service; it needs a key, an
	// issuer and an audience to start.
	st.extra["review"] = []string{"TAKEDOWN_JWT_HS256_SECRETS=bench=" + events.NewID() + events.NewID(),
		"TAKEDOWN_JWT_ISSUER=pipelinebench", "TAKEDOWN_JWT_AUDIENCE=takedown-review"}
	st.extra["enforcer"] = []string{"TAKEDOWN_WEBHOOK_URL=" + h.plat.base + "/webhook", "TAKEDOWN_WEBHOOK_SECRET=" + secret}
	// The bank's topic, made as `takedownctl bank add` makes it: compacted (the matcher refuses to start without it).
	k := config.Kafka{Brokers: []string{st.brokers}}
	if err := messaging.EnsureTopics(ctx, k, messaging.TopicSpec{Name: config.DefaultTopics().BankUpdates, Partitions: config.DefaultPartitions, Compact: true}); err != nil {
		return h, err
	}
	for _, name := range services {
		logf("starting %s on %s", name, st.addr(name))
		if err := st.start(ctx, name); err != nil {
			return h, err
		}
	}
	// The bank entries, as `takedownctl bank add` publishes them.
	pub := messaging.NewKafkaPublisher(k)
	for i := range h.pool.Adds {
		if err := messaging.PublishEvent(ctx, pub, config.DefaultTopics().BankUpdates, &h.pool.Adds[i]); err != nil {
			pub.Close()
			return h, err
		}
	}
	pub.Close()
	if err := waitBank(ctx, "http://"+st.addr("matcher"), len(h.pool.Adds)); err != nil {
		return h, err
	}
	h.cl = newClient(st.addr("ingest"), "bench", keyID, keySecret, h.plat)
	fctx, cancel := context.WithCancel(ctx)
	h.cancel = cancel
	go h.cl.follow(fctx, st.brokers)
	logf("pipeline ready: %d bank entries loaded", len(h.pool.Adds))
	return h, nil
}

func (h *harness) teardown(keep bool) {
	if h.cancel != nil {
		h.cancel()
	}
	logf("stopping the services")
	h.st.stopServices()
	if h.plat != nil {
		h.plat.close()
	}
	if !keep {
		logf("stopping the broker and Redis")
		h.st.stopInfra()
	}
}

func waitBank(ctx context.Context, matcher string, n int) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, matcher+"/v1/stats", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var st struct {
				Bank struct {
					Entries int `json:"entries"`
				} `json:"bank"`
			}
			if json.Unmarshal(raw, &st) == nil && st.Bank.Entries >= n {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("the matcher did not load %d bank entries within 60 s", n)
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}
