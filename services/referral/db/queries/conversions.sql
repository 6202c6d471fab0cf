-- Set-based statements of the order pipeline: one statement per batch of
-- orders instead of one per order, because the round trips, not the work,
-- dominate a conversion.

-- name: InsertOrders :exec
INSERT INTO orders (order_id, customer_id, placed_at, total_minor, currency)
SELECT unnest(sqlc.arg(order_ids)::text[]), unnest(sqlc.arg(customer_ids)::text[]), unnest(sqlc.arg(placed_ats)::timestamptz[]),
       unnest(sqlc.arg(totals)::bigint[]), unnest(sqlc.arg(currencies)::text[])
ON CONFLICT DO NOTHING;

-- name: OpenReferralsOfFriends :many
-- Referrals still waiting for an order, of the given friends.
SELECT id, campaign_id FROM referrals
WHERE friend_id = ANY(sqlc.arg(friend_ids)::text[]) AND stage = 'signed_up';

-- name: LockCampaigns :many
SELECT * FROM campaigns WHERE id = ANY(sqlc.arg(ids)::text[]) ORDER BY id FOR UPDATE;

-- name: LockReferrals :many
SELECT body FROM referrals WHERE id = ANY(sqlc.arg(ids)::text[]) ORDER BY id FOR UPDATE;

-- name: FirstOrders :many
-- One index probe per customer (orders_customer), not a sort of their orders.
SELECT c.customer_id::text AS customer_id, f.order_id
FROM unnest(sqlc.arg(customer_ids)::text[]) AS c(customer_id)
CROSS JOIN LATERAL (
    SELECT o.order_id FROM orders o WHERE o.customer_id = c.customer_id
    ORDER BY o.placed_at, o.order_id LIMIT 1
) AS f;

-- name: SuccessfulByReferrers :many
SELECT campaign_id, referrer_id, count(*)::int AS successful FROM referrals
WHERE referrer_id = ANY(sqlc.arg(referrer_ids)::text[]) AND stage IN ('converted', 'rewarded')
GROUP BY campaign_id, referrer_id;

-- name: UpdateReferrals :exec
UPDATE referrals r
SET stage = u.stage, converted_at = NULLIF(u.converted_at, '0001-01-01 00:00:00+00'::timestamptz),
    order_value_minor = u.order_value_minor,
    nudge_at = CASE WHEN u.keep_nudge THEN r.nudge_at END,
    body = u.body::jsonb, updated_at = u.updated_at
FROM (SELECT unnest(sqlc.arg(ids)::text[]) AS id, unnest(sqlc.arg(stages)::text[]) AS stage,
             unnest(sqlc.arg(converted_ats)::timestamptz[]) AS converted_at, unnest(sqlc.arg(order_values)::bigint[]) AS order_value_minor,
             unnest(sqlc.arg(keep_nudges)::boolean[]) AS keep_nudge, unnest(sqlc.arg(bodies)::text[]) AS body,
             unnest(sqlc.arg(updated_ats)::timestamptz[]) AS updated_at) AS u
WHERE r.id = u.id;

-- name: InsertRewards :exec
INSERT INTO rewards (id, referral_id, campaign_id, beneficiary_id, role, status, cost_points, cost_money_minor, payable_at, body)
SELECT unnest(sqlc.arg(ids)::text[]), unnest(sqlc.arg(referral_ids)::text[]), unnest(sqlc.arg(campaign_ids)::text[]),
       unnest(sqlc.arg(beneficiary_ids)::text[]), unnest(sqlc.arg(roles)::text[]), unnest(sqlc.arg(statuses)::text[]),
       unnest(sqlc.arg(cost_points)::bigint[]), unnest(sqlc.arg(cost_money)::bigint[]), unnest(sqlc.arg(payable_ats)::timestamptz[]),
       unnest(sqlc.arg(bodies)::text[])::jsonb
ON CONFLICT (id) DO NOTHING;
