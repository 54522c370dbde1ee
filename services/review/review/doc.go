// Package review holds the human review queue: it consumes review.requested
// events, keeps one queue item per piece of content in Redis, lets reviewers
// claim items under a time-limited lease and decide them, and publishes each
// decision as a review.decided event for the enforcer.
//
// # Queue
//
// The item id is the content id, so a redelivered or repeated request for the
// same content never opens a second item (the first request wins; later ones
// are logged and dropped, even after the item was decided). Every key lives
// under PREFIX:review: (PREFIX is the redis-prefix setting):
//
//	PREFIX:review:item:<id>   hash: request (the review.requested JSON), state
//	                          (pending|claimed|decided), enqueued_at,
//	                          claimed_by, lease_until, decision, decided_by,
//	                          reason (the reviewer's), decided_at,
//	                          decided_event_id; times are Unix microseconds
//	PREFIX:review:pending     sorted set of pending ids by enqueue time (FIFO)
//	PREFIX:review:claimed     sorted set of claimed ids by lease expiry
//	PREFIX:review:decided     sorted set of decided ids by decision time
//
// Claim and decide run as Lua scripts, and every lease is measured against
// the Redis server's clock, so several review replicas agree on who holds an
// item whatever their own clocks say. A claimed item whose lease has expired
// is pending again: it is listed and counted as pending and anyone may claim
// it.
//
// # HTTP API
//
// JSON over HTTP on the http-addr setting; errors are {"error": "..."}.
// Request bodies are capped at 64 KiB and unknown fields are refused.
//
//	GET  /v1/items?state=pending|claimed|decided&limit=N
//	     -> 200 {"items": [item...]}. state defaults to pending, limit to 50
//	     (at most 500). Pending items come oldest first, claimed ones by
//	     lease expiry, decided ones newest first.
//	GET  /v1/items/{id}
//	     -> 200 item, or 404.
//	POST /v1/items/{id}/claim      {"reviewer": "alice"}
//	     -> 200 item (with claimed_by and lease_until). The same reviewer
//	     claiming again extends the lease. 409 if another reviewer holds an
//	     unexpired lease or the item is decided; 404 if there is no such item.
//	POST /v1/items/{id}/decision   {"reviewer": "alice", "decision": "violating"|"benign", "reason": "..."}
//	     -> 200 item (state decided, decided_event_id). The reviewer must hold
//	     the lease: 403 if they hold none (never claimed, or it expired), 409
//	     if someone else holds it. The review.decided event is published
//	     first and the item marked decided after, so a crash in between can
//	     only cause a republish; if Kafka fails the answer is 503 and the item
//	     stays claimed. Repeating the same decision by the same reviewer
//	     returns 200 with the original decided_event_id and publishes nothing;
//	     any other decision on a decided item is 409.
//	GET  /v1/stats
//	     -> 200 {"pending": n, "claimed": n, "decided": n}
//	GET  /healthz, /readyz (readiness includes a Redis ping)
//
// An item is:
//
//	{"id", "content_id", "correlation_id", "request_event_id", "state",
//	 "media_url", "content_type", "uploaded_at", "reason" (why review was
//	 requested), "matches", "enqueued_at", "claimed_by", "lease_until",
//	 "decision", "decided_by", "decision_reason", "decided_at",
//	 "decided_event_id"}
//
// with the claim and decision fields left out while they do not apply.
// Validation errors are 400, an oversized body 413, and an unreachable Redis
// 503.
package review
