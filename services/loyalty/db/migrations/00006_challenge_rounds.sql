-- +goose Up

-- Rolling windows and repeatable challenges: window_start is when the
-- member's current window opened (their first qualifying order in it), and
-- completions counts the rounds completed, so every round's reward has its
-- own reference and is paid once.
ALTER TABLE challenge_progress
    ADD COLUMN window_start timestamptz,
    ADD COLUMN completions integer NOT NULL DEFAULT 0;
UPDATE challenge_progress SET completions = 1 WHERE completed_at IS NOT NULL;

-- +goose Down
ALTER TABLE challenge_progress DROP COLUMN window_start, DROP COLUMN completions;
