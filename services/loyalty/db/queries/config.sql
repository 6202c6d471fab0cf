-- name: InsertReward :exec
INSERT INTO rewards (id, status, spec, created_at, updated_at) VALUES ($1, $2, $3, $4, $4);

-- name: UpdateReward :exec
UPDATE rewards SET status = $2, spec = $3, updated_at = $4 WHERE id = $1;

-- name: GetReward :one
SELECT id, status, spec, created_at, updated_at FROM rewards WHERE id = $1;

-- name: LockReward :one
SELECT id, status, spec, created_at, updated_at FROM rewards WHERE id = $1 FOR UPDATE;

-- name: ListRewards :many
SELECT id, status, spec, created_at, updated_at FROM rewards
WHERE id > @after AND (@status::text = '' OR status = @status)
ORDER BY id LIMIT @lim;

-- name: InsertRule :exec
INSERT INTO earning_rules (id, status, spec, created_at, updated_at) VALUES ($1, $2, $3, $4, $4);

-- name: UpdateRule :exec
UPDATE earning_rules SET status = $2, spec = $3, updated_at = $4 WHERE id = $1;

-- name: GetRule :one
SELECT id, status, spec, budget_used, created_at, updated_at FROM earning_rules WHERE id = $1;

-- name: ListRules :many
SELECT id, status, spec, budget_used, created_at, updated_at FROM earning_rules
WHERE id > @after AND (@status::text = '' OR status = @status)
ORDER BY id LIMIT @lim;

-- name: ActiveRules :many
SELECT id, status, spec, budget_used, created_at, updated_at FROM earning_rules WHERE status = 'active';

-- name: SpendBudget :execrows
-- Raises a rule's used budget only if it stays within the budget, so
-- concurrent earns never award more than the campaign allows.
UPDATE earning_rules SET budget_used = budget_used + @points::bigint
WHERE id = @id AND (@budget::bigint = 0 OR budget_used + @points::bigint <= @budget::bigint);

-- name: AddRuleUsage :exec
INSERT INTO rule_usage (rule_id, member_id, window_start, points) VALUES ($1, $2, $3, $4)
ON CONFLICT (rule_id, member_id, window_start) DO UPDATE SET points = rule_usage.points + EXCLUDED.points;

-- name: RuleTotals :many
-- Per-rule earning totals for marketers.
SELECT rule_id, sum(points)::bigint AS points, count(DISTINCT member_id)::bigint AS members FROM rule_usage GROUP BY rule_id ORDER BY rule_id;

-- name: InsertTier :exec
INSERT INTO tiers (id, rank, spec, created_at, updated_at) VALUES ($1, $2, $3, $4, $4);

-- name: UpdateTier :exec
UPDATE tiers SET rank = $2, spec = $3, updated_at = $4 WHERE id = $1;

-- name: GetTier :one
SELECT id, rank, spec, created_at, updated_at FROM tiers WHERE id = $1;

-- name: ListTiers :many
SELECT id, rank, spec, created_at, updated_at FROM tiers ORDER BY rank;

-- name: ActiveRewards :many
SELECT id, status, spec, created_at, updated_at FROM rewards WHERE status = 'active' ORDER BY id;

-- name: MemberRedemptionCounts :many
-- How often the member redeemed each reward, for per-member limits.
SELECT reward_id, count(*)::bigint AS n FROM redemptions
WHERE member_id = $1 AND reward_id <> '' AND status = 'completed' GROUP BY reward_id;
