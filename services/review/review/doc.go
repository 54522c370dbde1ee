// Package review holds the human review queue: it consumes review.requested
// events, keeps one queue item per piece of content in Redis, lets
// authenticated reviewers claim items under a time-limited lease and decide
// them (through a JSON API and a server-rendered web UI), publishes each
// decision as a review.decided event for the enforcer, and feeds decided
// content back into the hash banks.
//
// # Queue
//
// The item id is the content id, so a redelivered or repeated request for the
// same content never opens a second item (the first request wins; later ones
// are logged and dropped, even after the item was decided). Pending items are
// served by priority, then age (see Priority: incident banks first, then the
// bank's severity, then match confidence). Every key lives under
// PREFIX:review: (PREFIX is the redis-prefix setting):
//
//	PREFIX:review:item:<id>   hash: request (the review.requested JSON), state
//	                          (pending|claimed|decided), enqueued_at, prio
//	                          (the rank), trace, claimed_by, assigned_by,
//	                          lease_until, decision, decided_by, reason (the
//	                          reviewer's), decided_at, decided_event_id,
//	                          overturns, approved_by, history (JSON of the
//	                          overturned decisions), pr_by, pr_decision,
//	                          pr_reason, pr_at, pr_for (an overturn proposed
//	                          by one lead, for decided_event_id pr_for),
//	                          al_for, al_agreed, al_state, al_revoked_by (the
//	                          allow-listing of benign decision al_for), and
//	                          the drafts of a decision or an overturn being
//	                          published; times are Unix microseconds
//	PREFIX:review:pending     sorted set of pending ids by rank*1e13 +
//	                          enqueue time in Unix milliseconds
//	PREFIX:review:claimed     sorted set of claimed ids by lease expiry
//	PREFIX:review:decided     sorted set of decided ids by decision time
//	PREFIX:review:state       set once Redis holds the queue (see Durability)
//	PREFIX:review:rebuild-lock, PREFIX:review:allow-bank:<bank>
//	PREFIX:review:related:<entry>  hash: content id -> the enforcer's audit
//	                          record of its removal through confirmed-bank
//	                          entry <entry> (related.go)
//	PREFIX:review:related-restored:<entry>  hash: content id NUL removal
//	                          event id -> the restore
//	                          a lead asked for
//	PREFIX:review:related-proposal:<id>:<decided_event_id>  a lead's proposal
//	                          to restore them, waiting for a second lead
//
// Claim, assign, decide, overturn and allow-list agreement run as Lua
// scripts (so the separation-of-duties checks below cannot race), and every lease is
// measured against the Redis server's clock, so several review replicas agree
// on who holds an item whatever their own clocks say. A claimed item whose
// lease has expired is pending again: it is listed and counted as pending,
// anyone may claim it, and a maintenance loop (every second) returns it to
// the pending set and counts the expiry.
//
// A decision (and an overturn) is committed in Redis before it is
// published, then recorded as decided: a crash in between can only cause a
// republish of the same event id, and once committed no other decision can
// follow, whatever happens to the lease; the next reviewer to touch a stuck
// item finishes publishing it.
//
// # Access
//
// Every API and UI request needs a JWT bearer token, verified with
// github.com/golang-jwt/jwt/v5 (tokens.go): HS256 with a secret of
// jwt-hs256-secrets, RS256 or EdDSA with a public key of jwt-public-keys, or
// RS256, ES256 or EdDSA with a key of the identity provider's JWKS at
// jwt-jwks-url (github.com/MicahParks/keyfunc/v3: fetched at start, every
// jwt-jwks-refresh and on an unknown kid at most once a minute), chosen by
// the token's kid; each key fixes its algorithm. iss and aud must equal
// jwt-issuer and name jwt-audience, both required whenever keys are
// configured; iat and exp are required and exp-iat may not exceed
// jwt-max-lifetime; jwt-leeway (at most 5m) is the clock skew allowed; a
// header or payload that names a JSON key twice is refused. The sub claim
// is the reviewer; the roles claim (jwt-roles-claim) grants:
//
//	reviewer  list, claim and decide items; agree to allow-list someone
//	          else's benign decision
//	lead      also assign items, overturn others' decisions (propose or
//	          approve a restore of incident or critical content) and
//	          confirm allow-listing
//	admin     what a lead may, and revoke an allow-list entry
//
// Without a valid token the answer is 401 {"error": "invalid token"}
// with a bare invalid_token challenge (the reason is logged, never
// answered), with a token that does not allow the request 403, both as a
// JSON error. A body that names a reviewer other than the token's subject
// is refused (403). The UI's cookies are Secure when cookie-secure is set
// (the default), never because of X-Forwarded-Proto.
// /healthz, /readyz and /metrics are open to probes and scrapers.
//
// # HTTP API
//
// JSON over HTTP on the http-addr setting; errors are {"error": "..."}.
// Request bodies are capped at 64 KiB and unknown fields are refused.
//
//	GET  /v1/items?state=pending|claimed|decided&limit=N
//	     -> 200 {"items": [item...]}. state defaults to pending, limit to 50
//	     (at most 500). Pending items come by priority then oldest first,
//	     claimed ones by lease expiry, decided ones newest first.
//	GET  /v1/items/{id}
//	     -> 200 item, or 404.
//	POST /v1/items/{id}/claim      {} (or {"reviewer": <the token's sub>}, or no body)
//	     -> 200 item (with claimed_by and lease_until). The same reviewer
//	     claiming again extends the lease. 409 if another reviewer holds an
//	     unexpired lease or the item is decided; 404 if there is no such item.
//	POST /v1/items/{id}/decision   {"decision": "violating"|"benign", "reason": "..."}
//	     -> 200 item (state decided, decided_event_id). The reason is
//	     required. The reviewer must hold the lease: 403 if they hold none
//	     (never claimed, or it expired), 409 if someone else holds it. If
//	     Kafka fails the answer is 503 and the item stays claimed. Repeating
//	     the same decision by the same reviewer returns 200 with the original
//	     decided_event_id and publishes nothing; any other decision on a
//	     decided item is 409.
//	POST /v1/items/{id}/assign     {"reviewer": "bob"}                  (lead, admin)
//	     -> 200 item leased to bob (assigned_by the lead), whoever held it.
//	     409 if the item is decided.
//	POST /v1/items/{id}/overturn   {"decision": ..., "reason": "..."}   (lead, admin)
//	     -> 200 item with the new decision; a new review.decided is
//	     published whose overturns is the earlier decided_event_id, and the
//	     earlier decision moves to the item's history. 409 if the item is
//	     not decided or already has that decision (the same overturn
//	     repeated by the same lead is a 200 repeat). 403 if the lead made
//	     or approved the current decision or one in its history: no one
//	     overturns their own decision. Restoring content (violating to
//	     benign) that an incident bank or a critical bank matched needs two
//	     leads: the first lead's overturn answers 202 with the item's
//	     pending_overturn {"proposed_by", "decision", "reason",
//	     "proposed_at"} and publishes nothing (repeating it is a 202
//	     repeat); a second, distinct lead's overturn to the same decision
//	     approves it: 200, and the review.decided names the proposer as
//	     reviewer (with the proposer's reason) and the approver as
//	     approved_by.
//	POST /v1/items/{id}/restore-related {"reason": "..."}               (lead, admin)
//	     -> 200 item; for an item whose violating decision was overturned
//	     to benign, publishes per upload in its related list (removed
//	     through the decision's confirmed entry, not restored yet, not
//	     kept) a review.decided benign with caused_by the overturn, which
//	     the enforcer turns into a restore. Two leads when the item or an
//	     upload matched an incident or critical bank (202 and
//	     pending_related_restore, as for the overturn). 409 for any other
//	     item.
//	POST /v1/items/{id}/allowlist  {"reason": "..."}                    (any role)
//	     -> agreement to allow-list the item's benign decision. The decider
//	     cannot agree with themselves (403). Under allowlist-approval lead
//	     (the default) a lead's or admin's agreement confirms it, a
//	     reviewer's is recorded (202); under two_reviewers any second
//	     person's agreement does. When the rule is met the benign-bank
//	     entry is published (200), once; later agreements are 200 repeats.
//	     Until then a benign decision keeps or restores that one upload
//	     only. 409 if the item is not decided benign.
//	POST /v1/items/{id}/allowlist/revoke {"reason": "..."}              (admin)
//	     -> 200 item: the benign-bank entry is disabled (bank.updates
//	     disable); the decision stands. 409 if it is not allow-listed.
//	GET  /v1/items/{id}/media
//	     -> 200 the item's media, as the hasher hashed it (see Media); 502
//	     "media changed since it was hashed" (no bytes), or a fetch that
//	     failed or was refused by the fetch policy; 504 a host too slow;
//	     409 no sha256 recorded and the item is not unhashable; 404.
//	GET  /v1/items/{id}/preview
//	     -> 200 image/jpeg: the derived preview (see Media), with the same
//	     checks and refusals as /media.
//	GET  /v1/stats
//	     -> 200 {"pending": n, "claimed": n, "decided": n}
//	GET  /healthz, /readyz (Redis ping, and not while rebuilding), /metrics
//
// An item is:
//
//	{"id", "content_id", "correlation_id", "request_event_id", "state",
//	 "media_url", "content_type", "uploaded_at", "reason" (why review was
//	 requested), "matches", "priority" {"rank", "incident", "severity",
//	 "confidence"}, "enqueued_at", "claimed_by", "assigned_by",
//	 "lease_until", "decision", "decided_by", "decision_reason",
//	 "decided_at", "decided_event_id", "overturns", "approved_by",
//	 "history", "pending_overturn", "allowlist" {"agreed_by", "confirmed",
//	 "published", "revoked_by"}}
//
// with the claim and decision fields left out while they do not apply.
// Validation errors are 400, an oversized body 413, and an unreachable Redis
// (or a queue being rebuilt) 503.
//
// # Web UI
//
// /ui/ serves the same operations as pages (ui.go): a login page for the
// token, the queue, and an item page with the server's preview until the
// reviewer reveals the media, the match evidence beside it, decision buttons
// and keyboard shortcuts. /ui/items/{id}/media and /ui/items/{id}/preview
// are the API's two, authenticated by the session cookie. The page never
// points the browser at media_url (shown as text), and its CSP admits
// images and video from the service only.
//
// # Media
//
// Reviewers' browsers never contact a media host (media.go). The service
// fetches media_url as the hasher does: pkg/edges/fetch's policy (public addresses
// only, unless url-allowlist admits them, checked again at connect time and
// on each redirect), the same client and so the same User-Agent, no cookies,
// at most max-media-bytes within fetch-timeout. The bytes are served only if
// their sha256 is the item's whole-file sha256 signal, the one the hasher
// recorded: a host that served the hasher one thing and the service another
// (cloaking) gets 502 and nothing is shown. An item without that signal is
// refused (409) unless review was requested because the media could not be
// hashed (reason "unhashable" or "unhashable: ..."), whose media is served
// with X-Takedown-Media-Verified: false (true otherwise) and flagged on the
// item page.
//
// Headers: Content-Type from http.DetectContentType of the bytes (anything
// but image/* and video/* as application/octet-stream with
// Content-Disposition: attachment; pictures and videos inline),
// X-Content-Type-Options: nosniff, Cache-Control: no-store,
// Content-Security-Policy: sandbox; default-src 'none', Referrer-Policy:
// no-referrer, Cross-Origin-Resource-Policy: same-origin,
// X-Takedown-Media-Sha256. /media answers Range requests (for video).
//
// The preview is derived on the server: a picture decoded by pkg/hashing/mediahash
// (its pixel, size and time limits), or a frame about a second into a video
// (pkg/hashing/video's sandboxed ffmpeg, 20 s at most), reduced to at most 32 pixels
// on its long side, greyscale, blurred (two 3x3 box passes), JPEG. What
// cannot be previewed gets a grey placeholder (X-Takedown-Preview:
// placeholder rather than derived).
//
// Verified media is kept in memory only, never on disk (a video being
// previewed is copied to /dev/shm, where there is one, for ffmpeg and
// removed at once): at most media-cache-bytes in all, each item's for
// media-cache-ttl, the entries closest to expiry evicted first, and dropped
// when the item is decided by this replica (a decided item's media is
// fetched and checked again when asked for, and not kept). A minute's sweep
// drops expired entries; shutdown drops all.
//
// # Retention
//
// A decided item expires decided-ttl after its latest decision (the
// scripts that record a decision set it), and the maintenance loop drops
// expired ids from the decided set; a rebuild restores only decisions
// younger than that. Pending and claimed items never expire. The decisions
// themselves stay on review.decided.
//
// # Durability
//
// When Redis lacks the state key (at start, or noticed while running) the
// queue is rebuilt by replaying review.requested and review.decided from the
// beginning (rebuild.go); leases are dropped.
//
// Proposals and allow-list agreements live in Redis only: a rebuild keeps
// the decisions but drops a pending proposal and unconfirmed agreements.
//
// # Audit
//
// Every privileged action is an enforcement.actions record (trigger review,
// outcome succeeded) with its actor: assign, overturn_proposed, overturn
// (actor: the approver of a two-lead restore), allowlist_agreed,
// allowlist_confirmed and allowlist_revoked. Its event id derives from the
// action, so a republished record is recognisably the same one.
//
// # Feedback
//
// A violating decision adds the upload's whole-picture signals to the
// confirmed bank; a benign one adds them to the benign (allow) bank only
// once allow-listing is approved (duties.go); an overturn disables the
// entry of the decision it overturns (feedback.go).
package review
