package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/platform/telemetry"
)

// Client defaults.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultMaxAttempts = 5
	DefaultMinBackoff  = 200 * time.Millisecond
	DefaultMaxBackoff  = 5 * time.Second
)

// Client sends signed takedown requests. The zero values of every field but
// URL and Secret take the defaults above.
type Client struct {
	// URL is the platform's webhook endpoint.
	URL string
	// Secret is the HMAC key shared with the platform.
	Secret []byte
	// HTTP is the client to send with. The default does not follow
	// redirects: a signed takedown goes to the configured URL or fails.
	HTTP *http.Client
	// Timeout bounds each attempt.
	Timeout time.Duration
	// MaxAttempts is the number of attempts, the first one included.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the exponential wait between
	// attempts; MaxBackoff also caps a server's Retry-After.
	MinBackoff, MaxBackoff time.Duration
	// OnRetry, if set, is called after each failed attempt that will be
	// tried again, before the wait, with the attempt's number (1 for the
	// first) and its error: a caller records every retry this way. An
	// error from it stops Send, which returns it wrapped, so that attempts
	// a caller cannot account for are not made.
	OnRetry func(attempt int, err error) error
	// OnAttempt, if set, is told of every attempt: how long it took and
	// its error (nil for a 2xx). It is for metrics; ctx is Send's.
	OnAttempt func(ctx context.Context, took time.Duration, err error)
}

// StatusError is a non-2xx answer from the webhook.
type StatusError struct {
	Code int
	// Body is the start of the response body, for the audit record.
	Body string
	// RetryAfter is the server's Retry-After, if it sent one in seconds.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("webhook answered %d %s", e.Code, http.StatusText(e.Code))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Permanent reports whether repeating the request cannot help: a 4xx other
// than 408 Request Timeout and 429 Too Many Requests (the request itself is
// refused), or a redirect (the client does not follow them).
func (e *StatusError) Permanent() bool {
	switch {
	case e.Code == http.StatusRequestTimeout, e.Code == http.StatusTooManyRequests:
		return false
	case e.Code >= 500:
		return false
	default:
		return true
	}
}

// Refused reports whether err is the platform refusing the request itself (a
// permanent StatusError), as opposed to the platform being unreachable or
// unavailable, which only delays the request.
func Refused(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Permanent()
}

var noRedirects = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Send POSTs td, retrying network errors, 5xx, 408 and 429 with exponential
// backoff, until a 2xx (success), a permanent failure, MaxAttempts, or ctx
// ends. An empty td.IdempotencyKey is filled from the content id and action.
// Every attempt carries the same body and key and a fresh signature, so a
// retry after a long wait is not rejected as stale. attempts is the number of
// requests made.
func (c *Client) Send(ctx context.Context, td Takedown) (attempts int, err error) {
	if c.URL == "" {
		return 0, errors.New("webhook: no URL configured")
	}
	if len(c.Secret) == 0 {
		return 0, errors.New("webhook: no secret configured")
	}
	if td.IdempotencyKey == "" {
		td.IdempotencyKey = IdempotencyKey(td.ContentID, td.Action)
	}
	if td.RequestedAt.IsZero() {
		td.RequestedAt = time.Now().UTC()
	}
	body, err := json.Marshal(td)
	if err != nil {
		return 0, fmt.Errorf("webhook: encode takedown: %w", err)
	}
	maxAttempts := cmpOr(c.MaxAttempts, DefaultMaxAttempts)
	backoff := cmpOr(c.MinBackoff, DefaultMinBackoff)
	maxBackoff := max(cmpOr(c.MaxBackoff, DefaultMaxBackoff), backoff)
	for attempts = 1; ; attempts++ {
		start := time.Now()
		err = c.attempt(ctx, td.IdempotencyKey, body)
		if c.OnAttempt != nil {
			c.OnAttempt(ctx, time.Since(start), err)
		}
		if err == nil {
			return attempts, nil
		}
		var se *StatusError
		if errors.As(err, &se) && se.Permanent() {
			return attempts, err
		}
		if ctx.Err() != nil {
			return attempts, fmt.Errorf("webhook: gave up after %d attempt(s): %w", attempts, err)
		}
		if attempts >= maxAttempts {
			return attempts, fmt.Errorf("webhook: failed after %d attempts: %w", attempts, err)
		}
		if c.OnRetry != nil {
			if herr := c.OnRetry(attempts, err); herr != nil {
				return attempts, fmt.Errorf("webhook: stopped after %d attempt(s): %w (last error: %v)", attempts, herr, err)
			}
		}
		// Equal jitter: retries from many enforcers spread out without ever
		// waiting less than half the nominal backoff.
		wait := backoff/2 + rand.N(backoff/2+1)
		if se != nil && se.RetryAfter > 0 {
			wait = min(se.RetryAfter, maxBackoff)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return attempts, fmt.Errorf("webhook: gave up after %d attempt(s): %w (last error: %v)", attempts, ctx.Err(), err)
		case <-t.C:
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

func (c *Client) attempt(ctx context.Context, key string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, cmpOr(c.Timeout, DefaultTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderIdempotencyKey, key)
	req.Header.Set(HeaderSignature, Sign(c.Secret, time.Now(), body))
	hc := c.HTTP
	if hc == nil {
		hc = noRedirects
	}
	// otelhttp's CLIENT span per attempt, a child of the caller's span, its
	// context sent along: a platform that traces can continue the upload's
	// trace into its own takedown handling.
	traced := *hc
	traced.Transport = telemetry.Transport(hc.Transport)
	resp, err := traced.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	// Read a little for the error message, then drain so the connection is
	// reused.
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	se := &StatusError{Code: resp.StatusCode, Body: strings.TrimSpace(string(snippet))}
	if secs, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && secs > 0 {
		se.RetryAfter = time.Duration(secs) * time.Second
	}
	return se
}

func cmpOr[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
