package enforcer

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/edges/webhook"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/policy"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

// DefaultHTTPAddr is where health and stats are served unless told otherwise.
const DefaultHTTPAddr = "127.0.0.1:8084"

// Config holds the enforcer's settings.
type Config struct {
	config.Common
	// Group is the Kafka consumer group.
	Group string
	// WebhookURL is the platform's takedown endpoint.
	WebhookURL string
	// WebhookSecret is the HMAC key shared with the platform.
	WebhookSecret string
	// WebhookTimeout bounds one webhook request.
	WebhookTimeout time.Duration
	// WebhookAttempts is how many times in a row a takedown is tried, the
	// first included, before an unavailable platform is waited out with the
	// consumer's backoff. A refusal (4xx) is not tried again.
	WebhookAttempts int
	// WebhookBackoffMin and WebhookBackoffMax bound the wait between
	// attempts (and a Retry-After from the platform).
	WebhookBackoffMin, WebhookBackoffMax time.Duration
	// AutoDistancePHash and AutoDistanceDHash are the largest perceptual
	// hash distances removed without review. Exact hashes (sha256, md5)
	// always remove at distance 0 only.
	AutoDistancePHash, AutoDistanceDHash int
	// AutoDistancePDQ is the largest PDQ distance (of 256 bits) removed
	// without review.
	AutoDistancePDQ int
	// IncidentDistancePDQ, IncidentDistancePHash and IncidentDistanceDHash
	// are the auto-removal distances of incident banks' matches.
	IncidentDistancePDQ, IncidentDistancePHash, IncidentDistanceDHash int
	// ActionRules choose remove or restrict by bank and label, in
	// policy.ParseRules' syntax.
	ActionRules []string
	// StreamMatch is how much footage of one bank video a live stream may
	// show before it is stopped.
	StreamMatch time.Duration
	// StreamStateTTL is how long a stream's matched footage is kept after
	// its last matching segment.
	StreamStateTTL time.Duration
	// DoneKeyTTL is how long an action's done key is kept. It must outlast
	// any redelivery or replay of the event that caused the action (the
	// retention of the topics the enforcer reads and of its dead-letter
	// topic); after that, the content's status, which is kept, still stops
	// a replayed action from being taken twice.
	DoneKeyTTL time.Duration
	// UnhashablePolicy is what happens to media the hasher could not hash
	// (one of the UnhashablePolicy constants), besides its audit record.
	UnhashablePolicy string
}

