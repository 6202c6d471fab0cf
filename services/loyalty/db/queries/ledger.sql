-- name: LockMember :one
SELECT customer_id, balance, deficit, debt, lifetime_points, orders_count, last_activity, tier, tier_id, segments, enrolled_at
FROM members WHERE customer_id = $1 FOR UPDATE;

-- name: EnsureMember :exec
INSERT INTO members (customer_id, enrolled_at) VALUES ($1, $2) ON CONFLICT (customer_id) DO NOTHING;

-- name: GetMember :one
SELECT customer_id, balance, deficit, debt, lifetime_points, orders_count, last_activity, tier, tier_id, segments, enrolled_at
FROM members WHERE customer_id = $1;

-- name: UpdateMemberTier :exec
UPDATE members SET tier = $2, tier_id = $3, requalify_at = $4 WHERE customer_id = $1;

-- name: OpenLots :many
-- Every lot with a remainder, plus the named lots an operation restores into.
-- Two arms, not one OR: each arm uses its index (lots_open, the primary
-- key), where the OR made PostgreSQL read every lot of the table.
SELECT a.id, a.member_id, a.entry_id, a.source, a.order_id, a.partner_id, a.points, a.remaining, a.earned_at, a.pending_until, a.expires_at
FROM lots a WHERE a.member_id = @member_id::text AND a.open
UNION ALL
SELECT b.id, b.member_id, b.entry_id, b.source, b.order_id, b.partner_id, b.points, b.remaining, b.earned_at, b.pending_until, b.expires_at
FROM lots b WHERE b.id = ANY(@extra::text[]) AND b.member_id = @member_id::text AND NOT b.open;

-- name: MemberOpenLots :many
-- OpenLots without extra lots (a redemption, a hold): the second arm's
-- generic plan, made while the table is small, reads the whole table even
-- for an empty list.
SELECT id, member_id, entry_id, source, order_id, partner_id, points, remaining, earned_at, pending_until, expires_at
FROM lots WHERE member_id = @member_id::text AND open;

-- name: GetHold :one
SELECT id, member_id, order_id, points, captured, draws, status, created_at, expires_at, closed_at
FROM holds WHERE id = $1;

-- name: ActiveHoldsPoints :one
SELECT COALESCE(sum(points), 0)::bigint FROM holds WHERE member_id = $1 AND status = 'active';

-- name: DueHolds :many
SELECT id FROM holds WHERE status = 'active' AND expires_at <= $1 ORDER BY expires_at LIMIT $2;

-- name: MembersWithDueLots :many
SELECT DISTINCT member_id FROM lots WHERE open AND expires_at IS NOT NULL AND expires_at <= $1 LIMIT $2;

-- name: LotsToWarn :many
SELECT id, member_id, remaining, expires_at FROM lots
WHERE open AND warned_at IS NULL AND expires_at IS NOT NULL AND expires_at > @now::timestamptz AND expires_at <= @until::timestamptz
ORDER BY expires_at LIMIT @lim::int;

-- name: MarkLotsWarned :exec
UPDATE lots SET warned_at = @at::timestamptz WHERE id = ANY(@ids::text[]);

-- name: ListEntries :many
SELECT seq, id, member_id, type, points, balance_after, order_id, reference_id, rule_ids, description, lot_id, draws,
    pending_until, expires_at, actor, reason, partner_id, created_at
FROM entries
WHERE member_id = @member_id
  AND seq < @before_seq
  AND (cardinality(@types::text[]) = 0 OR type = ANY(@types::text[]))
  AND created_at >= @start_time AND created_at < @end_time
ORDER BY seq DESC
LIMIT @lim;

-- name: LedgerSum :one
-- The ledger's own arithmetic: the sum of a member's entries.
SELECT COALESCE(sum(points), 0)::bigint FROM entries WHERE member_id = $1;

-- name: ReferralRewardExists :one
SELECT EXISTS (SELECT 1 FROM entries WHERE member_id = $1 AND type = 'referral_reward' AND reference_id = $2);

-- name: MembersDueForReview :many
SELECT customer_id FROM members WHERE requalify_at <= @now::timestamptz ORDER BY requalify_at LIMIT @lim::int;

-- name: ClearDueReview :exec
-- A review that could not move the date (a tier removed from the ladder)
-- must not be picked up again at every tick.
UPDATE members SET requalify_at = NULL WHERE customer_id = $1 AND requalify_at <= @now::timestamptz;

-- name: TryJobLock :one
SELECT pg_try_advisory_xact_lock(@key::bigint);

-- name: AddSegment :exec
INSERT INTO members (customer_id, enrolled_at, segments) VALUES (@customer_id, @enrolled_at, ARRAY[@segment::text])
ON CONFLICT (customer_id) DO UPDATE SET segments = array_append(array_remove(members.segments, @segment::text), @segment::text);

