// Package webhook holds signed takedown requests to the platform's webhook,
// and their verification.
//
// A request is a JSON Takedown POSTed with three headers:
//
//	Content-Type: application/json
//	Idempotency-Key: <key>
//	X-Takedown-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
//
// The signature covers the timestamp so that a captured request cannot be
// replayed after the tolerance window, and the raw body so that nothing in it
// can be altered. The idempotency key is derived from the content and the
// action only, so a retry, a redelivered event or a restarted enforcer all
// send the same key and the platform can act once.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

// Header names of a takedown request.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderSignature      = "X-Takedown-Signature"
)

// DefaultTolerance is how far a signature's timestamp may be from the
// verifier's clock when no tolerance is given.
const DefaultTolerance = 5 * time.Minute

// Takedown is the body of a takedown request.
type Takedown struct {
	// Action is what the platform is asked to do: events.ActionRemove,
	// events.ActionRestrict, events.ActionRestore, events.ActionStopStream
	// or events.ActionHold (keep an upload that could not be hashed hidden
	// until a reviewer decides; a restore releases it).
	Action string `json:"action"`
	// ContentID is the platform's own id of the content (or stream), as it
	// submitted it; ClientID is the ingest client that submitted it, empty
	// when none did.
	ContentID string `json:"content_id"`
	ClientID  string `json:"client_id,omitempty"`
	// Reason is a human-readable justification for the platform's records.
	Reason string `json:"reason"`
	// Bank and Labels describe the bank entry the decision rests on.
	Bank   string   `json:"bank"`
	Labels []string `json:"labels"`
	// Evidence is every match that supports the request.
	Evidence       []events.Match `json:"evidence"`
	IdempotencyKey string         `json:"idempotency_key"`
	CorrelationID  string         `json:"correlation_id"`
	// Trigger is events.TriggerAuto, events.TriggerIncident,
	// events.TriggerReview or events.TriggerOverturn.
	Trigger     string    `json:"trigger"`
	RequestedAt time.Time `json:"requested_at"`
}

// IdempotencyKey returns the key of action on contentID: the first 32 hex
// characters of sha256(contentID + "\x00" + action). The NUL keeps
// ("a", "bc") and ("ab", "c") apart.
func IdempotencyKey(contentID, action string) string {
	sum := sha256.Sum256([]byte(contentID + "\x00" + action))
	return hex.EncodeToString(sum[:])[:32]
}

// Verification errors. Verify wraps one of them, so callers can tell them
// apart with errors.Is.
var (
	ErrMissingSignature   = errors.New("webhook: missing signature")
	ErrMalformedSignature = errors.New("webhook: malformed signature header")
	ErrExpiredSignature   = errors.New("webhook: signature timestamp outside tolerance")
	ErrBadSignature       = errors.New("webhook: signature does not match")
)

// Sign returns the X-Takedown-Signature header value for body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks header (an X-Takedown-Signature value) against body. The
// timestamp must be within tolerance of now in either direction (tolerance
// <= 0 means DefaultTolerance). Several v1 entries are allowed, so a sender
// can sign with an old and a new secret while the secret is rotated; one
// match is enough. Unknown entries (future schemes) are ignored.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if strings.TrimSpace(header) == "" {
		return ErrMissingSignature
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var (
		ts   string
		sigs [][]byte
	)
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: entry %q is not key=value", ErrMalformedSignature, part)
		}
		switch k {
		case "t":
			if ts != "" {
				return fmt.Errorf("%w: more than one timestamp", ErrMalformedSignature)
			}
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return fmt.Errorf("%w: v1 is not a hex HMAC-SHA256", ErrMalformedSignature)
			}
			sigs = append(sigs, sig)
		}
	}
	if ts == "" {
		return fmt.Errorf("%w: no timestamp", ErrMalformedSignature)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1 signature", ErrMalformedSignature)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q", ErrMalformedSignature, ts)
	}
	// Check the MAC before the clock: a forged request learns nothing about
	// the receiver's clock or tolerance.
	want := mac(secret, ts, body)
	match := false
	for _, sig := range sigs {
		// Compare every candidate so timing does not reveal which matched.
		if hmac.Equal(sig, want) {
			match = true
		}
	}
	if !match {
		return ErrBadSignature
	}
	if skew := now.Sub(time.Unix(sec, 0)); skew > tolerance || skew < -tolerance {
		return fmt.Errorf("%w: signed at %s, %s from now (tolerance %s)", ErrExpiredSignature,
			time.Unix(sec, 0).UTC().Format(time.RFC3339), skew.Round(time.Second), tolerance)
	}
	return nil
}