// Bind registers the settings: the common ones, then the enforcer's own
// (docs/settings.md lists them all; make docs writes it from here).
func (c *Config) Bind(s *config.Set) {
	c.Common.Bind(s, "enforcer", DefaultHTTPAddr)
	d, inc := policy.Default().AutoDistance, policy.Default().IncidentDistance
	s.String(&c.Group, "group", "takedown-enforcer", "Kafka consumer group of this service")
	s.String(&c.WebhookURL, "webhook-url", "", "the platform's takedown webhook URL (required)")
	s.Secret(&c.WebhookSecret, "webhook-secret", "HMAC secret shared with the platform to sign takedown requests (required)")
	s.Duration(&c.WebhookTimeout, "webhook-timeout", webhook.DefaultTimeout, "timeout of one webhook request")
	s.Int(&c.WebhookAttempts, "webhook-attempts", webhook.DefaultMaxAttempts,
		"webhook attempts in a row (first included) before an unavailable platform is waited out with the consumer's longer backoff")
	s.Duration(&c.WebhookBackoffMin, "webhook-backoff-min", webhook.DefaultMinBackoff, "first wait between webhook attempts (doubles each retry)")
	s.Duration(&c.WebhookBackoffMax, "webhook-backoff-max", webhook.DefaultMaxBackoff, "longest wait between webhook attempts, also the cap on a Retry-After")
	s.Int(&c.AutoDistancePHash, "auto-distance-phash", d[events.SignalPHash],
		"largest phash distance removed without human review (larger matches go to review)")
	s.Int(&c.AutoDistanceDHash, "auto-distance-dhash", d[events.SignalDHash],
		"largest dhash distance removed without human review (larger matches go to review)")
	s.Int(&c.AutoDistancePDQ, "auto-distance-pdq", d[events.SignalPDQ],
		"largest PDQ distance (of 256 bits) removed without human review (larger matches go to review)")
	s.Int(&c.IncidentDistancePDQ, "incident-auto-distance-pdq", inc[events.SignalPDQ],
		"largest PDQ distance removed without review for matches of incident banks (default: the whole default match radius)")
	s.Int(&c.IncidentDistancePHash, "incident-auto-distance-phash", inc[events.SignalPHash],
		"largest phash distance removed without review for matches of incident banks")
	s.Int(&c.IncidentDistanceDHash, "incident-auto-distance-dhash", inc[events.SignalDHash],
		"largest dhash distance removed without review for matches of incident banks")
	s.List(&c.ActionRules, "action-rules", policy.DefaultRules().String(),
		"remove or restrict, by bank and label: bank=NAME:ACTION, label=LABEL:ACTION, default=ACTION; a label rule beats a bank rule beats the default, remove beats restrict")
	s.Duration(&c.StreamMatch, "stream-match", DefaultStreamMatch,
		"footage of one bank video a live stream may show before it is stopped (stop_stream), added up over its segments")
	s.Duration(&c.StreamStateTTL, "stream-state-ttl", DefaultStreamStateTTL,
		"how long a live stream's matched footage is remembered after its last matching segment")
	s.Duration(&c.DoneKeyTTL, "done-key-ttl", DefaultDoneKeyTTL,
		"how long an action is remembered as done in Redis; longer than the retention of media.matched and of the dead-letter topic, so that no replay acts twice")
	s.String(&c.UnhashablePolicy, "unhashable-policy", UnhashableReview,
		"media the hasher could not hash (too large, too long, unsupported, host down, decoder crashed): review (queue it), hold (ask the platform to keep it hidden, then queue it) or allow (record it only)")
}

// DefaultDoneKeyTTL outlasts the default retention of the dead-letter topics
// (config.DefaultDeadLetterRetention), the longest a replayed event can have
// waited.
const DefaultDoneKeyTTL = 35 * 24 * time.Hour

// Unhashable policies: what the enforcer does with media that could not be
// hashed, after recording it.
const (
	// UnhashableReview queues it for review (the default): it fails closed
	// to a person.
	UnhashableReview = "review"
	// UnhashableHold asks the platform to keep it hidden (webhook action
	// hold), then queues it for review; a benign decision releases it.
	UnhashableHold = "hold"
	// UnhashableAllow only records it.
	UnhashableAllow = "allow"
)

// Defaults of the live stream settings.
const (
	// DefaultStreamMatch: 6 s is three 2-second segments, six frames at
	// one a second in step with the bank video, and keeps the delay from
	// the first matching segment to the stop under 5 s (docs/integration.md, "Live
	// streams"); 10 s took 8.2 s.
	DefaultStreamMatch    = 6 * time.Second
	DefaultStreamStateTTL = 24 * time.Hour
)

// Policy is the removal policy the settings describe.
func (c *Config) Policy() policy.Policy {
	p := policy.Default()
	p.AutoDistance[events.SignalPHash] = c.AutoDistancePHash
	p.AutoDistance[events.SignalDHash] = c.AutoDistanceDHash
	p.AutoDistance[events.SignalPDQ] = c.AutoDistancePDQ
	p.IncidentDistance[events.SignalPDQ] = c.IncidentDistancePDQ
	p.IncidentDistance[events.SignalPHash] = c.IncidentDistancePHash
	p.IncidentDistance[events.SignalDHash] = c.IncidentDistanceDHash
	return p
}

// Rules are the action rules the settings describe (valid once New
// accepted the settings).
func (c *Config) Rules() (policy.Rules, error) {
	r, err := policy.ParseRules(c.ActionRules)
	if err != nil {
		return policy.Rules{}, fmt.Errorf("action-rules: %w", err)
	}
	return r, nil
}

