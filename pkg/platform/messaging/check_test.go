package messaging_test

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// Publishing and consuming through the broker's SASL_SSL listener, with each
// SCRAM mechanism: the TLS and SASL settings reach every kind of connection
// (admin, writer, consumer group).
func TestSASLSSLRoundTrip(t *testing.T) {
	for _, mech := range []string{config.SASLScramSHA512, config.SASLScramSHA256} {
		t.Run(mech, func(t *testing.T) {
			k := testenv.KafkaSASL(t)
			k.SASLMechanism = mech
			topic := testenv.Name("sasl")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := messaging.Check(ctx, k); err != nil {
				t.Fatalf("Check: %v", err)
			}
			if err := messaging.EnsureTopics(ctx, k, messaging.TopicSpec{Name: topic}); err != nil {
				t.Fatal(err)
			}
			pub := messaging.NewKafkaPublisher(k)
			defer pub.Close()
			want := "over " + mech
			if err := pub.Publish(ctx, messaging.Message{Topic: topic, Key: []byte("k"), Value: []byte(want)}); err != nil {
				t.Fatal(err)
			}
			var (
				mu  sync.Mutex
				got []string
			)
			c := messaging.NewConsumer(messaging.ConsumerConfig{Kafka: k, Group: testenv.Name("sasl-grp"), Topics: []string{topic},
				SessionTimeout: 6 * time.Second, Logger: slog.New(slog.DiscardHandler)})
			stop := testenv.Run(t, "consumer", func(ctx context.Context) error {
				return c.Run(ctx, func(_ context.Context, m *messaging.Message) error {
					mu.Lock()
					defer mu.Unlock()
					got = append(got, string(m.Value))
					return nil
				})
			}, c.Running)
			defer stop()
			testenv.WaitFor(t, 30*time.Second, "the message through SASL_SSL", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(got) > 0
			})
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 1 || got[0] != want {
				t.Fatalf("consumed %q, want [%q]", got, want)
			}
		})
	}
}

// Every way a client can be set up wrong for the broker stops Check within
// seconds with an error naming the setting to fix.
func TestCheckFailsFastNamingTheSetting(t *testing.T) {
	good := testenv.KafkaSASL(t)
	plain := testenv.Kafka(t)
	otherCA := testenv.UntrustedCA(t)
	closed := closedPort(t)

	cases := []struct {
		name string
		edit func(k *config.Kafka)
		want []string // in the error
	}{
		{"wrong password", func(k *config.Kafka) { k.SASLPassword += "-wrong" },
			[]string{"SASL authentication failed", `"` + good.SASLUsername + `"`, "TAKEDOWN_KAFKA_SASL_PASSWORD", "TAKEDOWN_KAFKA_SASL_USERNAME"}},
		{"unknown user", func(k *config.Kafka) { k.SASLUsername = "nobody" },
			[]string{"SASL authentication failed", `"nobody"`, "TAKEDOWN_KAFKA_SASL_USERNAME"}},
		{"wrong password SCRAM-SHA-256", func(k *config.Kafka) { k.SASLMechanism = config.SASLScramSHA256; k.SASLPassword += "-wrong" },
			[]string{"SASL authentication failed", "TAKEDOWN_KAFKA_SASL_PASSWORD"}},
		{"untrusted CA", func(k *config.Kafka) { k.TLSCA = otherCA },
			[]string{"certificate not trusted", "TAKEDOWN_KAFKA_TLS_CA", "x509"}},
		{"system CAs only", func(k *config.Kafka) { k.TLSCA = "" },
			[]string{"certificate not trusted", "TAKEDOWN_KAFKA_TLS_CA"}},
		{"name not in the certificate", func(k *config.Kafka) { k.TLSServerName = "kafka.example.com" },
			[]string{"not for this name", "TAKEDOWN_KAFKA_TLS_SERVER_NAME"}},
		{"TLS to the plaintext port", func(k *config.Kafka) { k.Brokers = plain.Brokers },
			[]string{"plaintext listener", "TAKEDOWN_KAFKA_TLS"}},
		{"plaintext to the TLS port", func(k *config.Kafka) { k.TLS, k.TLSCA = false, "" },
			[]string{"TLS listener", "TAKEDOWN_KAFKA_TLS="}},
		{"plaintext without SASL to the TLS port", func(k *config.Kafka) {
			k.TLS, k.TLSCA, k.SASLMechanism, k.SASLUsername, k.SASLPassword = false, "", "", "", ""
		}, []string{"TLS listener", "TAKEDOWN_KAFKA_TLS="}},
		{"TLS without SASL to the SASL_SSL port", func(k *config.Kafka) { k.SASLMechanism, k.SASLUsername, k.SASLPassword = "", "", "" },
			[]string{"TAKEDOWN_KAFKA_SASL_MECHANISM"}},
		{"SASL to the plaintext port", func(k *config.Kafka) { k.Brokers, k.TLS, k.TLSCA = plain.Brokers, false, "" },
			[]string{"TAKEDOWN_KAFKA_SASL_MECHANISM"}},
		{"nothing listens", func(k *config.Kafka) { k.Brokers = []string{closed} },
			[]string{"cannot connect", "TAKEDOWN_KAFKA_BROKERS"}},
		{"missing CA file", func(k *config.Kafka) { k.TLSCA = filepath.Join(t.TempDir(), "none.pem") },
			[]string{"TAKEDOWN_KAFKA_TLS_CA"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := good
			k.Brokers = append([]string(nil), good.Brokers...)
			tc.edit(&k)
			checkFails(t, context.Background(), k, 5*time.Second, tc.want...)
		})
	}
	t.Run("the good configuration passes", func(t *testing.T) {
		if err := messaging.Check(context.Background(), good); err != nil {
			t.Fatal(err)
		}
	})
}

// A broker that takes the connection and then says nothing (a firewall, a
// stuck process, the wrong service) costs the check's time, not forever.
func TestCheckDoesNotHangOnASilentBroker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	for _, tls := range []bool{false, true} {
		k := config.Kafka{Brokers: []string{ln.Addr().String()}, TLS: tls}
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		checkFails(t, ctx, k, 4*time.Second, "in time", "TAKEDOWN_KAFKA_BROKERS")
		cancel()
	}
}

// checkFails runs Check and wants an error containing every one of want,
// within limit.
func checkFails(t *testing.T, ctx context.Context, k config.Kafka, limit time.Duration, want ...string) {
	t.Helper()
	start := time.Now()
	err := messaging.Check(ctx, k)
	took := time.Since(start)
	if err == nil {
		t.Fatalf("Check passed; want an error naming %q", want)
	}
	t.Logf("%s: %v", took.Round(time.Millisecond), err)
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if took > limit {
		t.Errorf("Check took %s; want under %s", took, limit)
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
