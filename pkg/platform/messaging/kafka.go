package messaging

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

// dialTimeout bounds one connection attempt, TLS and SASL handshakes included.
const dialTimeout = 10 * time.Second

func newSASL(k config.Kafka) (sasl.Mechanism, error) {
	switch strings.ToUpper(k.SASLMechanism) {
	case "":
		return nil, nil
	case config.SASLPlain:
		return plain.Mechanism{Username: k.SASLUsername, Password: k.SASLPassword}, nil
	case config.SASLScramSHA256:
		return scram.Mechanism(scram.SHA256, k.SASLUsername, k.SASLPassword)
	case config.SASLScramSHA512:
		return scram.Mechanism(scram.SHA512, k.SASLUsername, k.SASLPassword)
	}
	return nil, fmt.Errorf("%s=%q: unknown mechanism", config.EnvName("kafka-sasl-mechanism"), k.SASLMechanism)
}

// newDialer returns the dialer for connections to k's brokers.
func newDialer(k config.Kafka) *kafka.Dialer {
	d := &kafka.Dialer{Timeout: dialTimeout, DualStack: true}
	t, err := k.TLSConfig()
	if err == nil {
		d.TLS = t
		d.SASLMechanism, err = newSASL(k)
	}
	if err != nil {
		d.DialFunc = func(context.Context, string, string) (net.Conn, error) { return nil, err }
	}
	return d
}

// newTransport returns the transport of writers and admin requests to k's
// brokers.
func newTransport(k config.Kafka) *kafka.Transport {
	tr := &kafka.Transport{DialTimeout: dialTimeout}
	t, err := k.TLSConfig()
	if err == nil {
		tr.TLS = t
		tr.SASL, err = newSASL(k)
	}
	if err != nil {
		tr.Dial = func(context.Context, string, string) (net.Conn, error) { return nil, err }
	}
	return tr
}
