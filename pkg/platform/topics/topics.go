// Package topics lists the Kafka topics of the pipeline, which service needs
// which, and the spec each is created with (partitions, replication,
// retention by kind, compaction of the bank topic). The services create
// their own topics from it at start (unless TAKEDOWN_CREATE_TOPICS=false),
// and `takedownctl topics create` creates all of them from it, so a topic
// made by either is the same topic.
package topics

import (
	"slices"

	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// Services names the pipeline's services, in pipeline order.
var Services = []string{"ingest", "hasher", "matcher", "review", "enforcer"}

// DeadLetter is the default dead-letter topic of service (its
// TAKEDOWN_DLQ_TOPIC).
func DeadLetter(service string) string { return service + ".dlq" }

// Spec is how topic name is created under c: c's partition count and
// replication factor, the retention of the topic's kind
// (config.Common.RetentionOf), and compaction for the bank topic, whose
// records are the banks themselves and must never expire.
func Spec(c config.Common, name string) messaging.TopicSpec {
	s := messaging.TopicSpec{Name: name, Partitions: c.Partitions, Replication: c.Replication}
	if name == c.Topics.BankUpdates {
		s.Compact = true
		return s
	}
	if r, ok := c.RetentionOf(name); ok {
		s.Retention = r
	}
	return s
}

// Specs are the specs of names under c, in order, leaving out empty and
// repeated names.
func Specs(c config.Common, names ...string) []messaging.TopicSpec {
	var out []messaging.TopicSpec
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, Spec(c, n))
	}
	return out
}

// names lists the topics service reads or writes, but its dead-letter
// topic; nil for a name that is no service.
func names(service string, t config.Topics) []string {
	switch service {
	case "ingest":
		return []string{t.Uploaded, t.Ingested, t.StreamSegments}
	case "hasher":
		return []string{t.Ingested, t.StreamSegments, t.Hashed}
	case "matcher":
		return []string{t.Hashed, t.Matched, t.BankUpdates}
	case "review":
		// The actions topic takes the audit records of privileged review
		// actions. The bank topic, which review writes with feedback on, is
		// the matcher's: see Of.
		return []string{t.ReviewRequested, t.ReviewDecided, t.Actions}
	case "enforcer":
		return []string{t.Matched, t.ReviewDecided, t.ReviewRequested, t.Actions}
	}
	return nil
}

// Of lists the specs of the topics service needs under c, its dead-letter
// topic (c.DLQTopic) last, plus extra (a topic it needs only with some
// setting: review's bank topic when feedback is on).
func Of(service string, c config.Common, extra ...string) []messaging.TopicSpec {
	return Specs(c, append(append(names(service, c.Topics), c.DLQTopic), extra...)...)
}

// Pipeline lists the specs of every topic of the pipeline under c: those of
// every service, and the dead-letter topics dlqs (one per service: see
// DefaultDeadLetters). c.DLQTopic is not used.
func Pipeline(c config.Common, dlqs []string) []messaging.TopicSpec {
	var all []string
	for _, s := range Services {
		all = append(all, names(s, c.Topics)...)
	}
	out := Specs(c, all...)
	for _, d := range dlqs {
		if d == "" || slices.ContainsFunc(out, func(s messaging.TopicSpec) bool { return s.Name == d }) {
			continue
		}
		// Each its own service's: its retention is the dead-letter one
		// whatever its name.
		dc := c
		dc.DLQTopic = d
		out = append(out, Spec(dc, d))
	}
	return out
}

// DefaultDeadLetters are the dead-letter topics of the services under their
// default names.
func DefaultDeadLetters() []string {
	out := make([]string, len(Services))
	for i, s := range Services {
		out[i] = DeadLetter(s)
	}
	return out
}

// Names are the names of specs.
func Names(specs []messaging.TopicSpec) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.Name
	}
	return out
}
