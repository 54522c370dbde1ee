package bank

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/takedown-pipeline/takedown/pkg/events"
	"github.com/takedown-pipeline/takedown/pkg/hashing/pdq"
)

// Defaults of VideoRules.
const (
	DefaultVideoQueryPercent     = 80
	DefaultVideoReferencePercent = 80
	DefaultVideoMinContains      = 3 * time.Second
	DefaultVideoExcerpt          = 10 * time.Second
)

// maxSkip is how many unmatched upload frames a matched range may step
// over: a frame or two of a copy can fall just outside the threshold
// (motion blur, a cut), which should not split the range.
const maxSkip = 2

// minRangeFrames is the fewest matched frames of a range that counts for
// the contains and excerpt rules.
const minRangeFrames = 2

// VideoRules decide when an upload's video matches a bank video; see the
// package documentation. Zero fields take the defaults.
type VideoRules struct {
	// QueryPercent is the copy rule's share of the upload's frames, 1-100;
	// a bank's VideoQueryPercent overrides it.
	QueryPercent int
	// ReferencePercent is the contains rule's share of the bank video's
	// frames, 1-100; a bank's VideoReferencePercent overrides it.
	ReferencePercent int
	// MinContains is the shortest matched time of a contains match.
	MinContains time.Duration
	// Excerpt is the length of one matched range that matches on its own;
	// negative turns the excerpt rule off.
	Excerpt time.Duration
}

func (r VideoRules) withDefaults() VideoRules {
	if r.QueryPercent == 0 {
		r.QueryPercent = DefaultVideoQueryPercent
	}
	if r.ReferencePercent == 0 {
		r.ReferencePercent = DefaultVideoReferencePercent
	}
	if r.MinContains == 0 {
		r.MinContains = DefaultVideoMinContains
	}
	if r.Excerpt == 0 {
		r.Excerpt = DefaultVideoExcerpt
	}
	return r
}

// Validate checks the rules' ranges.
func (r VideoRules) Validate() error {
	var errs []string
	if r.QueryPercent < 0 || r.QueryPercent > 100 {
		errs = append(errs, fmt.Sprintf("video query percent %d: want 1..100", r.QueryPercent))
	}
	if r.ReferencePercent < 0 || r.ReferencePercent > 100 {
		errs = append(errs, fmt.Sprintf("video reference percent %d: want 1..100", r.ReferencePercent))
	}
	if r.MinContains < 0 {
		errs = append(errs, fmt.Sprintf("video minimum contained length %v: want >= 0", r.MinContains))
	}
	if len(errs) > 0 {
		return fmt.Errorf("video rules: %s", strings.Join(errs, "; "))
	}
	return nil
}

// VideoQuery is an upload's sampled frames, as media.hashed carries them.
type VideoQuery struct {
	// Frames are in time order; see events.MediaHashed.Frames.
	Frames []events.VideoFrame
	// IntervalMs is the sampling interval (1000 at one frame a second).
	IntervalMs int64
	// DurationMs is the video's (or the stream's, up to the segment's
	// end) length; the last frame lasts up to it.
	DurationMs int64
}

// frameVariant returns the variant a bank keeps for a normalised signal: a
// pdq hash's frame@<ms>, canonical, or "" for any other variant. A variant
// that claims to be a frame but is malformed is an error: dropping it would
// turn a video's frame into a picture's hash.
func frameVariant(s events.Signal) (string, error) {
	if !strings.HasPrefix(s.Variant, events.FrameVariantPrefix) {
		return "", nil
	}
	ms, ok := events.ParseFrameVariant(s.Variant)
	switch {
	case s.Type != events.SignalPDQ:
		return "", fmt.Errorf("%w: variant %q on a %s hash: only pdq hashes are video frames", ErrInvalidSignal, s.Variant, s.Type)
	case !ok || ms > math.MaxUint32:
		return "", fmt.Errorf("%w: variant %q: want frame@<milliseconds>, a decimal number below 2^32", ErrInvalidSignal, clip(s.Variant))
	}
	return s.Variant, nil
}

// videoTransforms name how an upload shows a bank video, by the upload's
// hash that matched (events.VideoFrame): [0] its PDQ (upright), [1] its
// transpose; [2] FlipY, [3] its transpose; [4] FlipX, [5] its transpose;
// [6] Rot180, [7] its transpose. A hash of the upload transformed by A
// that matches a bank frame F says the upload is A⁻¹(F) (A's own
// inverse), and its transpose that it is A(T(F)): flipy after the
// transpose is rot270, flipx after it rot90, rot180 after it flipminus.
var videoTransforms = [8]string{"", "flipplus", "flipy", "rot270", "flipx", "rot90", "rot180", "flipminus"}

