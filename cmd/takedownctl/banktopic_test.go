package main

import (
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
	"github.com/takedown-pipeline/takedown/pkg/testenv"
)

// writePNG writes a picture with enough structure to hash.
func writePNG(t *testing.T) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 256, 256))
	for y := range 256 {
		for x := range 256 {
			img.Set(x, y, color.RGBA{uint8(x ^ y), uint8(x * y >> 4), uint8((x / 32) * (y / 32) * 16), 255})
		}
	}
	path := filepath.Join(t.TempDir(), "entry.png")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	return path
}

// On a fresh broker `bank add` used to publish to a bank topic nobody had
// created: the first publish failed and the broker auto-created the topic
// without compaction, so its entries would expire. It now creates the topic
// compacted, like import, and succeeds the first time.
func TestBankAddCreatesACompactedTopic(t *testing.T) {
	e := newBankEnv(t)
	k := config.Kafka{Brokers: testenv.KafkaBrokers(t)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := messaging.TopicPartitions(ctx, k, e.topic); !errors.Is(err, messaging.ErrTopicNotFound) {
		t.Fatalf("topic %s before bank add: %v", e.topic, err)
	}
	out := e.mustRun("add", "--bank", "tve", "--label", "category:test", writePNG(t))
	if !strings.Contains(out, `"bank":"tve"`) {
		t.Fatalf("bank add printed %s", out)
	}
	cfg, err := messaging.TopicConfig(ctx, k, e.topic)
	if err != nil {
		t.Fatal(err)
	}
	if cfg["cleanup.policy"] != "compact" {
		t.Errorf("bank add made %s with cleanup.policy=%q, want compact", e.topic, cfg["cleanup.policy"])
	}
	parts, err := messaging.TopicPartitions(ctx, k, e.topic)
	if err != nil || len(parts) != 3 {
		t.Errorf("bank topic partitions %v, %v: want the 3 of --topic-partitions' default", parts, err)
	}
	if list := e.mustRun("list", "--json"); !strings.Contains(list, `"tve"`) {
		t.Errorf("bank list after add: %s", list)
	}
}

// Reading a bank topic that does not exist lists no banks and leaves it
// uncreated (a metadata request asking for auto-creation would have made it
// with the broker's defaults: uncompacted, one partition).
func TestBankListOfAMissingTopicCreatesNothing(t *testing.T) {
	e := newBankEnv(t)
	k := config.Kafka{Brokers: testenv.KafkaBrokers(t)}
	if out := e.mustRun("list", "--json"); strings.TrimSpace(out) != "[]" && strings.TrimSpace(out) != "null" {
		t.Errorf("bank list of a missing topic: %s", out)
	}
	time.Sleep(500 * time.Millisecond)
	if _, err := messaging.TopicPartitions(context.Background(), k, e.topic); !errors.Is(err, messaging.ErrTopicNotFound) {
		t.Errorf("bank list created %s: %v", e.topic, err)
	}
}
