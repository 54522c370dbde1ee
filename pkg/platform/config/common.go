package config

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

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
	HTTP        HTTPServer
	LogLevel    string
	LogFormat   string
	Topics      Topics
	DLQTopic    string
	// Concurrency is the consumer's messages in flight; 0 leaves it to
	// the service (ConsumerConcurrency).
	Concurrency int
	// SessionTimeout is how long the consumer group waits for a silent
	// member (a killed pod) before giving its partitions to others.
	SessionTimeout time.Duration
	// InstanceID names this replica across restarts (the pod name, by
	// default the host name): a restarted consumer removes its killed
	// predecessor from the group at once instead of waiting for its
	// session to time out.
	InstanceID string
	// Retention is how long the topics the service creates keep records.
	Retention Retention
	// CreateTopics lets the service create the topics it needs at start.
	// Off, it only checks that they exist and refuses to start without
	// them: for clusters where services have no Create ACL and topics are
	// made by `takedownctl topics create` (the Helm chart's hook Job).
	CreateTopics bool
	// LivenessTimeout is how long the consumer loop may go without
	// progress before /healthz fails (0: never fails for it).
	LivenessTimeout time.Duration
	// MemoryLimit is the container's memory limit in bytes (0: none known).
	// With it, and GOMEMLIMIT unset, the Go runtime's soft memory limit is
	// set to GoMemoryRatio of it at start.
	MemoryLimit   int64
	GoMemoryRatio float64
}

// Retention is how long each kind of topic keeps its records, set on the
// topics when a service creates them (an existing topic keeps its own
// settings). Zero keeps records forever. Without it a topic takes the
// broker's default (a week on a default cluster), which would expire the
// audit trail and the review queue's history.
type Retention struct {
	// Media covers the topics of the upload flow: uploaded, ingested,
	// hashed, matched and stream segments. They hold URLs and hashes for
	// the stages to pass on, nothing a later reader needs.
	Media time.Duration
	// Review covers review.requested and review.decided, which the review
	// queue is rebuilt from.
	Review time.Duration
	// Audit covers enforcement.actions, the record of every action.
	Audit time.Duration
	// DeadLetter covers the dead-letter topics, kept for inspection and
	// replay (takedownctl dlq).
	DeadLetter time.Duration
}

// Default retentions.
const (
	DefaultMediaRetention      = 3 * 24 * time.Hour
	DefaultDeadLetterRetention = 30 * 24 * time.Hour
)

// Bind registers the retention settings.
func (r *Retention) Bind(s *Set) {
	s.Duration(&r.Media, "topic-retention-media", DefaultMediaRetention,
		"how long the upload-flow topics the service creates keep records (uploaded, ingested, hashed, matched, stream segments; 0: forever)")
	s.Duration(&r.Review, "topic-retention-review", 0,
		"how long review.requested and review.decided keep records when the service creates them (0: forever; the review queue is rebuilt from them)")
	s.Duration(&r.Audit, "topic-retention-audit", 0,
		"how long enforcement.actions, the audit trail, keeps records when the service creates it (0: forever)")
	s.Duration(&r.DeadLetter, "topic-retention-dlq", DefaultDeadLetterRetention,
		"how long dead-letter topics the service creates keep records (0: forever)")
}

// Validate refuses a negative retention, naming its setting.
func (r Retention) Validate() error {
	for _, v := range []struct {
		name string
		d    time.Duration
	}{{"topic-retention-media", r.Media}, {"topic-retention-review", r.Review},
		{"topic-retention-audit", r.Audit}, {"topic-retention-dlq", r.DeadLetter}} {
		if v.d < 0 {
			return fmt.Errorf("%s=%s: must not be negative (0 keeps records forever)", EnvName(v.name), v.d)
		}
		if v.d > 0 && v.d < time.Hour {
			return fmt.Errorf("%s=%s: under an hour would expire records before a stage that is down comes back (0 keeps them forever)", EnvName(v.name), v.d)
		}
	}
	return nil
}

// RetentionOf is how long topic keeps records under these settings: its
// kind's retention, or forever (-1) for a kind kept forever. ok is false for
// a topic of no known kind (the bank topic, compacted, and any other), which
// keeps the broker's settings.
func (c Common) RetentionOf(topic string) (retention time.Duration, ok bool) {
	t := c.Topics
	var d time.Duration
	switch topic {
	case t.Uploaded, t.Ingested, t.Hashed, t.Matched, t.StreamSegments:
		d = c.Retention.Media
	case t.ReviewRequested, t.ReviewDecided:
		d = c.Retention.Review
	case t.Actions:
		d = c.Retention.Audit
	default:
		if topic != c.DLQTopic && !strings.HasSuffix(topic, ".dlq") {
			return 0, false
		}
		d = c.Retention.DeadLetter
	}
	if d == 0 {
		return -1, true
	}
	return d, true
}

