-- name: GetProgramSettings :one
SELECT version, spec, updated_at, updated_by FROM program_settings WHERE id = 1;

-- name: LockProgramSettings :one
SELECT version, spec, updated_at, updated_by FROM program_settings WHERE id = 1 FOR UPDATE;

-- name: SeedProgramSettings :exec
-- Several replicas may seed at once; the first one wins.
INSERT INTO program_settings (id, version, spec, updated_at) VALUES (1, 1, @spec, @updated_at)
ON CONFLICT (id) DO NOTHING;

-- name: UpdateProgramSettings :exec
UPDATE program_settings SET version = version + 1, spec = @spec, updated_at = @updated_at, updated_by = @updated_by WHERE id = 1;

-- name: InsertChallenge :exec
INSERT INTO challenges (id, status, spec, created_at, updated_at) VALUES ($1, $2, $3, $4, $4);

-- name: UpdateChallenge :exec
UPDATE challenges SET status = $2, spec = $3, updated_at = $4 WHERE id = $1;

-- name: GetChallenge :one
SELECT id, status, spec, created_at, updated_at FROM challenges WHERE id = $1;

-- name: LockChallenge :one
SELECT id, status, spec, created_at, updated_at FROM challenges WHERE id = $1 FOR UPDATE;

-- name: ListChallenges :many
SELECT id, status, spec, created_at, updated_at FROM challenges
WHERE id > @after AND (@status::text = '' OR status = @status)
ORDER BY id LIMIT @lim;

-- name: ActiveChallenges :many
SELECT id, status, spec, created_at, updated_at FROM challenges WHERE status = 'active';

-- name: MembersProgress :many
-- The progress rows of the members in the challenges; the caller holds the
-- members' locks, which serialize every change to their progress.
SELECT challenge_id, member_id, by_order, progress, completed_at, window_start, completions FROM challenge_progress
WHERE member_id = ANY(@member_ids::text[]) AND challenge_id = ANY(@challenge_ids::text[]);

-- name: MemberProgress :many
SELECT challenge_id, member_id, by_order, progress, completed_at, window_start, completions FROM challenge_progress WHERE member_id = $1;

-- name: SaveProgress :exec
-- Writes many members' progress in one statement.
INSERT INTO challenge_progress (challenge_id, member_id, by_order, progress, completed_at, window_start, completions, updated_at)
SELECT u.challenge_id, u.member_id, u.by_order, u.progress, u.completed_at, u.window_start, u.completions, @updated_at::timestamptz
FROM jsonb_to_recordset(@rows::jsonb) AS u(challenge_id text, member_id text, by_order jsonb, progress bigint, completed_at timestamptz,
    window_start timestamptz, completions integer)
ON CONFLICT (member_id, challenge_id) DO UPDATE SET by_order = EXCLUDED.by_order, progress = EXCLUDED.progress,
    completed_at = EXCLUDED.completed_at, window_start = EXCLUDED.window_start, completions = EXCLUDED.completions,
    updated_at = EXCLUDED.updated_at;

-- name: MemberChallengeRedemptions :many
-- The catalog rewards issued to a member for completed challenges; their ids
-- are "challenge:<challenge id>:<round>:<member id>", one per completion.
SELECT * FROM redemptions WHERE member_id = $1 AND id LIKE 'challenge:%';

-- name: OweChallengePrize :exec
-- A completed challenge's prize that could not be issued now.
INSERT INTO challenge_prizes_owed (challenge_id, member_id, round, reward_id, owed_since)
VALUES (@challenge_id, @member_id, @round, @reward_id, @owed_since)
ON CONFLICT DO NOTHING;

-- name: RewardsWithOwedPrizes :many
SELECT DISTINCT reward_id FROM challenge_prizes_owed ORDER BY reward_id;

-- name: OwedPrizes :many
-- The prizes owed of one reward, oldest first, locked for the job that
-- issues them.
SELECT challenge_id, member_id, round, reward_id, owed_since FROM challenge_prizes_owed
WHERE reward_id = @reward_id
ORDER BY owed_since, challenge_id, member_id, round
LIMIT @lim::int
FOR UPDATE;

-- name: SettleOwedPrize :exec
DELETE FROM challenge_prizes_owed WHERE challenge_id = @challenge_id AND member_id = @member_id AND round = @round;
