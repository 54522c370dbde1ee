package review

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/takedown-pipeline/takedown/pkg/events"
)

// Item states.
const (
	StatePending = "pending"
	StateClaimed = "claimed"
	StateDecided = "decided"
)

// Item is one queued review as the API shows it.
type Item struct {
	ID             string         `json:"id"`
	ContentID      string         `json:"content_id"`
	CorrelationID  string         `json:"correlation_id"`
	RequestEventID string         `json:"request_event_id"`
	State          string         `json:"state"`
	MediaURL       string         `json:"media_url"`
	ContentType    string         `json:"content_type"`
	UploadedAt     time.Time      `json:"uploaded_at"`
	Reason         string         `json:"reason"`
	Matches        []events.Match `json:"matches"`
	EnqueuedAt     time.Time      `json:"enqueued_at"`
	ClaimedBy      string         `json:"claimed_by,omitempty"`
	LeaseUntil     *time.Time     `json:"lease_until,omitempty"`
	Decision       string         `json:"decision,omitempty"`
	DecidedBy      string         `json:"decided_by,omitempty"`
	DecisionReason string         `json:"decision_reason,omitempty"`
	DecidedAt      *time.Time     `json:"decided_at,omitempty"`
	DecidedEventID string         `json:"decided_event_id,omitempty"`

	request events.ReviewRequested
	// draft is the review.decided event the item is committed to, and
	// draftKey which decision it is (decision, reviewer and reason).
	draft, draftKey string
}

// Stats counts items by effective state.
type Stats struct {
	Pending int64 `json:"pending"`
	Claimed int64 `json:"claimed"`
	Decided int64 `json:"decided"`
}

// Hash fields of an item.
const (
	fRequest        = "request"
	fState          = "state"
	fEnqueuedAt     = "enqueued_at"
	fClaimedBy      = "claimed_by"
	fLeaseUntil     = "lease_until"
	fDecision       = "decision"
	fDecidedBy      = "decided_by"
	fReason         = "reason"
	fDecidedAt      = "decided_at"
	fDecidedEventID = "decided_event_id"
	// The draft is the review.decided event of a decision that is being
	// published; draft_key says which decision it is. Reusing it on a retry
	// republishes the same event id, so consumers can drop the duplicate.
	fDraftKey   = "draft_key"
	fDraftEvent = "draft_event"
)

// Every script reads the time from Redis so that all replicas share one clock.
// Times are Unix microseconds, exact in a Lua double; '%.0f' keeps Lua from
// writing them in exponent notation.
const luaPrelude = `
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function us(n) return string.format('%.0f', n) end
`

// KEYS: item, pending. ARGV: id, request JSON. Returns 1 if enqueued, 0 if
// the item already exists (in any state).
var enqueueScript = redis.NewScript(luaPrelude + `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local now = now_us()
redis.call('HSET', KEYS[1], 'request', ARGV[2], 'state', 'pending', 'enqueued_at', us(now), 'trace', ARGV[3])
redis.call('ZADD', KEYS[2], us(now), ARGV[1])
return 1
`)

