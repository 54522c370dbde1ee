package config

import "github.com/takedown-pipeline/takedown/pkg/events"

// Topics names every topic of the pipeline.
type Topics struct {
	Uploaded        string
	Ingested        string
	Hashed          string
	Matched         string
	ReviewRequested string
	ReviewDecided   string
	Actions         string
	BankUpdates     string
	StreamSegments  string
}

// DefaultTopics are the topic names used when nothing else is configured.
func DefaultTopics() Topics {
	return Topics{
		Uploaded:        events.TypeMediaUploaded,
		Ingested:        events.TypeMediaIngested,
		Hashed:          events.TypeMediaHashed,
		Matched:         events.TypeMediaMatched,
		ReviewRequested: events.TypeReviewRequested,
		ReviewDecided:   events.TypeReviewDecided,
		Actions:         events.TypeEnforcementAction,
		BankUpdates:     events.TypeBankUpdate,
		StreamSegments:  events.TypeStreamSegment,
	}
}

// Bind registers the topic settings.
func (t *Topics) Bind(s *Set) {
	d := DefaultTopics()
	s.String(&t.Uploaded, "topic-uploaded", d.Uploaded, "topic of upload events")
	s.String(&t.Ingested, "topic-ingested", d.Ingested, "topic of validated uploads")
	s.String(&t.Hashed, "topic-hashed", d.Hashed, "topic of hashed media")
	s.String(&t.Matched, "topic-matched", d.Matched, "topic of match verdicts")
	s.String(&t.ReviewRequested, "topic-review-requested", d.ReviewRequested, "topic of items routed to human review")
	s.String(&t.ReviewDecided, "topic-review-decided", d.ReviewDecided, "topic of review decisions")
	s.String(&t.Actions, "topic-actions", d.Actions, "topic of enforcement audit records")
	s.String(&t.BankUpdates, "topic-bank-updates", d.BankUpdates, "compacted topic of bank entries")
	s.String(&t.StreamSegments, "topic-stream-segments", d.StreamSegments, "topic of live stream segments")
}

// Common holds the settings every service reads.
type Common struct {
	Kafka       Kafka
	Replication int
	Partitions  int
	Redis       Redis
	HTTPAddr    string
	LogLevel    string
	LogFormat   string
	Topics      Topics
	DLQTopic    string
}

// Bind registers the common settings; service names the default dead-letter
// topic and httpAddr is the service's default listen address.
func (c *Common) Bind(s *Set, service, httpAddr string) {
	c.Kafka.Bind(s)
	s.Int(&c.Replication, "topic-replication", 1, "replication factor of topics the service creates")
	s.Int(&c.Partitions, "topic-partitions", 3, "partition count of topics the service creates")
	c.Redis.Bind(s)
	s.String(&c.HTTPAddr, "http-addr", httpAddr, "listen address of the service's HTTP server (health, API)")
	s.String(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	s.String(&c.LogFormat, "log-format", "text", "text or json")
	s.String(&c.DLQTopic, "dlq-topic", service+".dlq", "dead-letter topic of this service")
	c.Topics.Bind(s)
}
