package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/platform/topics"
)

// cmdTopicsCreate creates every topic of the pipeline that does not exist
// yet, with the specs the services would create it with under the same
// settings (package topics), and leaves the others as they are. It is what
// a cluster whose services may not create topics runs before they start
// (TAKEDOWN_CREATE_TOPICS=false; the Helm chart's pre-install hook Job).
func cmdTopicsCreate(ctx context.Context, args []string, out io.Writer) error {
	var (
		c    config.Common
		dlqs []string
	)
	s := newSet(ctx, "takedownctl topics create")
	c.Kafka.Bind(s)
	c.BindTopicSpecs(s)
	s.List(&dlqs, "dlq-topics", strings.Join(topics.DefaultDeadLetters(), ","),
		"the services' dead-letter topics (each service's TAKEDOWN_DLQ_TOPIC)")
	if err := s.Parse(args); err != nil {
		return err
	}
	if len(s.Args()) > 0 {
		return usageError{fmt.Sprintf("topics create takes no arguments, got %q", s.Args())}
	}
	if c.Partitions < 1 {
		return fmt.Errorf("%s=%d: want at least 1", config.EnvName("topic-partitions"), c.Partitions)
	}
	if c.Replication < 1 {
		return fmt.Errorf("%s=%d: want at least 1", config.EnvName("topic-replication"), c.Replication)
	}
	if err := c.Retention.Validate(); err != nil {
		return err
	}
	specs := topics.Pipeline(c, dlqs)
	// A wrong password or CA is named here, with the setting to fix.
	if err := messaging.Check(ctx, c.Kafka); err != nil {
		return err
	}
	created, err := messaging.CreateTopics(ctx, c.Kafka, specs...)
	if err != nil {
		return fmt.Errorf("creating the pipeline's topics on %s: %w", strings.Join(c.Kafka.Brokers, ","), err)
	}
	// Done means usable: a topic just made has no leaders for a moment, and
	// a service started then would fail to publish to it.
	for _, name := range created {
		if err := messaging.WaitForTopic(ctx, c.Kafka, name, time.Minute); err != nil {
			return err
		}
	}
	have, err := messaging.PartitionCounts(ctx, c.Kafka, topics.Names(specs)...)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	var missing []string
	for _, sp := range specs {
		n, ok := have[sp.Name]
		switch {
		case !ok:
			missing = append(missing, sp.Name)
		case slices.Contains(created, sp.Name):
			fmt.Fprintf(tw, "created\t%s\t%s\n", sp.Name, describe(sp, n))
		case n < sp.Partitions:
			fmt.Fprintf(tw, "exists\t%s\t%d partitions, fewer than %s=%d: kept as it is (at most %d busy replicas per consumer group)\n",
				sp.Name, n, config.EnvName("topic-partitions"), sp.Partitions, n)
		default:
			fmt.Fprintf(tw, "exists\t%s\t%d partitions: kept as it is\n", sp.Name, n)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w after creating them: %s", messaging.ErrTopicNotFound, strings.Join(missing, ", "))
	}
	fmt.Fprintf(out, "%d topics: %d created, %d existed\n", len(specs), len(created), len(specs)-len(created))
	return nil
}

// describe says how a topic was created.
func describe(s messaging.TopicSpec, partitions int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d partitions, replication %d", partitions, max(s.Replication, 1))
	switch {
	case s.Compact:
		b.WriteString(", compacted")
	case s.Retention < 0:
		b.WriteString(", kept forever")
	case s.Retention > 0:
		fmt.Fprintf(&b, ", retention %s", s.Retention)
	}
	return b.String()
}
