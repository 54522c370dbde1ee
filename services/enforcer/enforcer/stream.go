package enforcer

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/takedown-pipeline/takedown/pkg/edges/webhook"
	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/policy"
)

// Live streams. The verdict of each segment (media.matched with a stream)
// lists the bank videos some of its frames matched, with the matched time
// (rule frames). The enforcer adds it up per stream and bank video in
// Redis, so that a restart, a redelivery or another replica carries on
// where it was: one hash per stream, a field per bank video and segment
// (written again, never added twice, by a redelivered verdict). As soon as
// one bank video's matched time reaches StreamMatch, the policy decides on
// that match: act (action stop_stream, once per stream, by its idempotency
// key) or queue the stream for review. A reviewer's violating decision on
// a stream stops it too.

// firstField holds, in a stream's hash, when the first segment that
// matched anything was received (Unix milliseconds): the start of the
// delay logged when the stream is stopped.
const firstField = "first"

// StreamKey is the Redis hash of a stream's matched time.
func StreamKey(prefix, streamID string) string { return prefix + ":enforcer:stream:" + streamID }

// streamField names a bank video's matched time in one segment.
func streamField(m events.Match, seq int64) string {
	return m.Bank + "/" + m.EntryID + "#" + strconv.FormatInt(seq, 10)
}

// isStream reports whether matches are a live stream segment's.
func isStream(ms []events.Match) bool {
	for _, m := range ms {
		if m.Video != nil && m.Video.Rule == events.VideoRuleFrames {
			return true
		}
	}
	return false
}

// handleStream adds a segment's matched time to its stream's and stops
// the stream, or queues it for review, once a bank video's matched time
// reaches StreamMatch.
func (s *Service) handleStream(ctx context.Context, log *slog.Logger, ev *events.MediaMatched) error {
	log = log.With("stream_sequence", ev.Stream.Sequence)
	var segment []events.Match
	for _, m := range ev.Matches {
		if m.Video != nil && m.Video.MatchedMs > 0 {
			segment = append(segment, m)
		}
	}
	if len(segment) == 0 {
		log.Debug("stream segment matched nothing")
		return nil
	}
	key := StreamKey(s.cfg.Redis.Prefix, ev.ContentID)
	var all map[string]string
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, m := range segment {
			p.HSet(ctx, key, streamField(m, ev.Stream.Sequence), m.Video.MatchedMs)
		}
		p.HSetNX(ctx, key, firstField, ev.Stream.ReceivedAt.UnixMilli())
		p.Expire(ctx, key, s.cfg.StreamStateTTL)
		return nil
	})
	if err == nil {
		all, err = s.rdb.HGetAll(ctx, key).Result()
	}
	if err != nil {
		return fmt.Errorf("record stream %s matched time: %w", ev.ContentID, err)
	}
	totals := map[string]int64{}
	for f, v := range all {
		entry, _, ok := strings.Cut(f, "#")
		if n, err := strconv.ParseInt(v, 10, 64); ok && err == nil {
			totals[entry] += n
		}
	}
	// The match the decision rests on: the segment's match of the bank
	// video with the most matched time so far, carrying that time.
	var best events.Match
	var bestMs int64 = -1
	for _, m := range segment {
		if t := totals[m.Bank+"/"+m.EntryID]; t > bestMs {
			best, bestMs = m, t
		}
	}
	video := *best.Video
	video.MatchedMs = bestMs
	best.Video = &video
	need := s.cfg.StreamMatch.Milliseconds()
	if bestMs < need {
		log.Info("stream footage matched so far", "bank", best.Bank, "entry", best.EntryID,
			"matched_ms", bestMs, "stop_at_ms", need)
		return nil
	}
	evidence := append([]events.Match{best}, withoutEntry(ev.Matches, best)...)
	d := s.policy.Decide([]events.Match{best})
	reason := fmt.Sprintf("live stream showed %.1f s of bank %s entry %s (stop at %v); segment %d: %s",
		float64(bestMs)/1000, best.Bank, best.EntryID, s.cfg.StreamMatch, ev.Stream.Sequence, d.Reason)
	if d.Action != policy.ActionRemove {
		return s.queueForReview(ctx, log, ev, reason, best)
	}
	trigger := events.TriggerAuto
	if d.Incident {
		trigger = events.TriggerIncident
	}
	stopKey := webhook.IdempotencyKey(ev.ContentID, events.ActionStopStream)
	if st, _, err := s.actionState(ctx, stopKey); err != nil || st == stateDone {
		if err == nil {
			log.Debug("stream stopped already", "matched_ms", bestMs)
		}
		return err
	}
	err = s.enforce(ctx, log, actRequest{
		parent: &ev.Meta, action: events.ActionStopStream, key: stopKey,
		trigger: trigger, reason: reason, basis: best, evidence: evidence, uploadedAt: ev.UploadedAt,
	})
	if err != nil {
		return err
	}
	attrs := []any{"bank", best.Bank, "entry", best.EntryID, "matched_ms", bestMs,
		"since_segment_received", time.Since(ev.Stream.ReceivedAt).Round(time.Millisecond)}
	if first, err := strconv.ParseInt(all[firstField], 10, 64); err == nil {
		attrs = append(attrs, "since_first_match_received", time.Since(time.UnixMilli(first)).Round(time.Millisecond))
	}
	s.streams.Add(1)
	log.Info("live stream handled", attrs...)
	return nil
}

// withoutEntry returns the matches of other bank entries than m's.
func withoutEntry(ms []events.Match, m events.Match) []events.Match {
	var out []events.Match
	for _, x := range ms {
		if x.Bank != m.Bank || x.EntryID != m.EntryID {
			out = append(out, x)
		}
	}
	return out
}
