package ingest

import (
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/takedown-pipeline/takedown/pkg/edges/webhook"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
)

// AnonymousClient is the client of unsigned requests, which only
// TAKEDOWN_INGEST_ALLOW_ANONYMOUS admits.
const AnonymousClient = "anonymous"

// MinSecretBytes is the shortest client secret accepted: 128 bits of hex.
const MinSecretBytes = 32

// clientKey is one signing key of a client.
type clientKey struct {
	client string
	secret []byte
}

// parseClients reads the ingest-clients setting: client:keyid=secret
// entries separated by commas, white space or new lines; a line starting
// with # is a comment. A client may hold several keys (to rotate them); a
// key id belongs to one client. Errors name the setting and the entry, never
// a secret.
func parseClients(raw string) (map[string]clientKey, error) {
	setting := config.EnvName("ingest-clients")
	keys := map[string]clientKey{}
	var errs []error
	n := 0
	for line := range strings.Lines(raw) {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, entry := range strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' || r == '\n' }) {
			n++
			client, rest, ok1 := strings.Cut(entry, ":")
			keyID, secret, ok2 := strings.Cut(rest, "=")
			switch {
			case !ok1 || !ok2:
				errs = append(errs, fmt.Errorf("%s: entry %d is not client:keyid=secret", setting, n))
				continue
			case events.CheckClientID(client) != nil:
				errs = append(errs, fmt.Errorf("%s: entry %d: %v", setting, n, events.CheckClientID(client)))
				continue
			case client == AnonymousClient:
				errs = append(errs, fmt.Errorf("%s: entry %d: client name %q is reserved for unsigned requests", setting, n, client))
				continue
			case !validKeyID(keyID):
				errs = append(errs, fmt.Errorf("%s: entry %d (client %s): key id must be 1 to 64 letters, digits, '.', '_' or '-'", setting, n, client))
				continue
			case len(secret) < MinSecretBytes:
				errs = append(errs, fmt.Errorf("%s: entry %d (client %s, key %s): secret shorter than %d characters", setting, n, client, keyID, MinSecretBytes))
				continue
			}
			if prev, dup := keys[keyID]; dup {
				errs = append(errs, fmt.Errorf("%s: entry %d: key id %s already belongs to client %s", setting, n, keyID, prev.client))
				continue
			}
			keys[keyID] = clientKey{client: client, secret: []byte(secret)}
		}
	}
	return keys, errors.Join(errs...)
}

func validKeyID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// caller is who sent a request.
type caller struct {
	client string
	keyID  string // empty for AnonymousClient
}

// apiHandler is an API endpoint, called with the authenticated caller and
// the request's whole body.
type apiHandler func(w http.ResponseWriter, r *http.Request, c caller, body []byte)

// authenticated reads the request's body (at most MaxBodyBytes, so the
// signature can be checked over the raw bytes), checks its signature, applies
// the caller's rate limit and hands the request to h. The signature is the
// takedown webhook's (see package webhook): a platform that verifies our
// takedowns already has the code to sign its requests. It covers the body
// only, not the method or path: each endpoint's body names what it acts on
// (a segment's body holds its stream id and sequence, checked against the
// path), so a signed body means the same thing wherever it is sent.
func (s *Service) authenticated(h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", tooBig.Limit))
				return
			}
			// A read timeout or a client that went away: nothing to tell.
			writeError(w, http.StatusBadRequest, "the request body could not be read")
			return
		}
		c, problem := s.authenticate(r, body)
		if problem != "" {
			s.unauthorized.Add(1)
			s.log.Warn("unauthenticated API request refused", "path", r.URL.Path, "remote", r.RemoteAddr,
				"key_id", r.Header.Get(webhook.HeaderKeyID), "reason", problem)
			writeError(w, http.StatusUnauthorized, problem)
			return
		}
		if wait := s.limits.wait(c.client); wait > 0 {
			s.limited.Add(1)
			secs := int(math.Ceil(wait.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeError(w, http.StatusTooManyRequests,
				fmt.Sprintf("client %s is over its rate limit (%d requests per second, bursts of %d); retry after %d s",
					c.client, s.cfg.ClientRate, s.cfg.ClientBurst, secs))
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "" {
			if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
				writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q: send application/json", ct))
				return
			}
		}
		h(w, r, c, body)
	}
}

// authenticate returns the request's caller, or why it is refused (a
// message for the caller: it says what is wrong with the request, never
// anything about the keys).
func (s *Service) authenticate(r *http.Request, body []byte) (caller, string) {
	if r.Header.Get(webhook.HeaderSignature) == "" && r.Header.Get(webhook.HeaderKeyID) == "" {
		if s.cfg.AllowAnonymous {
			s.log.Warn("UNSIGNED API REQUEST ACCEPTED as client anonymous (TAKEDOWN_INGEST_ALLOW_ANONYMOUS=true); never run so in production",
				"path", r.URL.Path, "remote", r.RemoteAddr)
			return caller{client: AnonymousClient}, ""
		}
		return caller{}, "the request is not signed: send " + webhook.HeaderKeyID + " (your key id) and " + webhook.HeaderSignature +
			" (t=T,v1=S: T the time in Unix seconds, S the hex HMAC-SHA256 of T, a dot and the body, with your key's secret)"
	}
	lookup := func(id string) ([]byte, bool) { k, ok := s.keys[id]; return k.secret, ok }
	keyID, err := webhook.VerifyRequest(lookup, r.Header, body, time.Now(), s.cfg.SignatureTolerance)
	switch {
	case err == nil:
		return caller{client: s.keys[keyID].client, keyID: keyID}, ""
	case errors.Is(err, webhook.ErrMissingKeyID):
		return caller{}, webhook.HeaderKeyID + " header is missing"
	case errors.Is(err, webhook.ErrMissingSignature):
		return caller{}, webhook.HeaderSignature + " header is missing"
	case errors.Is(err, webhook.ErrUnknownKey):
		return caller{}, "unknown key id"
	case errors.Is(err, webhook.ErrMalformedSignature):
		return caller{}, "malformed " + webhook.HeaderSignature + " header: want t=T,v1=S (T in Unix seconds, S a hex HMAC-SHA256)"
	case errors.Is(err, webhook.ErrExpiredSignature):
		return caller{}, fmt.Sprintf("the signature's time is more than %s from the server's clock; sign each request when sending it", s.cfg.SignatureTolerance)
	default:
		return caller{}, "the signature does not match the request body"
	}
}

// limiters holds one token bucket per client. Clients are the configured
// ones and anonymous, so the map stays small.
type limiters struct {
	mu    sync.Mutex
	every rate.Limit
	burst int
	m     map[string]*rate.Limiter
}

func newLimiters(perSecond, burst int) *limiters {
	return &limiters{every: rate.Limit(perSecond), burst: burst, m: map[string]*rate.Limiter{}}
}

// wait takes a token from client's bucket and returns 0, or, when the bucket
// is empty, takes none and returns how long until one is there.
func (l *limiters) wait(client string) time.Duration {
	l.mu.Lock()
	lim, ok := l.m[client]
	if !ok {
		lim = rate.NewLimiter(l.every, l.burst)
		l.m[client] = lim
	}
	l.mu.Unlock()
	now := time.Now()
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d
	}
	return 0
}
