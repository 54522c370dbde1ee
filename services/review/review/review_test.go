package review

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/go-redis/v9"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// waitFor is the generous deadline of every poll: it bounds a broken test,
// it is not a performance claim.
const waitFor = 60 * time.Second

// testConfig is the default configuration pointed at the real broker and
// Redis, with topics, group and key prefix of its own.
func testConfig(t *testing.T) Config {
	t.Helper()
	var cfg Config
	set := config.New("review-test").WithEnv(func(string) (string, bool) { return "", false })
	cfg.Bind(set)
	if err := set.Parse(nil); err != nil {
		t.Fatal(err)
	}
	testenv.Isolate(t, &cfg.Common, "review")
	cfg.Partitions = 1 // one partition: per-test ordering and a single offset to check
	cfg.Group = testenv.Name("takedown-review")
	cfg.JWTHS256Secrets = []string{testKID + "=" + testSecret}
	cfg.JWTIssuer, cfg.JWTAudience = testIssuer, testAudience
	t.Cleanup(func() { dropKeys(t, cfg.Redis.Addr, cfg.Redis.Prefix) })
	return cfg
}

func dropKeys(t *testing.T, addr, prefix string) {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+":*", 500).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Logf("cleaning up %s keys: %v", prefix, err)
	}
}

// The tests' token key, issuer and audience.
const (
	testKID      = "test"
	testSecret   = "review-test-secret-0123456789abcdef"
	testIssuer   = "https://idp.test"
	testAudience = "takedown-review"
)

// tokenFor signs a token for sub with roles (reviewer when none), valid for
// an hour.
func tokenFor(t testing.TB, sub string, roles ...string) string {
	t.Helper()
	return signToken(t, jwt.SigningMethodHS256, []byte(testSecret), testKID, claimsFor(sub, roles...))
}

