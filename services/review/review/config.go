package review

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/edges/fetch"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

// Config holds the review service's settings.
type Config struct {
	config.Common
	// Group is the Kafka consumer group.
	Group string
	// LeaseDuration is how long a claim keeps other reviewers off an item.
	LeaseDuration time.Duration

	// JWTHS256Secrets are KID=SECRET (or KID=@FILE) HS256 keys.
	JWTHS256Secrets []string
	// JWTPublicKeys are KID=PEM-FILE RS256 or EdDSA keys.
	JWTPublicKeys []string
	// JWTJWKSURL is an identity provider's JWKS (RS256, ES256 or EdDSA
	// keys), fetched again every JWTJWKSRefresh and on an unknown kid.
	JWTJWKSURL     string
	JWTJWKSRefresh time.Duration
	// JWTIssuer and JWTAudience must match the token's iss and be among its
	// aud: both are required.
	JWTIssuer, JWTAudience string
	// JWTLeeway is the clock skew allowed on exp, nbf and iat.
	JWTLeeway time.Duration
	// JWTMaxLifetime bounds a token's exp-iat and how far ahead its exp
	// may be.
	JWTMaxLifetime time.Duration
	// JWTRolesClaim names the claim that holds the roles.
	JWTRolesClaim string
	// CookieSecure marks the UI's cookies Secure (HTTPS only).
	CookieSecure bool

	// Feedback turns decisions into bank entries: violating ones into
	// ConfirmedBank, benign ones into BenignBank (an allow bank).
	Feedback                  bool
	ConfirmedBank, BenignBank string
	// AllowlistApproval is who must agree before a benign decision puts
	// the content in BenignBank: ApprovalLead or ApprovalTwoReviewers.
	AllowlistApproval string
	// DecidedTTL is how long a decided item stays in Redis after its
	// decision: the queue's record of it is review.decided, kept on Kafka.
	DecidedTTL time.Duration

	// Reviewer media (media.go): fetched as the hasher fetches it. The
	// allow-list and the size cap mirror the hasher's settings of the same
	// names.
	URLAllowlist  []string
	MaxMediaBytes int64
	FetchTimeout  time.Duration
	// MediaCacheBytes bounds the media held in memory for reviewers, and
	// MediaCacheTTL how long one item's stays (0 for either: none kept).
	MediaCacheBytes int64
	MediaCacheTTL   time.Duration
}

// Defaults of the reviewer media settings.
const (
	DefaultMaxMediaBytes   = 50 << 20 // the hasher's
	DefaultFetchTimeout    = 30 * time.Second
	DefaultMediaCacheBytes = 256 << 20
	DefaultMediaCacheTTL   = 10 * time.Minute
)

// maxLeeway bounds jwt-leeway: clocks that disagree by more are broken,
// and the leeway extends every token's life.
const maxLeeway = 5 * time.Minute

// DefaultHTTPAddr is where the API listens unless told otherwise.
const DefaultHTTPAddr = "127.0.0.1:8083"

