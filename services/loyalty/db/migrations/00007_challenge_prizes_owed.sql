-- +goose Up

-- challenge_prizes_owed are the catalog-reward prizes of completed
-- challenges that could not be issued when the member completed them (out
-- of stock, an empty coupon pool). The scheduled job issues them, oldest
-- first, once the reward has stock again, and deletes the row in the same
-- transaction that writes the prize's redemption; the redemption's derived
-- id (challenge:<challenge>:<round>:<member>) is the primary key that
-- makes every prize issued at most once.
CREATE TABLE challenge_prizes_owed (
    challenge_id text NOT NULL,
    member_id    text NOT NULL,
    round        integer NOT NULL,
    reward_id    text NOT NULL,
    owed_since   timestamptz NOT NULL,
    PRIMARY KEY (challenge_id, member_id, round)
);
CREATE INDEX challenge_prizes_owed_reward ON challenge_prizes_owed (reward_id, owed_since);

-- Prizes owed before this table existed: the latest round of a completed
-- challenge whose reward was never issued (what the member's challenge view
-- shows as pending).
INSERT INTO challenge_prizes_owed (challenge_id, member_id, round, reward_id, owed_since)
SELECT p.challenge_id, p.member_id, p.completions, c.spec->'Challenge'->>'RewardID', COALESCE(p.completed_at, p.updated_at)
FROM challenge_progress p
JOIN challenges c ON c.id = p.challenge_id
WHERE p.completions > 0
  AND COALESCE(c.spec->'Challenge'->>'RewardID', '') <> ''
  AND NOT EXISTS (SELECT 1 FROM redemptions r WHERE r.id = 'challenge:' || p.challenge_id || ':' || p.completions || ':' || p.member_id);

-- +goose Down
DROP TABLE challenge_prizes_owed;
