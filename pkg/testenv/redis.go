package testenv

import (
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

// Environment variables of the test redis-server's TLS port and ACL user,
// set by `make test` (scripts/redis.sh env).
const (
	EnvRedisTLS        = "TAKEDOWN_TEST_REDIS_TLS_ADDR"
	EnvRedisCA         = "TAKEDOWN_TEST_REDIS_CA"
	EnvRedisClientCert = "TAKEDOWN_TEST_REDIS_CLIENT_CERT"
	EnvRedisClientKey  = "TAKEDOWN_TEST_REDIS_CLIENT_KEY"
	EnvRedisUsername   = "TAKEDOWN_TEST_REDIS_USERNAME"
	EnvRedisPassword   = "TAKEDOWN_TEST_REDIS_PASSWORD"
)

// Redis returns the client configuration of the real server's plaintext
// port as the default user, with a key prefix unique to the test.
func Redis(t testing.TB) config.Redis {
	t.Helper()
	return config.Redis{Addr: RedisAddr(t), Prefix: Name("test")}
}

// RedisTLS is the test redis-server's TLS port (its certificate is signed
// by RedisCA) logged in as its ACL user, with a key prefix unique to the
// test.
func RedisTLS(t testing.TB) config.Redis {
	t.Helper()
	return config.Redis{
		Addr:     need(t, EnvRedisTLS, "Redis TLS port"),
		TLS:      true,
		TLSCA:    RedisCA(t),
		Username: need(t, EnvRedisUsername, "Redis ACL user"),
		Password: need(t, EnvRedisPassword, "Redis ACL user's password"),
		Prefix:   Name("test"),
	}
}

// RedisCA is the PEM file of the test CA that signs the TLS port's
// certificate (and the client certificate of RedisClientCert).
func RedisCA(t testing.TB) string {
	t.Helper()
	return need(t, EnvRedisCA, "Redis test CA")
}

// RedisClientCert returns a client certificate and key signed by RedisCA.
func RedisClientCert(t testing.TB) (cert, key string) {
	t.Helper()
	return need(t, EnvRedisClientCert, "Redis client certificate"), need(t, EnvRedisClientKey, "Redis client key")
}
