package devstack

import (
	"context"
	"net"
	"testing"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// Every service checks its Kafka settings first (messaging.Check): the
// embedded broker of `make run` must pass that check.
func TestEmbeddedKafkaPassesTheStartupCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	c, err := StartKafka(port, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := messaging.Check(context.Background(), config.Kafka{Brokers: c.ListenAddrs()}); err != nil {
		t.Fatal(err)
	}
}
