-- name: InsertReferral :execrows
INSERT INTO referrals (id, campaign_id, code, referrer_id, friend_id, stage, friend_device_id, friend_ip_hash,
                       signed_up_at, converted_at, order_value_minor, nudge_at, body, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT DO NOTHING;

-- name: UpdateReferral :exec
UPDATE referrals
SET stage = sqlc.arg(stage), converted_at = sqlc.arg(converted_at), order_value_minor = sqlc.arg(order_value_minor),
    nudge_at = CASE WHEN sqlc.arg(keep_nudge)::boolean THEN nudge_at END,
    body = sqlc.arg(body), updated_at = sqlc.arg(updated_at)
WHERE id = sqlc.arg(id);

-- name: LockReferral :one
SELECT body FROM referrals WHERE id = $1 FOR UPDATE;

-- name: ReferralByFriend :one
SELECT body FROM referrals WHERE friend_id = $1;

-- name: ReferralsForReferrer :many
SELECT id, signed_up_at, body FROM referrals
WHERE referrer_id = sqlc.arg(referrer_id)
  AND (sqlc.arg(campaign_id)::text = '' OR campaign_id = sqlc.arg(campaign_id)::text)
  AND (sqlc.arg(after_id)::text = '' OR (signed_up_at, id) < (sqlc.arg(after_signed_up_at)::timestamptz, sqlc.arg(after_id)::text))
ORDER BY signed_up_at DESC, id DESC
LIMIT sqlc.arg(lim);

-- name: ReferrerCampaignCounts :many
-- Successful referrals per campaign of one referrer, for milestone progress.
SELECT campaign_id, count(*) FILTER (WHERE stage IN ('converted', 'rewarded'))::int AS successful
FROM referrals WHERE referrer_id = $1
GROUP BY campaign_id ORDER BY campaign_id;

-- name: SignUpTimesByIP :many
SELECT signed_up_at FROM referrals WHERE friend_ip_hash = $1 AND signed_up_at >= $2;

-- name: SignUpTimesByDevice :many
SELECT signed_up_at FROM referrals WHERE friend_device_id = $1 AND signed_up_at >= $2;

-- name: NudgeCandidates :many
SELECT id FROM referrals
WHERE stage = 'signed_up' AND nudge_at IS NOT NULL AND nudge_at <= $1
ORDER BY nudge_at
LIMIT $2;

-- name: ReferrerDevices :many
-- Devices the referrer signed up on when they were referred themselves.
SELECT friend_device_id FROM referrals WHERE friend_id = $1 AND friend_device_id <> '';

-- name: ReferralsForCampaign :many
SELECT id, signed_up_at, body FROM referrals
WHERE campaign_id = sqlc.arg(campaign_id)
  AND (sqlc.arg(stage)::text = '' OR stage = sqlc.arg(stage)::text)
  AND (sqlc.arg(after_id)::text = '' OR (signed_up_at, id) < (sqlc.arg(after_signed_up_at)::timestamptz, sqlc.arg(after_id)::text))
ORDER BY signed_up_at DESC, id DESC
LIMIT sqlc.arg(lim);
