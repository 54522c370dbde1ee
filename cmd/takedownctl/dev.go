package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/takedown-pipeline/takedown/cmd/takedownctl/internal/devstack"
	"github.com/takedown-pipeline/takedown/pkg/demo"
	"github.com/takedown-pipeline/takedown/pkg/edges/webhook"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/matching/policy"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/platform/redisconn"
	"github.com/takedown-pipeline/takedown/pkg/platform/service"
)

// The services in pipeline order; each listens on 127.0.0.1 at the dev
// port base plus its offset (8080-8084 by default, the services' own
// defaults).
var devServices = []string{"ingest", "hasher", "matcher", "review", "enforcer"}

const (
	devIngest   = 0
	devMatcher  = 2
	devReview   = 3
	devEnforcer = 4
)

type devConfig struct {
	kafkaPort     int
	dataDir       string
	redis         config.Redis
	webhookURL    string
	webhookSecret string
	platformAddr  string
	portBase      int
	addrs         []string // of devServices, in order
	demo          bool
	allowlist     string
	seed          int64
	reviewToken   string // a lead's token for the review service
	ingestKey     ingestKey
}

// devClient is the ingest client of the dev stack's key.
const devClient = "demo"

// The dev stack's token issuer and audience (takedownctl token --issuer
// and --audience mint more tokens for it).
const (
	devIssuer   = "takedownctl-dev"
	devAudience = "takedown-review"
)

