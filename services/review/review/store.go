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
	Priority       Priority       `json:"priority"`
	EnqueuedAt     time.Time      `json:"enqueued_at"`
	ClaimedBy      string         `json:"claimed_by,omitempty"`
	AssignedBy     string         `json:"assigned_by,omitempty"`
	LeaseUntil     *time.Time     `json:"lease_until,omitempty"`
	Decision       string         `json:"decision,omitempty"`
	DecidedBy      string         `json:"decided_by,omitempty"`
	DecisionReason string         `json:"decision_reason,omitempty"`
	DecidedAt      *time.Time     `json:"decided_at,omitempty"`
	DecidedEventID string         `json:"decided_event_id,omitempty"`
	// Overturns is the event id of the decision the current one replaced.
	Overturns string `json:"overturns,omitempty"`
	// ApprovedBy is the second lead who approved the overturn that made the
	// current decision (DecidedBy proposed it); see overturn.
	ApprovedBy string `json:"approved_by,omitempty"`
	// History holds the decisions overturned so far, oldest first.
	History []PastDecision `json:"history,omitempty"`
	// PendingOverturn is an overturn proposed by one lead that waits for a
	// second lead's approval (a restore of incident or critical content).
	PendingOverturn *PendingOverturn `json:"pending_overturn,omitempty"`
	// Allowlist is the state of the allow-listing of a benign decision.
	Allowlist *AllowlistState `json:"allowlist,omitempty"`
	// Unhashable is set when the media could not be hashed: the item has
	// no matches, and its reason says why.
	Unhashable *events.Unhashable `json:"unhashable,omitempty"`
	// Related are, once a violating decision is overturned to benign, the
	// uploads the enforcer removed because they matched that decision's
	// confirmed-bank entry (see related.go).
	Related []RelatedUpload `json:"related,omitempty"`
	// PendingRelatedRestore is a lead's proposal to restore them that waits
	// for a second lead.
	PendingRelatedRestore *PendingRelatedRestore `json:"pending_related_restore,omitempty"`

	request events.ReviewRequested
	// draft is the review.decided event the item is committed to, and
	// draftKey which decision it is (decision, reviewer and reason);
	// overturnDraft and overturnKey the same for an overturn in flight.
	draft, draftKey            string
	overturnDraft, overturnKey string
	rawHistory                 string
}

// PendingOverturn is a proposed overturn awaiting a second lead.
type PendingOverturn struct {
	ProposedBy string    `json:"proposed_by"`
	Decision   string    `json:"decision"`
	Reason     string    `json:"reason"`
	ProposedAt time.Time `json:"proposed_at"`
}

// AllowlistState is how far the allow-listing of an item's benign decision
// has come: who agreed (besides the decider), whether the approval rule is
// met (Confirmed) and whether the allow-bank entry went out (Published), or
// was revoked by an admin.
type AllowlistState struct {
	AgreedBy  []string `json:"agreed_by"`
	Confirmed bool     `json:"confirmed"`
	Published bool     `json:"published"`
	RevokedBy string   `json:"revoked_by,omitempty"`
}

