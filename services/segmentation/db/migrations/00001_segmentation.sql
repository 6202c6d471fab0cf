-- +goose Up
-- One row per customer: the snapshot computed from the facts (traits, counted
-- orders, interactions), which full recomputes and previews read so they
-- never rebuild traits from facts. The snapshot is binary
-- (profile.Snapshot.MarshalBinary): it is always read whole, by the
-- million, and decodes several times faster than JSON. The RFM columns are
-- written by the population scoring and override the snapshot's RFM trait.
CREATE TABLE profiles (
    customer_id   text PRIMARY KEY,
    snapshot      bytea NOT NULL,
    order_count   integer NOT NULL DEFAULT 0,
    total_spend   bigint NOT NULL DEFAULT 0,
    last_order_at timestamptz,
    -- cart_due_at is when the open, not yet announced cart counts as
    -- abandoned; the cart check reads only profiles that are due.
    cart_due_at   timestamptz,
    rfm_r         integer NOT NULL DEFAULT 0,
    rfm_f         integer NOT NULL DEFAULT 0,
    rfm_m         integer NOT NULL DEFAULT 0,
    rfm_group     text NOT NULL DEFAULT '',
    rfm_scored_at timestamptz,
    -- version grows on every save, so a recompute that evaluated a
    -- snapshot without locking can tell whether it is still current.
    version       bigint NOT NULL DEFAULT 1,
    updated_at    timestamptz NOT NULL
);
-- The facts (domain profile.Profile as JSON, the source of truth) live in
-- their own table so that full passes, which read every profiles row, do
-- not drag the much larger facts through the buffer cache.
CREATE TABLE profile_facts (
    customer_id text PRIMARY KEY REFERENCES profiles (customer_id) ON DELETE CASCADE,
    facts       jsonb NOT NULL
);
CREATE INDEX profiles_cart_due ON profiles (cart_due_at) WHERE cart_due_at IS NOT NULL;

CREATE TABLE segments (
    segment_id        text PRIMARY KEY,
    name              text NOT NULL,
    description       text NOT NULL DEFAULT '',
    rule              text NOT NULL,
    template_id       text NOT NULL DEFAULT '',
    version           bigint NOT NULL DEFAULT 1,
    -- evaluated_version < version means membership has not been fully
    -- evaluated with the current rule yet; the scheduler catches up.
    evaluated_version bigint NOT NULL DEFAULT 0,
    size              bigint NOT NULL DEFAULT 0,
    evaluated_at      timestamptz,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);

CREATE TABLE memberships (
    segment_id  text NOT NULL REFERENCES segments (segment_id) ON DELETE CASCADE,
    customer_id text NOT NULL,
    entered_at  timestamptz NOT NULL,
    PRIMARY KEY (segment_id, customer_id)
);
CREATE INDEX memberships_customer ON memberships (customer_id);

-- A segment's size after each full evaluation, for the size-over-time query.
CREATE TABLE segment_sizes (
    segment_id text NOT NULL REFERENCES segments (segment_id) ON DELETE CASCADE,
    at         timestamptz NOT NULL,
    size       bigint NOT NULL,
    PRIMARY KEY (segment_id, at)
);

-- The latest fitted CLV model (BG/NBD + Gamma-Gamma) as JSON.
CREATE TABLE clv_models (
    fitted_at timestamptz PRIMARY KEY,
    model     jsonb NOT NULL
);

-- RFM scoring runs and their group sizes, for reports.
CREATE TABLE rfm_runs (
    scored_at  timestamptz PRIMARY KEY,
    population bigint NOT NULL,
    sizes      jsonb NOT NULL
);

-- +goose Down
DROP TABLE rfm_runs;
DROP TABLE clv_models;
DROP TABLE segment_sizes;
DROP TABLE memberships;
DROP TABLE segments;
DROP TABLE profile_facts;
DROP TABLE profiles;
