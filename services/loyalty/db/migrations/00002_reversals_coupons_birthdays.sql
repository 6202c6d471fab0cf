-- +goose Up

-- A redemption can be reversed once: the reversal entry references the
-- redemption entry, and this index refuses a second one even if two
-- reversals raced past the redemption's row lock (they cannot, but the
-- ledger must not depend on it).
CREATE UNIQUE INDEX entries_reversed_once ON entries (member_id, reference_id) WHERE type = 'reversal';

ALTER TABLE redemptions
    ADD COLUMN reversed_at     timestamptz,
    ADD COLUMN reversal_reason text NOT NULL DEFAULT '';

-- coupon_codes is the pool of a coupon reward: codes uploaded by marketers,
-- each issued to at most one redemption (taken with FOR UPDATE SKIP LOCKED,
-- so concurrent redemptions never get the same code).
CREATE TABLE coupon_codes (
    reward_id     text NOT NULL,
    code          text NOT NULL,
    uploaded_at   timestamptz NOT NULL,
    redemption_id text,
    issued_at     timestamptz,
    PRIMARY KEY (reward_id, code)
);
CREATE INDEX coupon_codes_free ON coupon_codes (reward_id, uploaded_at) WHERE redemption_id IS NULL;

-- birth_month and birth_day come from commerce.customers.v1 (0 = unknown);
-- recognition pays birthday points on them.
ALTER TABLE members
    ADD COLUMN birth_month integer NOT NULL DEFAULT 0,
    ADD COLUMN birth_day   integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE members DROP COLUMN birth_month, DROP COLUMN birth_day;
DROP TABLE coupon_codes;
ALTER TABLE redemptions DROP COLUMN reversed_at, DROP COLUMN reversal_reason;
DROP INDEX entries_reversed_once;
