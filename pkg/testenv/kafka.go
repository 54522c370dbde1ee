package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// EndOffset is the sum over every partition of topic of its last offset:
// the number of records ever written to it.
func EndOffset(t testing.TB, brokers []string, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()
	conn, err := kafka.DialContext(ctx, "tcp", brokers[0])
	if err != nil {
		t.Fatalf("dial %s: %v", brokers[0], err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	if len(parts) == 0 {
		t.Fatalf("topic %s has no partitions", topic)
	}
	var sum int64
	for _, p := range parts {
		sum += lastOffset(ctx, t, brokers[0], topic, p.ID)
	}
	return sum
}

func lastOffset(ctx context.Context, t testing.TB, broker, topic string, partition int) int64 {
	t.Helper()
	conn, err := kafka.DialLeader(ctx, "tcp", broker, topic, partition)
	if err != nil {
		t.Fatalf("dial leader of %s/%d: %v", topic, partition, err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	off, err := conn.ReadLastOffset()
	if err != nil {
		t.Fatalf("last offset of %s/%d: %v", topic, partition, err)
	}
	return off
}