// PastDecision is a decision that a later one overturned.
type PastDecision struct {
	Decision   string    `json:"decision"`
	DecidedBy  string    `json:"decided_by"`
	ApprovedBy string    `json:"approved_by,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	DecidedAt  time.Time `json:"decided_at"`
	EventID    string    `json:"event_id"`
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
	fPrio           = "prio"
	fTrace          = "trace"
	fClaimedBy      = "claimed_by"
	fAssignedBy     = "assigned_by"
	fLeaseUntil     = "lease_until"
	fDecision       = "decision"
	fDecidedBy      = "decided_by"
	fReason         = "reason"
	fDecidedAt      = "decided_at"
	fDecidedEventID = "decided_event_id"
	fOverturns      = "overturns"
	fHistory        = "history"
	fApprovedBy     = "approved_by"
	// A proposed overturn waiting for a second lead: who, what, why, when,
	// and the decided_event_id it would replace (a proposal for an earlier
	// decision is stale).
	fPropBy       = "pr_by"
	fPropDecision = "pr_decision"
	fPropReason   = "pr_reason"
	fPropAt       = "pr_at"
	fPropFor      = "pr_for"
	// Allow-listing of a benign decision: the decided_event_id it is for,
	// the agreeing people (JSON array of {"by","lead"}), and the state
	// (confirmed: the rule is met; published: the allow-bank entry is out;
	// revoked: an admin disabled it) and who revoked it.
	fAllowFor     = "al_for"
	fAllowAgreed  = "al_agreed"
	fAllowState   = "al_state"
	fAllowRevoker = "al_revoked_by"
	// The draft is the review.decided event of a decision that is being
	// published; draft_key says which decision it is. Reusing it on a retry
	// republishes the same event id, so consumers can drop the duplicate.
	fDraftKey   = "draft_key"
	fDraftEvent = "draft_event"
	// The same for an overturn of a decided item.
	fOvKey   = "ov_key"
	fOvEvent = "ov_event"
)

// defaultRank is the rank of an item stored without one.
var defaultRank = priorityOf(nil).Rank

// Every script reads the time from Redis so that all replicas share one clock.
// Times are Unix microseconds, exact in a Lua double; '%.0f' keeps Lua from
// writing them in exponent notation. pscore is the pending set's score
// (pendingScore in Go).
var luaPrelude = fmt.Sprintf(`
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function us(n) return string.format('%%.0f', n) end
-- expire_decided lets a decided item expire ttl_ms after its decision at
-- decided_us (at once when that is past, as for an old decision replayed
-- by a rebuild).
local function expire_decided(key, decided_us, ttl_ms)
  redis.call('PEXPIREAT', key, math.floor(tonumber(decided_us) / 1000) + tonumber(ttl_ms))
end
local function pscore(prio, at)
  return string.format('%%.0f', (tonumber(prio) or %d) * %.0f + math.floor(tonumber(at) / 1000))
end
`, defaultRank, float64(rankScale))

// KEYS: item, pending. ARGV: id, request JSON, traceparent, rank, enqueue
// time ("" for now). Returns 1 if enqueued, 0 if the item already exists (in
// any state).
var enqueueScript = redis.NewScript(luaPrelude + `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local at = ARGV[5]
if at == '' then at = us(now_us()) end
redis.call('HSET', KEYS[1], 'request', ARGV[2], 'state', 'pending', 'enqueued_at', at, 'trace', ARGV[3], 'prio', ARGV[4])
redis.call('ZADD', KEYS[2], pscore(ARGV[4], at), ARGV[1])
return 1
`)

// KEYS: item, pending, claimed. ARGV: id, reviewer, lease in microseconds.
// Returns {status, HGETALL, now, expired}; status is ok, missing, decided,
// committed or held; expired is 1 when the claim took over a lease that had
// run out.
var claimScript = redis.NewScript(luaPrelude + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local now = now_us()
local f = redis.call('HMGET', KEYS[1], 'state', 'claimed_by', 'lease_until')
if f[1] == 'decided' then return {'decided', redis.call('HGETALL', KEYS[1]), us(now)} end
if redis.call('HEXISTS', KEYS[1], 'draft_key') == 1 then
  return {'committed', redis.call('HGETALL', KEYS[1]), us(now)}
end
local live = f[1] == 'claimed' and tonumber(f[3] or '0') > now
if live and f[2] ~= ARGV[2] then
  return {'held', redis.call('HGETALL', KEYS[1]), us(now)}
end
local expired = '0'
if f[1] == 'claimed' and not live then expired = '1' end
local lease = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'state', 'claimed', 'claimed_by', ARGV[2], 'lease_until', us(lease))
redis.call('HDEL', KEYS[1], 'assigned_by')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], us(lease), ARGV[1])
return {'ok', redis.call('HGETALL', KEYS[1]), us(now), expired}
`)

// KEYS: item, pending, claimed. ARGV: id, reviewer, lease in microseconds,
// lead. Leases a pending or claimed item to reviewer on a lead's word.
// Returns {status, HGETALL, now, previous holder}; status is ok, missing,
// decided or committed.
var assignScript = redis.NewScript(luaPrelude + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local now = now_us()
local f = redis.call('HMGET', KEYS[1], 'state', 'claimed_by', 'lease_until')
if f[1] == 'decided' then return {'decided', redis.call('HGETALL', KEYS[1]), us(now)} end
if redis.call('HEXISTS', KEYS[1], 'draft_key') == 1 then
  return {'committed', redis.call('HGETALL', KEYS[1]), us(now)}
end
local prev = ''
if f[1] == 'claimed' and tonumber(f[3] or '0') > now then prev = f[2] end
local lease = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'state', 'claimed', 'claimed_by', ARGV[2], 'lease_until', us(lease), 'assigned_by', ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], us(lease), ARGV[1])
return {'ok', redis.call('HGETALL', KEYS[1]), us(now), prev}
`)

// KEYS: item, pending, claimed. ARGV: id. Returns a claimed item whose lease
// ran out to the pending set; 1 if it did. An id the claimed set holds for
// an item no longer claimed is dropped from it.
var requeueScript = redis.NewScript(luaPrelude + `
local f = redis.call('HMGET', KEYS[1], 'state', 'lease_until', 'prio', 'enqueued_at')
if f[1] ~= 'claimed' then
  redis.call('ZREM', KEYS[3], ARGV[1])
  return 0
