// Package redistls runs the service binaries against the test redis-server's
// TLS port and ACL user, as an operator would: with the right settings they
// start, and with a wrong password or an untrusted certificate they stop at
// start-up within seconds with an error that names the setting.
package redistls

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// binary builds a service once per test run.
func binary(t *testing.T, name string) string {
	return testenv.Binary(t, "github.com/takedown-pipeline/takedown/services/"+name)
}

func TestMain(m *testing.M) { testenv.Main(m) }

// serviceEnv is what every run shares: the real broker, topics of its own,
// and no TAKEDOWN_* setting from the caller's environment.
func serviceEnv(t *testing.T, service string, extra ...string) []string {
	t.Helper()
	env := append(testenv.Environ("TAKEDOWN_"),
		"TAKEDOWN_KAFKA_BROKERS="+strings.Join(testenv.KafkaBrokers(t), ","),
		"TAKEDOWN_HTTP_ADDR=127.0.0.1:"+fmt.Sprint(testenv.FreePort(t)),
		"TAKEDOWN_GROUP="+testenv.Name(service),
		"TAKEDOWN_DLQ_TOPIC="+testenv.Name("dlq"),
		"TAKEDOWN_REDIS_PREFIX="+testenv.Name("redistls"),
	)
	for _, topic := range []string{"matched", "review-decided", "review-requested", "actions", "hashed", "bank-updates"} {
		env = append(env, config(topic)+"="+testenv.Name(topic))
	}
	if service == "enforcer" {
		env = append(env, "TAKEDOWN_WEBHOOK_URL=http://127.0.0.1:1/hook", "TAKEDOWN_WEBHOOK_SECRET=s")
	}
	return append(env, extra...)
}

func config(topic string) string {
	return "TAKEDOWN_TOPIC_" + strings.ToUpper(strings.ReplaceAll(topic, "-", "_"))
}

func start(t *testing.T, service string, env []string) *testenv.Process {
	t.Helper()
	return testenv.Start(t, binary(t, service), env)
}

// tlsEnv is the TLS port, the test CA and the ACL user, the password from
// a file as a Kubernetes Secret would mount it.
func tlsEnv(t *testing.T, password string) []string {
	t.Helper()
	cfg := testenv.RedisTLS(t)
	pw := filepath.Join(t.TempDir(), "redis-password")
	if err := os.WriteFile(pw, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{
		"TAKEDOWN_REDIS_ADDR=" + cfg.Addr,
		"TAKEDOWN_REDIS_TLS=true",
		"TAKEDOWN_REDIS_TLS_CA=" + cfg.TLSCA,
		"TAKEDOWN_REDIS_USERNAME=" + cfg.Username,
		"TAKEDOWN_REDIS_PASSWORD_FILE=" + pw,
	}
}

func TestStartupErrorsNameTheSetting(t *testing.T) {
	good := testenv.RedisTLS(t)
	cases := []struct {
		name, service string
		env           []string
		want          []string
	}{
		{"enforcer, wrong password", "enforcer", tlsEnv(t, "not-the-password"),
			[]string{"authentication failed", "TAKEDOWN_REDIS_PASSWORD"}},
		{"enforcer, untrusted server certificate", "enforcer",
			append(tlsEnv(t, good.Password), "TAKEDOWN_REDIS_TLS_CA="+testenv.UntrustedCA(t)),
			[]string{"server certificate not trusted", "TAKEDOWN_REDIS_TLS_CA"}},
		// The matcher runs without Redis when Redis is down, but a wrong
		// password is a setting to fix, not an outage.
		{"matcher, wrong password", "matcher", tlsEnv(t, "not-the-password"),
			[]string{"authentication failed", "TAKEDOWN_REDIS_PASSWORD"}},
		{"matcher, untrusted server certificate", "matcher",
			append(tlsEnv(t, good.Password), "TAKEDOWN_REDIS_TLS_CA="+testenv.UntrustedCA(t)),
			[]string{"server certificate not trusted", "TAKEDOWN_REDIS_TLS_CA"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := start(t, c.service, serviceEnv(t, c.service, c.env...))
			began := time.Now()
			select {
			case <-r.Done():
				err := r.Err()
				took := time.Since(began)
				out := r.Output()
				if err == nil {
					t.Fatalf("exited 0 after %v:\n%s", took, out)
				}
				for _, w := range c.want {
					if !strings.Contains(out, w) {
						t.Errorf("output does not say %q:\n%s", w, out)
					}
				}
				if strings.Contains(out, good.Password) {
					t.Errorf("output holds the password:\n%s", out)
				}
				t.Logf("%s exited (%v) after %v", c.service, err, took.Round(time.Millisecond))
			case <-time.After(15 * time.Second):
				t.Fatalf("%s still running after 15 s:\n%s", c.service, r.Output())
			}
		})
	}
}

// The right settings: both services become ready over TLS as the ACL user
// (the password read from TAKEDOWN_REDIS_PASSWORD_FILE), and the matcher
// still starts, bypassing its cache, when Redis is merely down.
func TestStartsWithTheRightSettings(t *testing.T) {
	good := testenv.RedisTLS(t)
	cases := []struct {
		name, service string
		env           []string
	}{
		{"enforcer over TLS", "enforcer", tlsEnv(t, good.Password)},
		{"matcher over TLS", "matcher", tlsEnv(t, good.Password)},
		{"matcher with Redis down", "matcher", []string{"TAKEDOWN_REDIS_ADDR=127.0.0.1:" + fmt.Sprint(testenv.FreePort(t))}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := serviceEnv(t, c.service, c.env...)
			var addr string
			for _, kv := range env {
				if v, ok := strings.CutPrefix(kv, "TAKEDOWN_HTTP_ADDR="); ok {
					addr = v
				}
			}
			r := start(t, c.service, env)
			deadline := time.After(60 * time.Second)
			for ready := false; !ready; {
				select {
				case <-r.Done():
					err := r.Err()
					t.Fatalf("exited (%v):\n%s", err, r.Output())
				case <-deadline:
					t.Fatalf("not ready after 60 s:\n%s", r.Output())
				case <-time.After(200 * time.Millisecond):
				}
				resp, err := http.Get("http://" + addr + "/readyz")
				if err == nil {
					ready = resp.StatusCode == http.StatusOK
					resp.Body.Close()
				}
			}
			_ = r.Signal(syscall.SIGTERM)
			select {
			case <-r.Done():
				err := r.Err()
				if err != nil {
					t.Fatalf("shutdown: %v\n%s", err, r.Output())
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("no shutdown after SIGTERM:\n%s", r.Output())
			}
		})
	}
}
