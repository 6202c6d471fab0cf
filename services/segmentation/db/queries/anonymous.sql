-- name: LockAnonymousID :exec
-- Serialises the storing of an anonymous interaction with the identify that
-- links its anonymous id, so neither can miss the other.
SELECT pg_advisory_xact_lock(hashtextextended('segmentation.anonymous:' || sqlc.arg(anonymous_id)::text, 0));

-- name: AnonymousLink :one
SELECT customer_id FROM anonymous_links WHERE anonymous_id = $1;

-- name: LinkAnonymousID :one
-- Links the anonymous id to the customer unless it is linked already, and
-- returns the customer it is linked to (the first identify wins).
INSERT INTO anonymous_links (anonymous_id, customer_id, linked_at) VALUES ($1, $2, $3)
ON CONFLICT (anonymous_id) DO UPDATE SET anonymous_id = EXCLUDED.anonymous_id
RETURNING customer_id;

-- name: StoreAnonymousEvent :exec
INSERT INTO anonymous_events (anonymous_id, event_id, event_time, payload) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING;

-- name: TakeAnonymousEvents :many
DELETE FROM anonymous_events WHERE anonymous_id = $1 RETURNING event_id, event_time, payload;

-- name: PurgeAnonymousEvents :execrows
DELETE FROM anonymous_events WHERE event_time < $1;
