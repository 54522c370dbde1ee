// Package redistls runs the service binaries against the test redis-server's
// TLS port and ACL user, as an operator would: with the right settings they
// start, and with a wrong password or an untrusted certificate they stop at
// start-up within seconds with an error that names the setting.
package redistls

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binary builds a service once per test run.
func binary(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "redistls-bin")
		if buildErr != nil {
			return
		}
		for _, s := range []string{"enforcer", "matcher"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, s),
				"github.com/takedown-pipeline/takedown/services/"+s).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", s, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// serviceEnv is what every run shares: the real broker, topics of its own,
// and no TAKEDOWN_* setting from the caller's environment.
func serviceEnv(t *testing.T, service string, extra ...string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TAKEDOWN_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"TAKEDOWN_KAFKA_BROKERS="+strings.Join(testenv.KafkaBrokers(t), ","),
		"TAKEDOWN_HTTP_ADDR=127.0.0.1:"+fmt.Sprint(freePort(t)),
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

type run struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan error
	mu   *sync.Mutex
}

func start(t *testing.T, service string, env []string) *run {
	t.Helper()
	cmd := exec.Command(binary(t, service))
	cmd.Env = env
	r := &run{cmd: cmd, out: &bytes.Buffer{}, done: make(chan error, 1), mu: &sync.Mutex{}}
	w := &lockedWriter{mu: r.mu, w: r.out}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return r
}

func (r *run) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
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
			append(tlsEnv(t, good.Password), "TAKEDOWN_REDIS_TLS_CA="+otherCA(t)),
			[]string{"server certificate not trusted", "TAKEDOWN_REDIS_TLS_CA"}},
		// The matcher runs without Redis when Redis is down, but a wrong
		// password is a setting to fix, not an outage.
		{"matcher, wrong password", "matcher", tlsEnv(t, "not-the-password"),
			[]string{"authentication failed", "TAKEDOWN_REDIS_PASSWORD"}},
		{"matcher, untrusted server certificate", "matcher",
			append(tlsEnv(t, good.Password), "TAKEDOWN_REDIS_TLS_CA="+otherCA(t)),
			[]string{"server certificate not trusted", "TAKEDOWN_REDIS_TLS_CA"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := start(t, c.service, serviceEnv(t, c.service, c.env...))
			began := time.Now()
			select {
			case err := <-r.done:
				took := time.Since(began)
				out := r.output()
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
				t.Fatalf("%s still running after 15 s:\n%s", c.service, r.output())
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
		{"matcher with Redis down", "matcher", []string{"TAKEDOWN_REDIS_ADDR=127.0.0.1:" + fmt.Sprint(freePort(t))}},
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
				case err := <-r.done:
					t.Fatalf("exited (%v):\n%s", err, r.output())
				case <-deadline:
					t.Fatalf("not ready after 60 s:\n%s", r.output())
				case <-time.After(200 * time.Millisecond):
				}
				resp, err := http.Get("http://" + addr + "/readyz")
				if err == nil {
					ready = resp.StatusCode == http.StatusOK
					resp.Body.Close()
				}
			}
			_ = r.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-r.done:
				if err != nil {
					t.Fatalf("shutdown: %v\n%s", err, r.output())
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("no shutdown after SIGTERM:\n%s", r.output())
			}
		})
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// otherCA writes a CA certificate that signed nothing the server holds.
func otherCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "some other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