// Bind registers the settings: the common ones, then the queue's, the
// token verification's and the feedback's (docs/settings.md lists them;
// make docs writes it from here).
func (c *Config) Bind(s *config.Set) {
	c.Common.Bind(s, "review", DefaultHTTPAddr)
	s.String(&c.Group, "group", "takedown-review", "Kafka consumer group of this service")
	s.Duration(&c.LeaseDuration, "lease-duration", 15*time.Minute,
		"how long a reviewer's claim on an item lasts before others may take it")
	s.List(&c.JWTHS256Secrets, "jwt-hs256-secrets", "",
		"HS256 keys of reviewers' tokens as KID=SECRET (at least 32 bytes) or KID=@FILE")
	s.List(&c.JWTPublicKeys, "jwt-public-keys", "",
		"RS256 or EdDSA keys of reviewers' tokens as KID=PEM-FILE (public key or certificate)")
	s.String(&c.JWTJWKSURL, "jwt-jwks-url", "",
		"identity provider's JWKS URL (https; RS256, ES256 or EdDSA keys chosen by kid, fetched again on an unknown kid at most once a minute)")
	s.Duration(&c.JWTJWKSRefresh, "jwt-jwks-refresh", time.Hour, "how often the identity provider's JWKS is fetched again (1m to 24h)")
	s.String(&c.JWTIssuer, "jwt-issuer", "", "iss reviewers' tokens must have (required)")
	s.String(&c.JWTAudience, "jwt-audience", "", "audience reviewers' tokens must name in aud (required)")
	s.Duration(&c.JWTLeeway, "jwt-leeway", 30*time.Second, "clock skew allowed on a token's exp, nbf and iat (at most 5m)")
	s.Duration(&c.JWTMaxLifetime, "jwt-max-lifetime", 12*time.Hour,
		"longest token accepted: iat and exp are required, exp-iat and exp-now may not exceed it (1m to 168h)")
	s.String(&c.JWTRolesClaim, "jwt-roles-claim", "roles",
		"claim that holds a token's roles (a string or an array of strings; a dotted name such as realm_access.roles is a path)")
	s.Bool(&c.CookieSecure, "cookie-secure", true,
		"mark the UI's session cookies Secure (sent over HTTPS only); false only for plain-HTTP development")
	s.Bool(&c.Feedback, "feedback", true, "add the hashes of decided items to the confirmed or the benign bank")
	s.String(&c.ConfirmedBank, "confirmed-bank", "confirmed", "block bank that items decided violating are added to")
	s.String(&c.BenignBank, "benign-bank", "reviewed-benign", "allow bank that items decided benign are added to (configured as kind allow), once allow-listing is approved")
	s.String(&c.AllowlistApproval, "allowlist-approval", ApprovalLead,
		"who must agree before a benign decision allow-lists the content: lead (a lead's confirmation) or two_reviewers (any second person's agreement)")
	s.Duration(&c.DecidedTTL, "decided-ttl", DefaultDecidedTTL,
		"how long a decided item stays in Redis after its (latest) decision, for overturns and allow-listing; the decisions themselves are kept on review.decided")
	s.List(&c.URLAllowlist, "url-allowlist", "",
		"CIDR prefixes or IP addresses reviewer media may be fetched from although they are not public (set as the hasher's)")
	s.Int64(&c.MaxMediaBytes, "max-media-bytes", DefaultMaxMediaBytes, "largest media file fetched for reviewers (set as the hasher's)")
	s.Duration(&c.FetchTimeout, "fetch-timeout", DefaultFetchTimeout, "time limit of one reviewer media fetch, redirects and body included")
	s.Int64(&c.MediaCacheBytes, "media-cache-bytes", DefaultMediaCacheBytes,
		"memory that verified reviewer media may take (0: fetched for every request, none kept)")
	s.Duration(&c.MediaCacheTTL, "media-cache-ttl", DefaultMediaCacheTTL,
		"how long one item's verified media stays in memory (dropped sooner when the item is decided)")
}

// DefaultDecidedTTL keeps a decided item a month: long enough for a lead's
// overturn, a second reviewer's allow-listing and the platform's appeal
// window, short enough that Redis holds a month of decisions, not all of
// them.
const DefaultDecidedTTL = 30 * 24 * time.Hour