end
if tonumber(f[2] or '0') > now_us() then return 0 end
redis.call('HSET', KEYS[1], 'state', 'pending')
redis.call('HDEL', KEYS[1], 'claimed_by', 'lease_until', 'assigned_by')
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[2], pscore(f[3], f[4] or '0'), ARGV[1])
return 1
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
redis.call('HDEL', KEYS[1], 'lease_until', 'draft_key', 'draft_event', 'assigned_by')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[1])
local item = redis.call('HGETALL', KEYS[1])
expire_decided(KEYS[1], ARGV[6], ARGV[8])
return {'ok', item, us(now)}
`)

// luaDeciders defines decided_before(f, who): whether who made or approved
// the item's current decision or one in its history. f holds decided_by,
// approved_by and history. No one may overturn their own decision.
const luaDeciders = `
local function decided_before(by, approved, history, who)
  if by == who or approved == who then return true end
  if history and history ~= '' then
    for _, d in ipairs(cjson.decode(history)) do
      if d.decided_by == who or d.approved_by == who then return true end
    end
  end
  return false
end
`

// KEYS: item. ARGV: the decided event id the overturn replaces, overturn
// key, overturn event JSON, lead, need two leads (1 or 0), the proposer the
// draft was built for ("" for none), decision, reason. Commits a decided
// item to an overturn, as prepareScript does to a decision. A lead who made
// or approved the current or an earlier decision is refused (self). When two
// leads are needed, the first lead's overturn is recorded as a proposal
// (proposed; the same lead again is repeat) and a second, distinct lead
// commits it. Returns {status, HGETALL, now}; status is ok, missing,
// undecided, committed (another overturn is being published), changed (the
// item's decision, or its proposal, is no longer the one the overturn was
// meant for), self, proposed or repeat.
var prepareOverturnScript = redis.NewScript(luaPrelude + luaDeciders + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local now = now_us()
local f = redis.call('HMGET', KEYS[1], 'state', 'decided_event_id', 'ov_key', 'decided_by', 'approved_by', 'history', 'pr_by', 'pr_for')
if f[1] ~= 'decided' then return {'undecided', redis.call('HGETALL', KEYS[1]), us(now)} end
if f[3] then
  if f[3] == ARGV[2] then return {'ok', redis.call('HGETALL', KEYS[1]), us(now)} end
  return {'committed', redis.call('HGETALL', KEYS[1]), us(now)}
end
if f[2] ~= ARGV[1] then return {'changed', redis.call('HGETALL', KEYS[1]), us(now)} end
if decided_before(f[4], f[5], f[6], ARGV[4]) then return {'self', redis.call('HGETALL', KEYS[1]), us(now)} end
if ARGV[5] == '1' then
  local proposer = false
  if f[8] == ARGV[1] then proposer = f[7] end
  if not proposer then
    if ARGV[6] ~= '' then return {'changed', redis.call('HGETALL', KEYS[1]), us(now)} end
    redis.call('HSET', KEYS[1], 'pr_by', ARGV[4], 'pr_decision', ARGV[7], 'pr_reason', ARGV[8], 'pr_at', us(now), 'pr_for', ARGV[1])
    return {'proposed', redis.call('HGETALL', KEYS[1]), us(now)}
  end
  if proposer == ARGV[4] then return {'repeat', redis.call('HGETALL', KEYS[1]), us(now)} end
  if proposer ~= ARGV[6] then return {'changed', redis.call('HGETALL', KEYS[1]), us(now)} end
end
redis.call('HSET', KEYS[1], 'ov_key', ARGV[2], 'ov_event', ARGV[3])
return {'ok', redis.call('HGETALL', KEYS[1]), us(now)}
`)

