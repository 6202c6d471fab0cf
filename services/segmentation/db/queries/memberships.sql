-- name: CustomerSegments :many
SELECT m.segment_id, s.name, m.entered_at FROM memberships m JOIN segments s USING (segment_id)
WHERE m.customer_id = $1 ORDER BY m.segment_id;

-- name: MembershipsOf :many
SELECT customer_id, segment_id FROM memberships WHERE customer_id = ANY(sqlc.arg(ids)::text[]);

-- name: IsMember :one
SELECT EXISTS (SELECT 1 FROM memberships WHERE segment_id = $1 AND customer_id = $2);

-- name: EnterSegments :exec
INSERT INTO memberships (segment_id, customer_id, entered_at)
SELECT unnest(sqlc.arg(segment_ids)::text[]), unnest(sqlc.arg(customer_ids)::text[]), unnest(sqlc.arg(entered_at)::timestamptz[])
ON CONFLICT DO NOTHING;

-- name: ExitSegments :exec
DELETE FROM memberships
WHERE (segment_id, customer_id) IN (SELECT unnest(sqlc.arg(segment_ids)::text[]), unnest(sqlc.arg(customer_ids)::text[]));

-- name: SegmentMembers :many
SELECT customer_id, entered_at FROM memberships WHERE segment_id = $1 AND customer_id > $2
ORDER BY customer_id LIMIT $3;

-- name: AllMembers :many
SELECT customer_id FROM memberships WHERE segment_id = $1 ORDER BY customer_id;
