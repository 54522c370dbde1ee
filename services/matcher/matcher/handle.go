package matcher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/matching/bank"
	"github.com/takedown-pipeline/takedown/pkg/platform/cpu"
	"github.com/takedown-pipeline/takedown/pkg/platform/messaging"
)

// handle turns one media.hashed event into one media.matched verdict.
func (s *Service) handle(ctx context.Context, msg *messaging.Message) error {
	log := messaging.Log(ctx)
	var in events.MediaHashed
	if err := events.Decode(msg.Value, events.TypeMediaHashed, &in); err != nil {
		return messaging.Permanent(err)
	}
	sigs := make([]events.Signal, 0, len(in.Signals))
	for _, sig := range in.Signals {
		n, err := bank.Normalize(sig)
		if err != nil {
			if errors.Is(err, bank.ErrBlankHash) {
				continue // a flat image: normal, and nothing to match on
			}
			s.invalidSignals.Add(1)
			s.metrics.invalidSignals.Inc()
			log.Warn("ignoring unusable signal", "content_id", in.ContentID, "err", err)
			continue
		}
		sigs = append(sigs, n)
	}
	// Media the hasher could not hash goes on as a verdict all the same,
	// with its reason and the matches of the file hashes it has (a file
	// too long to decode can still be a known file): the enforcer acts on
	// such a match, or sends it to review, never lets it through as if it
	// had been checked.
	if len(sigs) == 0 && len(in.Frames) == 0 && in.Unhashable == nil {
		return messaging.Permanentf("media.hashed %s for content %s: none of its %d signals can be matched",
			in.EventID, in.ContentID, len(in.Signals))
	}
	var video []bank.Hits
	if len(in.Frames) > 0 {
		var hits bank.Hits
		if err := cpu.Do(ctx, func() { hits = s.matchVideo(&in) }); err != nil {
			return fmt.Errorf("waiting for a CPU slot: %w", err)
		}
		video = append(video, hits)
	}
	v := bank.Verdict{Matches: []events.Match{}}
	if len(sigs) > 0 || len(video) > 0 {
		var err error
		if v, err = s.match(ctx, sigs, video...); err != nil {
			return fmt.Errorf("waiting for a CPU slot: %w", err)
		}
	}

	out := events.MediaMatched{
		Meta:        events.Follow(events.TypeMediaMatched, &in.Meta),
		MediaURL:    in.MediaURL,
		ContentType: in.ContentType,
		UploaderID:  in.UploaderID,
		UploadedAt:  in.UploadedAt,
		Matches:     v.Matches,
		// The usable signals, normalised: what a reviewer's decision feeds
		// back into a bank must be accepted there, and a bank refuses blank
		// and malformed hashes.
		Signals:    sigs,
		Stream:     in.Stream,
		Unhashable: in.Unhashable,
	}
	if len(v.Suppressed) > 0 {
		out.Suppressed = v.Suppressed
	}
	if in.Unhashable != nil {
		log.Info("unhashable media passed on", "content_id", in.ContentID,
			"reason", in.Unhashable.Reason, "detail", in.Unhashable.Detail)
	}
	// A redelivered input yields a verdict with the same id, so consumers
	// can drop the duplicate.
	out.EventID = derivedID(in.EventID)
	if err := messaging.PublishEvent(ctx, s.pub, s.cfg.Topics.Matched, &out); err != nil {
		return err // transient: retried, then dead-lettered
	}
	s.processed.Add(1)
	s.metrics.processed.Inc()
	if len(v.Suppressed) > 0 {
		s.metrics.suppressed.Inc()
		s.metrics.suppressedMatches.Add(float64(len(v.Suppressed)))
		log.Info("block matches suppressed by an allow-list", "content_id", in.ContentID,
			"suppressed", len(v.Suppressed), "allowed_by", v.Allowed[0].Bank+"/"+v.Allowed[0].EntryID)
	}
	if len(v.Matches) > 0 {
		s.matched.Add(1)
		s.metrics.matched.Inc()
		attrs := []any{"content_id", in.ContentID, "matches", len(v.Matches),
			"bank", v.Matches[0].Bank, "entry", v.Matches[0].EntryID, "distance", v.Matches[0].Distance}
		if vm := v.Matches[0].Video; vm != nil {
			attrs = append(attrs, "video_rule", vm.Rule, "matched_ms", vm.MatchedMs, "query_percent", vm.QueryPercent,
				"reference_percent", vm.ReferencePercent, "ranges", len(vm.Ranges))
		}
		if in.Stream != nil {
			attrs = append(attrs, "stream_sequence", in.Stream.Sequence)
		}
		log.Info("upload matched", attrs...)
	} else {
		log.Debug("upload did not match", "content_id", in.ContentID)
	}
	return nil
}

