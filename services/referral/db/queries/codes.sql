-- name: InsertCode :execrows
INSERT INTO codes (code, campaign_id, owner_kind, owner_id, vanity, partner_terms, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT DO NOTHING;

-- name: GetCode :one
SELECT * FROM codes WHERE code = $1;

-- name: CodeForOwner :one
SELECT * FROM codes WHERE campaign_id = $1 AND owner_kind = $2 AND owner_id = $3
ORDER BY created_at LIMIT 1;

-- name: InsertClick :exec
INSERT INTO clicks (id, code, campaign_id, device_id, ip_hash, user_agent, landing_url, at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: ClicksForDevice :many
SELECT * FROM clicks WHERE device_id = $1 AND at >= $2 ORDER BY at;


-- name: GetClick :one
SELECT * FROM clicks WHERE id = $1;