// KEYS: item, pending, claimed. ARGV: id, reviewer, lease in microseconds.
// Returns {status, HGETALL, now}; status is ok, missing, decided or held.
var claimScript = redis.NewScript(luaPrelude + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local now = now_us()
local f = redis.call('HMGET', KEYS[1], 'state', 'claimed_by', 'lease_until')
if f[1] == 'decided' then return {'decided', redis.call('HGETALL', KEYS[1]), us(now)} end
if redis.call('HEXISTS', KEYS[1], 'draft_key') == 1 then
  return {'committed', redis.call('HGETALL', KEYS[1]), us(now)}
end
if f[1] == 'claimed' and f[2] ~= ARGV[2] and tonumber(f[3] or '0') > now then
  return {'held', redis.call('HGETALL', KEYS[1]), us(now)}
end
local lease = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'state', 'claimed', 'claimed_by', ARGV[2], 'lease_until', us(lease))
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], us(lease), ARGV[1])
return {'ok', redis.call('HGETALL', KEYS[1]), us(now)}
`)

// KEYS: item. ARGV: reviewer, draft key, draft event JSON.
// Checks that reviewer holds the lease and records the draft. Once a draft is
// recorded the item is committed to it: the event may be out, so no other
// decision may follow, whatever happens to the lease. The same decision again
// (same draft key) is a retry and may finish the publish. Returns {status,
// HGETALL, now}; status is ok, missing, decided, committed (another decision
// is being published), held (someone else has the lease) or unclaimed
// (nobody, or the lease expired).
var prepareScript = redis.NewScript(luaPrelude + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local now = now_us()
local f = redis.call('HMGET', KEYS[1], 'state', 'claimed_by', 'lease_until', 'draft_key')
if f[1] == 'decided' then return {'decided', redis.call('HGETALL', KEYS[1]), us(now)} end
if f[4] then
  if f[4] == ARGV[2] then return {'ok', redis.call('HGETALL', KEYS[1]), us(now)} end
  return {'committed', redis.call('HGETALL', KEYS[1]), us(now)}
end
if f[1] ~= 'claimed' or tonumber(f[3] or '0') <= now then
  return {'unclaimed', redis.call('HGETALL', KEYS[1]), us(now)}
end
if f[2] ~= ARGV[1] then return {'held', redis.call('HGETALL', KEYS[1]), us(now)} end
redis.call('HSET', KEYS[1], 'draft_key', ARGV[2], 'draft_event', ARGV[3])
return {'ok', redis.call('HGETALL', KEYS[1]), us(now)}
`)

