package redisconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// roundTrip writes and reads back a key under cfg's prefix and returns the
// user Redis sees.
func roundTrip(t *testing.T, cfg config.Redis) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := Check(ctx, cfg); err != nil {
		t.Fatalf("check: %v", err)
	}
	rdb, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	key := cfg.Prefix + ":redisconn:probe"
	if err := rdb.Set(ctx, key, "v", time.Minute).Err(); err != nil {
		t.Fatalf("set: %v", err)
	}
	defer rdb.Del(context.Background(), key)
	if v, err := rdb.Get(ctx, key).Result(); err != nil || v != "v" {
		t.Fatalf("get: %q, %v", v, err)
	}
	who, err := rdb.Do(ctx, "ACL", "WHOAMI").Text()
	if err != nil {
		t.Fatalf("acl whoami: %v", err)
	}
	return who
}

// The ACL user over TLS, verified against the test CA, through the client
// every service builds.
func TestACLUserOverTLS(t *testing.T) {
	cfg := testenv.RedisTLS(t)
	if who := roundTrip(t, cfg); who != cfg.Username {
		t.Fatalf("logged in as %q, want %q", who, cfg.Username)
	}
}

func TestClientCertificate(t *testing.T) {
	cfg := testenv.RedisTLS(t)
	cfg.TLSCert, cfg.TLSKey = testenv.RedisClientCert(t)
	roundTrip(t, cfg)
}

// The same user given as one rediss:// URL.
func TestURL(t *testing.T) {
	c := testenv.RedisTLS(t)
	cfg := config.Redis{
		URL:    fmt.Sprintf("rediss://%s:%s@%s/0", c.Username, c.Password, c.Addr),
		TLSCA:  c.TLSCA,
		Prefix: c.Prefix,
	}
	if who := roundTrip(t, cfg); who != c.Username {
		t.Fatalf("logged in as %q, want %q", who, c.Username)
	}
}

// Each misconfiguration stops the check within seconds with an error that
// names the setting to fix, and is told apart from an outage.
func TestCheckFailures(t *testing.T) {
	good := testenv.RedisTLS(t)
	plain := testenv.Redis(t)
	cases := []struct {
		name   string
		cfg    func() config.Redis
		kind   Kind
		wants  []string
		within time.Duration
	}{
		{"wrong password", func() config.Redis { c := good; c.Password = "not-the-password"; return c },
			Auth, []string{"authentication failed", "TAKEDOWN_REDIS_PASSWORD", "TAKEDOWN_REDIS_USERNAME"}, 5 * time.Second},
		{"unknown ACL user", func() config.Redis { c := good; c.Username = "nobody-" + testenv.Name("u"); return c },
			Auth, []string{"authentication failed", "TAKEDOWN_REDIS_USERNAME"}, 5 * time.Second},
		{"wrong password in URL", func() config.Redis {
			return config.Redis{URL: fmt.Sprintf("rediss://%s:hunter2@%s", good.Username, good.Addr), TLSCA: good.TLSCA}
		}, Auth, []string{"TAKEDOWN_REDIS_URL"}, 5 * time.Second},
		{"untrusted server certificate", func() config.Redis { c := good; c.TLSCA = testenv.UntrustedCA(t); return c },
			Untrusted, []string{"server certificate not trusted", "TAKEDOWN_REDIS_TLS_CA"}, 5 * time.Second},
		{"system CAs do not know the test CA", func() config.Redis { c := good; c.TLSCA = ""; return c },
			Untrusted, []string{"TAKEDOWN_REDIS_TLS_CA"}, 5 * time.Second},
		{"wrong server name", func() config.Redis { c := good; c.TLSServerName = "redis.example"; return c },
			Untrusted, []string{"TAKEDOWN_REDIS_TLS_SERVER_NAME"}, 5 * time.Second},
		// The handshake waits for a line end from the plaintext port: the
		// dial timeout ends it, then a PING in clear tells why.
		{"TLS to the plaintext port", func() config.Redis { c := good; c.Addr = plain.Addr; return c },
			TLSMismatch, []string{"plaintext", "TAKEDOWN_REDIS_TLS"}, 12 * time.Second},
		{"plaintext to the TLS port", func() config.Redis { return config.Redis{Addr: good.Addr} },
			TLSMismatch, []string{"serves TLS", "TAKEDOWN_REDIS_TLS"}, 8 * time.Second},
		{"nothing listening", func() config.Redis { return config.Redis{Addr: closedPort(t)} },
			Unreachable, []string{"unreachable"}, 8 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			err := Check(t.Context(), c.cfg())
			took := time.Since(start)
			if err == nil {
				t.Fatal("check passed")
			}
			t.Logf("after %v: %v", took.Round(time.Millisecond), err)
			var e *Error
			if !errors.As(err, &e) || e.Kind != c.kind {
				t.Fatalf("got %#v, want kind %d", err, c.kind)
			}
			if IsConfig(err) != (c.kind != Unreachable) {
				t.Fatalf("IsConfig = %v", IsConfig(err))
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q", w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), good.Password) {
				t.Errorf("error holds a password: %v", err)
			}
			if took > c.within {
				t.Errorf("took %v, want within %v", took, c.within)
			}
		})
	}
}

// Sentinel: a real redis-server --sentinel that watches the test server
// hands its address to the failover client.
func TestSentinel(t *testing.T) {
	plain := testenv.Redis(t)
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("no redis-server binary")
	}
	host, port, _ := net.SplitHostPort(plain.Addr)
	master := testenv.Name("master")
	dir := t.TempDir()
	sport := testenv.FreePort(t)
	conf := filepath.Join(dir, "sentinel.conf")
	// A failover needs a replica, and there is none: quorum 1 with a long
	// down-after only lets the sentinel report the master.
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 600000\n",
		sport, dir, master, host, port, master)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, conf, "--sentinel", "--logfile", filepath.Join(dir, "sentinel.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	cfg := config.Redis{SentinelMaster: master, SentinelAddrs: []string{fmt.Sprintf("127.0.0.1:%d", sport)}, Prefix: plain.Prefix}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := Check(t.Context(), cfg)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "sentinel.log"))
			t.Fatalf("sentinel never answered: %v\n%s", err, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// cfg has no address: only the sentinel can have named the server.
	if who := roundTrip(t, cfg); who != "default" {
		t.Fatalf("logged in as %q", who)
	}
}

func closedPort(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
}