func cmdDev(ctx context.Context, args []string) error {
	var c devConfig
	s := newSet(ctx, "takedownctl dev")
	s.Int(&c.kafkaPort, "dev-kafka-port", 9092, "port of the embedded Kafka (kfake) on 127.0.0.1")
	s.String(&c.dataDir, "dev-data-dir", "", "keep the embedded Kafka's data here across runs (default: in memory)")
	// The services' own Redis settings: any of redis-addr, redis-url or
	// redis-sentinel-master set means a real Redis instead of the embedded
	// one, and the services get the same settings.
	c.redis.Bind(s)
	s.String(&c.webhookURL, "webhook-url", "", "platform webhook for takedowns (default: the demo platform)")
	s.String(&c.webhookSecret, "webhook-secret", "", "HMAC secret of the webhook (default: generated for the demo platform)")
	s.String(&c.platformAddr, "demo-platform-addr", "127.0.0.1:8090", "where the demo platform serves media and receives takedowns")
	s.Int(&c.portBase, "dev-port-base", 8080, "the services listen on 127.0.0.1 at this port and the four after it")
	s.Bool(&c.demo, "demo", true, "seed a demo bank and submit demo uploads")
	s.String(&c.allowlist, "url-allowlist", "127.0.0.0/8,::1/128", "addresses media may be fetched from although private (loopback for the demo)")
	s.Int64(&c.seed, "demo-seed", 1, "seed of the generated demo images")
	if err := s.Parse(args); err != nil {
		return err
	}
	if c.webhookURL != "" && c.webhookSecret == "" {
		// Checked before anything starts: the services would refuse to
		// sign, and a stack without its webhook is no demo.
		return fmt.Errorf("TAKEDOWN_WEBHOOK_SECRET is required with TAKEDOWN_WEBHOOK_URL")
	}
	for i := range devServices {
		c.addrs = append(c.addrs, "127.0.0.1:"+strconv.Itoa(c.portBase+i))
	}
	log := service.NewLogger("dev", "info", "text")
	var out sync.Mutex // one writer for all prefixed output
	say := func(format string, a ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Printf(format+"\n", a...)
	}

	cluster, err := devstack.StartKafka(c.kafkaPort, c.dataDir)
	if err != nil {
		return err
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	say("embedded Kafka (kfake, real Kafka protocol) on %s", strings.Join(brokers, ","))

	redisEnv := []string{}
	if !s.IsSet("redis-addr") && !s.IsSet("redis-url") && !s.IsSet("redis-sentinel-master") {
		mr, err := devstack.StartRedis("127.0.0.1:6379")
		if err != nil {
			return err
		}
		defer mr.Close()
		redisEnv = append(redisEnv, "TAKEDOWN_REDIS_ADDR="+mr.Addr())
		say("embedded Redis-protocol server on %s (set TAKEDOWN_REDIS_ADDR or TAKEDOWN_REDIS_URL to use a real one)", mr.Addr())
	} else {
		// A wrong password or certificate stops here, once, rather than in
		// every service.
		if err := redisconn.Check(ctx, c.redis); err != nil {
			return err
		}
		redisEnv = s.FlagEnv("redis-")
		say("using Redis at %s", c.redis.Where())
	}

	// The demo platform always hosts the demo's media, which the hasher
	// fetches from it; it receives the takedowns only when no real
	// endpoint is named.
	external := c.webhookURL != ""
	if !external && c.webhookSecret == "" {
		c.webhookSecret = events.NewID()
	}
	platform := newDemoPlatform([]byte(c.webhookSecret), say)
	stopPlatform, platformAddr, err := service.Serve(ctx, log, c.platformAddr, platform)
	if err != nil {
		return fmt.Errorf("demo platform: %w (set TAKEDOWN_DEMO_PLATFORM_ADDR)", err)
	}
	defer stopPlatform()
	platform.base = "http://" + platformAddr
	if external {
		platform.external = true
		say("demo platform on %s: media under /media/; takedowns go to %s", platform.base, c.webhookURL)
	} else {
		c.webhookURL = platform.base + "/webhook"
		say("demo platform on %s: media under /media/, takedowns arrive at /webhook (GET /takedowns shows them as received)", platform.base)
	}

	// The review service needs a key for reviewers' tokens: a fresh secret
	// each run, and a lead's token printed below, for this stack's issuer
	// and audience. The UI is served over plain http on loopback: Chromium
	// keeps Secure cookies there (the review browser test shows it), not
	// every browser does, so the dev stack's cookies are not marked Secure.
	reviewSecret := events.NewID() + events.NewID()
	env := []string{
		"TAKEDOWN_JWT_HS256_SECRETS=dev=" + reviewSecret,
		"TAKEDOWN_JWT_ISSUER=" + devIssuer,
		"TAKEDOWN_JWT_AUDIENCE=" + devAudience,
		"TAKEDOWN_COOKIE_SECURE=false",
		"TAKEDOWN_KAFKA_BROKERS=" + strings.Join(brokers, ","),
		"TAKEDOWN_WEBHOOK_URL=" + c.webhookURL,
		"TAKEDOWN_WEBHOOK_SECRET=" + c.webhookSecret,
		"TAKEDOWN_URL_ALLOWLIST=" + c.allowlist,
	}
	env = append(env, redisEnv...)
	var procs []*devstack.Process
	defer func() {
		say("stopping services...")
		devstack.StopAll(log, procs, 20*time.Second)
	}()
	// Ingest's API takes signed requests only: a fresh client key each
	// run, used by the demo and printed below for takedownctl submit.
	c.ingestKey = ingestKey{ID: "dev-" + events.NewID()[:8], Secret: events.NewID() + events.NewID()}
	exited := make(chan string, len(devServices))
	for i, name := range devServices {
		penv := append(slices.Clip(env), "TAKEDOWN_HTTP_ADDR="+c.addrs[i])
		if name == "ingest" {
			penv = append(penv, "TAKEDOWN_INGEST_CLIENTS="+devClient+":"+c.ingestKey.ID+"="+c.ingestKey.Secret)
		}
		p := &devstack.Process{Name: name, Bin: devstack.Binary(name), Env: penv}
		if err := p.Start(os.Stdout, &out); err != nil {
			return err
		}
		procs = append(procs, p)
		go func() {
			<-p.Done()
			exited <- p.Name
		}()
	}
	readyCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	for i, name := range devServices {
		if err := devstack.WaitReady(readyCtx, "http://"+c.addrs[i]+"/readyz"); err != nil {
			cancel()
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	cancel()
	say("all five services are ready")
	if c.reviewToken, err = devToken(reviewSecret, "dev", "dev-lead", []string{"lead"}, 12*time.Hour, devIssuer, devAudience); err != nil {
		return err
	}
	// The link carries the token in its fragment, which the browser never
	// sends: the review UI's script signs in with it (a POST, as when the
	// token is pasted).
	say("review UI: http://%s/ui/ — sign in as a lead (valid 12 h) by opening:\n  http://%s/ui/login#token=%s\n"+
		"or paste this token there (API: Authorization: Bearer TOKEN):\n%s",
		c.addrs[devReview], c.addrs[devReview], url.QueryEscape(c.reviewToken), c.reviewToken)
	// The review key itself, so that the reader can mint tokens for other
	// people and roles (a reviewer and a second lead: four eyes), as the
	// reviewer guide's API example does.
	say("review key (new each run): more tokens, for any --sub and --roles reviewer, lead or admin, with\n"+
		"  REVIEW_SECRET=%s\n"+
		"  bin/takedownctl token --sub alice --roles reviewer --kid dev --secret \"$REVIEW_SECRET\" --issuer %s --audience %s",
		reviewSecret, devIssuer, devAudience)
	say("ingest API: http://%s — requests are signed with client %q's key (new each run):\n"+
		"  TAKEDOWN_INGEST_KEY_ID=%s\n  TAKEDOWN_INGEST_KEY_SECRET=%s\n"+
		"  e.g. TAKEDOWN_INGEST_KEY_ID=%s TAKEDOWN_INGEST_KEY_SECRET=%s takedownctl submit picture.jpg",
		c.addrs[devIngest], devClient, c.ingestKey.ID, c.ingestKey.Secret, c.ingestKey.ID, c.ingestKey.Secret)

	if c.demo {
		if err := runDemo(ctx, c, brokers, platform, say); err != nil {
			say("demo failed: %v", err)
		}
		if err := runVideoDemo(ctx, c, brokers, platform, say); err != nil {
			say("video demo failed: %v", err)
		}
	}
	say("\nRunning until Ctrl-C.")
	select {
	case <-ctx.Done():
		return nil
	case name := <-exited:
		return fmt.Errorf("service %s exited; stopping the pipeline", name)
	}
}

// demoPlatform stands in for the platform: it hosts the uploaded media and
// receives signed takedown requests.
type demoPlatform struct {
	mu    sync.Mutex
	media map[string][]byte
	base  string
	recv  *webhook.Receiver
	mux   *http.ServeMux
	taken chan webhook.Takedown
	// external: takedowns go to a real endpoint (TAKEDOWN_WEBHOOK_URL),
	// never to this platform's /webhook.
	external bool
	// received holds the bodies of the last maxKeptTakedowns verified
	// takedowns, as they arrived, for GET /takedowns.
	received []json.RawMessage
}

// maxKeptTakedowns bounds what GET /takedowns shows: a stack left running
// for days keeps no more than this.
const maxKeptTakedowns = 100

func newDemoPlatform(secret []byte, say func(string, ...any)) *demoPlatform {
	p := &demoPlatform{media: map[string][]byte{}, mux: http.NewServeMux(), taken: make(chan webhook.Takedown, 64)}
	p.recv = &webhook.Receiver{Secret: secret, OnTakedown: func(td webhook.Takedown) {
		say("[platform] TAKEDOWN received: %s content %s (trigger %s) — %s", td.Action, td.ContentID, td.Trigger, td.Reason)
		select {
		case p.taken <- td:
		default:
		}
	}}
	p.mux.HandleFunc("POST /webhook", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, webhook.MaxBodyBytes))
		if err != nil {
			http.Error(w, "reading body: "+err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		p.recv.ServeHTTP(sw, r)
		if sw.status == http.StatusOK && json.Valid(body) {
			p.mu.Lock()
			p.received = append(p.received, body)
			if n := len(p.received); n > maxKeptTakedowns {
				p.received = slices.Delete(p.received, 0, n-maxKeptTakedowns)
			}
			p.mu.Unlock()
		}
	})
	// What the platform received, byte for byte: the webhook's JSON as the
	// enforcer sends it, for a person trying the stack (and the docs'
	// example of it, tests/examples).
	p.mux.HandleFunc("GET /takedowns", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		out, err := json.Marshal(append([]json.RawMessage{}, p.received...))
		p.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(append(out, '\n'))
	})
	p.mux.HandleFunc("GET /media/{name}", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		data, ok := p.media[r.PathValue("name")]
		p.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", http.DetectContentType(data))
		_, _ = w.Write(data)
	})
	return p
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (p *demoPlatform) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.mux.ServeHTTP(w, r) }

