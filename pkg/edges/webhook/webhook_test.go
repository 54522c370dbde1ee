package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

var secret = []byte("s3cret")

func TestIdempotencyKey(t *testing.T) {
	k := IdempotencyKey("c1", events.ActionRemove)
	if len(k) != 32 {
		t.Fatalf("key %q has length %d, want 32", k, len(k))
	}
	if k != IdempotencyKey("c1", events.ActionRemove) {
		t.Error("key is not deterministic")
	}
	for _, other := range []string{
		IdempotencyKey("c2", events.ActionRemove),
		IdempotencyKey("c1", events.ActionQueueForReview),
		IdempotencyKey("c1r", "emove"),
	} {
		if other == k {
			t.Errorf("different content/action gave the same key %q", k)
		}
	}
}

func TestSignVerify(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"action":"remove","content_id":"c1"}`)
	good := Sign(secret, now, body)
	if !strings.HasPrefix(good, "t=1700000000,v1=") {
		t.Fatalf("Sign = %q, want t=1700000000,v1=...", good)
	}
	tests := []struct {
		name   string
		secret []byte
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{name: "roundtrip", header: good, want: nil},
		{name: "within tolerance later", header: good, now: now.Add(4 * time.Minute), want: nil},
		{name: "within tolerance earlier", header: good, now: now.Add(-4 * time.Minute), want: nil},
		{name: "tampered body", header: good, body: []byte(`{"action":"remove","content_id":"c2"}`), want: ErrBadSignature},
		{name: "wrong secret", secret: []byte("other"), header: good, want: ErrBadSignature},
		{name: "expired", header: good, now: now.Add(6 * time.Minute), want: ErrExpiredSignature},
		{name: "from the future", header: good, now: now.Add(-6 * time.Minute), want: ErrExpiredSignature},
		{name: "missing", header: "", want: ErrMissingSignature},
		{name: "no v1", header: "t=1700000000", want: ErrMalformedSignature},
		{name: "no t", header: "v1=" + strings.Repeat("ab", 32), want: ErrMalformedSignature},
		{name: "v1 not hex", header: "t=1700000000,v1=zz", want: ErrMalformedSignature},
		{name: "garbage", header: "hello", want: ErrMalformedSignature},
		{name: "bad timestamp", header: strings.Replace(good, "t=1700000000", "t=soon", 1), want: ErrMalformedSignature},
		{name: "timestamp changed", header: strings.Replace(good, "t=1700000000", "t=1700000001", 1), want: ErrBadSignature},
		{name: "rotation: one of two v1 matches", header: Sign([]byte("old"), now, body) + "," + good[strings.Index(good, "v1="):], want: nil},
		{name: "unknown scheme ignored", header: good + ",v0=abc", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, b, n := secret, body, now
			if tt.secret != nil {
				s = tt.secret
			}
			if tt.body != nil {
				b = tt.body
			}
			if !tt.now.IsZero() {
				n = tt.now
			}
			err := Verify(s, tt.header, b, n, 5*time.Minute)
			if tt.want == nil && err != nil {
				t.Fatalf("Verify: %v, want nil", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Verify: %v, want %v", err, tt.want)
			}
		})
	}
}

func takedown(contentID string) Takedown {
	return Takedown{
		Action: events.ActionRemove, ContentID: contentID, Reason: "test", Bank: "demo",
		Labels: []string{"terror"}, Trigger: events.TriggerAuto, CorrelationID: "corr",
		Evidence: []events.Match{{Bank: "demo", EntryID: "e1", SignalType: "phash", Distance: 1, Threshold: 10}},
	}
}

func fastClient(url string) *Client {
	return &Client{URL: url, Secret: secret, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Timeout: 5 * time.Second}
}

func TestClientRetries503ThenSucceeds(t *testing.T) {
	rc := &Receiver{Secret: secret}
	var calls atomic.Int64
	var keys sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys.Store(r.Header.Get(HeaderIdempotencyKey), true)
		if calls.Add(1) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		rc.ServeHTTP(w, r)
	}))
	defer srv.Close()

	attempts, err := fastClient(srv.URL).Send(context.Background(), takedown("c1"))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if attempts != 2 || calls.Load() != 2 {
		t.Fatalf("attempts = %d, server calls = %d; want 2 and 2", attempts, calls.Load())
	}
	if rc.Accepted() != 1 {
		t.Fatalf("receiver accepted %d, want 1 (signature of the retry must verify)", rc.Accepted())
	}
	n := 0
	keys.Range(func(k, _ any) bool {
		n++
		if k != IdempotencyKey("c1", events.ActionRemove) {
			t.Errorf("Idempotency-Key %q, want the derived key", k)
		}
		return true
	})
	if n != 1 {
		t.Errorf("%d distinct idempotency keys over the retries, want 1", n)
	}
}

func TestClientRetryableStatuses(t *testing.T) {
	for _, code := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusRequestTimeout, http.StatusTooManyRequests} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			var calls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.WriteHeader(code)
			}))
			defer srv.Close()
			c := fastClient(srv.URL)
			c.MaxAttempts = 3
			attempts, err := c.Send(context.Background(), takedown("c1"))
			var se *StatusError
			if !errors.As(err, &se) || se.Code != code || se.Permanent() {
				t.Fatalf("Send error %v, want a non-permanent *StatusError %d", err, code)
			}
			if attempts != 3 || calls.Load() != 3 {
				t.Fatalf("attempts = %d, server calls = %d; want 3 and 3", attempts, calls.Load())
			}
		})
	}
}

func TestClientPermanentFailure(t *testing.T) {
	for _, code := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusFound} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			var calls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				if code == http.StatusFound {
					w.Header().Set("Location", "/elsewhere")
				}
				http.Error(w, "no thanks", code)
			}))
			defer srv.Close()
			attempts, err := fastClient(srv.URL).Send(context.Background(), takedown("c1"))
			var se *StatusError
			if !errors.As(err, &se) || se.Code != code || !se.Permanent() {
				t.Fatalf("Send error %v, want a permanent *StatusError %d", err, code)
			}
			if !strings.Contains(se.Error(), "no thanks") {
				t.Errorf("error %q does not carry the response body", se.Error())
			}
			if attempts != 1 || calls.Load() != 1 {
				t.Fatalf("attempts = %d, server calls = %d; want 1 and 1", attempts, calls.Load())
			}
		})
	}
}

func TestClientRetryAfterCappedAtMaxBackoff(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			// An hour: the client must cap it, or this test never ends.
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	attempts, err := fastClient(srv.URL).Send(ctx, takedown("c1"))
	if err != nil || attempts != 2 {
		t.Fatalf("Send = %d, %v; want 2, nil", attempts, err)
	}
}

func TestClientNetworkErrorRetried(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens any more
	c := fastClient(url)
	c.MaxAttempts = 2
	attempts, err := c.Send(context.Background(), takedown("c1"))
	var se *StatusError
	if err == nil || errors.As(err, &se) {
		t.Fatalf("Send error %v, want a network error", err)
	}
	if attempts != 2 {
		t.Fatalf("attempts = %d, want 2", attempts)
	}
}

// OnRetry sees every failed attempt that is tried again, and only those: not
// the last one, not a success.
func TestClientOnRetry(t *testing.T) {
	tests := []struct {
		name        string
		statuses    []int // answers in turn; the last repeats
		maxAttempts int
		hookErrAt   int // the retry whose hook fails; 0: none
		wantRetries []int
		wantCalls   int64
		wantErr     bool
	}{
		{name: "success at once", statuses: []int{200}, maxAttempts: 5, wantCalls: 1},
		{name: "two failures then success", statuses: []int{503, 500, 200}, maxAttempts: 5, wantRetries: []int{1, 2}, wantCalls: 3},
		{name: "all fail: the last attempt is no retry", statuses: []int{503}, maxAttempts: 3, wantRetries: []int{1, 2}, wantCalls: 3, wantErr: true},
		{name: "permanent failure is no retry", statuses: []int{400}, maxAttempts: 3, wantCalls: 1, wantErr: true},
		{name: "a failing hook stops sending", statuses: []int{503}, maxAttempts: 5, hookErrAt: 2, wantRetries: []int{1, 2}, wantCalls: 2, wantErr: true},
	}
	hookErr := errors.New("cannot record")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(calls.Add(1))
				w.WriteHeader(tt.statuses[min(n, len(tt.statuses))-1])
			}))
			defer srv.Close()
			c := fastClient(srv.URL)
			c.MaxAttempts = tt.maxAttempts
			var retries []int
			c.OnRetry = func(attempt int, err error) error {
				var se *StatusError
				if !errors.As(err, &se) {
					t.Errorf("retry %d: error %v, want the attempt's *StatusError", attempt, err)
				}
				retries = append(retries, attempt)
				if attempt == tt.hookErrAt {
					return hookErr
				}
				return nil
			}
			attempts, err := c.Send(context.Background(), takedown("c1"))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Send error %v, want error %v", err, tt.wantErr)
			}
			if tt.hookErrAt != 0 && !errors.Is(err, hookErr) {
				t.Errorf("Send error %v does not wrap the hook's error", err)
			}
			if !slices.Equal(retries, tt.wantRetries) || calls.Load() != tt.wantCalls || attempts != int(tt.wantCalls) {
				t.Errorf("retries %v, calls %d, attempts %d; want %v, %d, %d", retries, calls.Load(), attempts, tt.wantRetries, tt.wantCalls, tt.wantCalls)
			}
		})
	}
}

func TestClientContextCancelStopsRetrying(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := fastClient(srv.URL)
	c.MaxAttempts = 100
	attempts, err := c.Send(ctx, takedown("c1"))
	if !errors.Is(err, context.Canceled) || attempts != 1 {
		t.Fatalf("Send = %d, %v; want 1 attempt and context.Canceled", attempts, err)
	}
}

func TestReceiver(t *testing.T) {
	var got []Takedown
	var mu sync.Mutex
	rc := &Receiver{Secret: secret, OnTakedown: func(td Takedown) {
		mu.Lock()
		got = append(got, td)
		mu.Unlock()
	}}
	srv := httptest.NewServer(rc)
	defer srv.Close()

	// The same takedown sent twice, as a redelivery would: acted on once.
	c := fastClient(srv.URL)
	for i := range 2 {
		if _, err := c.Send(context.Background(), takedown("c1")); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if _, err := c.Send(context.Background(), takedown("c2")); err != nil {
		t.Fatalf("send c2: %v", err)
	}
	if rc.Received() != 3 || rc.Accepted() != 2 || rc.Duplicates() != 1 || rc.Rejected() != 0 {
		t.Fatalf("received/accepted/duplicates/rejected = %d/%d/%d/%d, want 3/2/1/0",
			rc.Received(), rc.Accepted(), rc.Duplicates(), rc.Rejected())
	}
	mu.Lock()
	if len(got) != 2 || got[0].ContentID != "c1" || got[1].ContentID != "c2" {
		t.Fatalf("OnTakedown got %+v, want c1 then c2", got)
	}
	if got[0].Evidence[0].EntryID != "e1" || got[0].RequestedAt.IsZero() {
		t.Errorf("takedown did not round-trip: %+v", got[0])
	}
	mu.Unlock()

	// A wrong secret is refused with 401 and is not acted on.
	bad := fastClient(srv.URL)
	bad.Secret = []byte("wrong")
	_, err := bad.Send(context.Background(), takedown("c3"))
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %v, want 401", err)
	}

	// A body altered in flight is refused.
	body, _ := json.Marshal(takedown("c4"))
	req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(bytes.Replace(body, []byte("c4"), []byte("c5"), 1)))
	req.Header.Set(HeaderSignature, Sign(secret, time.Now(), body))
	req.Header.Set(HeaderIdempotencyKey, "k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("tampered body: status %d, want 401", resp.StatusCode)
	}

	// An Idempotency-Key header that differs from the signed one is refused.
	td := takedown("c6")
	td.IdempotencyKey = "signed-key"
	body, _ = json.Marshal(td)
	req, _ = http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
	req.Header.Set(HeaderSignature, Sign(secret, time.Now(), body))
	req.Header.Set(HeaderIdempotencyKey, "other-key")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("mismatched key: status %d, want 400", resp.StatusCode)
	}

	if rc.Accepted() != 2 || rc.Rejected() != 3 {
		t.Fatalf("accepted/rejected = %d/%d, want 2/3", rc.Accepted(), rc.Rejected())
	}
}

func TestVerifyRequest(t *testing.T) {
	keys := map[string][]byte{"k1": []byte("secret-one"), "k2": []byte("secret-two")}
	lookup := func(id string) ([]byte, bool) { s, ok := keys[id]; return s, ok }
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"content_id":"c1"}`)
	signed := func(id string, secret []byte, at time.Time, b []byte) http.Header {
		r, _ := http.NewRequest(http.MethodPost, "http://x/v1/uploads", nil)
		SignRequest(r, id, secret, b, at)
		return r.Header
	}
	if id, err := VerifyRequest(lookup, signed("k2", keys["k2"], now, body), body, now, 0); err != nil || id != "k2" {
		t.Fatalf("good request: %q %v", id, err)
	}
	cases := []struct {
		name string
		h    http.Header
		want error
	}{
		{"unsigned", http.Header{}, ErrMissingSignature},
		{"no key id", func() http.Header { h := signed("k1", keys["k1"], now, body); h.Del(HeaderKeyID); return h }(), ErrMissingKeyID},
		{"unknown key", signed("k3", keys["k1"], now, body), ErrUnknownKey},
		{"other key's secret", signed("k1", keys["k2"], now, body), ErrBadSignature},
		{"other body", signed("k1", keys["k1"], now, []byte(`{"content_id":"c2"}`)), ErrBadSignature},
		{"old", signed("k1", keys["k1"], now.Add(-time.Hour), body), ErrExpiredSignature},
	}
	for _, c := range cases {
		if _, err := VerifyRequest(lookup, c.h, body, now, 0); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}
