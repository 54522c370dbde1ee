package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
		p.WaitFor(t, 60*time.Second, "hasher ready")
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.Exit(t, 30*time.Second); code != 0 {
			t.Fatalf("exit %d after SIGTERM; output:\n%s", code, p.Output())
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
			code := p.Exit(t, 15*time.Second)
			out := p.Output()
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

// start runs the hasher with k and unique topics and group, so that it
// neither reads nor writes what other tests use.
func start(t *testing.T, bin string, k config.Kafka) *testenv.Process {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TAKEDOWN_") {
			env = append(env, kv)
		}
	}
	env = append(env,
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
	return testenv.Start(t, bin, env)
}
