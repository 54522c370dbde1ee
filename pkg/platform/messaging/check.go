package messaging

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

// CheckTimeout bounds Check as a whole: a misconfigured client must stop a
// service at start-up within seconds, never leave it waiting.
const CheckTimeout = 10 * time.Second

// Check connects to a bootstrap broker of k as every Kafka client of the
// pipeline will (TCP, TLS, SASL) and reads the cluster metadata. Its errors
// say what went wrong in words and name the settings to fix: services call it
// before anything else, because kafka-go's writers and readers retry a
// refused handshake or login without end and without a clear error.
//
// Bootstrap brokers are tried in turn while they are unreachable; any other
// failure (an untrusted certificate, a refused password) is the client's and
// is returned at once.
func Check(ctx context.Context, k config.Kafka) error {
	if err := k.Validate(); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	var err error
	for _, b := range k.Brokers {
		err = checkBroker(ctx, k, b)
		var u unreachableError
		if err == nil || !errors.As(err, &u) || ctx.Err() != nil {
			break
		}
	}
	if err != nil && ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled) {
		return ctx.Err() // shutting down, not misconfigured
	}
	return err
}

// unreachableError is a broker that did not take a TCP connection.
type unreachableError struct{ error }

func (e unreachableError) Unwrap() error { return e.error }

func checkBroker(ctx context.Context, k config.Kafka, broker string) error {
	env := config.EnvName
	deadline, _ := ctx.Deadline()
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", broker)
	if err != nil {
		return unreachableError{fmt.Errorf("kafka: cannot connect to broker %s (check %s): %w", broker, env("kafka-brokers"), err)}
	}
	// kafka-go clears a connection's deadline between requests; this one
	// keeps every read and write of the check within its time.
	conn := &deadlineConn{Conn: raw, limit: deadline}
	_ = conn.SetDeadline(time.Time{})
	defer conn.Close()

	tlsCfg, _ := k.TLSConfig() // Validate read it
	var c net.Conn = conn
	if tlsCfg != nil {
		if tlsCfg.ServerName == "" {
			tlsCfg = tlsCfg.Clone()
			tlsCfg.ServerName, _, _ = net.SplitHostPort(broker)
		}
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return tlsError(broker, conn, err)
		}
		c = tc
	}

	mech, err := newSASL(k)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	// The connection is made: the dialer only wraps it and logs in.
	d := &kafka.Dialer{
		SASLMechanism: mech,
		DialFunc:      func(context.Context, string, string) (net.Conn, error) { return c, nil },
	}
	kc, err := d.DialContext(ctx, "tcp", broker)
	if err == nil {
		defer kc.Close()
		_ = kc.SetDeadline(deadline)
		_, err = kc.Brokers()
	}
	if err != nil {
		return protocolError(k, broker, conn, err)
	}
	return nil
}

// tlsError explains a failed TLS handshake.
func tlsError(broker string, conn *deadlineConn, err error) error {
	env := config.EnvName
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		header   tls.RecordHeaderError
		alert    tls.AlertError
	)
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("kafka: broker %s: certificate not trusted (check %s): %w", broker, env("kafka-tls-ca"), err)
	case errors.As(err, &hostname):
		return fmt.Errorf("kafka: broker %s: certificate is not for this name (check %s, or %s): %w",
			broker, env("kafka-brokers"), env("kafka-tls-server-name"), err)
	case errors.As(err, &invalid):
		return fmt.Errorf("kafka: broker %s: certificate not valid (check the broker's certificate and %s): %w", broker, env("kafka-tls-ca"), err)
	case errors.As(err, &verify):
		return fmt.Errorf("kafka: broker %s: certificate not trusted (check %s): %w", broker, env("kafka-tls-ca"), err)
	case errors.As(err, &header):
		return fmt.Errorf("kafka: broker %s did not answer in TLS: is it a plaintext listener? (check %s and %s)",
			broker, env("kafka-brokers"), env("kafka-tls"))
	case errors.As(err, &alert):
		return fmt.Errorf("kafka: broker %s refused the TLS handshake (check %s and %s): %w",
			broker, env("kafka-tls-cert"), env("kafka-tls-key"), err)
	case conn.timedOut(err):
		return fmt.Errorf("kafka: broker %s did not finish the TLS handshake in time: is it a TLS listener? (check %s and %s)",
			broker, env("kafka-brokers"), env("kafka-tls"))
	case closedEarly(err):
		// A plaintext Kafka listener reads a ClientHello as an oversized
		// request and hangs up without a word.
		return fmt.Errorf("kafka: broker %s closed the connection during the TLS handshake: is it a plaintext listener? (check %s and %s)",
			broker, env("kafka-brokers"), env("kafka-tls"))
	}
	return fmt.Errorf("kafka: TLS handshake with broker %s failed (check %s and %s): %w", broker, env("kafka-tls"), env("kafka-tls-ca"), err)
}

