// Package testenv gives tests the real Kafka broker and Redis server that
// `make test` starts (scripts/test-env.sh), and unique names inside them so
// tests never see each other's data. It also holds the harness the service
// tests share: Run starts a service and waits until it is ready, WaitFor
// polls for a condition, EndOffset counts the records of a topic.
package testenv

import (
	"os"
	"strings"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/config"
	"github.com/takedown-pipeline/takedown/pkg/events"
)

// Environment variables set by `make test`.
const (
	EnvKafka   = "TAKEDOWN_TEST_KAFKA_BROKERS"
	EnvRedis   = "TAKEDOWN_TEST_REDIS_ADDR"
	EnvRequire = "TAKEDOWN_TEST_REQUIRE_SERVICES"
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