func derivedID(parent string) string {
	sum := sha256.Sum256([]byte("media.matched:" + parent))
	return hex.EncodeToString(sum[:16])
}

// matchVideo matches a video's frames from memory: the whole video by the
// rules, or a live stream segment's frames one by one. The video's frames
// are not cached: one lookup per frame would cost Redis more than the
// index.
func (s *Service) matchVideo(in *events.MediaHashed) bank.Hits {
	q := bank.VideoQuery{Frames: in.Frames, IntervalMs: in.FrameIntervalMs, DurationMs: in.DurationMs}
	if in.Stream != nil {
		s.metrics.videos.WithLabelValues("segment").Inc()
		// The frames are in stream time; the segment ends where it
		// started plus its length.
		q.DurationMs += in.Stream.OffsetMs
		return s.Banks().MatchVideoFrames(q)
	}
	s.metrics.videos.WithLabelValues("upload").Inc()
	return s.Banks().MatchVideo(q, s.cfg.VideoRules())
}

// match looks every signal's hits up, in Redis first when it can (one MGET
// for the whole upload), and resolves the allow-lists across all of them
// and the extra hits (a video's). Redis trouble never fails a message: the
// bank in memory is the truth and the cache only saves work. It fails only
// when ctx ends while it waits for a CPU slot.
func (s *Service) match(ctx context.Context, sigs []events.Signal, extra ...bank.Hits) (bank.Verdict, error) {
	start := time.Now()
	defer func() { s.metrics.match.Observe(time.Since(start).Seconds()) }()
	banks := s.Banks()
	// Matching in memory is the CPU-heavy step; the cache's round trips
	// hold no CPU slot.
	memory := func() (v bank.Verdict, err error) {
		err = cpu.Do(ctx, func() { v = banks.MatchVerdict(sigs, extra...) })
		return v, err
	}
	if s.cache == nil || len(sigs) == 0 {
		return memory()
	}
	version := banks.Version()
	keys := make([]string, len(sigs))
	for i, sig := range sigs {
		keys[i] = s.cache.key(version, sig)
	}
	cached, err := s.cache.get(ctx, keys)
	if err != nil {
		s.cache.bypasses.Add(int64(len(sigs)))
		s.metrics.cacheBypassedUploads.Inc()
		return memory()
	}
	hits := make([]bank.Hits, len(sigs))
	var missKeys []string
	var missHits []bank.Hits
	consistent := true
	for i, sig := range sigs {
		if cached[i] != nil {
			s.cache.hits.Add(1)
			s.metrics.cacheHits.Inc()
			hits[i] = *cached[i]
			continue
		}
		s.cache.misses.Add(1)
		s.metrics.cacheMisses.Inc()
		var h bank.Hits
		var v uint64
		if err := cpu.Do(ctx, func() { h, v = banks.Lookup(sig) }); err != nil {
			return bank.Verdict{}, err
		}
		hits[i] = h
		// Stored under the version it was computed at, which may be newer
		// than the one looked up if the bank changed meanwhile.
		missKeys = append(missKeys, s.cache.key(v, sig))
		missHits = append(missHits, h)
		consistent = consistent && v == version
	}
	if len(missKeys) > 0 {
		if err := s.cache.put(ctx, missKeys, missHits); err != nil {
			messaging.Log(ctx).Debug("verdicts not cached", "err", err)
		}
	}
	if !consistent {
		// The bank changed while this upload was looked up: hits of two
		// versions must not be mixed into one verdict.
		return memory()
	}
	return bank.Resolve(append(hits, extra...)...), nil
}
