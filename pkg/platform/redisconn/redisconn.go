// Package redisconn builds the go-redis client of every service from the one
// Redis client configuration (config.Redis: address or URL, ACL user and
// password, database, TLS, Sentinel), and checks at start-up that Redis
// takes the client in, turning a wrong password, an unknown user or an
// untrusted certificate into an error that names the setting to fix.
package redisconn

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

// Tune changes the options of one service's client (the matcher's short
// timeouts, for one); it sees the options after the settings are applied.
type Tune func(*redis.UniversalOptions)

// New builds the client described by cfg: a plain client, or a failover
// client that asks Sentinel for the master. Both are *redis.Client, so the
// services do not care which. Commands made inside a span are traced.
// Nothing connects yet.
func New(cfg config.Redis, tune ...Tune) (*redis.Client, error) {
	o, err := options(cfg)
	if err != nil {
		return nil, err
	}
	for _, t := range tune {
		t(o)
	}
	var c *redis.Client
	if o.MasterName != "" {
		c = redis.NewFailoverClient(o.Failover())
	} else {
		c = redis.NewClient(o.Simple())
	}
	if err := instrument(c); err != nil {
		return nil, err
	}
	return c, nil
}

func options(cfg config.Redis) (*redis.UniversalOptions, error) {
	e, err := cfg.Endpoint()
	if err != nil {
		return nil, err
	}
	o := &redis.UniversalOptions{
		Username:  e.Username,
		Password:  e.Password,
		DB:        e.DB,
		TLSConfig: e.TLS,
		// The services speak plain Redis; the maintenance-notification
		// handshake only adds a round trip and log noise on servers that
		// do not know it.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	if e.SentinelMaster != "" {
		o.MasterName = e.SentinelMaster
		o.Addrs = e.SentinelAddrs
		o.SentinelPassword = e.SentinelPassword
	} else {
		o.Addrs = []string{e.Addr}
	}
	return o, nil
}

// CheckTimeout bounds Check: a start-up check answers within seconds, even
// when Redis never answers.
var CheckTimeout = 10 * time.Second

// checkDial bounds one connection attempt of the check, TLS handshake
// included.
var checkDial = 5 * time.Second

// Kind says what a failed check means.
type Kind int

// Kinds of failure. Only Unreachable is an outage; the others are settings
// to fix, and no amount of waiting helps.
const (
	Unreachable Kind = iota
	Auth
	Permission
	Untrusted
	TLSMismatch
)

// Error is a failed start-up check.
type Error struct {
	Kind  Kind
	Where string // the server, never with credentials
	What  string // what went wrong and which setting to check
	Err   error
}