// KEYS: item, pending, claimed, decided. ARGV: id, decision, reviewer,
// reason, event id, decided_at, draft key. Marks the item decided unless it
// already is; only the draft the item is committed to can be recorded.
// Returns {status, HGETALL, now}; status is ok, missing, decided or conflict.
var finalizeScript = redis.NewScript(luaPrelude + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local now = now_us()
if redis.call('HGET', KEYS[1], 'state') == 'decided' then
  return {'decided', redis.call('HGETALL', KEYS[1]), us(now)}
end
if redis.call('HGET', KEYS[1], 'draft_key') ~= ARGV[7] then
  return {'conflict', redis.call('HGETALL', KEYS[1]), us(now)}
end
redis.call('HSET', KEYS[1], 'state', 'decided', 'decision', ARGV[2], 'decided_by', ARGV[3],
  'reason', ARGV[4], 'decided_event_id', ARGV[5], 'decided_at', ARGV[6])
redis.call('HDEL', KEYS[1], 'lease_until', 'draft_key', 'draft_event')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[1])
return {'ok', redis.call('HGETALL', KEYS[1]), us(now)}
`)

// store is the Redis side of the queue.
type store struct {
	rdb    redis.UniversalClient
	prefix string // PREFIX:review:
}

func newStore(rdb redis.UniversalClient, redisPrefix string) *store {
	return &store{rdb: rdb, prefix: redisPrefix + ":review:"}
}

func (s *store) itemKey(id string) string { return s.prefix + "item:" + id }
func (s *store) pendingKey() string       { return s.prefix + "pending" }
func (s *store) claimedKey() string       { return s.prefix + "claimed" }
func (s *store) decidedKey() string       { return s.prefix + "decided" }

// enqueue adds the request's content as a pending item unless it is queued
// already; it reports whether it added it. traceparent is the request's W3C
// trace context, kept so that the decision continues the upload's trace.
func (s *store) enqueue(ctx context.Context, req *events.ReviewRequested, traceparent string) (bool, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return false, fmt.Errorf("encode request: %w", err)
	}
	n, err := enqueueScript.Run(ctx, s.rdb, []string{s.itemKey(req.ContentID), s.pendingKey()},
		req.ContentID, body, traceparent).Int()
	if err != nil {
		return false, fmt.Errorf("enqueue %s: %w", req.ContentID, err)
	}
	return n == 1, nil
}

// traceparent returns the trace context stored with the item, or "".
func (s *store) traceparent(ctx context.Context, id string) (string, error) {
	v, err := s.rdb.HGet(ctx, s.itemKey(id), "trace").Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, err
}

// scriptResult is the {status, HGETALL, now} answer of a script.
type scriptResult struct {
	status string
	item   *Item // nil when status is missing
}

func (s *store) run(ctx context.Context, sc *redis.Script, id string, keys []string, args ...any) (scriptResult, error) {
	v, err := sc.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return scriptResult{}, err
	}
	if len(v) == 0 {
		return scriptResult{}, errors.New("empty script reply")
	}
	res := scriptResult{status: fmt.Sprint(v[0])}
	if len(v) < 3 {
		return res, nil
	}
	fields, ok := v[1].([]any)
	if !ok {
		return scriptResult{}, fmt.Errorf("unexpected script reply %T", v[1])
	}
	h := make(map[string]string, len(fields)/2)
	for i := 0; i+1 < len(fields); i += 2 {
		h[fmt.Sprint(fields[i])] = fmt.Sprint(fields[i+1])
	}
	now, err := strconv.ParseInt(fmt.Sprint(v[2]), 10, 64)
	if err != nil {
		return scriptResult{}, fmt.Errorf("script clock %v: %w", v[2], err)
	}
	res.item, err = itemFromHash(id, h, time.UnixMicro(now))
	return res, err
}

func (s *store) claim(ctx context.Context, id, reviewer string, lease time.Duration) (scriptResult, error) {
	res, err := s.run(ctx, claimScript, id, []string{s.itemKey(id), s.pendingKey(), s.claimedKey()},
		id, reviewer, max(lease.Microseconds(), 1))
	if err != nil {
		return res, fmt.Errorf("claim %s: %w", id, err)
	}
	return res, nil
}

func (s *store) prepare(ctx context.Context, id, reviewer, draftKey string, draft []byte) (scriptResult, error) {
	res, err := s.run(ctx, prepareScript, id, []string{s.itemKey(id)}, reviewer, draftKey, draft)
	if err != nil {
		return res, fmt.Errorf("prepare decision on %s: %w", id, err)
	}
	return res, nil
}

func (s *store) finalize(ctx context.Context, id string, ev *events.ReviewDecided, draftKey string) (scriptResult, error) {
	res, err := s.run(ctx, finalizeScript, id,
		[]string{s.itemKey(id), s.pendingKey(), s.claimedKey(), s.decidedKey()},
		id, ev.Decision, ev.Reviewer, ev.Reason, ev.EventID, ev.DecidedAt.UnixMicro(), draftKey)
	if err != nil {
		return res, fmt.Errorf("record decision on %s: %w", id, err)
	}
	return res, nil
}

// now is the Redis server's clock, the one leases are measured by.
func (s *store) now(ctx context.Context) (time.Time, error) {
	t, err := s.rdb.Time(ctx).Result()
	if err != nil {
		return time.Time{}, fmt.Errorf("redis time: %w", err)
	}
	return t, nil
}

// get returns the item, or nil if there is none.
func (s *store) get(ctx context.Context, id string) (*Item, error) {
	pipe := s.rdb.Pipeline()
	tc := pipe.Time(ctx)
	hc := pipe.HGetAll(ctx, s.itemKey(id))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("get %s: %w", id, err)
	}
	h := hc.Val()
	if len(h) == 0 {
		return nil, nil
	}
	return itemFromHash(id, h, tc.Val())
}

// request returns the stored review request, or nil if there is no item.
func (s *store) request(ctx context.Context, id string) (*events.ReviewRequested, error) {
	body, err := s.rdb.HGet(ctx, s.itemKey(id), fRequest).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", id, err)
	}
	var req events.ReviewRequested
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("stored request of %s: %w", id, err)
	}
	return &req, nil
}

// expiredScan bounds how many expired leases one pending listing looks at;
// there are at most as many as there were abandoned claims.
const expiredScan = 1000

// list returns up to limit items whose effective state is state.
func (s *store) list(ctx context.Context, state string, limit int) ([]*Item, error) {
	now, err := s.now(ctx)
	if err != nil {
		return nil, err
	}
	nowUS := strconv.FormatInt(now.UnixMicro(), 10)
	var ids []string
	switch state {
	case StatePending:
		// Pending means queued, or claimed with an expired lease.
		queued, err := s.rdb.ZRange(ctx, s.pendingKey(), 0, int64(limit)-1).Result()
		if err != nil {
			return nil, fmt.Errorf("list pending: %w", err)
		}
		expired, err := s.rdb.ZRangeByScore(ctx, s.claimedKey(), &redis.ZRangeBy{
			Min: "-inf", Max: nowUS, Count: expiredScan}).Result()
		if err != nil {
			return nil, fmt.Errorf("list expired claims: %w", err)
		}
		ids = append(queued, expired...)
	case StateClaimed:
		ids, err = s.rdb.ZRangeByScore(ctx, s.claimedKey(), &redis.ZRangeBy{
			Min: "(" + nowUS, Max: "+inf", Count: int64(limit)}).Result()
		if err != nil {
			return nil, fmt.Errorf("list claimed: %w", err)
		}
	case StateDecided:
		ids, err = s.rdb.ZRevRange(ctx, s.decidedKey(), 0, int64(limit)-1).Result()
		if err != nil {
			return nil, fmt.Errorf("list decided: %w", err)
		}
	default:
		return nil, fmt.Errorf("unknown state %q", state)
	}
	items, err := s.getMany(ctx, ids, now)
	if err != nil {
		return nil, err
	}
	// An item may have moved on between the index read and the hash read.
	out := items[:0]
	for _, it := range items {
		if it.State == state {
			out = append(out, it)
		}
	}
	if state == StatePending {
		sort.SliceStable(out, func(i, j int) bool { return out[i].EnqueuedAt.Before(out[j].EnqueuedAt) })
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *store) getMany(ctx context.Context, ids []string, now time.Time) ([]*Item, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, s.itemKey(id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("read items: %w", err)
	}
	items := make([]*Item, 0, len(ids))
	for i, c := range cmds {
		if len(c.Val()) == 0 {
			continue
		}
		it, err := itemFromHash(ids[i], c.Val(), now)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

func (s *store) stats(ctx context.Context) (Stats, error) {
	now, err := s.now(ctx)
	if err != nil {
		return Stats{}, err
	}
	nowUS := strconv.FormatInt(now.UnixMicro(), 10)
	pipe := s.rdb.Pipeline()
	queued := pipe.ZCard(ctx, s.pendingKey())
	expired := pipe.ZCount(ctx, s.claimedKey(), "-inf", nowUS)
	held := pipe.ZCount(ctx, s.claimedKey(), "("+nowUS, "+inf")
	decided := pipe.ZCard(ctx, s.decidedKey())
	if _, err := pipe.Exec(ctx); err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	return Stats{
		Pending: queued.Val() + expired.Val(),
		Claimed: held.Val(),
		Decided: decided.Val(),
	}, nil
}

// itemFromHash builds the API view of an item hash as of now (Redis time).
func itemFromHash(id string, h map[string]string, now time.Time) (*Item, error) {
	it := &Item{ID: id, State: h[fState], draft: h[fDraftEvent], draftKey: h[fDraftKey]}
	if err := json.Unmarshal([]byte(h[fRequest]), &it.request); err != nil {
		return nil, fmt.Errorf("stored request of %s: %w", id, err)
	}
	r := &it.request
	it.ContentID, it.CorrelationID, it.RequestEventID = r.ContentID, r.CorrelationID, r.EventID
	it.MediaURL, it.ContentType, it.UploadedAt = r.MediaURL, r.ContentType, r.UploadedAt
	it.Reason, it.Matches = r.Reason, r.Matches
	if it.Matches == nil {
		it.Matches = []events.Match{}
	}
	var err error
	if it.EnqueuedAt, err = microTime(h[fEnqueuedAt]); err != nil {
		return nil, fmt.Errorf("item %s enqueued_at: %w", id, err)
	}
	switch it.State {
	case StateClaimed:
		lease, err := microTime(h[fLeaseUntil])
		if err != nil {
			return nil, fmt.Errorf("item %s lease_until: %w", id, err)
		}
		if !lease.After(now) {
			it.State = StatePending // the lease ran out: anyone may take it
			break
		}
		it.ClaimedBy, it.LeaseUntil = h[fClaimedBy], &lease
	case StateDecided:
		at, err := microTime(h[fDecidedAt])
		if err != nil {
			return nil, fmt.Errorf("item %s decided_at: %w", id, err)
		}
		it.DecidedAt = &at
		it.Decision, it.DecidedBy, it.DecisionReason = h[fDecision], h[fDecidedBy], h[fReason]
		it.DecidedEventID = h[fDecidedEventID]
	}
	return it, nil
}

func microTime(v string) (time.Time, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMicro(n).UTC(), nil
}

// heldUntil is the raw lease of a claimed item, expired or not, for messages.
func heldUntil(it *Item) string {
	if it.LeaseUntil == nil {
		return ""
	}
	return it.LeaseUntil.Format(time.RFC3339)
}
