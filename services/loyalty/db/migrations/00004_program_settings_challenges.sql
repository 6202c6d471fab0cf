-- +goose Up

-- program_settings holds the one row of program-wide settings marketers edit
-- at runtime (base rate, rounding, exclusions, minimum order, return window,
-- redemption conversion). It is seeded from the LOYALTY_* variables by the
-- first replica that needs it; version moves with every change, so replicas
-- know when their cached copy is stale.
CREATE TABLE program_settings (
    id         integer PRIMARY KEY CHECK (id = 1),
    version    bigint NOT NULL,
    spec       jsonb NOT NULL,
    updated_at timestamptz NOT NULL,
    updated_by text NOT NULL DEFAULT ''
);

-- challenges are stamp cards: a count or spend goal over a period.
CREATE TABLE challenges (
    id         text PRIMARY KEY,
    status     text NOT NULL,
    spec       jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

-- challenge_progress is each member's progress per challenge: what every
-- order contributed (by order id, so a redelivered order counts once and a
-- refund can take its part out) and when the goal was met. The reward is
-- paid in the transaction that sets completed_at, under the member's lock.
CREATE TABLE challenge_progress (
    challenge_id text NOT NULL,
    member_id    text NOT NULL,
    by_order     jsonb NOT NULL DEFAULT '{}',
    progress     bigint NOT NULL DEFAULT 0,
    completed_at timestamptz,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (member_id, challenge_id)
);

-- +goose Down
DROP TABLE challenge_progress, challenges, program_settings;