func (p *demoPlatform) host(name string, data []byte) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.media[name] = data
	return p.base + "/media/" + name
}

// runDemo seeds a bank, submits the demo uploads and reports what the
// pipeline did with each.
func runDemo(ctx context.Context, c devConfig, brokers []string, platform *demoPlatform, say func(string, ...any)) error {
	say("\n=== demo: seeding bank %q and submitting uploads ===", "demo-violent-extremism")
	set, err := demo.NewSet(ctx, uint64(c.seed), policy.Default(), bank.Options{})
	if err != nil {
		return err
	}
	// The matcher made the topic; should it not have, a producer would
	// not create it.
	if err := ensureBankTopic(ctx, topicSettings{kafka: config.Kafka{Brokers: brokers}, topic: events.TypeBankUpdate, partitions: 3, replication: 1}); err != nil {
		return err
	}
	pub := messaging.NewKafkaPublisher(config.Kafka{Brokers: brokers})
	defer pub.Close()
	for _, m := range set.Bank {
		sigs, err := bankData(ctx, m.Data)
		if err != nil {
			return err
		}
		u := events.NewBankAdd("demo-violent-extremism", []string{"category:violent-extremism", "source:demo"}, sigs)
		if err := messaging.PublishEvent(ctx, pub, events.TypeBankUpdate, &u); err != nil {
			return err
		}
		say("bank entry %s added from %s", u.EntryID, m.Name)
	}
	if err := waitBankLoaded(ctx, "http://"+c.addrs[devMatcher], len(set.Bank)); err != nil {
		return err
	}

	// Follow the verdicts from a group of our own, starting at the beginning.
	watch := messaging.NewConsumer(messaging.ConsumerConfig{Kafka: config.Kafka{Brokers: brokers}, Group: "takedownctl-dev-" + events.NewID()[:8],
		Topics: []string{events.TypeMediaMatched, events.TypeEnforcementAction},
		Logger: slog.New(slog.DiscardHandler)})
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	run := events.NewID()[:6]
	names := map[string]demo.Media{}
	outcome := map[string]string{}
	var mu sync.Mutex
	settled := make(chan struct{}, 16)
	go func() {
		_ = watch.Run(wctx, func(ctx context.Context, m *messaging.Message) error {
			mu.Lock()
			defer mu.Unlock()
			switch m.Topic {
			case events.TypeMediaMatched:
				var ev events.MediaMatched
				if events.Decode(m.Value, events.TypeMediaMatched, &ev) != nil {
					return nil
				}
				if media, ok := names[ev.PlatformContentID()]; ok {
					if len(ev.Matches) == 0 {
						say("  %-16s -> matcher: no match", media.Name)
						outcome[ev.PlatformContentID()] = "no match"
						settled <- struct{}{}
					} else {
						best := policy.Default().Decide(ev.Matches).Best
						say("  %-16s -> matcher: %d match(es), closest %s distance %d to bank %s entry %s", media.Name, len(ev.Matches), best.SignalType, best.Distance, best.Bank, best.EntryID)
					}
				}
			case events.TypeEnforcementAction:
				var ev events.EnforcementAction
				if events.Decode(m.Value, events.TypeEnforcementAction, &ev) != nil {
					return nil
				}
				if media, ok := names[ev.PlatformContentID()]; ok {
					say("  %-16s -> enforcer: %s %s (%s)", media.Name, ev.Action, ev.Outcome, ev.Reason)
					outcome[ev.PlatformContentID()] = ev.Action + " " + ev.Outcome
					settled <- struct{}{}
				}
			}
			return nil
		})
	}()

	ingestURL := "http://" + c.addrs[devIngest]
	for _, m := range set.Uploads {
		id := "demo-" + run + "-" + strings.TrimSuffix(m.Name, ".jpg")
		mu.Lock()
		names[id] = m
		mu.Unlock()
		url := platform.host(id+".jpg", m.Data)
		if _, err := submitUpload(ctx, ingestURL, c.ingestKey, Upload{ContentID: id, MediaURL: url, ContentType: events.ContentImage,
			UploaderID: "demo-user", UploadedAt: time.Now().UTC()}); err != nil {
			return err
		}
		what := "an unrelated image"
		if m.Of != "" {
			what = "a copy of " + m.Of
		}
		say("submitted %-16s (%s; policy should say %s) as content %s", m.Name, what, m.Expect, id)
	}
	deadline := time.After(60 * time.Second)
	for n := 0; n < len(set.Uploads); n++ {
		select {
		case <-settled:
		case <-deadline:
			say("some demo uploads had no outcome after 60 s; see the service logs above")
			n = len(set.Uploads)
		case <-ctx.Done():
			return nil
		}
	}
	stopWatch()
	say("\n=== demo results ===")
	mu.Lock()
	for id, m := range names {
		say("  %-16s expected %-7s got %s", m.Name, m.Expect, outcome[id])
	}
	mu.Unlock()
	say(`
Where to look:
  review UI:           %[1]s/ui/ (open the sign-in link printed above)
  review queue:        TOKEN=%[5]s
                       curl -s -H "Authorization: Bearer $TOKEN" %[1]s/v1/items?state=pending
  claim and decide:    curl -s -H "Authorization: Bearer $TOKEN" -XPOST %[1]s/v1/items/ID/claim
                       curl -s -H "Authorization: Bearer $TOKEN" -XPOST %[1]s/v1/items/ID/decision -d '{"decision":"violating","reason":"matches known attack footage"}'
  matcher banks/cache: curl -s http://%[2]s/v1/stats
  enforcer stats:      curl -s http://%[3]s/v1/stats
  audit trail:         topic enforcement.actions on %[4]s
  submit your own:     bin/takedownctl submit FILE      bin/takedownctl bank add --bank NAME --label LABEL FILE`,
		"http://"+c.addrs[devReview], c.addrs[devMatcher], c.addrs[devEnforcer], strings.Join(brokers, ","), c.reviewToken)
	return nil
}

// waitBankLoaded polls the matcher's stats until it holds at least n entries.
func waitBankLoaded(ctx context.Context, matcherURL string, n int) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if got, err := bankEntries(ctx, matcherURL); err == nil && got >= n {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("the matcher did not load %d bank entries within 30 s", n)
}

func bankEntries(ctx context.Context, matcherURL string) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, matcherURL+"/v1/stats", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var st struct {
		Bank struct {
			Entries int `json:"entries"`
		} `json:"bank"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return 0, err
	}
	return st.Bank.Entries, nil
}