// KEYS: item, decided. ARGV: id, overturn key, decision, reviewer, reason,
// event id, decided_at, the event id overturned, history JSON, approved_by.
// Records the overturn the item is committed to; the proposal and the
// allow-listing of the decision it replaces go. Returns {status, HGETALL,
// now}; status is ok, done (already recorded), missing or conflict.
var finalizeOverturnScript = redis.NewScript(luaPrelude + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local now = now_us()
local f = redis.call('HMGET', KEYS[1], 'decided_event_id', 'ov_key')
if f[1] == ARGV[6] then return {'done', redis.call('HGETALL', KEYS[1]), us(now)} end
if f[1] ~= ARGV[8] or f[2] ~= ARGV[2] then return {'conflict', redis.call('HGETALL', KEYS[1]), us(now)} end
redis.call('HSET', KEYS[1], 'decision', ARGV[3], 'decided_by', ARGV[4], 'reason', ARGV[5],
  'decided_event_id', ARGV[6], 'decided_at', ARGV[7], 'overturns', ARGV[8], 'history', ARGV[9])
redis.call('HDEL', KEYS[1], 'ov_key', 'ov_event', 'approved_by', 'pr_by', 'pr_decision', 'pr_reason', 'pr_at', 'pr_for',
  'al_for', 'al_agreed', 'al_state', 'al_revoked_by')
if ARGV[10] ~= '' then redis.call('HSET', KEYS[1], 'approved_by', ARGV[10]) end
redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])
local item = redis.call('HGETALL', KEYS[1])
expire_decided(KEYS[1], ARGV[7], ARGV[11])
return {'ok', item, us(now)}
`)

// KEYS: item, pending, claimed, decided. ARGV: id, request JSON, traceparent,
// rank, enqueued_at, decision, reviewer, reason, event id, decided_at,
// overturns, history JSON, expected current event id ("" for none),
// approved_by.
// Restores a decision replayed from Kafka: creates the item if it is
// missing, else records the decision if the item's current decision is the
// expected one. Returns created, ok, same (already recorded) or changed.
var restoreDecisionScript = redis.NewScript(luaPrelude + `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'request', ARGV[2], 'trace', ARGV[3], 'prio', ARGV[4], 'enqueued_at', ARGV[5],
    'state', 'decided', 'decision', ARGV[6], 'decided_by', ARGV[7], 'reason', ARGV[8],
    'decided_event_id', ARGV[9], 'decided_at', ARGV[10], 'overturns', ARGV[11], 'history', ARGV[12])
  if ARGV[14] ~= '' then redis.call('HSET', KEYS[1], 'approved_by', ARGV[14]) end
  redis.call('ZADD', KEYS[4], ARGV[10], ARGV[1])
  expire_decided(KEYS[1], ARGV[10], ARGV[15])
  return 'created'
end
local f = redis.call('HMGET', KEYS[1], 'state', 'decided_event_id')
local cur = ''
if f[1] == 'decided' then cur = f[2] or '' end
if cur == ARGV[9] then return 'same' end
if cur ~= ARGV[13] then return 'changed' end
redis.call('HSET', KEYS[1], 'state', 'decided', 'decision', ARGV[6], 'decided_by', ARGV[7], 'reason', ARGV[8],
  'decided_event_id', ARGV[9], 'decided_at', ARGV[10], 'overturns', ARGV[11], 'history', ARGV[12])
redis.call('HDEL', KEYS[1], 'lease_until', 'claimed_by', 'assigned_by', 'draft_key', 'draft_event', 'ov_key', 'ov_event',
  'approved_by', 'pr_by', 'pr_decision', 'pr_reason', 'pr_at', 'pr_for', 'al_for', 'al_agreed', 'al_state', 'al_revoked_by')
