-- +goose Up

-- Marketers' merchandising rules (boosts, margin boost). Times are never
-- NULL: 0001-01-01 UTC means "unset" (always / forever).
CREATE TABLE merchandising_rules (
    rule_id       text PRIMARY KEY,
    name          text NOT NULL,
    kind          smallint NOT NULL,
    product_ids   text[] NOT NULL DEFAULT '{}',
    categories    text[] NOT NULL DEFAULT '{}',
    segment_id    text NOT NULL DEFAULT '',
    tier_id       text NOT NULL DEFAULT '',
    multiplier    double precision NOT NULL DEFAULT 1,
    margin_weight double precision NOT NULL DEFAULT 0,
    paused        boolean NOT NULL DEFAULT false,
    start_time    timestamptz NOT NULL,
    end_time      timestamptz NOT NULL,
    create_time   timestamptz NOT NULL,
    update_time   timestamptz NOT NULL
);

-- Marketers' A/B experiments; variants is a JSON list of
-- {name, weight, strategy, params}.
CREATE TABLE experiments (
    experiment_id text PRIMARY KEY,
    name          text NOT NULL DEFAULT '',
    placement     text NOT NULL DEFAULT '',
    variants      jsonb NOT NULL,
    state         smallint NOT NULL,
    start_time    timestamptz NOT NULL,
    end_time      timestamptz NOT NULL,
    create_time   timestamptz NOT NULL,
    update_time   timestamptz NOT NULL
);

-- One counter bumped by every rule or experiment change in the same
-- transaction: each replica polls it and reloads rules and experiments
-- when it moves, so a change applies everywhere within a poll interval.
CREATE TABLE merchandising_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL
);
INSERT INTO merchandising_version (singleton, version) VALUES (true, 0);

-- +goose Down
DROP TABLE merchandising_version;
DROP TABLE experiments;
DROP TABLE merchandising_rules;
