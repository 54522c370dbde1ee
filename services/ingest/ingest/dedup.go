package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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

// claimMedia stores value (a media fingerprint, then optionally a space and
// more) at key unless the key holds a value already, and returns the stored
// value and whether its fingerprint is value's.
func (s *Service) claimMedia(ctx context.Context, key, value string, ttl time.Duration) (stored string, same bool, err error) {
	fp, _, _ := strings.Cut(value, " ")
	// Two rounds: the key may expire between a failed SET NX and the GET.
	for range 2 {
		ok, err := s.rdb.SetNX(ctx, key, value, ttl).Result()
		if err != nil {
			return "", false, err
		}
		if ok {
			return value, true, nil
		}
		stored, err := s.rdb.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return "", false, err
		}
		storedFP, _, _ := strings.Cut(stored, " ")
		return stored, storedFP == fp, nil
	}
	return "", false, fmt.Errorf("key %s keeps expiring", key)
}
