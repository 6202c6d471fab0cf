-- name: InsertCampaign :exec
INSERT INTO campaigns (id, status, terms, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5);

-- name: GetCampaign :one
SELECT * FROM campaigns WHERE id = $1;

-- name: LockCampaign :one
SELECT * FROM campaigns WHERE id = $1 FOR UPDATE;

-- name: UpdateCampaign :exec
UPDATE campaigns
SET status = $2, terms = $3, spent_points = $4, spent_money_minor = $5, updated_at = $6
WHERE id = $1;

-- name: ListCampaigns :many
SELECT * FROM campaigns
WHERE (sqlc.arg(status)::text = '' OR status = sqlc.arg(status)::text)
  AND (sqlc.arg(after_id)::text = '' OR (created_at, id) < (sqlc.arg(after_created_at)::timestamptz, sqlc.arg(after_id)::text))
ORDER BY created_at DESC, id DESC
LIMIT sqlc.arg(lim);
