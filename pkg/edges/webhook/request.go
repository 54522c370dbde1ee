package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// HeaderKeyID names the key a signed request to the pipeline (ingest's API)
// was signed with. The signature itself is the webhook's construction
// (HeaderSignature over "<t>.<raw body>"), so a platform that verifies
// takedowns already has the code to sign its uploads.
const HeaderKeyID = "X-Takedown-Key-Id"

// Errors of VerifyRequest besides Verify's.
var (
	ErrMissingKeyID = errors.New("webhook: missing " + HeaderKeyID + " header")
	ErrUnknownKey   = errors.New("webhook: unknown key id")
)

// SignRequest sets the key id and signature headers of r, whose body is
// body, signed at now.
func SignRequest(r *http.Request, keyID string, secret, body []byte, now time.Time) {
	r.Header.Set(HeaderKeyID, keyID)
	r.Header.Set(HeaderSignature, Sign(secret, now, body))
}

// VerifyRequest checks the signature of a request with header h and body
// body: the key id names the secret (found by lookup) and the signature must
// verify with it, as Verify says. It returns the key id. An unknown key id is
// refused without computing anything, so the time taken tells nothing about
// the secrets.
func VerifyRequest(lookup func(keyID string) ([]byte, bool), h http.Header, body []byte, now time.Time, tolerance time.Duration) (string, error) {
	keyID := h.Get(HeaderKeyID)
	if keyID == "" {
		if h.Get(HeaderSignature) == "" {
			return "", ErrMissingSignature
		}
		return "", ErrMissingKeyID
	}
	secret, ok := lookup(keyID)
	if !ok {
		return keyID, fmt.Errorf("%w %q", ErrUnknownKey, keyID)
	}
	return keyID, Verify(secret, h.Get(HeaderSignature), body, now, tolerance)
}