-- name: RemoveSegment :exec
UPDATE members SET segments = array_remove(segments, @segment::text) WHERE customer_id = @customer_id;

-- name: LockMembers :many
-- Locks the members in id order, so concurrent batches cannot deadlock.
-- Their lots are read by the next statement: under READ COMMITTED a
-- statement that waited for a lock still sees its old snapshot in
-- subqueries, and only a new statement sees what the lock holder wrote.
SELECT customer_id, balance, deficit, debt, lifetime_points, orders_count, last_activity, tier, tier_id, segments, enrolled_at
FROM members
WHERE customer_id = ANY(@ids::text[])
ORDER BY customer_id
FOR UPDATE;

-- name: MembersHeld :many
-- The locked members' points in active checkout holds.
SELECT member_id, COALESCE(sum(points), 0)::bigint AS held FROM holds
WHERE member_id = ANY(@ids::text[]) AND status = 'active'
GROUP BY member_id;

-- name: MembersOpenLots :many
-- The locked members' open lots plus the extra lots named, as plain rows:
-- building a JSON document per member cost more than finding the lots.
SELECT a.id, a.member_id, a.entry_id, a.source, a.order_id, a.partner_id, a.points, a.remaining, a.earned_at, a.pending_until, a.expires_at
FROM lots a WHERE a.member_id = ANY(@ids::text[]) AND a.open
UNION ALL
SELECT b.id, b.member_id, b.entry_id, b.source, b.order_id, b.partner_id, b.points, b.remaining, b.earned_at, b.pending_until, b.expires_at
FROM lots b WHERE b.id = ANY(@extra::text[]) AND b.member_id = ANY(@ids::text[]) AND NOT b.open;

-- name: EnsureMembers :exec
INSERT INTO members (customer_id, enrolled_at)
SELECT unnest(@ids::text[]), @enrolled_at::timestamptz
ON CONFLICT (customer_id) DO NOTHING;

-- name: Apply :exec
SELECT loyalty_apply(@changes::jsonb);

-- name: ExistingOrders :many
SELECT order_id FROM orders WHERE order_id = ANY(@ids::text[]);

-- name: MembersRuleUsage :many
SELECT rule_id, member_id, window_start, points FROM rule_usage
WHERE member_id = ANY(@member_ids::text[]) AND rule_id = ANY(@rule_ids::text[]);

-- name: BonusExists :one
SELECT EXISTS (SELECT 1 FROM entries WHERE member_id = $1 AND type = 'accrual' AND order_id = '' AND reference_id = $2);

-- name: InactiveMembers :many
-- Members whose last activity is before the cutoff and who still have vested
-- points, oldest activity first (the inactivity expiry policy).
SELECT m.customer_id FROM members m
WHERE m.last_activity <= @cutoff::timestamptz
  AND EXISTS (SELECT 1 FROM lots l WHERE l.member_id = m.customer_id AND l.open
              AND (l.pending_until IS NULL OR l.pending_until <= @now::timestamptz))
ORDER BY m.last_activity
LIMIT @lim::int;

-- name: GetEntry :one
SELECT seq, id, member_id, type, points, balance_after, order_id, reference_id, rule_ids, description, lot_id, draws,
    pending_until, expires_at, actor, reason, partner_id, created_at
FROM entries WHERE id = $1;

-- name: LockRedemption :one
SELECT id, member_id, reward_id, points, value_minor, currency, coupon_code, product_id, status, entry_id, order_id,
    valid_until, created_at, reversed_at, reversal_reason
FROM redemptions WHERE id = $1 FOR UPDATE;

-- name: MarkRedemptionReversed :exec
UPDATE redemptions SET status = 'reversed', reversed_at = @reversed_at, reversal_reason = @reason WHERE id = @id;

-- name: AddCouponCodes :execrows
-- Adds codes to a reward's pool; codes already in it are skipped.
INSERT INTO coupon_codes (reward_id, code, uploaded_at)
SELECT @reward_id::text, c, @uploaded_at::timestamptz FROM unnest(@codes::text[]) AS c
ON CONFLICT (reward_id, code) DO NOTHING;

-- name: TakeCouponCode :one
-- Takes the oldest unissued code of the pool; concurrent redemptions skip
-- each other's locked rows instead of waiting for them.
SELECT code FROM coupon_codes
WHERE reward_id = @reward_id AND redemption_id IS NULL
ORDER BY uploaded_at, code
LIMIT 1
FOR UPDATE SKIP LOCKED;

-- name: IssueCouponCode :exec
UPDATE coupon_codes SET redemption_id = @redemption_id, issued_at = @issued_at WHERE reward_id = @reward_id AND code = @code;

-- name: CouponPoolSize :one
SELECT count(*) FILTER (WHERE redemption_id IS NULL)::bigint AS free, count(*)::bigint AS total
FROM coupon_codes WHERE reward_id = $1;
