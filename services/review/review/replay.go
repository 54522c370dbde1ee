package review

import (
	"context"
	"errors"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// replayTopic calls fn for every record of topic up to the end it had when
// the call started: the partitions side by side, each in offset order, so fn
// must be safe for concurrent use but sees the records of one key (one
// partition) in the order they were written. It returns the number of
// records read; an error of fn stops the replay. A topic that does not
// exist yet holds nothing: no request was ever made, no decision taken.
func replayTopic(ctx context.Context, k config.Kafka, topic string, fn messaging.Handler) (int64, error) {
	n, err := messaging.Replay(ctx, messaging.ReplayConfig{Kafka: k, Topic: topic}, fn)
	if errors.Is(err, messaging.ErrTopicNotFound) {
		return 0, nil
	}
	return n, err
}
