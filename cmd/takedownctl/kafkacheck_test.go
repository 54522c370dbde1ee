package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// `bank add` against the broker's SASL_SSL listener with a wrong password or
// an untrusted CA stops at once, before hashing anything, naming the setting.
// (The file does not exist: the Kafka error must come first.)
func TestBankAddStopsOnWrongKafkaSettings(t *testing.T) {
	good := testenv.KafkaSASL(t)
	cases := []struct {
		name string
		edit func(k *config.Kafka)
		want []string
	}{
		{"wrong password", func(k *config.Kafka) { k.SASLPassword += "-wrong" }, []string{"SASL authentication failed", "TAKEDOWN_KAFKA_SASL_PASSWORD"}},
		{"untrusted CA", func(k *config.Kafka) { k.TLSCA = testenv.UntrustedCA(t) }, []string{"certificate not trusted", "TAKEDOWN_KAFKA_TLS_CA"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := good
			tc.edit(&k)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var out, errOut bytes.Buffer
			began := time.Now()
			err := cmdBank(ctx, []string{"add",
				"--kafka-brokers", strings.Join(k.Brokers, ","), "--kafka-tls-ca", k.TLSCA,
				"--kafka-sasl-mechanism", k.SASLMechanism, "--kafka-sasl-username", k.SASLUsername, "--kafka-sasl-password", k.SASLPassword,
				"--topic-bank-updates", testenv.Name("ctl-bank-tls"), "--bank", "b", filepath.Join(t.TempDir(), "missing.png"),
			}, &out, &errOut)
			if took := time.Since(began); took > 5*time.Second {
				t.Errorf("took %s; want under 5 s", took)
			}
			if err == nil {
				t.Fatalf("bank add succeeded; out: %s", out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
