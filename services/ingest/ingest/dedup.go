package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// seenKey is the Redis key remembering which upload event first claimed a
// client's content id with given media. The media is part of the key: the
// same id with other media is not a duplicate of the first (someone reusing
// an id must not get a real upload dropped), it is processed.
func (s *Service) seenKey(client, contentID, mediaURL string) string {
	return s.cfg.Redis.Prefix + ":ingest:seen:" + client + ":" + mediaFingerprint(mediaURL) + ":" + contentID
}

// uploadKey is the Redis key remembering which media a client's content id
// was first uploaded with through the API. Client names hold no colon, so
// the key is unambiguous.
func (s *Service) uploadKey(client, contentID string) string {
	return s.cfg.Redis.Prefix + ":ingest:upload:" + client + ":" + contentID
}

// segmentKey is the Redis key of one segment of a client's stream.
func (s *Service) segmentKey(client, streamID string, seq int64) string {
	return s.cfg.Redis.Prefix + ":ingest:segment:" + client + ":" + strconv.FormatInt(seq, 10) + ":" + streamID
}

// mediaFingerprint names a piece of media by its URL (fetching the bytes
// here would cost a download per upload; the hasher does that once).
func mediaFingerprint(mediaURL string) string {
	sum := sha256.Sum256([]byte(mediaURL))
	return hex.EncodeToString(sum[:16])
}

// mediaClaim is what the API keeps at an upload's or a segment's key: the
// media's fingerprint, the first request's event and correlation ids, and
// whether that event is known to be on its topic. A request killed between
// its claim and its publish leaves a claim that is not queued; the next
// repeat publishes the first's event again, so that a retry is never
// answered as a duplicate of something that was never queued.
type mediaClaim struct {
	Fingerprint   string
	EventID       string
	CorrelationID string
	Queued        bool
}

const (
	claimPending = "pending"
	claimQueued  = "queued"
)

// encode writes the claim as "fingerprint state event-id correlation-id";
// the correlation id comes last because the client chooses it.
func (c mediaClaim) encode() string {
	state := claimPending
	if c.Queued {
		state = claimQueued
	}
	return c.Fingerprint + " " + state + " " + c.EventID + " " + c.CorrelationID
}

// decodeClaim reads a stored claim. A claim written before claims had a
// state ("fingerprint event-id [correlation-id]") was answered only once
// its event was published: it counts as queued.
func decodeClaim(stored string) mediaClaim {
	var c mediaClaim
	var rest string
	c.Fingerprint, rest, _ = strings.Cut(stored, " ")
	state, after, _ := strings.Cut(rest, " ")
	switch state {
	case claimPending, claimQueued:
		c.Queued = state == claimQueued
		rest = after
	default:
		c.Queued = true
	}
	c.EventID, c.CorrelationID, _ = strings.Cut(rest, " ")
	return c
}

// claimMedia stores c at key unless the key holds a claim already, and
// returns the stored claim: c itself when this request is the first.
func (s *Service) claimMedia(ctx context.Context, key string, c mediaClaim, ttl time.Duration) (mediaClaim, error) {
	// Two rounds: the key may expire between a failed SET NX and the GET.
	for range 2 {
		ok, err := s.rdb.SetNX(ctx, key, c.encode(), ttl).Result()
		if err != nil {
			return mediaClaim{}, err
		}
		if ok {
			return c, nil
		}
		stored, err := s.rdb.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return mediaClaim{}, err
		}
		return decodeClaim(stored), nil
	}
	return mediaClaim{}, fmt.Errorf("key %s keeps expiring", key)
}

// publishClaimed publishes the event of claim c (stored at key) and then
// records that it is queued, keeping the key's expiry; failing to record
// it costs a repeat one more publish of the same event, which the consumer
// takes for a redelivery. When the publish fails, the claim of a first
// request is released so that the client's retry gets through rather than
// be answered as a duplicate of something never queued; a repeat leaves
// the first request's claim, still pending, for the next retry.
func (s *Service) publishClaimed(ctx context.Context, log *slog.Logger, key string, c mediaClaim, repeat bool, publish func(context.Context) error) error {
	if err := publish(ctx); err != nil {
		if !repeat {
			if derr := s.rdb.Del(context.WithoutCancel(ctx), key).Err(); derr != nil {
				log.Warn("claim not released", "key", key, "err", derr)
			}
		}
		return err
	}
	c.Queued = true
	if err := s.rdb.SetArgs(context.WithoutCancel(ctx), key, c.encode(), redis.SetArgs{Mode: "XX", KeepTTL: true}).Err(); err != nil {
		log.Warn("queued but not marked so; a repeat will queue it once more", "key", key, "err", err)
	}
	return nil
}
