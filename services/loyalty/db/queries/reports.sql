-- name: LiabilityTotals :one
-- Outstanding points now: open lots split by whether they have vested.
-- Lots past their expiry are not spendable (the job expires them shortly).
SELECT
    COALESCE(sum(remaining) FILTER (WHERE pending_until IS NULL OR pending_until <= @now::timestamptz), 0)::bigint AS available,
    COALESCE(sum(remaining) FILTER (WHERE pending_until > @now::timestamptz), 0)::bigint AS pending,
    count(DISTINCT member_id)::bigint AS members
FROM lots WHERE open AND (expires_at IS NULL OR expires_at > @now::timestamptz);

-- name: HeldAndDebt :one
SELECT
    (SELECT COALESCE(sum(points - captured), 0) FROM holds WHERE status = 'active')::bigint AS held,
    (SELECT COALESCE(sum(debt + deficit), 0) FROM members)::bigint AS debt;

-- name: PointsFlows :one
-- Points by kind of entry in [start, end).
SELECT
    COALESCE(sum(points) FILTER (WHERE type IN ('accrual', 'referral_reward') OR (type = 'adjustment' AND points > 0)), 0)::bigint AS issued,
    COALESCE(-sum(points) FILTER (WHERE type IN ('redemption', 'reversal')), 0)::bigint AS redeemed,
    COALESCE(-sum(points) FILTER (WHERE type = 'expiration'), 0)::bigint AS expired,
    COALESCE(-sum(points) FILTER (WHERE type = 'refund_clawback'), 0)::bigint AS reversed
FROM entries WHERE created_at >= @start_time AND created_at < @end_time;

-- name: PartnerFlows :many
-- Per partner, what its transactions issued, what was redeemed with it and
-- what refunds took back, in [start, end).
SELECT partner_id,
    COALESCE(sum(points) FILTER (WHERE type IN ('accrual', 'adjustment', 'referral_reward', 'transfer_in') AND points > 0), 0)::bigint AS issued,
    COALESCE(-sum(points) FILTER (WHERE type IN ('redemption', 'reversal')), 0)::bigint AS redeemed,
    COALESCE(-sum(points) FILTER (WHERE type = 'refund_clawback'), 0)::bigint AS reversed
FROM entries
WHERE partner_id <> '' AND created_at >= @start_time AND created_at < @end_time
  AND (@partner_id::text = '' OR partner_id = @partner_id)
GROUP BY partner_id ORDER BY partner_id;

-- name: MemberOutcomes :many
-- Every member enrolled before the end with their orders and spend in
-- [start, end); the caller splits them into holdout groups.
SELECT m.customer_id,
    count(o.order_id) FILTER (WHERE NOT o.cancelled)::bigint AS orders,
    COALESCE(sum(o.spend_minor) FILTER (WHERE NOT o.cancelled), 0)::bigint AS spend
FROM members m
LEFT JOIN orders o ON o.member_id = m.customer_id AND o.created_at >= @start_time AND o.created_at < @end_time
WHERE m.enrolled_at < @end_time
GROUP BY m.customer_id;