func mustHash(hex string) pdq.Hash {
	h, _ := pdq.ParseHex(hex) // normalised: always 64 hex digits
	return h
}

// pair is one upload frame (by index) within the threshold of one frame of
// a bank video.
type pair struct {
	qi    int
	refMs int64
	dist  int
	hash  string // the upload's hash that matched (its PDQ or its trim)
}

// candidate video: the pairs found for one bank entry, with what is needed
// to build its Match after the lock is released.
type videoCandidate struct {
	slot   uint32
	tf     int // how the upload shows the bank video: an index into videoTransforms
	pairs  []pair
	match  events.Match // Bank, EntryID, labels, threshold, incident, severity
	allow  bool
	refMs  []int64 // the bank video's distinct frame times, sorted
	qPct   int     // the bank's QueryPercent override (0: none)
	refPct int
}

// MatchVideo matches an upload's video against every bank video and
// returns the bank videos that match by one of the rules (see the package
// documentation), as hits ready for Resolve.
func (b *Banks) MatchVideo(q VideoQuery, rules VideoRules) Hits {
	return b.matchVideo(q, rules.withDefaults(), false)
}

// MatchVideoFrames matches a live stream segment's frames and returns every
// bank video with at least one matched frame (rule frames), with the
// matched ranges in stream time.
func (b *Banks) MatchVideoFrames(q VideoQuery) Hits {
	return b.matchVideo(q, VideoRules{}.withDefaults(), true)
}

func (b *Banks) matchVideo(q VideoQuery, rules VideoRules, frames bool) Hits {
	h := Hits{Block: []events.Match{}, Allow: []events.Match{}}
	if q.IntervalMs <= 0 {
		q.IntervalMs = 1000
	}
	cands, unique := b.lookupFrames(q)
	// One match per bank video: of its candidates (one per way the upload
	// may show it: upright, mirrored, rotated), the one that matches on the
	// most frames, then at the smaller distance, then upright first.
	var (
		best   events.Match
		have   bool
		slot   uint32
		allow  bool
		bestFr int
	)
	flush := func() {
		if !have {
			return
		}
		if allow {
			h.Allow = append(h.Allow, best)
		} else {
			h.Block = append(h.Block, best)
		}
		have = false
	}
	for _, c := range cands {
		if have && c.slot != slot {
			flush()
		}
		m, ok := decideVideo(q, c, unique, rules, frames)
		if !ok {
			continue
		}
		fr := 0
		for _, r := range m.Video.Ranges {
			fr += r.Frames
		}
		if !have || fr > bestFr || fr == bestFr && m.Distance < best.Distance {
			best, have, slot, allow, bestFr = m, true, c.slot, c.allow, fr
		}
	}
	flush()
	sortMatches(h.Block)
	sortMatches(h.Allow)
	return h
}

