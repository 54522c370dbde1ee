package messaging

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

// TopicSpec describes a topic a service needs.
type TopicSpec struct {
	Name       string
	Partitions int
	// Replication is the replication factor; 0 means 1 (a single broker).
	Replication int
	// Compact keeps only the latest record per key (bank.updates).
	Compact bool
	// Retention is how long the topic keeps records (retention.ms): 0
	// leaves it to the broker's default, a negative value keeps them
	// forever.
	Retention time.Duration
}

// EnsureTopics creates the topics that do not exist yet. Existing topics are
// left as they are.
func EnsureTopics(ctx context.Context, k config.Kafka, specs ...TopicSpec) error {
	var lastErr error
	d := newDialer(k)
	for _, b := range k.Brokers {
		if lastErr = ensureVia(ctx, d, b, specs); lastErr == nil {
			return nil
		}
	}
	return fmt.Errorf("ensure topics: %w", lastErr)
}

// CreateTopics creates the topics that do not exist yet, as EnsureTopics
// does, and reports which of them it created: the others existed and were
// left as they are. (kafka-go's Conn.CreateTopics hides "already exists",
// so what existed is asked first: a topic someone else creates meanwhile is
// reported as created.)
func CreateTopics(ctx context.Context, k config.Kafka, specs ...TopicSpec) (created []string, err error) {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	before, err := PartitionCounts(ctx, k, names...)
	if err != nil {
		return nil, err
	}
	var missing []TopicSpec
	for _, s := range specs {
		if _, ok := before[s.Name]; !ok {
			missing = append(missing, s)
			created = append(created, s.Name)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	if err := EnsureTopics(ctx, k, missing...); err != nil {
		return nil, err
	}
	return created, nil
}

// PartitionCounts returns the partition count of each of names that exists,
// from one metadata request; a name left out of it does not exist. Unlike
// kafka-go's Conn.ReadPartitions, it never makes the broker auto-create a
// topic.
func PartitionCounts(ctx context.Context, k config.Kafka, names ...string) (map[string]int, error) {
	c, err := client(k)
	if err != nil {
		return nil, err
	}
	defer closeIdle(c)
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return nil, fmt.Errorf("metadata of %d topics: %w", len(names), err)
	}
	out := make(map[string]int, len(names))
	for _, t := range md.Topics {
		if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("metadata of %s: %w", t.Name, t.Error)
		}
		out[t.Name] = len(t.Partitions)
	}
	return out, nil
}

func ensureVia(ctx context.Context, d *kafka.Dialer, broker string, specs []TopicSpec) error {
	conn, err := d.DialContext(ctx, "tcp", broker)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctrl, err := conn.Controller()
	if err != nil {
		return err
	}
	cc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ctrl.Host, strconv.Itoa(ctrl.Port)))
	if err != nil {
		return err
	}
	defer cc.Close()
	cfgs := make([]kafka.TopicConfig, 0, len(specs))
	for _, s := range specs {
		p := s.Partitions
		if p <= 0 {
			p = 1
		}
		rf := s.Replication
		if rf <= 0 {
			rf = 1
		}
		tc := kafka.TopicConfig{Topic: s.Name, NumPartitions: p, ReplicationFactor: rf}
		if s.Compact {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: "cleanup.policy", ConfigValue: "compact"})
		}
		switch {
		case s.Retention < 0:
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: "-1"})
		case s.Retention > 0:
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: "retention.ms",
				ConfigValue: strconv.FormatInt(s.Retention.Milliseconds(), 10)})
		}
		cfgs = append(cfgs, tc)
	}
	// One topic at a time: kafka-go reports the first error of a batch only,
	// and "already exists" must not hide a real failure behind it.
	for _, tc := range cfgs {
		if err := cc.CreateTopics(tc); err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("create %s: %w", tc.Topic, err)
		}
	}
	return nil
}