if ARGV[14] ~= '' then redis.call('HSET', KEYS[1], 'approved_by', ARGV[14]) end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[10], ARGV[1])
expire_decided(KEYS[1], ARGV[10], ARGV[15])
return 'ok'
`)

// store is the Redis side of the queue.
type store struct {
	rdb    redis.UniversalClient
	prefix string // PREFIX:review:
	// decidedTTL is how long a decided item is kept after its decision.
	decidedTTL time.Duration
}

func newStore(rdb redis.UniversalClient, redisPrefix string, decidedTTL time.Duration) *store {
	return &store{rdb: rdb, prefix: redisPrefix + ":review:", decidedTTL: decidedTTL}
}

func (s *store) itemKey(id string) string { return s.prefix + "item:" + id }
func (s *store) pendingKey() string       { return s.prefix + "pending" }
func (s *store) claimedKey() string       { return s.prefix + "claimed" }
func (s *store) decidedKey() string       { return s.prefix + "decided" }

// stateKey marks that Redis holds the queue: it is written once the queue
// was rebuilt from Kafka (or found empty with nothing to rebuild), and its
// absence means Redis lost its data (see rebuild.go).
func (s *store) stateKey() string { return s.prefix + "state" }

// rebuildLockKey keeps replicas from rebuilding at the same time (which
// would be correct, only wasteful).
func (s *store) rebuildLockKey() string { return s.prefix + "rebuild-lock" }

// allowBankKey records that the benign bank was found or made an allow bank.
func (s *store) allowBankKey(bank string) string { return s.prefix + "allow-bank:" + bank }

// enqueue adds the request's content as a pending item unless it is queued
// already; it reports whether it added it. traceparent is the request's W3C
// trace context, kept so that the decision continues the upload's trace.
// at is the enqueue time, zero for Redis's now.
func (s *store) enqueue(ctx context.Context, req *events.ReviewRequested, traceparent string, at time.Time) (bool, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return false, fmt.Errorf("encode request: %w", err)
	}
	atArg := ""
	if !at.IsZero() {
		atArg = strconv.FormatInt(at.UnixMicro(), 10)
	}
	n, err := enqueueScript.Run(ctx, s.rdb, []string{s.itemKey(req.ContentID), s.pendingKey()},
		req.ContentID, body, traceparent, priorityOf(req.Matches).Rank, atArg).Int()
	if err != nil {
		return false, fmt.Errorf("enqueue %s: %w", req.ContentID, err)
	}
	return n == 1, nil
}

// traceparent returns the trace context stored with the item, or "".
func (s *store) traceparent(ctx context.Context, id string) (string, error) {
	v, err := s.rdb.HGet(ctx, s.itemKey(id), fTrace).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, err
}

// scriptResult is the {status, HGETALL, now, extra} answer of a script.
type scriptResult struct {
	status string
	item   *Item // nil when status is missing
	extra  string
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
	if len(v) > 3 {
		res.extra = fmt.Sprint(v[3])
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

func (s *store) assign(ctx context.Context, id, reviewer, lead string, lease time.Duration) (scriptResult, error) {
	res, err := s.run(ctx, assignScript, id, []string{s.itemKey(id), s.pendingKey(), s.claimedKey()},
		id, reviewer, max(lease.Microseconds(), 1), lead)
	if err != nil {
		return res, fmt.Errorf("assign %s: %w", id, err)
	}
	return res, nil
}

// reapBatch bounds the expired leases one requeue pass looks at.
const reapBatch = 200

// forgetExpiredDecisions drops from the decided set the ids of items whose
// decision is older than decidedTTL: the items themselves have expired.
func (s *store) forgetExpiredDecisions(ctx context.Context, now time.Time) (int64, error) {
	cutoff := now.Add(-s.decidedTTL).UnixMicro()
	n, err := s.rdb.ZRemRangeByScore(ctx, s.decidedKey(), "-inf", "("+strconv.FormatInt(cutoff, 10)).Result()
	if err != nil {
		return 0, fmt.Errorf("forget expired decisions: %w", err)
	}
	return n, nil
}

// requeueExpired returns items whose lease ran out to the pending set and
// reports how many it returned. Several replicas may run it at once: each
// item is returned, and counted, once.
func (s *store) requeueExpired(ctx context.Context) (int, error) {
	now, err := s.now(ctx)
	if err != nil {
		return 0, err
	}
	ids, err := s.rdb.ZRangeByScore(ctx, s.claimedKey(), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMicro(), 10), Count: reapBatch}).Result()
	if err != nil {
		return 0, fmt.Errorf("list expired leases: %w", err)
	}
	// Expired leases are few (abandoned claims), so one script call each.
	n := 0
	for _, id := range ids {
		v, err := requeueScript.Run(ctx, s.rdb, []string{s.itemKey(id), s.pendingKey(), s.claimedKey()}, id).Int()
		if err != nil {
			return n, fmt.Errorf("requeue %s: %w", id, err)
		}
		n += v
	}
	return n, nil
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
		id, ev.Decision, ev.Reviewer, ev.Reason, ev.EventID, ev.DecidedAt.UnixMicro(), draftKey, s.decidedTTL.Milliseconds())
	if err != nil {
		return res, fmt.Errorf("record decision on %s: %w", id, err)
	}
	return res, nil
}

// overturnArgs are what prepareOverturn needs besides the draft.
type overturnArgs struct {
	replaces, key, lead string
	needTwo             bool
	proposer            string // the proposer the draft approves, "" for none
	decision, reason    string
}

func (s *store) prepareOverturn(ctx context.Context, id string, a overturnArgs, draft []byte) (scriptResult, error) {
	need := "0"
	if a.needTwo {
		need = "1"
	}
	res, err := s.run(ctx, prepareOverturnScript, id, []string{s.itemKey(id)},
		a.replaces, a.key, draft, a.lead, need, a.proposer, a.decision, a.reason)
	if err != nil {
		return res, fmt.Errorf("prepare overturn of %s: %w", id, err)
	}
	return res, nil
}

// finalizeOverturn records ev, which overturns the item's decision it (as
// read when the overturn was prepared), and moves that decision to the
// history.
func (s *store) finalizeOverturn(ctx context.Context, it *Item, ev *events.ReviewDecided, key string) (scriptResult, error) {
	history, err := historyWith(it)
	if err != nil {
		return scriptResult{}, err
	}
	res, err := s.run(ctx, finalizeOverturnScript, it.ID, []string{s.itemKey(it.ID), s.decidedKey()},
		it.ID, key, ev.Decision, ev.Reviewer, ev.Reason, ev.EventID, ev.DecidedAt.UnixMicro(), ev.Overturns, history, ev.ApprovedBy, s.decidedTTL.Milliseconds())
	if err != nil {
		return res, fmt.Errorf("record overturn of %s: %w", it.ID, err)
	}
	return res, nil
}

// historyWith is the JSON history of it with its current decision added.
func historyWith(it *Item) (string, error) {
	h := append([]PastDecision{}, it.History...)
	if it.DecidedEventID != "" {
		p := PastDecision{Decision: it.Decision, DecidedBy: it.DecidedBy, ApprovedBy: it.ApprovedBy,
			Reason: it.DecisionReason, EventID: it.DecidedEventID}
		if it.DecidedAt != nil {
			p.DecidedAt = *it.DecidedAt
		}
		h = append(h, p)
	}
	if len(h) == 0 {
		return "", nil
	}
	b, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("encode history of %s: %w", it.ID, err)
	}
	return string(b), nil
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
// there are at most as many as there were abandoned claims since the last
// requeue pass.
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
		// Pending means queued, or claimed with an expired lease that the
		// requeue pass has not returned yet.
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
		sort.SliceStable(out, func(i, j int) bool { return queuedBefore(out[i], out[j]) })
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// queuedBefore is the pending queue's order: rank, then age.
func queuedBefore(a, b *Item) bool {
	if a.Priority.Rank != b.Priority.Rank {
		return a.Priority.Rank < b.Priority.Rank
	}
	return a.EnqueuedAt.Before(b.EnqueuedAt)
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

// pendingBand is the count of queued items of one incident/severity band
// of the priority ranks.
type pendingBand struct {
	Incident bool
	Severity string
	Items    int64
}

// pendingBands counts the queued items in each band of ranks an incident
// flag and a severity make (confidence aside): one ZCOUNT each over the
// band's score range, as the pending set is ordered by rank first. Expired
// leases, which Stats counts as pending, are not in the set and not here.
func (s *store) pendingBands(ctx context.Context) ([]pendingBand, error) {
	pipe := s.rdb.Pipeline()
	var bands []pendingBand
	var cmds []*redis.IntCmd
	for _, incident := range []bool{true, false} {
		for _, sev := range []string{events.SeverityCritical, events.SeverityHigh, events.SeverityMedium, events.SeverityLow} {
			lo := severityRank(sev) * rankPerSeverity
			if !incident {
				lo += rankPerIncident
			}
			bands = append(bands, pendingBand{Incident: incident, Severity: sev})
			cmds = append(cmds, pipe.ZCount(ctx, s.pendingKey(),
				strconv.FormatFloat(float64(lo)*rankScale, 'f', 0, 64),
				"("+strconv.FormatFloat(float64(lo+rankPerSeverity)*rankScale, 'f', 0, 64)))
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("pending by priority: %w", err)
	}
	for i, c := range cmds {
		bands[i].Items = c.Val()
	}
	return bands, nil
}

// oldestPending returns the enqueue time of the oldest item in the pending
// set (zero if it is empty) and Redis's now. The set is ordered by rank
// first, so the oldest is the earliest of each rank's first member: one
// bounded lookup per rank.
func (s *store) oldestPending(ctx context.Context) (oldest, now time.Time, _ error) {
	pipe := s.rdb.Pipeline()
	tc := pipe.Time(ctx)
	cmds := make([]*redis.ZSliceCmd, numRanks)
	for r := range numRanks {
		cmds[r] = pipe.ZRangeByScoreWithScores(ctx, s.pendingKey(), &redis.ZRangeBy{
			Min: strconv.FormatFloat(float64(r)*rankScale, 'f', 0, 64),
			Max: "(" + strconv.FormatFloat(float64(r+1)*rankScale, 'f', 0, 64), Count: 1})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("oldest pending: %w", err)
	}
	minMS := -1.0
	for r, c := range cmds {
		for _, z := range c.Val() {
			if ms := z.Score - float64(r)*rankScale; minMS < 0 || ms < minMS {
				minMS = ms
			}
		}
	}
	if minMS < 0 {
		return time.Time{}, tc.Val(), nil
	}
	return time.UnixMilli(int64(minMS)), tc.Val(), nil
}

// itemFromHash builds the API view of an item hash as of now (Redis time).
func itemFromHash(id string, h map[string]string, now time.Time) (*Item, error) {
	it := &Item{ID: id, State: h[fState], draft: h[fDraftEvent], draftKey: h[fDraftKey],
		overturnDraft: h[fOvEvent], overturnKey: h[fOvKey], rawHistory: h[fHistory]}
	if err := json.Unmarshal([]byte(h[fRequest]), &it.request); err != nil {
		return nil, fmt.Errorf("stored request of %s: %w", id, err)
	}
	r := &it.request
	it.ContentID, it.CorrelationID, it.RequestEventID = r.ContentID, r.CorrelationID, r.EventID
	it.MediaURL, it.ContentType, it.UploadedAt = r.MediaURL, r.ContentType, r.UploadedAt
	it.Reason, it.Matches = r.Reason, r.Matches
	it.Unhashable = r.Unhashable
	if it.Matches == nil {
		it.Matches = []events.Match{}
	}
	it.Priority = priorityOf(it.Matches)
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
		it.ClaimedBy, it.LeaseUntil, it.AssignedBy = h[fClaimedBy], &lease, h[fAssignedBy]
	case StateDecided:
		at, err := microTime(h[fDecidedAt])
		if err != nil {
			return nil, fmt.Errorf("item %s decided_at: %w", id, err)
		}
		it.DecidedAt = &at
		it.Decision, it.DecidedBy, it.DecisionReason = h[fDecision], h[fDecidedBy], h[fReason]
		it.DecidedEventID, it.Overturns, it.ApprovedBy = h[fDecidedEventID], h[fOverturns], h[fApprovedBy]
		if by := h[fPropBy]; by != "" && h[fPropFor] == it.DecidedEventID {
			at, _ := microTime(h[fPropAt])
			it.PendingOverturn = &PendingOverturn{ProposedBy: by, Decision: h[fPropDecision], Reason: h[fPropReason], ProposedAt: at}
		}
		if h[fAllowFor] != "" && h[fAllowFor] == it.DecidedEventID {
			var agreed []agreement
			if err := json.Unmarshal([]byte(h[fAllowAgreed]), &agreed); err != nil && h[fAllowAgreed] != "" {
				return nil, fmt.Errorf("item %s allow-list agreements: %w", id, err)
			}
			st := h[fAllowState]
			al := &AllowlistState{AgreedBy: []string{}, Confirmed: st != "", Published: st == "published" || st == "revoked",
				RevokedBy: h[fAllowRevoker]}
			for _, a := range agreed {
				al.AgreedBy = append(al.AgreedBy, a.By)
			}
			it.Allowlist = al
		}
		if it.rawHistory != "" {
			if err := json.Unmarshal([]byte(it.rawHistory), &it.History); err != nil {
				return nil, fmt.Errorf("item %s history: %w", id, err)
			}
		}
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
