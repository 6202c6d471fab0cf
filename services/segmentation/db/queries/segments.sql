-- name: InsertSegment :execrows
INSERT INTO segments (segment_id, name, description, rule, template_id, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT DO NOTHING;

-- name: GetSegment :one
SELECT * FROM segments WHERE segment_id = $1;

-- name: LockSegment :one
SELECT * FROM segments WHERE segment_id = $1 FOR UPDATE;

-- name: ListSegments :many
SELECT * FROM segments WHERE segment_id > $1 ORDER BY segment_id LIMIT $2;

-- name: AllSegments :many
SELECT * FROM segments ORDER BY segment_id;

-- name: SegmentVersions :many
SELECT segment_id, version FROM segments ORDER BY segment_id;

-- name: UpdateSegment :exec
UPDATE segments SET name = $2, description = $3, rule = $4, version = version + 1, updated_at = $5
WHERE segment_id = $1;

-- name: DeleteSegment :exec
DELETE FROM segments WHERE segment_id = $1;

-- name: MarkEvaluated :exec
UPDATE segments SET evaluated_version = sqlc.arg(version), evaluated_at = sqlc.arg(at)
WHERE segment_id = sqlc.arg(segment_id) AND evaluated_version < sqlc.arg(version);

-- name: StaleSegments :many
SELECT segment_id FROM segments WHERE evaluated_version < version ORDER BY segment_id;

-- name: AddSegmentSizes :exec
UPDATE segments s SET size = s.size + d.delta
FROM (SELECT unnest(sqlc.arg(ids)::text[]) AS id, unnest(sqlc.arg(deltas)::bigint[]) AS delta) d
WHERE s.segment_id = d.id;

-- name: RecordSize :exec
INSERT INTO segment_sizes (segment_id, at, size)
SELECT s.segment_id, sqlc.arg(at)::timestamptz, s.size FROM segments s WHERE s.segment_id = sqlc.arg(id)::text
ON CONFLICT DO NOTHING;

-- name: SegmentSizes :many
SELECT at, size FROM segment_sizes WHERE segment_id = $1 AND at >= $2 AND at <= $3 ORDER BY at;