// protocolError explains a failure after the connection (and TLS) is up: the
// SASL login or the metadata request.
func protocolError(k config.Kafka, broker string, conn *deadlineConn, err error) error {
	env := config.EnvName
	mech := strings.ToUpper(k.SASLMechanism)
	switch {
	case errors.Is(err, kafka.SASLAuthenticationFailed):
		return fmt.Errorf("kafka: broker %s: SASL authentication failed for user %q (check %s and %s)",
			broker, k.SASLUsername, env("kafka-sasl-username"), env("kafka-sasl-password"))
	case errors.Is(err, kafka.UnsupportedSASLMechanism):
		return fmt.Errorf("kafka: broker %s does not offer SASL mechanism %s (check %s)", broker, mech, env("kafka-sasl-mechanism"))
	case errors.Is(err, kafka.IllegalSASLState):
		return fmt.Errorf("kafka: broker %s's listener takes no SASL login (check %s and %s)", broker, env("kafka-brokers"), env("kafka-sasl-mechanism"))
	case !k.TLSEnabled() && conn.sawTLS():
		return fmt.Errorf("kafka: broker %s answered in TLS: it is a TLS listener (set %s=true, and %s for a private CA)",
			broker, env("kafka-tls"), env("kafka-tls-ca"))
	case conn.timedOut(err):
		return fmt.Errorf("kafka: broker %s did not answer in time: is it Kafka, and does its listener need TLS or SASL? (check %s, %s and %s)",
			broker, env("kafka-brokers"), env("kafka-tls"), env("kafka-sasl-mechanism"))
	case mech == "" && closedEarly(err):
		// A SASL listener hangs up on a request sent before the login.
		return fmt.Errorf("kafka: broker %s closed the connection without answering: does its listener need SASL or TLS? (check %s, %s and %s)",
			broker, env("kafka-sasl-mechanism"), env("kafka-tls"), env("kafka-brokers"))
	}
	return fmt.Errorf("kafka: broker %s: %w (check %s, %s and %s)", broker, err, env("kafka-brokers"), env("kafka-tls"), env("kafka-sasl-mechanism"))
}

// closedEarly reports the peer hanging up.
func closedEarly(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// deadlineConn keeps every deadline set on it within limit, and keeps the
// first bytes it read so that an answer in TLS can be recognised.
type deadlineConn struct {
	net.Conn
	limit time.Time

	mu    sync.Mutex
	first []byte
	tmo   bool
}

func (c *deadlineConn) clamp(t time.Time) time.Time {
	if t.IsZero() || t.After(c.limit) {
		return c.limit
	}
	return t
}

func (c *deadlineConn) SetDeadline(t time.Time) error { return c.Conn.SetDeadline(c.clamp(t)) }
func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.clamp(t))
}
func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.clamp(t))
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	if len(c.first) < 3 {
		c.first = append(c.first, p[:min(n, 3-len(c.first))]...)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.tmo = true
	}
	c.mu.Unlock()
	return n, err
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.mu.Lock()
		c.tmo = true
		c.mu.Unlock()
	}
	return n, err
}

// sawTLS reports an answer that starts like a TLS record (a handshake or an
// alert, version 3.x): what a TLS listener sends to a plaintext client.
func (c *deadlineConn) sawTLS() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.first) >= 2 && (c.first[0] == 0x15 || c.first[0] == 0x16) && c.first[1] == 0x03
}

// timedOut reports that err, or a read or write before it, ran out of time.
func (c *deadlineConn) timedOut(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tmo
}
