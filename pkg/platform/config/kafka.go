package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
)

// SASL mechanisms the Kafka client speaks.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// Kafka is the one Kafka client configuration that every service and
// takedownctl bind: where the brokers are and how to reach them securely.
// Package messaging builds every Kafka connection from it.
type Kafka struct {
	Brokers []string

	// TLS turns TLS on; it is implied by any of the TLS files.
	TLS bool
	// TLSCA is a PEM bundle of the CAs that sign the brokers' certificates
	// (the system pool when empty).
	TLSCA string
	// TLSCert and TLSKey are the client certificate for mutual TLS.
	TLSCert, TLSKey string
	// TLSServerName overrides the name checked in the brokers' certificates.
	TLSServerName string

	// SASLMechanism is empty (no SASL), PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	SASLMechanism string
	SASLUsername  string
	SASLPassword  string
}

// Bind registers the Kafka settings.
func (k *Kafka) Bind(s *Set) {
	s.List(&k.Brokers, "kafka-brokers", "127.0.0.1:9092", "Kafka bootstrap brokers")
	s.Bool(&k.TLS, "kafka-tls", false, "connect to Kafka over TLS (implied by kafka-tls-ca, kafka-tls-cert)")
	s.String(&k.TLSCA, "kafka-tls-ca", "", "PEM file of the CAs that sign the brokers' certificates (default: the system's)")
	s.String(&k.TLSCert, "kafka-tls-cert", "", "PEM client certificate for mutual TLS to Kafka")
	s.String(&k.TLSKey, "kafka-tls-key", "", "PEM private key of kafka-tls-cert")
	s.String(&k.TLSServerName, "kafka-tls-server-name", "", "name to verify in the brokers' certificates (default: the broker's host)")
	s.String(&k.SASLMechanism, "kafka-sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: no SASL; PLAIN only over TLS)")
	s.String(&k.SASLUsername, "kafka-sasl-username", "", "SASL user name")
	s.Secret(&k.SASLPassword, "kafka-sasl-password", "SASL password")
}

// TLSEnabled reports whether connections use TLS.
func (k Kafka) TLSEnabled() bool {
	return k.TLS || k.TLSCA != "" || k.TLSCert != ""
}

// Validate reports the first setting that cannot work, by its environment
// name. It reads the TLS files, so a missing or malformed file is reported at
// start-up rather than at the first connection.
func (k Kafka) Validate() error {
	if len(k.Brokers) == 0 {
		return fmt.Errorf("%s is empty", EnvName("kafka-brokers"))
	}
	switch strings.ToUpper(k.SASLMechanism) {
	case "":
		if k.SASLUsername != "" || k.SASLPassword != "" {
			return fmt.Errorf("%s is set but %s is empty", EnvName("kafka-sasl-username"), EnvName("kafka-sasl-mechanism"))
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if k.SASLUsername == "" || k.SASLPassword == "" {
			return fmt.Errorf("%s=%s needs %s and %s", EnvName("kafka-sasl-mechanism"), k.SASLMechanism,
				EnvName("kafka-sasl-username"), EnvName("kafka-sasl-password"))
		}
	default:
		return fmt.Errorf("%s=%q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", EnvName("kafka-sasl-mechanism"), k.SASLMechanism)
	}
	if strings.ToUpper(k.SASLMechanism) == SASLPlain && !k.TLSEnabled() {
		// PLAIN sends the password as it is: refuse rather than leak it.
		return fmt.Errorf("%s=PLAIN sends the password in clear: set %s or choose SCRAM", EnvName("kafka-sasl-mechanism"), EnvName("kafka-tls"))
	}
	_, err := k.TLSConfig()
	return err
}

// TLSConfig is the client TLS configuration, or nil when TLS is off. Errors
// name the setting at fault.
func (k Kafka) TLSConfig() (*tls.Config, error) {
	if !k.TLSEnabled() {
		return nil, nil
	}
	return ClientTLS("kafka-tls", k.TLSCA, k.TLSCert, k.TLSKey, k.TLSServerName)
}

// ClientTLS builds a client TLS configuration from PEM files. prefix names
// the settings (prefix-ca, prefix-cert, prefix-key) in errors.
func ClientTLS(prefix, caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvName(prefix+"-ca"), err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s=%s: no PEM certificate in the file", EnvName(prefix+"-ca"), caFile)
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("%s and %s go together", EnvName(prefix+"-cert"), EnvName(prefix+"-key"))
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("%s / %s: %w", EnvName(prefix+"-cert"), EnvName(prefix+"-key"), err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// ErrSecretFile is returned for a secret whose file cannot be read.
var ErrSecretFile = errors.New("cannot read secret file")
