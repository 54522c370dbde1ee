package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/edges/webhook"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/config"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// upload is one upload the harness sent.
type upload struct {
	id       string
	banked   bool
	accepted time.Time // when ingest answered 2xx
	attempts int
}

// client signs and posts uploads to ingest, retrying (as a platform would)
// until ingest accepts each.
type client struct {
	ingest   string
	client   string
	keyID    string
	secret   []byte
	plat     *platform
	http     *http.Client
	mu       sync.Mutex
	uploads  map[string]*upload
	refused  int                  // answers other than 2xx, retried
	neterrs  int                  // transport errors, retried
	verdicts map[string]time.Time // content id -> first media.matched record seen
}

func newClient(ingest, clientName, keyID, secret string, plat *platform) *client {
	return &client{ingest: ingest, client: clientName, keyID: keyID, secret: []byte(secret), plat: plat,
		http:    &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}},
		uploads: map[string]*upload{}, verdicts: map[string]time.Time{}}
}

// send uploads pic as content id, retrying until ingest accepts it or ctx ends.
func (c *client) send(ctx context.Context, id string, pic picture) error {
	u := &upload{id: id, banked: pic.Banked}
	c.mu.Lock()
	c.uploads[id] = u
	c.mu.Unlock()
	url := c.plat.host(id+".jpg", pic.Data)
	body, _ := json.Marshal(map[string]any{"content_id": id, "media_url": url, "content_type": events.ContentImage,
		"uploader_id": "bench-user", "uploaded_at": time.Now().UTC().Format(time.RFC3339Nano)})
	for {
		u.attempts++
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.ingest+"/v1/uploads", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		webhook.SignRequest(req, c.keyID, c.secret, body, time.Now())
		resp, err := c.http.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				c.mu.Lock()
				u.accepted = time.Now()
				c.mu.Unlock()
				return nil
			}
			c.mu.Lock()
			c.refused++
			c.mu.Unlock()
			if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout {
				return errors.New("ingest refused " + id + ": " + resp.Status)
			}
		} else {
			c.mu.Lock()
			c.neterrs++
			c.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// follow records when each upload's verdict appears on media.matched: the
// end of the pipeline for an upload that matches nothing.
func (c *client) follow(ctx context.Context, brokers string) {
	k := config.Kafka{Brokers: strings.Split(brokers, ",")}
	log := slog.New(slog.DiscardHandler)
	for ctx.Err() == nil {
		_, err := messaging.Replay(ctx, messaging.ReplayConfig{Kafka: k, Topic: config.DefaultTopics().Matched, Follow: true, Logger: log},
			func(_ context.Context, m *messaging.Message) error {
				id, ok := strings.CutPrefix(string(m.Key), c.client+":")
				if !ok {
					return nil
				}
				c.mu.Lock()
				if _, seen := c.verdicts[id]; !seen {
					c.verdicts[id] = time.Now()
				}
				c.mu.Unlock()
				return nil
			})
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// result is the outcome of one upload.
type result struct {
	*upload
	done     time.Time     // takedown received (banked) or verdict seen (unrelated); zero: not yet
	latency  time.Duration // accepted -> takedown, banked ones only
	removed  bool
	falseHit bool
}

// results joins uploads with the platform's calls and the verdicts seen.
func (c *client) results() []result {
	calls := c.plat.snapshot()
	first := map[string]time.Time{} // content id -> first successful remove
	any := map[string]bool{}
	for _, cl := range calls {
		if cl.ClientID != c.client {
			continue
		}
		any[cl.ContentID] = true
		if cl.Status == http.StatusOK && cl.Action == events.ActionRemove {
			if t, ok := first[cl.ContentID]; !ok || cl.At.Before(t) {
				first[cl.ContentID] = cl.At
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]result, 0, len(c.uploads))
	for _, u := range c.uploads {
		r := result{upload: u}
		if u.banked {
			if t, ok := first[u.id]; ok && !u.accepted.IsZero() {
				r.done, r.removed = t, true
				r.latency = t.Sub(u.accepted)
			}
		} else {
			r.done = c.verdicts[u.id]
			r.falseHit = any[u.id]
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b result) int { return a.accepted.Compare(b.accepted) })
	return out
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}