// claimsFor are the claims of a valid token for sub with roles (reviewer
// when none), issued now for an hour.
func claimsFor(sub string, roles ...string) jwt.MapClaims {
	if len(roles) == 0 {
		roles = []string{RoleReviewer}
	}
	now := time.Now()
	return jwt.MapClaims{"sub": sub, "roles": roles, "iss": testIssuer, "aud": testAudience,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// signToken signs claims with key under kid ("" for no kid header).
func signToken(t testing.TB, m jwt.SigningMethod, key any, kid string, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// viewer is the reviewer whose token the tests' reads use.
const viewer = "viewer"

// running is one Service under test.
type running struct {
	svc  *Service
	base string
	stop func()
}

func start(t *testing.T, cfg Config, adjust ...func(*Service)) *running {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	svc, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range adjust {
		f(svc)
	}
	stop := testenv.Run(t, "review", svc.Run, svc.Ready)
	return &running{svc: svc, base: "http://" + svc.Addr(), stop: stop}
}

func newRequest(contentID string) *events.ReviewRequested {
	return &events.ReviewRequested{
		Meta:        events.NewMeta(events.TypeReviewRequested, contentID, ""),
		MediaURL:    "https://cdn.example.org/media/" + contentID + ".jpg",
		ContentType: events.ContentImage,
		UploadedAt:  time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
		Reason:      "phash distance 9 is near the threshold 10",
		Matches: []events.Match{{
			Bank: "gifct", EntryID: "entry-1", Labels: []string{"violent-extremism"},
			SignalType: events.SignalPHash, Signal: "d1c4f0e0f8f0e0c0", Distance: 9, Threshold: 10,
		}},
	}
}

func publish(t *testing.T, cfg Config, msgs ...messaging.Message) {
	t.Helper()
	pub := messaging.NewKafkaPublisher(cfg.Kafka)
	defer pub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := pub.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

func requestMsg(t *testing.T, cfg Config, ev *events.ReviewRequested) messaging.Message {
	t.Helper()
	m, err := messaging.EventMessage(cfg.Topics.ReviewRequested, ev)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// call sends a JSON request without a token (body may be a string of raw
// JSON) and returns the status and body.
func call(t *testing.T, method, url string, body any) (int, []byte) {
	t.Helper()
	return callAs(t, "", method, url, body)
}

// callAs is call with a bearer token ("" for none).
func callAs(t *testing.T, token, method, url string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, data := testenv.Do(t, req, token)
	return resp.StatusCode, data
}

func decode[T any](t *testing.T, data []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return v
}

func (r *running) itemURL(id string) string { return r.base + "/v1/items/" + url.PathEscape(id) }

// claim claims as reviewer, with an empty body: the token says who.
func (r *running) claim(t *testing.T, id, reviewer string) (int, []byte) {
	t.Helper()
	return callAs(t, tokenFor(t, reviewer), http.MethodPost, r.itemURL(id)+"/claim", nil)
}

func (r *running) decide(t *testing.T, id, reviewer, decision, reason string) (int, []byte) {
	t.Helper()
	return callAs(t, tokenFor(t, reviewer), http.MethodPost, r.itemURL(id)+"/decision",
		map[string]string{"decision": decision, "reason": reason})
}

func (r *running) get(t *testing.T, id string) (int, Item) {
	t.Helper()
	code, body := callAs(t, tokenFor(t, viewer), http.MethodGet, r.itemURL(id), nil)
	if code != http.StatusOK {
		return code, Item{}
	}
	return code, decode[Item](t, body)
}

func (r *running) list(t *testing.T, state string) []Item {
	t.Helper()
	code, body := callAs(t, tokenFor(t, viewer), http.MethodGet, r.base+"/v1/items?state="+state, nil)
	if code != http.StatusOK {
		t.Fatalf("list %s: %d %s", state, code, body)
	}
	return decode[struct{ Items []Item }](t, body).Items
}

func (r *running) stats(t *testing.T) Stats {
	t.Helper()
	code, body := callAs(t, tokenFor(t, viewer), http.MethodGet, r.base+"/v1/stats", nil)
	if code != http.StatusOK {
		t.Fatalf("stats: %d %s", code, body)
	}
	return decode[Stats](t, body)
}

// waitItem polls until the item exists.
func (r *running) waitItem(t *testing.T, id string) Item {
	t.Helper()
	var it Item
	testenv.WaitFor(t, waitFor, "item "+id, func() bool {
		code, got := r.get(t, id)
		if code != http.StatusOK && code != http.StatusNotFound {
			t.Fatalf("get %s: %d", id, code)
		}
		it = got
		return code == http.StatusOK
	})
	return it
}

func ids(items []Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

func errorOf(t *testing.T, body []byte) string {
	t.Helper()
	e := decode[errorBody](t, body)
	if e.Error == "" {
		t.Fatalf("no error message in %s", body)
	}
	return e.Error
}

// readTopic reads the first n messages of topic.
func readTopic(t *testing.T, cfg Config, topic string, n int) []*messaging.Message {
	t.Helper()
	return testenv.ReadTopic(t, cfg.Kafka, topic, n)
}

func TestConfigBind(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		wantLease time.Duration
		wantGroup string
	}{
		{"defaults", nil, nil, 15 * time.Minute, "takedown-review"},
		{"env", map[string]string{"TAKEDOWN_LEASE_DURATION": "90s", "TAKEDOWN_GROUP": "g"}, nil, 90 * time.Second, "g"},
		{"flag wins", map[string]string{"TAKEDOWN_LEASE_DURATION": "90s"}, []string{"-lease-duration=2m"}, 2 * time.Minute, "takedown-review"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg Config
			set := config.New("review").WithEnv(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			cfg.Bind(set)
			if err := set.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if cfg.LeaseDuration != tt.wantLease || cfg.Group != tt.wantGroup {
				t.Errorf("lease %v group %q, want %v %q", cfg.LeaseDuration, cfg.Group, tt.wantLease, tt.wantGroup)
			}
			if cfg.HTTPAddr != DefaultHTTPAddr || cfg.DLQTopic != "review.dlq" {
				t.Errorf("http %q dlq %q", cfg.HTTPAddr, cfg.DLQTopic)
			}
		})
	}
	var cfg Config
	set := config.New("review").WithEnv(func(string) (string, bool) { return "", false })
	cfg.Bind(set)
	cfg.LeaseDuration = 0
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "lease-duration") {
		t.Errorf("New with a zero lease: err %v, want a lease-duration error", err)
	}
}

// The new settings bind from the environment, and New refuses what cannot
// work: no token key, a bank name with a slash, one bank for both kinds.
func TestConfigValidation(t *testing.T) {
	env := map[string]string{
		"TAKEDOWN_JWT_HS256_SECRETS": "a=" + strings.Repeat("a", 32) + ",b=@/run/secrets/b",
		"TAKEDOWN_JWT_PUBLIC_KEYS":   "idp=/etc/idp.pem",
		"TAKEDOWN_JWT_ISSUER":        "https://idp.example", "TAKEDOWN_JWT_AUDIENCE": "review",
		"TAKEDOWN_JWT_LEEWAY": "5s", "TAKEDOWN_FEEDBACK": "false",
		"TAKEDOWN_CONFIRMED_BANK": "mine", "TAKEDOWN_BENIGN_BANK": "ok-list",
	}
	var cfg Config
	set := config.New("review").WithEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	cfg.Bind(set)
	if err := set.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if len(cfg.JWTHS256Secrets) != 2 || cfg.JWTHS256Secrets[1] != "b=@/run/secrets/b" || cfg.JWTPublicKeys[0] != "idp=/etc/idp.pem" ||
		cfg.JWTIssuer != "https://idp.example" || cfg.JWTAudience != "review" || cfg.JWTLeeway != 5*time.Second ||
		cfg.Feedback || cfg.ConfirmedBank != "mine" || cfg.BenignBank != "ok-list" {
		t.Errorf("bound %+v", cfg)
	}

	base := func() Config {
		var c Config
		set := config.New("review").WithEnv(func(string) (string, bool) { return "", false })
		c.Bind(set)
		if err := set.Parse(nil); err != nil {
			t.Fatal(err)
		}
		c.JWTHS256Secrets = []string{"k=" + strings.Repeat("k", 32)}
		c.JWTIssuer, c.JWTAudience = "https://idp.example", "review"
		return c
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no keys", func(c *Config) { c.JWTHS256Secrets = nil }, "no token keys"},
		{"slash in bank", func(c *Config) { c.ConfirmedBank = "a/b" }, "confirmed-bank"},
		{"one bank for both", func(c *Config) { c.BenignBank = c.ConfirmedBank }, "both"},
		{"leeway too long", func(c *Config) { c.JWTLeeway = time.Hour }, "jwt-leeway"},
		{"short secret", func(c *Config) { c.JWTHS256Secrets = []string{"k=short"} }, "at least 32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.change(&c)
			if _, err := New(c, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error about %q", err, tc.want)
			}
		})
	}
	c := base()
	c.Feedback = false
	c.BenignBank = c.ConfirmedBank // irrelevant without feedback
	if _, err := New(c, nil); err != nil {
		t.Errorf("New without feedback: %v", err)
	}
}

func TestRequestBecomesPendingItem(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	r := start(t, cfg)
	// Content ids are the platform's: the API must cope with any of them.
	req := newRequest(testenv.Name("tenant/a b?c"))
	publish(t, cfg, requestMsg(t, cfg, req))

	var got Item
	testenv.WaitFor(t, waitFor, "the request to become a pending item", func() bool {
		items := r.list(t, StatePending)
		if len(items) > 1 {
			t.Fatalf("pending %v, want one item", ids(items))
		}
		if len(items) == 1 {
			got = items[0]
		}
		return len(items) == 1
	})
	if got.ID != req.ContentID || got.ContentID != req.ContentID || got.State != StatePending ||
		got.MediaURL != req.MediaURL || got.ContentType != req.ContentType || got.Reason != req.Reason ||
		got.RequestEventID != req.EventID || got.CorrelationID != req.CorrelationID ||
		!got.UploadedAt.Equal(req.UploadedAt) || !reflect.DeepEqual(got.Matches, req.Matches) {
		t.Errorf("item %+v does not reflect request %+v", got, req)
	}
	if got.EnqueuedAt.IsZero() || got.ClaimedBy != "" || got.LeaseUntil != nil || got.Decision != "" {
		t.Errorf("fresh item: enqueued %v claimed_by %q lease %v decision %q", got.EnqueuedAt, got.ClaimedBy, got.LeaseUntil, got.Decision)
	}
	if code, one := r.get(t, req.ContentID); code != http.StatusOK || one.ID != req.ContentID {
		t.Errorf("GET item: %d %+v", code, one)
	}
	if code, body := callAs(t, tokenFor(t, viewer), http.MethodGet, r.itemURL("no-such-content"), nil); code != http.StatusNotFound {
		t.Errorf("GET unknown item: %d %s", code, body)
	}
	if st := r.stats(t); st != (Stats{Pending: 1}) {
		t.Errorf("stats %+v, want 1 pending", st)
	}
	if got := r.list(t, StateClaimed); len(got) != 0 {
		t.Errorf("claimed %v, want none", ids(got))
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := call(t, http.MethodGet, r.base+path, nil); code != http.StatusOK {
			t.Errorf("%s: %d %s", path, code, body)
		}
	}
	for _, q := range []string{"state=open", "limit=0", "limit=x", "limit=501"} {
		code, body := callAs(t, tokenFor(t, viewer), http.MethodGet, r.base+"/v1/items?"+q, nil)
		if code != http.StatusBadRequest {
			t.Errorf("list ?%s: %d %s, want 400", q, code, body)
		} else {
			errorOf(t, body)
		}
	}
}

func TestDuplicateRequestsMakeOneItem(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	r := start(t, cfg)
	first := newRequest(testenv.Name("content"))
	again := newRequest(first.ContentID) // a new request event about the same content
	again.Reason = "second opinion"
	later := newRequest(testenv.Name("later"))
	publish(t, cfg, requestMsg(t, cfg, first), requestMsg(t, cfg, first), requestMsg(t, cfg, again),
		requestMsg(t, cfg, later))
	// Requests of different content ids are handled concurrently: wait
	// for both items. Those of one content id are handled in order, so the
	// first request makes its item, whatever became of the repeats.
	r.waitItem(t, later.ContentID)
	r.waitItem(t, first.ContentID)

	pending := r.list(t, StatePending)
	// Requests of different content ids are handled at once, so either may
	// be enqueued first; those of one content id are handled in order.
	if slices.Index(ids(pending), later.ContentID) == 0 {
		pending[0], pending[1] = pending[1], pending[0]
	}
	if want := []string{first.ContentID, later.ContentID}; !slices.Equal(ids(pending), want) {
		t.Fatalf("pending %v, want %v (one item per content)", ids(pending), want)
	}
	if pending[0].RequestEventID != first.EventID || pending[0].Reason != first.Reason {
		t.Errorf("item kept request %s (%q), want the first one %s", pending[0].RequestEventID, pending[0].Reason, first.EventID)
	}
	if st := r.stats(t); st != (Stats{Pending: 2}) {
		t.Errorf("stats %+v, want 2 pending", st)
	}
}

func TestConcurrentClaimHasOneWinner(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	r := start(t, cfg)
	req := newRequest(testenv.Name("content"))
	publish(t, cfg, requestMsg(t, cfg, req))
	r.waitItem(t, req.ContentID)

	reviewers := []string{"alice", "bob", "carol", "dave", "erin", "frank"}
	codes := make([]int, len(reviewers))
	bodies := make([][]byte, len(reviewers))
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i, name := range reviewers {
		wg.Go(func() {
			<-gate
			codes[i], bodies[i] = r.claim(t, req.ContentID, name)
		})
	}
	close(gate)
	wg.Wait()

	winner := ""
	for i, code := range codes {
		switch code {
		case http.StatusOK:
			if winner != "" {
				t.Fatalf("both %s and %s claimed the item", winner, reviewers[i])
			}
			winner = reviewers[i]
		case http.StatusConflict:
		default:
			t.Errorf("%s: %d %s", reviewers[i], code, bodies[i])
		}
	}
	if winner == "" {
		t.Fatalf("nobody claimed the item: %v", codes)
	}
	for i, code := range codes {
		if code == http.StatusConflict {
			if msg := errorOf(t, bodies[i]); !strings.HasPrefix(msg, "claimed by "+winner+" until ") {
				t.Errorf("%s got %q, want it to name %s", reviewers[i], msg, winner)
			}
		}
	}

	_, it := r.get(t, req.ContentID)
	if it.State != StateClaimed || it.ClaimedBy != winner || it.LeaseUntil == nil {
		t.Fatalf("after claim: %+v", it)
	}
	code, body := r.claim(t, req.ContentID, winner)
	if code != http.StatusOK {
		t.Fatalf("re-claim by %s: %d %s", winner, code, body)
	}
	if again := decode[Item](t, body); again.LeaseUntil == nil || again.LeaseUntil.Before(*it.LeaseUntil) {
		t.Errorf("re-claim lease %v, want at least %v", again.LeaseUntil, it.LeaseUntil)
	}
	if got := ids(r.list(t, StateClaimed)); !slices.Equal(got, []string{req.ContentID}) {
		t.Errorf("claimed list %v", got)
	}
	if got := r.list(t, StatePending); len(got) != 0 {
		t.Errorf("pending list %v, want none", ids(got))
	}
	if st := r.stats(t); st != (Stats{Claimed: 1}) {
		t.Errorf("stats %+v, want 1 claimed", st)
	}

	// Zed's attempts: the identity is the token's, the body may only
	// confirm it.
	for _, tc := range []struct {
		name, id, body string
		want           int
	}{
		{"body names the winner", req.ContentID, `{"reviewer":"` + winner + `"}`, http.StatusForbidden},
		{"unknown field", req.ContentID, `{"reviewer":"zed","priority":1}`, http.StatusBadRequest},
		{"not json", req.ContentID, `reviewer=zed`, http.StatusBadRequest},
		{"two objects", req.ContentID, `{"reviewer":"zed"}{"reviewer":"zed"}`, http.StatusBadRequest},
		{"too big", req.ContentID, `{"reviewer":"` + strings.Repeat("z", maxBody) + `"}`, http.StatusRequestEntityTooLarge},
		{"unknown item", "no-such-content", `{"reviewer":"zed"}`, http.StatusNotFound},
		{"held by the winner", req.ContentID, `{"reviewer":"zed"}`, http.StatusConflict},
		{"held, empty body", req.ContentID, ``, http.StatusConflict},
	} {
		code, body := callAs(t, tokenFor(t, "zed"), http.MethodPost, r.itemURL(tc.id)+"/claim", tc.body)
		if code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		} else {
			errorOf(t, body)
		}
	}
}

func TestExpiredLeaseLetsAnotherReviewerClaim(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.LeaseDuration = 300 * time.Millisecond
	r := start(t, cfg)
	req := newRequest(testenv.Name("content"))
	publish(t, cfg, requestMsg(t, cfg, req))
	r.waitItem(t, req.ContentID)

	if code, body := r.claim(t, req.ContentID, "alice"); code != http.StatusOK {
		t.Fatalf("alice claim: %d %s", code, body)
	}
	// Once the lease runs out the item is pending again, for every view.
	deadline := time.Now().Add(waitFor)
	for {
		_, it := r.get(t, req.ContentID)
		if it.State == StatePending {
			if it.ClaimedBy != "" || it.LeaseUntil != nil {
				t.Errorf("expired item still shows its claim: %+v", it)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease never expired: %+v", it)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := ids(r.list(t, StatePending)); !slices.Equal(got, []string{req.ContentID}) {
		t.Errorf("pending list %v, want the expired item", got)
	}
	if st := r.stats(t); st != (Stats{Pending: 1}) {
		t.Errorf("stats %+v, want the expired item counted as pending", st)
	}

	code, body := r.claim(t, req.ContentID, "bob")
	if code != http.StatusOK {
		t.Fatalf("bob claim after expiry: %d %s", code, body)
	}
	if it := decode[Item](t, body); it.ClaimedBy != "bob" || it.State != StateClaimed {
		t.Errorf("bob's claim: %+v", it)
	}
	// Alice lost the item: whether bob's short lease still runs (409) or
	// not (403), her decision is refused and nothing is published.
	code, body = r.decide(t, req.ContentID, "alice", events.DecisionViolating, "too late")
	if code != http.StatusForbidden && code != http.StatusConflict {
		t.Errorf("alice decision after losing the lease: %d %s", code, body)
	}
	if n := testenv.EndOffset(t, cfg.Kafka.Brokers, cfg.Topics.ReviewDecided); n != 0 {
		t.Errorf("%d decision(s) published, want none", n)
	}
}

func TestDecisionNeedsTheLease(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	r := start(t, cfg)
	req := newRequest(testenv.Name("content"))
	publish(t, cfg, requestMsg(t, cfg, req))
	r.waitItem(t, req.ContentID)

	code, body := r.decide(t, req.ContentID, "alice", events.DecisionViolating, "unclaimed")
	if code != http.StatusForbidden || !strings.Contains(errorOf(t, body), "claim it first") {
		t.Errorf("decision without a claim: %d %s, want 403 telling to claim", code, body)
	}
	if code, body := r.claim(t, req.ContentID, "bob"); code != http.StatusOK {
		t.Fatalf("bob claim: %d %s", code, body)
	}
	code, body = r.decide(t, req.ContentID, "alice", events.DecisionViolating, "not mine")
	if code != http.StatusConflict || !strings.Contains(errorOf(t, body), "claimed by bob") {
		t.Errorf("decision on bob's item: %d %s, want 409 naming bob", code, body)
	}
	for _, tc := range []struct {
		name, id, body string
		want           int
	}{
		{"bad decision", req.ContentID, `{"decision":"maybe","reason":"r"}`, http.StatusBadRequest},
		{"no decision", req.ContentID, `{"reason":"r"}`, http.StatusBadRequest},
		{"no reason", req.ContentID, `{"decision":"benign"}`, http.StatusBadRequest},
		{"blank reason", req.ContentID, `{"decision":"benign","reason":" \n "}`, http.StatusBadRequest},
		{"body names alice", req.ContentID, `{"reviewer":"alice","decision":"benign","reason":"r"}`, http.StatusForbidden},
		{"unknown field", req.ContentID, `{"reviewer":"bob","decision":"benign","reason":"r","severity":3}`, http.StatusBadRequest},
		{"long reason", req.ContentID, `{"decision":"benign","reason":"` + strings.Repeat("r", maxReasonLen+1) + `"}`, http.StatusBadRequest},
		{"empty body", req.ContentID, ``, http.StatusBadRequest},
		{"unknown item", "no-such-content", `{"decision":"benign","reason":"r"}`, http.StatusNotFound},
	} {
		code, body := callAs(t, tokenFor(t, "bob"), http.MethodPost, r.itemURL(tc.id)+"/decision", tc.body)
		if code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		} else {
			errorOf(t, body)
		}
	}
	if _, it := r.get(t, req.ContentID); it.State != StateClaimed || it.ClaimedBy != "bob" {
		t.Errorf("refused decisions changed the item: %+v", it)
	}
	if n := testenv.EndOffset(t, cfg.Kafka.Brokers, cfg.Topics.ReviewDecided); n != 0 {
		t.Errorf("%d decision(s) published, want none", n)
	}
}

func TestDecisionPublishesOnce(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	r := start(t, cfg)
	req := newRequest(testenv.Name("content"))
	// A live stream's request: the decision carries its stream on, so that
	// the enforcer stops the stream.
	req.Stream = &events.StreamSegmentRef{Sequence: 3, OffsetMs: 6000, DurationMs: 2000,
		ReceivedAt: time.Date(2025, 3, 4, 5, 6, 9, 0, time.UTC)}
	publish(t, cfg, requestMsg(t, cfg, req))
	r.waitItem(t, req.ContentID)
	if code, body := r.claim(t, req.ContentID, "alice"); code != http.StatusOK {
		t.Fatalf("claim: %d %s", code, body)
	}

	code, body := r.decide(t, req.ContentID, "alice", events.DecisionViolating, "flag and logo of a listed group")
	if code != http.StatusOK {
		t.Fatalf("decision: %d %s", code, body)
	}
	decided := decode[Item](t, body)
	if decided.State != StateDecided || decided.Decision != events.DecisionViolating || decided.DecidedBy != "alice" ||
		decided.DecisionReason != "flag and logo of a listed group" || decided.DecidedEventID == "" ||
		decided.DecidedAt == nil || decided.LeaseUntil != nil {
		t.Fatalf("decided item: %+v", decided)
	}

	msgs := readTopic(t, cfg, cfg.Topics.ReviewDecided, 1)
	var ev events.ReviewDecided
	if err := events.Decode(msgs[0].Value, events.TypeReviewDecided, &ev); err != nil {
		t.Fatalf("published decision: %v: %s", err, msgs[0].Value)
	}
	want := events.ReviewDecided{
		Meta: events.Meta{EventID: decided.DecidedEventID, EventType: events.TypeReviewDecided,
			SchemaVersion: events.SchemaVersion, ContentID: req.ContentID, CorrelationID: req.CorrelationID,
			OccurredAt: ev.OccurredAt},
		Decision: events.DecisionViolating, Reviewer: "alice", Reason: "flag and logo of a listed group",
		MediaURL: req.MediaURL, ContentType: req.ContentType, UploadedAt: ev.UploadedAt,
		Matches: req.Matches, DecidedAt: ev.DecidedAt, Stream: req.Stream,
	}
	if !reflect.DeepEqual(ev, want) || !ev.UploadedAt.Equal(req.UploadedAt) || ev.DecidedAt.IsZero() ||
		ev.EventID == req.EventID {
		t.Errorf("published %+v\nwant      %+v", ev, want)
	}
	if string(msgs[0].Key) != req.ContentID {
		t.Errorf("key %q, want the content id", msgs[0].Key)
	}

	// The same decision again is a repeat: the original answer, no new event.
	code, body = r.decide(t, req.ContentID, "alice", events.DecisionViolating, "flag and logo of a listed group")
	if code != http.StatusOK {
		t.Fatalf("repeated decision: %d %s", code, body)
	}
	if again := decode[Item](t, body); again.DecidedEventID != decided.DecidedEventID {
		t.Errorf("repeat gave event %s, want the original %s", again.DecidedEventID, decided.DecidedEventID)
	}
	for _, tc := range []struct{ reviewer, decision string }{
		{"alice", events.DecisionBenign},
		{"bob", events.DecisionViolating},
	} {
		code, body := r.decide(t, req.ContentID, tc.reviewer, tc.decision, "a second opinion")
		if code != http.StatusConflict || !strings.Contains(errorOf(t, body), "already decided") {
			t.Errorf("%s deciding %s on a decided item: %d %s, want 409", tc.reviewer, tc.decision, code, body)
		}
	}
	if code, body := r.claim(t, req.ContentID, "bob"); code != http.StatusConflict {
		t.Errorf("claim of a decided item: %d %s, want 409", code, body)
	}
	// Publishing is synchronous, so anything the calls above sent is counted.
	if n := testenv.EndOffset(t, cfg.Kafka.Brokers, cfg.Topics.ReviewDecided); n != 1 {
		t.Errorf("%d decisions published, want exactly 1", n)
	}
	if st := r.stats(t); st != (Stats{Decided: 1}) {
		t.Errorf("stats %+v, want 1 decided", st)
	}
	if got := ids(r.list(t, StateDecided)); !slices.Equal(got, []string{req.ContentID}) {
		t.Errorf("decided list %v", got)
	}
}

func TestDecisionKafkaFailureKeepsClaim(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	r := start(t, cfg, func(s *Service) {
		// A real client with nowhere to write: publishing decisions fails.
		s.pub = messaging.NewKafkaPublisher(config.Kafka{Brokers: []string{"127.0.0.1:1"}})
	})
	req := newRequest(testenv.Name("content"))
	publish(t, cfg, requestMsg(t, cfg, req))
	r.waitItem(t, req.ContentID)
	if code, body := r.claim(t, req.ContentID, "alice"); code != http.StatusOK {
		t.Fatalf("claim: %d %s", code, body)
	}
	code, body := r.decide(t, req.ContentID, "alice", events.DecisionViolating, "Kafka is down")
	if code != http.StatusServiceUnavailable || !strings.Contains(errorOf(t, body), "stays claimed") {
		t.Errorf("decision with Kafka down: %d %s, want 503", code, body)
	}
	if _, it := r.get(t, req.ContentID); it.State != StateClaimed || it.ClaimedBy != "alice" {
		t.Errorf("after a failed publish: %+v, want still claimed by alice", it)
	}
	if n := testenv.EndOffset(t, cfg.Kafka.Brokers, cfg.Topics.ReviewDecided); n != 0 {
		t.Errorf("%d decision(s) on the real topic, want none", n)
	}
}

func TestMalformedRequestsGoToDLQ(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	r := start(t, cfg)
	wrongType := newRequest(testenv.Name("wrong-type"))
	wrongType.EventType = events.TypeMediaMatched
	noMedia := newRequest(testenv.Name("no-media"))
	noMedia.MediaURL = ""
	good := newRequest(testenv.Name("good"))
	bad := []messaging.Message{
		{Topic: cfg.Topics.ReviewRequested, Key: []byte("junk"), Value: []byte("not json at all")},
		requestMsg(t, cfg, wrongType),
		requestMsg(t, cfg, noMedia),
	}
	publish(t, cfg, append(bad, requestMsg(t, cfg, good))...)

	// Requests of different content ids are handled at once, so their
	// dead letters come in any order.
	dead := readTopic(t, cfg, cfg.DLQTopic, len(bad))
	want := map[string]bool{}
	for _, m := range bad {
		want[string(m.Value)] = true
	}
	for i, m := range dead {
		h := map[string]string{}
		for _, hd := range m.Headers {
			h[hd.Key] = string(hd.Value)
		}
		if !want[string(m.Value)] || h[messaging.HeaderDLQError] == "" ||
			h[messaging.HeaderDLQTopic] != cfg.Topics.ReviewRequested || h[messaging.HeaderDLQAttempts] != "1" {
			t.Errorf("dead letter %d: value %q headers %v", i, m.Value, h)
		}
		delete(want, string(m.Value))
	}
	r.waitItem(t, good.ContentID)
	for _, id := range []string{wrongType.ContentID, noMedia.ContentID} {
		if code, _ := r.get(t, id); code != http.StatusNotFound {
			t.Errorf("malformed request %s became an item (%d)", id, code)
		}
	}
	if st := r.stats(t); st != (Stats{Pending: 1}) {
		t.Errorf("stats %+v, want only the good request", st)
	}
}

func TestRestartKeepsQueue(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	first := start(t, cfg)
	a, b := newRequest(testenv.Name("a")), newRequest(testenv.Name("b"))
	publish(t, cfg, requestMsg(t, cfg, a), requestMsg(t, cfg, b))
	// Both: requests with different keys are handled concurrently, in
	// any order.
	first.waitItem(t, a.ContentID)
	first.waitItem(t, b.ContentID)
	if code, body := first.claim(t, a.ContentID, "alice"); code != http.StatusOK {
		t.Fatalf("claim: %d %s", code, body)
	}
	first.stop()

	second := start(t, cfg)
	if code, it := second.get(t, a.ContentID); code != http.StatusOK || it.State != StateClaimed || it.ClaimedBy != "alice" {
		t.Errorf("after restart %s: %d %+v, want claimed by alice", a.ContentID, code, it)
	}
	if got := ids(second.list(t, StatePending)); !slices.Equal(got, []string{b.ContentID}) {
		t.Errorf("pending after restart %v, want [%s]", got, b.ContentID)
	}
	if code, body := second.claim(t, a.ContentID, "bob"); code != http.StatusConflict {
		t.Errorf("bob claiming alice's item after restart: %d %s", code, body)
	}
	if code, body := second.decide(t, a.ContentID, "alice", events.DecisionBenign, "news footage"); code != http.StatusOK {
		t.Errorf("alice deciding after restart: %d %s", code, body)
	}
	if st := second.stats(t); st != (Stats{Pending: 1, Decided: 1}) {
		t.Errorf("stats %+v", st)
	}
	// The redelivered or repeated request of a decided item opens nothing new.
	publish(t, cfg, requestMsg(t, cfg, a))
	sentinel := newRequest(testenv.Name("c"))
	publish(t, cfg, requestMsg(t, cfg, sentinel))
	second.waitItem(t, sentinel.ContentID)
	if code, it := second.get(t, a.ContentID); code != http.StatusOK || it.State != StateDecided {
		t.Errorf("decided item after a repeated request: %d %+v", code, it)
	}
	if st := second.stats(t); st != (Stats{Pending: 2, Decided: 1}) {
		t.Errorf("stats %+v, want the repeat ignored", st)
	}
}

// Not a Redis or Kafka claim: the item view's state rules.
func TestItemFromHashState(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	req, _ := json.Marshal(newRequest("c1"))
	us := func(t time.Time) string { return fmt.Sprint(t.UnixMicro()) }
	tests := []struct {
		name      string
		h         map[string]string
		wantState string
		wantBy    string
	}{
		{"pending", map[string]string{fState: StatePending}, StatePending, ""},
		{"claimed", map[string]string{fState: StateClaimed, fClaimedBy: "al", fLeaseUntil: us(now.Add(time.Second))}, StateClaimed, "al"},
		{"lease ends now", map[string]string{fState: StateClaimed, fClaimedBy: "al", fLeaseUntil: us(now)}, StatePending, ""},
		{"decided", map[string]string{fState: StateDecided, fDecision: "benign", fDecidedBy: "al", fDecidedAt: us(now)}, StateDecided, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.h[fRequest] = string(req)
			tt.h[fEnqueuedAt] = us(now.Add(-time.Hour))
			it, err := itemFromHash("c1", tt.h, now)
			if err != nil {
				t.Fatal(err)
			}
			if it.State != tt.wantState || it.ClaimedBy != tt.wantBy {
				t.Errorf("state %q by %q, want %q by %q", it.State, it.ClaimedBy, tt.wantState, tt.wantBy)
			}
		})
	}
}

// Two different decisions racing on one claim: one wins, and every event
// published for the item is that one decision.
func TestConflictingDecisionsPublishOneOutcome(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	r := start(t, cfg)
	req := newRequest(testenv.Name("content"))
	publish(t, cfg, requestMsg(t, cfg, req))
	r.waitItem(t, req.ContentID)
	if code, body := r.claim(t, req.ContentID, "alice"); code != http.StatusOK {
		t.Fatalf("claim: %d %s", code, body)
	}
	decisions := []string{events.DecisionViolating, events.DecisionBenign}
	codes := make([]int, len(decisions))
	var wg sync.WaitGroup
	for i, d := range decisions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _ = r.decide(t, req.ContentID, "alice", d, "racing myself")
		}()
	}
	wg.Wait()
	winner := ""
	for i, c := range codes {
		switch c {
		case http.StatusOK:
			if winner != "" {
				t.Fatalf("both decisions succeeded: %v", codes)
			}
			winner = decisions[i]
		case http.StatusConflict:
		default:
			t.Fatalf("codes %v", codes)
		}
	}
	if winner == "" {
		t.Fatalf("no decision succeeded: %v", codes)
	}
	n := testenv.EndOffset(t, cfg.Kafka.Brokers, cfg.Topics.ReviewDecided)
	ids := map[string]bool{}
	for _, m := range readTopic(t, cfg, cfg.Topics.ReviewDecided, int(n)) {
		var ev events.ReviewDecided
		if err := events.Decode(m.Value, events.TypeReviewDecided, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Decision != winner {
			t.Fatalf("published %s although %s won", ev.Decision, winner)
		}
		ids[ev.EventID] = true
	}
	if len(ids) != 1 {
		t.Fatalf("%d distinct decision events, want 1", len(ids))
	}
}

// A decision whose publish failed stays committed even when its lease runs
// out: the next reviewer to touch the item finishes publishing it instead of
// deciding differently.
func TestStuckDecisionIsFinishedNotReplaced(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.LeaseDuration = 300 * time.Millisecond
	broken := start(t, cfg, func(s *Service) { s.pub = messaging.NewKafkaPublisher(config.Kafka{Brokers: []string{"127.0.0.1:1"}}) })
	req := newRequest(testenv.Name("content"))
	publish(t, cfg, requestMsg(t, cfg, req))
	broken.waitItem(t, req.ContentID)
	if code, body := broken.claim(t, req.ContentID, "alice"); code != http.StatusOK {
		t.Fatalf("claim: %d %s", code, body)
	}
	if code, body := broken.decide(t, req.ContentID, "alice", events.DecisionViolating, "flag of a listed group"); code != http.StatusServiceUnavailable {
		t.Fatalf("decision with Kafka down: %d %s, want 503", code, body)
	}
	time.Sleep(2 * cfg.LeaseDuration) // alice's lease is gone

	healthy := start(t, cfg)
	code, body := healthy.claim(t, req.ContentID, "bob")
	if code != http.StatusConflict || !strings.Contains(errorOf(t, body), "violating by alice") {
		t.Fatalf("bob's claim of an item with a decision in flight: %d %s, want 409 naming alice's decision", code, body)
	}
	if code, _ := healthy.decide(t, req.ContentID, "bob", events.DecisionBenign, "looks fine"); code != http.StatusConflict {
		t.Fatalf("bob's contrary decision: %d, want 409", code)
	}
	msgs := readTopic(t, cfg, cfg.Topics.ReviewDecided, 1)
	var ev events.ReviewDecided
	if err := events.Decode(msgs[0].Value, events.TypeReviewDecided, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Decision != events.DecisionViolating || ev.Reviewer != "alice" {
		t.Fatalf("published %s by %s, want alice's violating", ev.Decision, ev.Reviewer)
	}
	if n := testenv.EndOffset(t, cfg.Kafka.Brokers, cfg.Topics.ReviewDecided); n != 1 {
		t.Fatalf("%d decisions published, want 1", n)
	}
	if _, it := healthy.get(t, req.ContentID); it.State != StateDecided || it.DecidedBy != "alice" {
		t.Fatalf("item %+v, want decided by alice", it)
	}
}