func (e *Error) Error() string {
	return fmt.Sprintf("redis at %s: %s: %v", e.Where, e.What, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// IsConfig reports whether err is a setting to fix (a password, a user, a
// certificate, TLS on the wrong port) rather than Redis being down.
func IsConfig(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind != Unreachable
}

// Check connects once with cfg, as a fresh client with no retries, and
// PINGs, within CheckTimeout. A failure is an *Error that names the setting
// to check.
func Check(ctx context.Context, cfg config.Redis) error {
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	rdb, err := New(cfg, func(o *redis.UniversalOptions) {
		o.MaxRetries = -1
		o.DialerRetries = 1
		o.DialTimeout = checkDial
		o.ReadTimeout = checkDial
		o.WriteTimeout = checkDial
		o.PoolSize = 1
		o.ContextTimeoutEnabled = true
	})
	if err != nil {
		return err
	}
	defer rdb.Close()
	done := make(chan error, 1)
	go func() { done <- rdb.Ping(ctx).Err() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil {
		return nil
	}
	return classify(ctx, cfg, err)
}

func classify(ctx context.Context, cfg config.Redis, err error) *Error {
	e := &Error{Kind: Unreachable, Where: cfg.Where(), What: "unreachable", Err: err}
	msg := err.Error()
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		record    tls.RecordHeaderError
		alert     tls.AlertError
	)
	switch {
	case strings.Contains(msg, "WRONGPASS"), strings.Contains(msg, "NOAUTH"),
		strings.Contains(msg, "invalid password"), strings.Contains(msg, "invalid username-password"),
		strings.Contains(msg, "without any password configured"):
		e.Kind, e.What = Auth, fmt.Sprintf("authentication failed (check %s / %s or the user in %s)",
			config.EnvName("redis-username"), config.EnvName("redis-password"), config.EnvName("redis-url"))
		if cfg.Sentinel() {
			e.What = fmt.Sprintf("authentication failed (check %s / %s, or %s for the sentinels)",
				config.EnvName("redis-username"), config.EnvName("redis-password"), config.EnvName("redis-sentinel-password"))
		}
	case strings.Contains(msg, "NOPERM"):
		e.Kind, e.What = Permission, fmt.Sprintf("the user may not run the services' commands (grant them in the ACL of %s)",
			config.EnvName("redis-username"))
	case errors.As(err, &unknownCA):
		e.Kind, e.What = Untrusted, fmt.Sprintf("server certificate not trusted (check %s)", config.EnvName("redis-tls-ca"))
	case errors.As(err, &hostname):
		e.Kind, e.What = Untrusted, fmt.Sprintf("server certificate is not for this host (check %s or the host in %s / %s)",
			config.EnvName("redis-tls-server-name"), config.EnvName("redis-addr"), config.EnvName("redis-url"))
	case errors.As(err, &invalid):
		e.Kind, e.What = Untrusted, fmt.Sprintf("server certificate not valid (check the server's certificate and %s)", config.EnvName("redis-tls-ca"))
	case errors.As(err, &record):
		e.Kind, e.What = TLSMismatch, tlsOnPlaintext()
	case errors.As(err, &alert) && (alert == 116 || alert == 42):
		// certificate_required, bad_certificate: the server wants a client
		// certificate it trusts.
		e.Kind, e.What = Untrusted, fmt.Sprintf("the server refused the client certificate (check %s / %s)",
			config.EnvName("redis-tls-cert"), config.EnvName("redis-tls-key"))
	case cfg.Sentinel():
		// The master's address comes from Sentinel: the probes below would
		// need it; name the sentinels instead.
	default:
		tlsOn := cfg.TLS || cfg.TLSCA != "" || cfg.TLSCert != "" || strings.HasPrefix(cfg.URL, "rediss:")
		addr := cfg.Where()
		if tlsOn && isTimeout(err) && speaksPlainRedis(ctx, addr) {
			e.Kind, e.What = TLSMismatch, tlsOnPlaintext()
		} else if !tlsOn && isClosed(err) && speaksTLS(ctx, addr) {
			e.Kind, e.What = TLSMismatch, fmt.Sprintf("the port serves TLS (set %s or use rediss:// in %s)",
				config.EnvName("redis-tls"), config.EnvName("redis-url"))
		}
	}
	return e
}

func tlsOnPlaintext() string {
	return fmt.Sprintf("TLS is on but the port serves plaintext Redis (check %s, rediss:// in %s and the port)",
		config.EnvName("redis-tls"), config.EnvName("redis-url"))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// probe is how long each diagnostic probe waits.
const probe = 2 * time.Second

// speaksPlainRedis says whether addr answers an inline PING in plain RESP.
// It runs only after a TLS handshake timed out: a plaintext Redis port waits
// for a line end that a ClientHello need not contain.
func speaksPlainRedis(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probe)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(probe))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	// +PONG, or -NOAUTH when the server wants a password: RESP either way.
	return err == nil && (strings.HasPrefix(line, "+") || strings.HasPrefix(line, "-"))
}

// speaksTLS says whether addr completes a TLS handshake. It runs only after
// a plaintext connection was closed on us, and sends nothing after the
// handshake: the certificate is not checked because nothing is trusted to
// this connection; it only tells the operator which setting is missing.
func speaksTLS(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probe)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}} //nolint:gosec // diagnostic probe, sends no data
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}
