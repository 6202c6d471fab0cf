-- name: GetOrder :one
SELECT order_id, member_id, "order", result, points, refunded, refund_ids, cancelled, spend_minor, created_at
FROM orders WHERE order_id = $1 FOR UPDATE;

-- name: UpdateOrderRefunds :exec
UPDATE orders SET refunded = $2, refund_ids = $3, cancelled = $4, spend_minor = $5 WHERE order_id = $1;

-- name: SpendInWindow :one
SELECT COALESCE(sum(spend_minor), 0)::bigint FROM orders WHERE member_id = @member_id AND created_at >= @from_time AND created_at < @to_time;

-- name: PointsEarnedInWindow :one
-- Points earned in a window: credits of accruals, net of what refunds took back.
SELECT COALESCE(sum(points), 0)::bigint FROM entries
WHERE member_id = @member_id AND created_at >= @from_time AND created_at < @to_time
  AND (type IN ('accrual', 'referral_reward') OR (type = 'refund_clawback' AND order_id <> ''));

-- name: RedeemedCount :one
SELECT count(*) FROM redemptions WHERE member_id = $1 AND reward_id = $2 AND status = 'completed';

-- name: OrderPartner :one
-- The coalition partner whose transaction the order was (empty for the
-- program's own orders), from the order's accrual entry: a refund's
-- clawback is charged to the same partner in the settlement report.
SELECT COALESCE((SELECT partner_id FROM entries
    WHERE member_id = @member_id AND order_id = @order_id AND type = 'accrual' AND partner_id <> '' LIMIT 1), '')::text;

-- name: MembersInDebtOpenLots :many
-- The open lots of those locked members who have a deficit or a debt: an
-- order batch credits points, and only a credit that settles a deficit or
-- debt draws from the member's other lots (see
-- postgres.Store.LockAccountsForAccrual).
SELECT l.id, l.member_id, l.entry_id, l.source, l.order_id, l.partner_id, l.points, l.remaining, l.earned_at, l.pending_until, l.expires_at
FROM lots l
WHERE l.open
  AND l.member_id IN (SELECT m.customer_id FROM members m
                      WHERE m.customer_id = ANY(@ids::text[]) AND (m.deficit > 0 OR m.debt > 0));