// Instance is InstanceID, or the host name when that is not set.
func (c Common) Instance() string {
	if c.InstanceID != "" {
		return c.InstanceID
	}
	host, _ := os.Hostname()
	return host
}

// Defaults of the liveness and memory settings.
const (
	// DefaultLivenessTimeout is well above the consumer's longest quiet
	// spell when healthy (a fetch is asked again every few seconds, a retry
	// backoff is at most 5 s), and short enough for Kubernetes to restart a
	// wedged replica within minutes.
	DefaultLivenessTimeout = 2 * time.Minute
	// MinLivenessTimeout leaves room for a few rounds of the consumer's
	// fetch loop, which goes round at least every 5 s when idle.
	MinLivenessTimeout = 10 * time.Second
	// DefaultGoMemoryRatio leaves a tenth of the container's memory to
	// what the Go runtime does not count (stacks of cgo threads, the
	// binary's pages, fragmentation).
	DefaultGoMemoryRatio = 0.9
)

// DefaultSessionTimeout is the broker's smallest session timeout by default
// (group.min.session.timeout.ms): the shortest wait for a killed member.
const DefaultSessionTimeout = 6 * time.Second

// DefaultPartitions is the partition count of the topics the services
// create: a consumer group has at most one busy member per partition, so it
// caps the replicas of each stage.
const DefaultPartitions = 12

// ConsumerConcurrency is how many messages the service's consumer handles
// at once: the setting, or when it is 0 perCore for each core Go may use
// (GOMAXPROCS), at least floor. A stage that mostly waits (for a media host,
// for Redis) wants several messages per core; its CPU-heavy steps are
// bounded to the cores anyway (package cpu).
func (c Common) ConsumerConcurrency(perCore, floor int) int {
	if c.Concurrency != 0 {
		return c.Concurrency
	}
	return max(perCore*runtime.GOMAXPROCS(0), floor)
}

// DefaultLogFormat is json in a Kubernetes pod (KUBERNETES_SERVICE_HOST is
// set in every container), where logs go to a collector that parses them,
// and text elsewhere, where a person reads them.
func DefaultLogFormat() string {
	if os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		return "json"
	}
	return "text"
}

