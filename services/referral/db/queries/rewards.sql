-- name: UpdateReward :exec
UPDATE rewards SET status = $2, body = $3 WHERE id = $1;

-- name: RewardsForReferral :many
SELECT body FROM rewards WHERE referral_id = $1 ORDER BY id FOR UPDATE;

-- name: RewardsForReferrals :many
SELECT referral_id, body FROM rewards WHERE referral_id = ANY(sqlc.arg(ids)::text[]) ORDER BY id;

-- name: DueRewards :many
-- Referrals with rewards past their hold. Not locked here: the payer locks
-- the referral first and its rewards second, the order every path uses.
-- Pending ones first: payable ones are waiting for coupons and must not
-- crowd out rewards that can be paid.
SELECT referral_id FROM rewards
WHERE status IN ('pending', 'payable') AND payable_at <= $1
ORDER BY status = 'payable', payable_at
LIMIT $2;

-- name: DrawCoupon :one
-- Idempotent per reward: the reward's code if it has one, else a free one.
WITH mine AS (
    SELECT c.code FROM coupon_codes c WHERE c.reward_id = sqlc.arg(reward_id)::text
), picked AS (
    SELECT c.pool, c.code FROM coupon_codes c
    WHERE c.pool = sqlc.arg(pool)::text AND c.reward_id IS NULL AND NOT EXISTS (SELECT 1 FROM mine)
    LIMIT 1 FOR UPDATE SKIP LOCKED
), taken AS (
    UPDATE coupon_codes c SET reward_id = sqlc.arg(reward_id)::text
    FROM picked WHERE c.pool = picked.pool AND c.code = picked.code
    RETURNING c.code
)
SELECT code FROM mine UNION ALL SELECT code FROM taken;

-- name: AddCoupons :execrows
-- One statement per upload; codes already in the pool (or repeated in the
-- upload) are skipped, and the row count says how many were new.
INSERT INTO coupon_codes (pool, code)
SELECT sqlc.arg(pool)::text, c FROM unnest(sqlc.arg(codes)::text[]) AS c
ON CONFLICT DO NOTHING;

-- name: CouponPoolLevels :one
-- waiting scans the payable rewards (few: only those that met an empty pool).
SELECT
    (SELECT count(*) FROM coupon_codes c WHERE c.pool = sqlc.arg(pool)::text AND c.reward_id IS NULL)::bigint AS available,
    (SELECT count(*) FROM coupon_codes c WHERE c.pool = sqlc.arg(pool)::text AND c.reward_id IS NOT NULL)::bigint AS given,
    (SELECT count(*) FROM rewards w WHERE w.status = 'payable' AND w.body->'Spec'->>'CouponPool' = sqlc.arg(pool)::text)::bigint AS waiting;
