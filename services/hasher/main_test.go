package main

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/config"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// The built hasher, started as an operator would against the test broker's
// SASL_SSL listener: with the right settings it gets ready; with a wrong
// password or an untrusted CA it stops within seconds, non-zero, naming the
// setting to fix, instead of retrying the handshake for ever.
func TestKafkaSettingsAtStartup(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the hasher and runs it")
	}
	good := testenv.KafkaSASL(t)
	bin := filepath.Join(t.TempDir(), "hasher")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	t.Run("right settings", func(t *testing.T) {
		p := start(t, bin, good)
		p.waitFor(t, 60*time.Second, "hasher ready")
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.exit(t, 30*time.Second); code != 0 {
			t.Fatalf("exit %d after SIGTERM; output:\n%s", code, p.output())
		}
	})

	bad := []struct {
		name string
		edit func(k *config.Kafka)
		want []string
	}{
		{"wrong password", func(k *config.Kafka) { k.SASLPassword = "not-" + k.SASLPassword },
			[]string{"SASL authentication failed", "TAKEDOWN_KAFKA_SASL_PASSWORD"}},
		{"untrusted CA", func(k *config.Kafka) { k.TLSCA = testenv.UntrustedCA(t) },
			[]string{"certificate not trusted", "TAKEDOWN_KAFKA_TLS_CA"}},
		{"TLS off", func(k *config.Kafka) { k.TLS, k.TLSCA = false, "" },
			[]string{"TLS listener", "TAKEDOWN_KAFKA_TLS"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			k := good
			tc.edit(&k)
			began := time.Now()
			p := start(t, bin, k)
			code := p.exit(t, 15*time.Second)
			out := p.output()
			if code == 0 {
				t.Fatalf("exit 0; want a failure. Output:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output does not name %q:\n%s", w, out)
				}
			}
			t.Logf("exit %d after %s", code, time.Since(began).Round(time.Millisecond))
		})
	}
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	buf  strings.Builder
	err  error
}

// start runs the hasher with k and unique topics and group, so that it
// neither reads nor writes what other tests use.
func start(t *testing.T, bin string, k config.Kafka) *proc {
	t.Helper()
	cmd := exec.Command(bin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TAKEDOWN_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		"TAKEDOWN_KAFKA_BROKERS="+strings.Join(k.Brokers, ","),
		"TAKEDOWN_KAFKA_TLS="+map[bool]string{true: "true", false: "false"}[k.TLS],
		"TAKEDOWN_KAFKA_TLS_CA="+k.TLSCA,
		"TAKEDOWN_KAFKA_SASL_MECHANISM="+k.SASLMechanism,
		"TAKEDOWN_KAFKA_SASL_USERNAME="+k.SASLUsername,
		"TAKEDOWN_KAFKA_SASL_PASSWORD="+k.SASLPassword,
		"TAKEDOWN_HTTP_ADDR=127.0.0.1:0",
		"TAKEDOWN_GROUP="+testenv.Name("hasher-tls"),
		"TAKEDOWN_TOPIC_INGESTED="+testenv.Name("ingested"),
		"TAKEDOWN_TOPIC_STREAM_SEGMENTS="+testenv.Name("segments"),
		"TAKEDOWN_TOPIC_HASHED="+testenv.Name("hashed"),
		"TAKEDOWN_DLQ_TOPIC="+testenv.Name("hasher-dlq"),
		"TAKEDOWN_TOPIC_PARTITIONS=1",
	)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.buf.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

// exit waits for the process to end and returns its exit code.
func (p *proc) exit(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("still running after %s; output:\n%s", within, p.output())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

func (p *proc) waitFor(t *testing.T, within time.Duration, line string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for !strings.Contains(p.output(), line) {
		select {
		case <-p.done:
			t.Fatalf("exited before %q; output:\n%s", line, p.output())
		case <-ctx.Done():
			t.Fatalf("no %q within %s; output:\n%s", line, within, p.output())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