// lookupFrames finds, under the read lock, the pairs of every bank video
// one of the upload's frames matches. unique maps each usable upload frame
// to its number among the upload's unique PDQ hashes (-1: unusable), the
// reference rule's unit of a video.
func (b *Banks) lookupFrames(q VideoQuery) (cands []*videoCandidate, unique []int) {
	unique = make([]int, len(q.Frames))
	seen := map[string]int{}
	type probe struct {
		qi   int
		hash string
		p    parsed
		tf   int // index into videoTransforms
	}
	var probes []probe
	// add probes a hash of frame qi and its transpose, as transforms tf and
	// tf+1. A frame symmetric under a transform probes the same hash twice,
	// so that every transform's candidate has all its frames.
	add := func(qi int, hex string, tf int) {
		n, err := Normalize(events.Signal{Type: events.SignalPDQ, Value: hex})
		if err != nil {
			return
		}
		probes = append(probes, probe{qi, n.Value, parse(n), tf})
		if h, err := pdq.ParseHex(n.Value); err == nil {
			// The transpose of the same frame: exact for the square
			// frames uploads are hashed at (pdq.Transpose).
			if tn, err := Normalize(events.Signal{Type: events.SignalPDQ, Value: pdq.Transpose(h).String()}); err == nil {
				probes = append(probes, probe{qi, tn.Value, parse(tn), tf + 1})
			}
		}
	}
	for i, f := range q.Frames {
		unique[i] = -1
		if b.minQuality >= 0 && f.Quality < b.minQuality {
			continue
		}
		n, err := Normalize(events.Signal{Type: events.SignalPDQ, Value: f.PDQ})
		if err != nil {
			continue // malformed or a flat frame: nothing to match on
		}
		u, ok := seen[n.Value]
		if !ok {
			u = len(seen)
			seen[n.Value] = u
		}
		unique[i] = u
		probes = append(probes, probe{i, n.Value, parse(n), 0})
		if f.Trim != "" {
			if t, err := Normalize(events.Signal{Type: events.SignalPDQ, Value: f.Trim}); err == nil && t.Value != n.Value {
				probes = append(probes, probe{i, t.Value, parse(t), 0})
			}
		}
		// The crops to a picture-in-picture's inset show the bank video
		// upright, as the frame's own hash does.
		for _, in := range f.Insets {
			if t, err := Normalize(events.Signal{Type: events.SignalPDQ, Value: in}); err == nil && t.Value != n.Value {
				probes = append(probes, probe{i, t.Value, parse(t), 0})
			}
		}
		if f.FlipY == "" {
			continue // a frame without its mirrored hashes (thinned, or an older hasher)
		}
		if tn, err := Normalize(events.Signal{Type: events.SignalPDQ, Value: pdq.Transpose(mustHash(n.Value)).String()}); err == nil {
			probes = append(probes, probe{i, tn.Value, parse(tn), 1})
		}
		add(i, f.FlipY, 2)
		add(i, f.FlipX, 4)
		add(i, f.Rot180, 6)
	}
	if len(probes) == 0 {
		return nil, unique
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	r := b.radius[tPDQ]
	if r < 0 || len(b.frameMs) == 0 {
		return nil, unique
	}
	type key struct {
		slot uint32
		tf   int
	}
	byEntry := map[key]*videoCandidate{}
	for _, pr := range probes {
		b.pdq.search(pr.p.b32, r, func(id uint32, d int) bool {
			ms, isFrame := b.frameMs[id]
			if !isFrame {
				return true // a picture's hash: pictures match pictures
			}
			owner := b.pdq.owner[id]
			e := &b.entries[owner]
			bs := b.banks[e.bank]
			if !bs.enabled || !bs.on[tPDQ] || d > bs.thr[tPDQ] {
				return true
			}
			c := byEntry[key{owner, pr.tf}]
			if c == nil {
				c = &videoCandidate{slot: owner, tf: pr.tf, allow: bs.allow,
					qPct: bs.cfg.VideoQueryPercent, refPct: bs.cfg.VideoReferencePercent,
					match: events.Match{
						Bank: bs.name, EntryID: e.id,
						Labels:     mergeLabels(b.labels.get(e.labels), bs.labels),
						SignalType: events.SignalPDQ, Variant: events.VariantVideo,
						Threshold: bs.thr[tPDQ], Incident: bs.cfg.Incident, Severity: bs.cfg.Severity,
					}}
				byEntry[key{owner, pr.tf}] = c
				cands = append(cands, c)
			}
			c.pairs = append(c.pairs, pair{qi: pr.qi, refMs: int64(ms), dist: d, hash: pr.hash})
			return true
		})
	}
	for _, c := range cands {
		c.refMs = b.frameTimesLocked(c.slot)
	}
	// Map order must not leak into the output.
	slices.SortFunc(cands, func(x, y *videoCandidate) int {
		if x.slot != y.slot {
			return int(x.slot) - int(y.slot)
		}
		return x.tf - y.tf
	})
	return cands, unique
}

// frameTimesLocked returns the distinct frame times of an enabled entry,
// sorted. Callers hold a lock.
func (b *Banks) frameTimesLocked(slot uint32) []int64 {
	var out []int64
	for _, r := range b.refs(slot) {
		if r.typ() != tPDQ {
			continue
		}
		if ms, ok := b.frameMs[r.slot()]; ok {
			out = append(out, int64(ms))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// decideVideo builds a candidate's ranges and applies the rules; false
// when no rule holds (and, for frames, never).
func decideVideo(q VideoQuery, c *videoCandidate, unique []int, rules VideoRules, frames bool) (events.Match, bool) {
	usable := make([]bool, len(unique))
	for i, u := range unique {
		usable[i] = u >= 0
	}
	ranges, chosen := buildRanges(q, usable, c.pairs)
	if len(ranges) == 0 {
		return events.Match{}, false
	}
	total := 0
	for _, u := range unique {
		total = max(total, u+1)
	}
	matchedUnique := map[int]bool{}
	for _, p := range c.pairs {
		matchedUnique[unique[p.qi]] = true
	}
	qPct := 100 * len(matchedUnique) / max(total, 1)
	// A range of one matched frame is reported but counts for nothing in an
	// upload: one frame cannot show that the footage runs in step with the
	// bank video, and scattered chance matches must not add up to a
	// contained video. (A stream segment's frames are added up by the
	// enforcer, each segment's alone.)
	var matchedMs, longest int64
	var solid []events.VideoRange
	for _, r := range ranges {
		if r.Frames < minRangeFrames && !frames {
			continue
		}
		solid = append(solid, r)
		matchedMs += r.QueryEndMs - r.QueryStartMs
		longest = max(longest, r.QueryEndMs-r.QueryStartMs)
	}
	covered := 0
	for _, t := range c.refMs {
		for _, r := range solid {
			if t >= r.RefStartMs && t < r.RefEndMs {
				covered++
				break
			}
		}
	}
	refPct := 100 * covered / max(len(c.refMs), 1)

	queryPct, refNeed := rules.QueryPercent, rules.ReferencePercent
	if c.qPct > 0 {
		queryPct = c.qPct
	}
	if c.refPct > 0 {
		refNeed = c.refPct
	}
	var rule string
	switch {
	case frames:
		rule = events.VideoRuleFrames
	case qPct >= queryPct:
		rule = events.VideoRuleCopy
	case refPct >= refNeed && matchedMs >= rules.MinContains.Milliseconds():
		rule = events.VideoRuleContains
	case rules.Excerpt > 0 && longest >= rules.Excerpt.Milliseconds():
		rule = events.VideoRuleExcerpt
	default:
		return events.Match{}, false
	}

	m := c.match
	m.Labels = slices.Clone(m.Labels)
	m.Video = &events.VideoMatch{Transform: videoTransforms[c.tf]}
	dists := make([]int, len(chosen))
	best := chosen[0]
	for i, p := range chosen {
		dists[i] = p.dist
		if p.dist < best.dist || p.dist == best.dist && p.hash < best.hash {
			best = p
		}
	}
	sort.Ints(dists)
	m.Distance = dists[(len(dists)-1)/2]
	m.Signal = best.hash
	m.Video.Rule, m.Video.QueryPercent, m.Video.ReferencePercent, m.Video.MatchedMs, m.Video.Ranges = rule, qPct, refPct, matchedMs, ranges
	return m, true
}

// lookahead is how many matched upload frames, the first included, a new
// range's start weighs its candidate offsets on (startPair).
const lookahead = 10

// startPair chooses the pair a range starts with at upload frame next[0]:
// the one whose offset into the bank video the following matched frames
// (up to lookahead of them) agree with best, each frame scoring the
// distance of its closest pair within tol of that offset, or one more than
// the largest distance seen when it has none; ties go to the closer pair,
// then the earlier bank time. The closest pair alone is not enough: in a
// nearly static video many bank frames are about equally close to each
// upload frame, and the closest one of the first frame can be seconds away
// from the alignment every other frame shares.
func startPair(q VideoQuery, byFrame map[int][]pair, next []int, tol int64) pair {
	ps := byFrame[next[0]]
	if len(next) > lookahead {
		next = next[:lookahead]
	}
	miss := 0
	for _, qi := range next {
		for _, p := range byFrame[qi] {
			miss = max(miss, p.dist+1)
		}
	}
	t0 := q.Frames[next[0]].Ms
	best, bestScore := pair{}, -1
	for i, p := range ps {
		if i > 0 && p.refMs == ps[i-1].refMs && p.dist >= ps[i-1].dist {
			continue // the same offset again (a frame's crop or trimmed hash)
		}
		score := 0
		for _, qi := range next {
			want := p.refMs + q.Frames[qi].Ms - t0
			d := miss
			os := byFrame[qi] // sorted by bank time (buildRanges)
			k, _ := slices.BinarySearchFunc(os, want-tol, func(o pair, t int64) int { return cmp.Compare(o.refMs, t) })
			for ; k < len(os) && os[k].refMs <= want+tol; k++ {
				d = min(d, os[k].dist)
			}
			score += d
		}
		if bestScore < 0 || score < bestScore || score == bestScore && (p.dist < best.dist || p.dist == best.dist && p.refMs < best.refMs) {
			best, bestScore = p, score
		}
	}
	return best
}

// buildRanges groups a candidate's pairs into matched ranges: upload frames
// in time order, each extending the current range when at most maxSkip
// usable frames (usable[i]: of PDQ quality 50 or more) come between it and
// the range's last matched frame and one of its pairs keeps the offset into
// the bank video within two frame intervals (the closest such pair is
// taken); otherwise it starts a range with its closest pair. Frames that
// cannot be matched (fades, black, flat frames) neither break a range nor
// count as skipped, and a range reaches over up to maxSkip+1 intervals of
// them at either end: a stretch of a bank video whose last seconds are dark
// is still all there. It also returns the pair chosen for each matched
// frame.
func buildRanges(q VideoQuery, usable []bool, pairs []pair) ([]events.VideoRange, []pair) {
	byFrame := map[int][]pair{}
	var order []int
	for _, p := range pairs {
		if _, ok := byFrame[p.qi]; !ok {
			order = append(order, p.qi)
		}
		byFrame[p.qi] = append(byFrame[p.qi], p)
	}
	sort.Ints(order)
	for _, ps := range byFrame {
		slices.SortStableFunc(ps, func(a, b pair) int {
			if c := cmp.Compare(a.refMs, b.refMs); c != 0 {
				return c
			}
			return a.dist - b.dist
		})
	}
	// usableBefore[i] counts the usable frames before frame i.
	usableBefore := make([]int, len(q.Frames)+1)
	for i, u := range usable {
		usableBefore[i+1] = usableBefore[i]
		if u {
			usableBefore[i+1]++
		}
	}
	reach := int64(maxSkip+1) * q.IntervalMs
	// edges return how far a range starting (ending) at frame i reaches
	// over the unusable frames before (after) it.
	startOf := func(i int) int64 {
		j := i
		for j > 0 && !usable[j-1] {
			j--
		}
		return max(q.Frames[j].Ms, q.Frames[i].Ms-reach)
	}
	endOf := func(i int) int64 {
		j := i + 1
		for j < len(q.Frames) && !usable[j] {
			j++
		}
		videoEnd := max(q.DurationMs, q.Frames[len(q.Frames)-1].Ms+q.IntervalMs)
		own, end := videoEnd, videoEnd
		if i+1 < len(q.Frames) {
			own = q.Frames[i+1].Ms
		}
		if j < len(q.Frames) {
			end = q.Frames[j].Ms
		}
		return max(own, min(end, own+reach))
	}
	tol := 2 * q.IntervalMs
	var (
		ranges []events.VideoRange
		chosen []pair
		cur    *events.VideoRange
		first  pair
		last   pair
	)
	closeRange := func() {
		if cur == nil {
			return
		}
		start := startOf(first.qi)
		back := min(q.Frames[first.qi].Ms-start, first.refMs) // a bank video starts at 0
		cur.QueryStartMs = q.Frames[first.qi].Ms - back
		cur.RefStartMs = first.refMs - back
		cur.QueryEndMs = endOf(last.qi)
		cur.RefEndMs = last.refMs + (cur.QueryEndMs - q.Frames[last.qi].Ms)
		ranges = append(ranges, *cur)
		cur = nil
	}
	for oi, qi := range order {
		ps := byFrame[qi]
		var next pair
		extend := false
		if cur != nil && usableBefore[qi]-usableBefore[last.qi+1] <= maxSkip {
			want := last.refMs + (q.Frames[qi].Ms - q.Frames[last.qi].Ms)
			bestOff := int64(-1)
			for _, p := range ps {
				off := p.refMs - want
				if off < 0 {
					off = -off
				}
				if off <= tol && (bestOff < 0 || off < bestOff || off == bestOff && p.dist < next.dist) {
					next, bestOff, extend = p, off, true
				}
			}
		}
		if !extend {
			closeRange()
			next = startPair(q, byFrame, order[oi:], tol)
			cur = &events.VideoRange{}
			first = next
		}
		cur.Frames++
		last = next
		chosen = append(chosen, next)
	}
	closeRange()
	return ranges, chosen
}
