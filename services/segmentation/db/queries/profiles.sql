-- name: LockProfile :one
SELECT f.facts, p.snapshot, p.rfm_r, p.rfm_f, p.rfm_m, p.rfm_group
FROM profiles p JOIN profile_facts f USING (customer_id) WHERE p.customer_id = $1 FOR UPDATE OF p;

-- name: GetProfile :one
SELECT f.facts, p.rfm_r, p.rfm_f, p.rfm_m, p.rfm_group, p.rfm_scored_at, p.updated_at
FROM profiles p JOIN profile_facts f USING (customer_id) WHERE p.customer_id = $1;

-- name: SaveProfile :exec
INSERT INTO profiles (customer_id, snapshot, order_count, total_spend, last_order_at, cart_due_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (customer_id) DO UPDATE SET
    snapshot = EXCLUDED.snapshot, order_count = EXCLUDED.order_count,
    total_spend = EXCLUDED.total_spend, last_order_at = EXCLUDED.last_order_at,
    cart_due_at = EXCLUDED.cart_due_at, updated_at = EXCLUDED.updated_at, version = profiles.version + 1;

-- name: SaveFacts :exec
INSERT INTO profile_facts (customer_id, facts) VALUES ($1, $2)
ON CONFLICT (customer_id) DO UPDATE SET facts = EXCLUDED.facts;

-- name: LockUnchanged :many
-- Locks the profiles that still have the version a recompute evaluated;
-- the others changed meanwhile and were re-evaluated by the event path.
SELECT p.customer_id FROM profiles p
JOIN (SELECT unnest(sqlc.arg(ids)::text[]) AS id, unnest(sqlc.arg(versions)::bigint[]) AS version) v
  ON p.customer_id = v.id AND p.version = v.version
ORDER BY p.customer_id FOR UPDATE OF p;

-- name: SnapshotPage :many
SELECT customer_id, snapshot, rfm_r, rfm_f, rfm_m, rfm_group, version
FROM profiles WHERE customer_id > $1 ORDER BY customer_id LIMIT $2;

-- name: DueCarts :many
SELECT customer_id FROM profiles WHERE cart_due_at <= sqlc.arg(now)::timestamptz AND customer_id > sqlc.arg(after)::text
ORDER BY customer_id LIMIT sqlc.arg(lim)::int;

-- name: CountProfiles :one
SELECT count(*) FROM profiles;

-- name: RFMPopulation :many
SELECT customer_id, order_count, total_spend, last_order_at
FROM profiles WHERE order_count > 0 AND last_order_at IS NOT NULL;

-- name: SetRFM :exec
UPDATE profiles p SET rfm_r = s.r, rfm_f = s.f, rfm_m = s.m, rfm_group = s.grp, rfm_scored_at = sqlc.arg(scored_at)
FROM (SELECT unnest(sqlc.arg(ids)::text[]) AS id, unnest(sqlc.arg(rs)::int[]) AS r, unnest(sqlc.arg(fs)::int[]) AS f,
             unnest(sqlc.arg(ms)::int[]) AS m, unnest(sqlc.arg(groups)::text[]) AS grp) s
WHERE p.customer_id = s.id;

-- name: InsertRFMRun :exec
INSERT INTO rfm_runs (scored_at, population, sizes) VALUES ($1, $2, $3);

-- name: LatestRFMRun :one
SELECT scored_at, population, sizes FROM rfm_runs ORDER BY scored_at DESC LIMIT 1;

-- name: SaveModel :exec
INSERT INTO clv_models (fitted_at, model) VALUES ($1, $2);

-- name: LatestModel :one
SELECT fitted_at, model FROM clv_models ORDER BY fitted_at DESC LIMIT 1;