// Validate checks the settings and returns every problem at once; New adds
// the "enforcer config: " prefix.
func (c Config) Validate() error {
	var errs []error
	if c.WebhookURL == "" {
		errs = append(errs, fmt.Errorf("the takedown webhook URL is required: set -webhook-url or %s", config.EnvName("webhook-url")))
	} else if u, err := url.Parse(c.WebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("webhook-url %q: want an absolute http(s) URL", c.WebhookURL))
	}
	if c.WebhookSecret == "" {
		errs = append(errs, fmt.Errorf("the webhook signing secret is required: set -webhook-secret or %s", config.EnvName("webhook-secret")))
	}
	if c.WebhookTimeout <= 0 {
		errs = append(errs, fmt.Errorf("webhook-timeout %v: must be positive", c.WebhookTimeout))
	}
	if c.WebhookAttempts < 1 {
		errs = append(errs, fmt.Errorf("webhook-attempts %d: must be at least 1", c.WebhookAttempts))
	}
	if c.WebhookBackoffMin <= 0 || c.WebhookBackoffMax < c.WebhookBackoffMin {
		errs = append(errs, fmt.Errorf("webhook backoff %v..%v: want 0 < min <= max", c.WebhookBackoffMin, c.WebhookBackoffMax))
	}
	if c.AutoDistancePHash < 0 || c.AutoDistanceDHash < 0 || c.AutoDistancePDQ < 0 {
		errs = append(errs, errors.New("auto-distance-phash, auto-distance-dhash and auto-distance-pdq must not be negative"))
	}
	for _, d := range []struct {
		name       string
		v, maxBits int
	}{
		{"incident-auto-distance-pdq", c.IncidentDistancePDQ, 256},
		{"incident-auto-distance-phash", c.IncidentDistancePHash, 64},
		{"incident-auto-distance-dhash", c.IncidentDistanceDHash, 64},
	} {
		if d.v < 0 || d.v > d.maxBits {
			errs = append(errs, fmt.Errorf("%s %d: want 0..%d (bits of the hash)", d.name, d.v, d.maxBits))
		}
	}
	if c.DoneKeyTTL < time.Hour {
		errs = append(errs, fmt.Errorf("%s=%v: at least an hour (it must outlast any redelivery)", config.EnvName("done-key-ttl"), c.DoneKeyTTL))
	}
	switch c.UnhashablePolicy {
	case UnhashableReview, UnhashableHold, UnhashableAllow:
	default:
		errs = append(errs, fmt.Errorf("unhashable-policy %q: want %s, %s or %s", c.UnhashablePolicy, UnhashableReview, UnhashableHold, UnhashableAllow))
	}
	if c.StreamMatch <= 0 || c.StreamStateTTL <= 0 {
		errs = append(errs, fmt.Errorf("stream-match %v and stream-state-ttl %v must be positive", c.StreamMatch, c.StreamStateTTL))
	}
	if _, err := c.Rules(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Kafka.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Redis.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Redis.Prefix == "" {
		errs = append(errs, errors.New("redis-prefix must be set"))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("group is empty"))
	}
	t := c.Topics
	if t.Matched == "" || t.ReviewDecided == "" || t.ReviewRequested == "" || t.Actions == "" || c.DLQTopic == "" {
		errs = append(errs, errors.New("topic-matched, topic-review-decided, topic-review-requested, topic-actions and dlq-topic must be set"))
	} else if t.Matched == t.ReviewDecided {
		errs = append(errs, fmt.Errorf("topic-matched and topic-review-decided are both %q: the enforcer tells the events apart by topic", t.Matched))
	}
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}

// handlerTimeout bounds one message: every webhook attempt at its timeout and
// longest backoff, plus time for Redis and Kafka. A tighter bound would cut
// off a takedown the settings allow.
func (c *Config) handlerTimeout() time.Duration {
	return time.Duration(c.WebhookAttempts)*(c.WebhookTimeout+c.WebhookBackoffMax) + time.Minute
}

// webhookHost names the webhook for logs without any credentials or query
// the URL may carry.
func (c *Config) webhookHost() string {
	u, err := url.Parse(c.WebhookURL)
	if err != nil {
		return "(unparsable)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}
