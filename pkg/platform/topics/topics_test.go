package topics

import (
	"slices"
	"testing"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// common is a service's settings as its binary reads them, with env.
func common(t *testing.T, service string, env map[string]string) config.Common {
	t.Helper()
	var c config.Common
	s := config.New(service).WithEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	c.Bind(s, service, "127.0.0.1:0")
	if err := s.Parse(nil); err != nil {
		t.Fatal(err)
	}
	return c
}

func find(specs []messaging.TopicSpec, name string) (messaging.TopicSpec, bool) {
	i := slices.IndexFunc(specs, func(s messaging.TopicSpec) bool { return s.Name == name })
	if i < 0 {
		return messaging.TopicSpec{}, false
	}
	return specs[i], true
}

// What takedownctl creates for the whole pipeline is, topic for topic, what
// each service would create itself under the same settings, its
// dead-letter topic included.
func TestPipelineHoldsEveryServiceTopic(t *testing.T) {
	env := map[string]string{"TAKEDOWN_TOPIC_PARTITIONS": "24", "TAKEDOWN_TOPIC_REPLICATION": "3",
		"TAKEDOWN_TOPIC_RETENTION_AUDIT": "8760h"}
	all := Pipeline(common(t, "takedownctl", env), DefaultDeadLetters())
	for _, svc := range Services {
		c := common(t, svc, env)
		if c.DLQTopic != DeadLetter(svc) {
			t.Errorf("%s's default dead-letter topic is %q, DeadLetter says %q", svc, c.DLQTopic, DeadLetter(svc))
		}
		own := Of(svc, c)
		if len(own) < 2 {
			t.Fatalf("%s needs %v", svc, Names(own))
		}
		for _, s := range own {
			got, ok := find(all, s.Name)
			if !ok {
				t.Errorf("Pipeline lacks %s's topic %s", svc, s.Name)
			} else if got != s {
				t.Errorf("%s: Pipeline's spec %+v, %s's %+v", s.Name, got, svc, s)
			}
		}
	}
	if n := len(Names(all)); n != len(slices.Compact(slices.Sorted(slices.Values(Names(all))))) {
		t.Errorf("Pipeline repeats topics: %v", Names(all))
	}
	d := config.DefaultTopics()
	for _, name := range []string{d.Uploaded, d.Ingested, d.Hashed, d.Matched, d.ReviewRequested, d.ReviewDecided,
		d.Actions, d.BankUpdates, d.StreamSegments} {
		if _, ok := find(all, name); !ok {
			t.Errorf("Pipeline lacks %s", name)
		}
	}
}

// Each kind of topic gets its spec: the bank topic compacted and never
// expired, the others their kind's retention; every one the partitions and
// replication set.
func TestSpecs(t *testing.T) {
	c := common(t, "takedownctl", map[string]string{"TAKEDOWN_TOPIC_PARTITIONS": "6", "TAKEDOWN_TOPIC_REPLICATION": "3"})
	all := Pipeline(c, []string{"ingest.dlq", "custom-dead-letters"})
	d := config.DefaultTopics()
	cases := []struct {
		name      string
		compact   bool
		retention time.Duration
	}{
		{d.BankUpdates, true, 0},
		{d.Uploaded, false, config.DefaultMediaRetention},
		{d.Hashed, false, config.DefaultMediaRetention},
		{d.StreamSegments, false, config.DefaultMediaRetention},
		{d.ReviewRequested, false, -1},
		{d.Actions, false, -1},
		{"ingest.dlq", false, config.DefaultDeadLetterRetention},
		// A dead-letter topic not named *.dlq is still one.
		{"custom-dead-letters", false, config.DefaultDeadLetterRetention},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, ok := find(all, tc.name)
			if !ok {
				t.Fatalf("not in %v", Names(all))
			}
			want := messaging.TopicSpec{Name: tc.name, Partitions: 6, Replication: 3, Compact: tc.compact, Retention: tc.retention}
			if s != want {
				t.Errorf("spec %+v, want %+v", s, want)
			}
		})
	}
}

// Review needs the bank topic only with feedback on, and gets it
// compacted, as the matcher makes it.
func TestOfExtra(t *testing.T) {
	c := common(t, "review", nil)
	if _, ok := find(Of("review", c), c.Topics.BankUpdates); ok {
		t.Error("review needs the bank topic without feedback")
	}
	s, ok := find(Of("review", c, c.Topics.BankUpdates), c.Topics.BankUpdates)
	if !ok || !s.Compact {
		t.Errorf("review's bank topic with feedback: %+v, %v", s, ok)
	}
	if got := Of("no-such-service", c); len(got) != 1 || got[0].Name != c.DLQTopic {
		t.Errorf("an unknown service needs %v", Names(got))
	}
}
