package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/takedown-pipeline/takedown/pkg/edges/fetch"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// handleUploaded turns one media.uploaded record into media.ingested.
//
// Deduplication claims (client, content id, media URL) for this event id
// with SET NX. If the key already names another event, the upload is a
// duplicate and is dropped; the same id with other media is not one.
// If it names this event, the record is a redelivery (the claim succeeded but
// the publish or commit did not) and the event is published again: the
// downstream services are idempotent, and publishing twice beats losing it.
func (s *Service) handleUploaded(ctx context.Context, msg *messaging.Message) error {
	var up events.MediaUploaded
	if err := events.Decode(msg.Value, events.TypeMediaUploaded, &up); err != nil {
		return messaging.Permanent(err)
	}
	log := messaging.Log(ctx).With("content_id", up.ContentID, "event_id", up.EventID)
	// Platforms may produce to media.uploaded directly, past the API's check.
	if _, err := s.policy.CheckURL(ctx, up.MediaURL); err != nil {
		if fetch.IsPermanent(err) {
			return messaging.Permanentf("media_url refused: %w", err)
		}
		// The host could not be resolved just now. Waiting for it would
		// stall every upload behind this one on the partition, and the
		// hasher enforces the same policy on the address it connects to,
		// so pass the upload on.
		log.Warn("media host not resolvable now; forwarding, the hasher re-checks at connect time", "err", err)
	}

	// The API names the client; a platform producing here itself may, and
	// is otherwise the configured one. Kafka's ACLs decide who may produce.
	client := up.ClientID
	if client == "" {
		client = s.cfg.UploadedClient
	}
	if len(up.ContentID) > events.MaxContentIDBytes {
		return messaging.Permanentf("content_id longer than %d bytes", events.MaxContentIDBytes)
	}
	first, err := s.claim(ctx, s.seenKey(client, up.ContentID, up.MediaURL), up.EventID)
	if err != nil {
		return fmt.Errorf("dedupe %s: %w", up.ContentID, err)
	}
	if first != up.EventID {
		s.duplicates.Add(1)
		log.Info("duplicate upload dropped", "client", client, "first_event_id", first, "dedup_ttl", s.cfg.DedupTTL)
		return nil
	}

	meta := events.Follow(events.TypeMediaIngested, &up.Meta)
	meta.ClientID, meta.ContentID = client, events.ScopedID(client, up.ContentID)
	out := events.MediaIngested{
		Meta:        meta,
		MediaURL:    up.MediaURL,
		ContentType: up.ContentType,
		UploaderID:  up.UploaderID,
		UploadedAt:  up.UploadedAt,
		IngestedAt:  time.Now().UTC(),
	}
	if err := messaging.PublishEvent(ctx, s.pub, s.cfg.Topics.Ingested, &out); err != nil {
		return fmt.Errorf("publish %s: %w", events.TypeMediaIngested, err)
	}
	s.ingested.Add(1)
	log.Info("upload ingested", "client", client, "ingested_event_id", out.EventID)
	return nil
}

// claim records eventID as the first upload at key unless one is already
// recorded, and returns the recorded one.
func (s *Service) claim(ctx context.Context, key, eventID string) (string, error) {
	// Two rounds: the key may expire between a failed SET NX and the GET.
	for range 2 {
		ok, err := s.rdb.SetNX(ctx, key, eventID, s.cfg.DedupTTL).Result()
		if err != nil {
			return "", err
		}
		if ok {
			return eventID, nil
		}
		first, err := s.rdb.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return "", err
		}
		return first, nil
	}
	return "", fmt.Errorf("key %s keeps expiring", key)
}
