package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"unset", nil, nil, ""},
		{"environment", map[string]string{"TAKEDOWN_PW": "from-env"}, nil, "from-env"},
		{"_FILE", map[string]string{"TAKEDOWN_PW_FILE": file}, nil, "from-file"},
		{"@file in environment", map[string]string{"TAKEDOWN_PW": "@" + file}, nil, "from-file"},
		{"value wins over _FILE", map[string]string{"TAKEDOWN_PW": "v", "TAKEDOWN_PW_FILE": file}, nil, "v"},
		{"@file flag", nil, []string{"-pw", "@" + file}, "from-file"},
		{"flag over environment", map[string]string{"TAKEDOWN_PW_FILE": file}, []string{"-pw", "f"}, "f"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var pw string
			s := New("t").WithEnv(func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
			s.Secret(&pw, "pw", "a password")
			if err := s.Parse(c.args); err != nil {
				t.Fatal(err)
			}
			if pw != c.want {
				t.Fatalf("got %q, want %q", pw, c.want)
			}
		})
	}
}

func TestSecretFileMissingNamesTheSetting(t *testing.T) {
	var pw string
	s := New("t").WithEnv(func(k string) (string, bool) {
		if k == "TAKEDOWN_PW_FILE" {
			return "/nonexistent/pw", true
		}
		return "", false
	})
	s.Secret(&pw, "pw", "")
	err := s.Parse(nil)
	if err == nil || !strings.Contains(err.Error(), "TAKEDOWN_PW") {
		t.Fatalf("got %v, want an error naming TAKEDOWN_PW", err)
	}
}

func TestKafkaValidate(t *testing.T) {
	ok := Kafka{Brokers: []string{"b:1"}}
	cases := []struct {
		name string
		k    Kafka
		want string // substring of the error; "" for valid
	}{
		{"plain brokers", ok, ""},
		{"no brokers", Kafka{}, "TAKEDOWN_KAFKA_BROKERS"},
		{"scram", Kafka{Brokers: ok.Brokers, SASLMechanism: "SCRAM-SHA-512", SASLUsername: "u", SASLPassword: "p"}, ""},
		{"scram without password", Kafka{Brokers: ok.Brokers, SASLMechanism: "SCRAM-SHA-256", SASLUsername: "u"}, "TAKEDOWN_KAFKA_SASL_PASSWORD"},
		{"unknown mechanism", Kafka{Brokers: ok.Brokers, SASLMechanism: "GSSAPI", SASLUsername: "u", SASLPassword: "p"}, "TAKEDOWN_KAFKA_SASL_MECHANISM"},
		{"plain without TLS", Kafka{Brokers: ok.Brokers, SASLMechanism: "PLAIN", SASLUsername: "u", SASLPassword: "p"}, "TAKEDOWN_KAFKA_TLS"},
		{"plain with TLS", Kafka{Brokers: ok.Brokers, TLS: true, SASLMechanism: "PLAIN", SASLUsername: "u", SASLPassword: "p"}, ""},
		{"user without mechanism", Kafka{Brokers: ok.Brokers, SASLUsername: "u"}, "TAKEDOWN_KAFKA_SASL_MECHANISM"},
		{"missing CA file", Kafka{Brokers: ok.Brokers, TLSCA: "/nonexistent/ca.pem"}, "TAKEDOWN_KAFKA_TLS_CA"},
		{"cert without key", Kafka{Brokers: ok.Brokers, TLSCert: "/x.pem"}, "TAKEDOWN_KAFKA_TLS_KEY"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.k.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error naming %s", err, c.want)
			}
		})
	}
}
