package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/platform/telemetry"
)

// Defaults of Config.
const (
	DefaultMaxBytes     = 50 << 20
	DefaultTimeout      = 30 * time.Second
	DefaultMaxRedirects = 3
)

// Errors of fetching, besides the policy errors and *StatusError.
var (
	// ErrTooLarge: the body is longer than Config.MaxBytes.
	ErrTooLarge = errors.New("media too large")
	// ErrTooManyRedirects: the server redirected more than MaxRedirects times.
	ErrTooManyRedirects = errors.New("too many redirects")
	// ErrTimeout: the whole fetch took longer than Config.Timeout.
	ErrTimeout = errors.New("media fetch timed out")
)

// StatusError is a response whose status is not 2xx.
type StatusError struct {
	Code int
	URL  string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("fetch %s: HTTP %d %s", e.URL, e.Code, http.StatusText(e.Code))
}

// Config configures a Client. Zero fields take the defaults.
type Config struct {
	Policy Policy
	// MaxBytes bounds the body (after content decoding); default 50 MiB.
	MaxBytes int64
	// Timeout bounds one whole fetch, redirects and body included; default 30 s.
	Timeout time.Duration
	// MaxRedirects is how many redirects are followed; default 3, negative
	// for none.
	MaxRedirects int
}

// Media is a fetched body.
type Media struct {
	Data []byte
	// MimeType is the response's declared media type, or the sniffed one
	// when it declares none (or only application/octet-stream).
	MimeType string
}

// Client fetches media under a Policy. It is safe for concurrent use.
type Client struct {
	cfg Config
	hc  *http.Client
}

// NewClient returns a client for cfg.
func NewClient(cfg Config) *Client {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxRedirects == 0 {
		cfg.MaxRedirects = DefaultMaxRedirects
	} else if cfg.MaxRedirects < 0 {
		cfg.MaxRedirects = 0
	}
	c := &Client{cfg: cfg}
	dialer := &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		// The address checked here is the one being connected to, after
		// resolution: a host that resolved to a public address for CheckURL
		// and to a private one now (DNS rebinding) is still refused.
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: cannot check dial address %q: %v", ErrForbiddenAddress, address, err)
			}
			return cfg.Policy.CheckAddr("", ap.Addr())
		},
	}
	c.hc = &http.Client{
		// A CLIENT span per request (redirects included), a child of the
		// hasher's process span.
		Transport: telemetry.Transport(&http.Transport{
			// No proxy: the dial-time check must see the media server's
			// address, not a proxy's.
			Proxy:                  nil,
			DialContext:            dialer.DialContext,
			ForceAttemptHTTP2:      true,
			MaxIdleConns:           64,
			IdleConnTimeout:        90 * time.Second,
			TLSHandshakeTimeout:    10 * time.Second,
			MaxResponseHeaderBytes: 64 << 10,
		}),
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > cfg.MaxRedirects {
				return fmt.Errorf("%w: more than %d redirects from %s", ErrTooManyRedirects, cfg.MaxRedirects, via[0].URL.Redacted())
			}
			_, err := cfg.Policy.CheckURL(req.Context(), req.URL.String())
			if err != nil {
				return fmt.Errorf("redirect refused: %w", err)
			}
			return nil
		},
	}
	return c
}

// Fetch checks rawURL against the policy and GETs it within the limits.
func (c *Client) Fetch(ctx context.Context, rawURL string) (*Media, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	u, err := c.cfg.Policy.CheckURL(ctx, rawURL)
	if err != nil {
		return nil, c.timeout(ctx, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	req.Header.Set("User-Agent", "takedown-fetch/1")
	req.Header.Set("Accept", "image/*, video/*;q=0.9, */*;q=0.1")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.timeout(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Drain a little so the connection can be reused.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		return nil, &StatusError{Code: resp.StatusCode, URL: u.Redacted()}
	}
	if resp.ContentLength > c.cfg.MaxBytes {
		return nil, fmt.Errorf("%w: %s declares %d bytes, the limit is %d", ErrTooLarge, u.Redacted(), resp.ContentLength, c.cfg.MaxBytes)
	}
	// Content-Length may be absent or wrong (and is meaningless after
	// transparent decompression), so the body is counted too.
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxBytes+1))
	if err != nil {
		return nil, c.timeout(ctx, fmt.Errorf("read body of %s: %w", u.Redacted(), err))
	}
	if int64(len(data)) > c.cfg.MaxBytes {
		return nil, fmt.Errorf("%w: %s sent more than %d bytes", ErrTooLarge, u.Redacted(), c.cfg.MaxBytes)
	}
	return &Media{Data: data, MimeType: mimeType(resp.Header.Get("Content-Type"), data)}, nil
}

// timeout marks err as ErrTimeout when the fetch deadline (not the caller's
// cancellation) or a network timeout ended it.
func (c *Client) timeout(ctx context.Context, err error) error {
	var ne net.Error
	timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
	if timedOut && !errors.Is(err, ErrTimeout) {
		return fmt.Errorf("%w (limit %s): %w", ErrTimeout, c.cfg.Timeout, err)
	}
	return err
}

func mimeType(header string, data []byte) string {
	if mt, _, err := mime.ParseMediaType(header); err == nil && mt != "application/octet-stream" {
		return mt
	}
	mt, _, _ := strings.Cut(http.DetectContentType(data), ";")
	return mt
}

// IsPermanent reports whether fetching again cannot help: a bad or refused
// URL, a body over the limit, too many redirects, or a status that is neither
// success nor a server-side or throttling failure (a 4xx other than 408 and
// 429, or a 3xx that is not a redirect to follow). Timeouts, 5xx statuses and
// connection failures are transient.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code < 500 && se.Code != http.StatusRequestTimeout && se.Code != http.StatusTooManyRequests
	}
	for _, p := range []error{ErrBadURL, ErrScheme, ErrForbiddenAddress, ErrTooLarge, ErrTooManyRedirects} {
		if errors.Is(err, p) {
			return true
		}
	}
	return false
}
