package matcher

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// checkBankTopic refuses a bank topic that would lose entries. The topic is
// the bank: an entry exists only as its latest record. Under the broker's
// default policy (delete, seven days) records expire, and known content
// silently stops matching a week after it was banked. A topic the broker
// auto-created (a producer writing to it before anyone created it) has that
// policy, and the matcher would otherwise run on it unawares.
//
// Compaction keeps the latest record of every key for ever. Delete, alone or
// with compaction, is accepted only with unlimited retention (retention.ms
// and retention.bytes -1).
func checkBankTopic(ctx context.Context, k config.Kafka, topic string) error {
	// The worker has just created the topic when it was missing, and a
	// broker answers for a new topic only once its metadata has spread.
	if err := messaging.WaitForTopic(ctx, k, topic, 30*time.Second); err != nil {
		return fmt.Errorf("bank topic %s (%s): %w", topic, config.EnvName("topic-bank-updates"), err)
	}
	cfg, err := messaging.TopicConfig(ctx, k, topic)
	if err != nil {
		return fmt.Errorf("bank topic %s (%s): %w", topic, config.EnvName("topic-bank-updates"), err)
	}
	return bankTopicKeepsEntries(topic, cfg)
}

// bankTopicKeepsEntries checks a topic configuration as the broker reports
// it.
func bankTopicKeepsEntries(topic string, cfg map[string]string) error {
	policy := cfg["cleanup.policy"]
	var policies []string
	for _, p := range strings.Split(policy, ",") {
		policies = append(policies, strings.ToLower(strings.TrimSpace(p)))
	}
	compact, del := slices.Contains(policies, "compact"), slices.Contains(policies, "delete")
	fix := fmt.Sprintf("run `kafka-configs --bootstrap-server BROKER --alter --entity-type topics --entity-name %s "+
		"--add-config cleanup.policy=compact` (or set %s to a compacted topic)", topic, config.EnvName("topic-bank-updates"))
	switch {
	case !compact && !del:
		return fmt.Errorf("bank topic %s has cleanup.policy=%q, not compact: %s", topic, policy, fix)
	case !del:
		return nil
	}
	for _, setting := range []string{"retention.ms", "retention.bytes"} {
		if v, ok := cfg[setting]; ok && v != "-1" {
			return fmt.Errorf("bank topic %s has cleanup.policy=%s and %s=%s: bank entries would expire and known content "+
				"stop matching; %s, or keep delete with %s=-1", topic, policy, setting, v, fix, setting)
		}
	}
	return nil
}