// Validate checks the settings and returns every problem at once; New adds
// the "review config: " prefix.
func (c Config) Validate() error {
	var errs []error
	if err := c.Kafka.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Redis.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Redis.Prefix == "" {
		errs = append(errs, errors.New("redis-prefix is empty"))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("group is empty"))
	}
	if c.Topics.ReviewRequested == "" || c.Topics.ReviewDecided == "" || c.DLQTopic == "" || c.Topics.Actions == "" {
		errs = append(errs, errors.New("topic-review-requested, topic-review-decided, topic-actions and dlq-topic must be set"))
	}
	if c.AllowlistApproval != ApprovalLead && c.AllowlistApproval != ApprovalTwoReviewers {
		errs = append(errs, fmt.Errorf("allowlist-approval %q: want %s or %s", c.AllowlistApproval, ApprovalLead, ApprovalTwoReviewers))
	}
	if c.DecidedTTL < time.Hour {
		errs = append(errs, fmt.Errorf("%s=%v: at least an hour", config.EnvName("decided-ttl"), c.DecidedTTL))
	}
	if c.LeaseDuration < time.Millisecond {
		errs = append(errs, fmt.Errorf("lease-duration %v: must be at least 1ms", c.LeaseDuration))
	}
	if len(c.JWTHS256Secrets) == 0 && len(c.JWTPublicKeys) == 0 && c.JWTJWKSURL == "" {
		errs = append(errs, errors.New("no token keys: set jwt-hs256-secrets, jwt-public-keys or jwt-jwks-url (every request needs a signed token)"))
	} else {
		// A key alone proves only who signed: a token the same provider
		// issued for another application must not open this one.
		if c.JWTIssuer == "" {
			errs = append(errs, errors.New("jwt-issuer (TAKEDOWN_JWT_ISSUER) is required when token keys are configured: the iss reviewers' tokens must have"))
		}
		if c.JWTAudience == "" {
			errs = append(errs, errors.New("jwt-audience (TAKEDOWN_JWT_AUDIENCE) is required when token keys are configured: the aud that names this review service"))
		}
	}
	if c.JWTJWKSURL != "" {
		if err := checkJWKSURL(c.JWTJWKSURL); err != nil {
			errs = append(errs, err)
		}
		if c.JWTJWKSRefresh < time.Minute || c.JWTJWKSRefresh > 24*time.Hour {
			errs = append(errs, fmt.Errorf("jwt-jwks-refresh %v: want 1m to 24h", c.JWTJWKSRefresh))
		}
	}
	if c.JWTLeeway < 0 || c.JWTLeeway > maxLeeway {
		errs = append(errs, fmt.Errorf("jwt-leeway %v: want 0 to %v", c.JWTLeeway, maxLeeway))
	}
	if c.JWTMaxLifetime < time.Minute || c.JWTMaxLifetime > 168*time.Hour {
		errs = append(errs, fmt.Errorf("jwt-max-lifetime %v: want 1m to 168h", c.JWTMaxLifetime))
	}
	if c.JWTRolesClaim == "" {
		errs = append(errs, errors.New("jwt-roles-claim is empty"))
	}
	if _, err := fetch.ParseAllowlist(c.URLAllowlist); err != nil {
		errs = append(errs, err)
	}
	if c.MaxMediaBytes < 1 {
		errs = append(errs, fmt.Errorf("max-media-bytes %d: must be positive", c.MaxMediaBytes))
	}
	if c.FetchTimeout < 0 || c.MediaCacheBytes < 0 || c.MediaCacheTTL < 0 {
		errs = append(errs, fmt.Errorf("fetch-timeout %v, media-cache-bytes %d, media-cache-ttl %v: none may be negative",
			c.FetchTimeout, c.MediaCacheBytes, c.MediaCacheTTL))
	}
	if c.Feedback {
		if c.Topics.BankUpdates == "" {
			errs = append(errs, errors.New("topic-bank-updates must be set when feedback is on"))
		}
		for _, b := range []struct{ name, v string }{{"confirmed-bank", c.ConfirmedBank}, {"benign-bank", c.BenignBank}} {
			if b.v == "" || strings.Contains(b.v, "/") {
				errs = append(errs, fmt.Errorf("%s %q: want a bank name without '/'", b.name, b.v))
			}
		}
		if c.ConfirmedBank == c.BenignBank {
			errs = append(errs, fmt.Errorf("confirmed-bank and benign-bank are both %q: a bank is either block or allow", c.ConfirmedBank))
		}
	}
	return errors.Join(errs...)
}
