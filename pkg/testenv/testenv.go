// Package testenv gives tests the real Kafka broker and Redis server that
// `make test` starts (scripts/test-env.sh), and unique names inside them so
// tests never see each other's data. It also holds the harness the service
// tests share: Run starts a service and waits until it is ready, WaitFor
// polls for a condition, EndOffset counts the records of a topic, Scrape and
// Metric read a service's /metrics.
package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

// Environment variables set by `make test`.
const (
	EnvKafka   = "TAKEDOWN_TEST_KAFKA_BROKERS"
	EnvRedis   = "TAKEDOWN_TEST_REDIS_ADDR"
	EnvRequire = "TAKEDOWN_TEST_REQUIRE_SERVICES"

	// The broker's SASL_SSL listener (SCRAM-SHA-256 and SCRAM-SHA-512), the
	// CA that signs its certificate and its SCRAM user.
	EnvKafkaSASL         = "TAKEDOWN_TEST_KAFKA_SASL_BROKERS"
	EnvKafkaCA           = "TAKEDOWN_TEST_KAFKA_CA"
	EnvKafkaSASLUsername = "TAKEDOWN_TEST_KAFKA_SASL_USERNAME"
	EnvKafkaSASLPassword = "TAKEDOWN_TEST_KAFKA_SASL_PASSWORD"
)

func need(t testing.TB, env, what string) string {
	t.Helper()
	v := os.Getenv(env)
	if v != "" {
		return v
	}
	if os.Getenv(EnvRequire) != "" {
		t.Fatalf("%s is not set: this run requires a real %s (run `make test`)", env, what)
	}
	t.Skipf("no real %s: set %s or run `make test`", what, env)
	return ""
}

// KafkaBrokers returns the real broker's bootstrap addresses, skipping the
// test when there is none (failing it under `make test`).
func KafkaBrokers(t testing.TB) []string {
	t.Helper()
	return strings.Split(need(t, EnvKafka, "Kafka broker"), ",")
}

// Kafka returns the client configuration of the real broker's plaintext
// listener, skipping the test when there is none.
func Kafka(t testing.TB) config.Kafka {
	t.Helper()
	return config.Kafka{Brokers: KafkaBrokers(t)}
}

// KafkaSASL returns the client configuration of the real broker's SASL_SSL
// listener: TLS verified against the test CA, SCRAM-SHA-512 login (the
// listener takes SCRAM-SHA-256 too). It skips the test when there is no such
// listener (failing it under `make test`).
func KafkaSASL(t testing.TB) config.Kafka {
	t.Helper()
	const what = "Kafka SASL_SSL listener"
	return config.Kafka{
		Brokers:       strings.Split(need(t, EnvKafkaSASL, what), ","),
		TLS:           true,
		TLSCA:         need(t, EnvKafkaCA, what),
		SASLMechanism: config.SASLScramSHA512,
		SASLUsername:  need(t, EnvKafkaSASLUsername, what),
		SASLPassword:  need(t, EnvKafkaSASLPassword, what),
	}
}

// UntrustedCA writes the PEM certificate of a new CA, one that signed nothing
// any test server has, and returns its path: a client trusting only it must
// refuse every server.
func UntrustedCA(t testing.TB) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "untrusted test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "untrusted-ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// FreePort returns a loopback TCP port that nothing listened on a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// RedisAddr returns the real Redis server's address.
func RedisAddr(t testing.TB) string {
	t.Helper()
	return need(t, EnvRedis, "Redis server")
}

// Name returns a name unique to this test run, for topics, groups and key
// prefixes: base + "-" + random.
func Name(base string) string {
	return base + "-" + events.NewID()[:12]
}