// Bind registers the common settings; service names the default dead-letter
// topic and httpAddr is the service's default listen address.
func (c *Common) Bind(s *Set, service, httpAddr string) {
	c.Kafka.Bind(s)
	c.BindTopicSpecs(s)
	s.Int(&c.Concurrency, "consumer-concurrency", 0,
		"messages the service handles at once, one at a time per key (0: a default for the service, by its cores)")
	s.Duration(&c.SessionTimeout, "consumer-session-timeout", DefaultSessionTimeout,
		"how long the consumer group waits for a silent member before moving its partitions (at least the broker's group.min.session.timeout.ms)")
	s.String(&c.InstanceID, "instance-id", "",
		"name of this replica, stable across its restarts and unique among the service's replicas (empty: the host name, which is the pod name)")
	c.Redis.Bind(s)
	s.String(&c.HTTPAddr, "http-addr", httpAddr, "listen address of the service's HTTP server (health, API); the defaults take connections from this machine only (the Helm chart sets :8080)")
	c.HTTP.Bind(s)
	s.String(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	s.String(&c.LogFormat, "log-format", DefaultLogFormat(), "text or json (default json in Kubernetes, text elsewhere)")
	s.String(&c.DLQTopic, "dlq-topic", service+".dlq", "dead-letter topic of this service")
	s.Bool(&c.CreateTopics, "create-topics", true,
		"create the topics the service needs at start; false only checks that they exist (create them with `takedownctl topics create`)")
	s.Duration(&c.LivenessTimeout, "liveness-timeout", DefaultLivenessTimeout,
		"/healthz fails when the consumer loop made no progress for this long, or a handler overran its own timeout by this much (0: never)")
	s.Int64(&c.MemoryLimit, "memory-limit", 0,
		"the container's memory limit in bytes (Kubernetes: downward API limits.memory); with GOMEMLIMIT unset, the Go soft memory limit is go-memory-ratio of it (0: none)")
	s.Float64(&c.GoMemoryRatio, "go-memory-ratio", DefaultGoMemoryRatio,
		"share of memory-limit the Go heap may use before the garbage collector works harder, in (0,1] (lower where memory outside Go is used: the hasher's ffmpeg)")
}

// BindTopicSpecs registers the settings that name the topics and say how
// they are created (partitions, replication, retentions): the services'
// and takedownctl topics create's.
func (c *Common) BindTopicSpecs(s *Set) {
	s.Int(&c.Replication, "topic-replication", 1, "replication factor of topics the service creates")
	s.Int(&c.Partitions, "topic-partitions", DefaultPartitions,
		"partition count of topics the service creates (the most replicas of a service that share its work)")
	c.Topics.Bind(s)
	c.Retention.Bind(s)
}

// Validate checks the settings of Common that no client library checks,
// naming the setting at fault.
func (c Common) Validate() error {
	if err := c.Retention.Validate(); err != nil {
		return err
	}
	if c.LivenessTimeout < 0 || (c.LivenessTimeout > 0 && c.LivenessTimeout < MinLivenessTimeout) {
		return fmt.Errorf("%s=%s: want 0 (off) or at least %s, above the consumer's quiet spells when healthy",
			EnvName("liveness-timeout"), c.LivenessTimeout, MinLivenessTimeout)
	}
	if c.MemoryLimit < 0 {
		return fmt.Errorf("%s=%d: must not be negative (0: no limit known)", EnvName("memory-limit"), c.MemoryLimit)
	}
	// NaN fails both comparisons: !(r > 0) catches it.
	if !(c.GoMemoryRatio > 0) || c.GoMemoryRatio > 1 {
		return fmt.Errorf("%s=%v: want a share of the memory limit in (0,1], e.g. 0.9", EnvName("go-memory-ratio"), c.GoMemoryRatio)
	}
	return nil
}

// Defaults of the HTTP server settings.
const (
	DefaultHTTPReadTimeout  = 30 * time.Second
	DefaultHTTPWriteTimeout = 60 * time.Second
	DefaultHTTPIdleTimeout  = 120 * time.Second
)

// HTTPServer holds the settings every service's HTTP servers share.
type HTTPServer struct {
	// AdminAddr, when set, is a second listener serving only /healthz,
	// /readyz and /metrics, which the public listener then does not serve.
	AdminAddr string
	// ReadTimeout bounds reading a whole request, body included, so that a
	// trickled body cannot hold a connection; WriteTimeout bounds the time
	// from the end of the request headers to the end of the answer;
	// IdleTimeout bounds a kept-alive connection waiting for its next
	// request.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
}

// Bind registers the HTTP server settings.
func (h *HTTPServer) Bind(s *Set) {
	s.String(&h.AdminAddr, "admin-addr", "",
		"listen address for /healthz, /readyz and /metrics only (empty: served on http-addr with the API)")
	s.Duration(&h.ReadTimeout, "http-read-timeout", DefaultHTTPReadTimeout,
		"longest time to read one HTTP request, body included")
	s.Duration(&h.WriteTimeout, "http-write-timeout", DefaultHTTPWriteTimeout,
		"longest time to answer one HTTP request, from the end of its headers")
	s.Duration(&h.IdleTimeout, "http-idle-timeout", DefaultHTTPIdleTimeout,
		"how long a kept-alive HTTP connection may wait for its next request")
}

// WithDefaults fills the zero values, as a configuration built in code may
// leave them.
func (h HTTPServer) WithDefaults() HTTPServer {
	if h.ReadTimeout == 0 {
		h.ReadTimeout = DefaultHTTPReadTimeout
	}
	if h.WriteTimeout == 0 {
		h.WriteTimeout = DefaultHTTPWriteTimeout
	}
	if h.IdleTimeout == 0 {
		h.IdleTimeout = DefaultHTTPIdleTimeout
	}
	return h
}

// Validate checks the timeouts, naming the setting at fault.
func (h HTTPServer) Validate() error {
	for _, t := range []struct {
		name string
		d    time.Duration
	}{{"http-read-timeout", h.ReadTimeout}, {"http-write-timeout", h.WriteTimeout}, {"http-idle-timeout", h.IdleTimeout}} {
		if t.d < 0 {
			return fmt.Errorf("%s=%s: must not be negative", EnvName(t.name), t.d)
		}
	}
	return nil
}
