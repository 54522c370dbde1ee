package webhook

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// MaxBodyBytes bounds the body a Receiver reads.
const MaxBodyBytes = 1 << 20

// Receiver is the platform side of the webhook, for tests and the demo
// platform: it verifies the signature, acts once per idempotency key and
// answers 200 to repeats of a key without acting again. Seen keys are kept in
// memory only.
type Receiver struct {
	// Secret is the HMAC key shared with the enforcer.
	Secret []byte
	// Tolerance is the allowed clock skew; 0 means DefaultTolerance.
	Tolerance time.Duration
	// OnTakedown is called once per idempotency key with the verified
	// request. It may be nil.
	OnTakedown func(Takedown)

	mu   sync.Mutex
	seen map[string]bool

	received, accepted, duplicates, rejected atomic.Int64
}

// ServeHTTP implements http.Handler.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.received.Add(1)
	if r.Method != http.MethodPost {
		rc.rejected.Add(1)
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		rc.rejected.Add(1)
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := Verify(rc.Secret, r.Header.Get(HeaderSignature), body, time.Now(), rc.Tolerance); err != nil {
		rc.rejected.Add(1)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var td Takedown
	if err := json.Unmarshal(body, &td); err != nil {
		rc.rejected.Add(1)
		http.Error(w, "bad takedown JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	key := r.Header.Get(HeaderIdempotencyKey)
	// The header is not signed, the body is: insisting they agree means the
	// key deduplicated on is one the sender vouched for.
	if key == "" || key != td.IdempotencyKey {
		rc.rejected.Add(1)
		http.Error(w, "Idempotency-Key header missing or different from the signed idempotency_key", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	if rc.seen[key] {
		rc.mu.Unlock()
		rc.duplicates.Add(1)
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"status":"duplicate"}`+"\n")
		return
	}
	if rc.seen == nil {
		rc.seen = map[string]bool{}
	}
	// Claim the key before acting so a concurrent repeat is a duplicate.
	rc.seen[key] = true
	rc.mu.Unlock()
	rc.accepted.Add(1)
	if rc.OnTakedown != nil {
		rc.OnTakedown(td)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `{"status":"accepted"}`+"\n")
}

// Received is the number of requests that reached the receiver, whatever
// became of them.
func (rc *Receiver) Received() int64 { return rc.received.Load() }

// Accepted is the number of takedowns handed to OnTakedown.
func (rc *Receiver) Accepted() int64 { return rc.accepted.Load() }

// Duplicates is the number of valid requests whose key had been seen.
func (rc *Receiver) Duplicates() int64 { return rc.duplicates.Load() }

// Rejected is the number of requests refused (bad signature, bad body,
// wrong method).
func (rc *Receiver) Rejected() int64 { return rc.rejected.Load() }
