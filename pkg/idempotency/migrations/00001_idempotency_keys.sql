-- +goose Up
-- One row per (scope, key) a mutating call was made with. The row is
-- inserted in the caller's transaction before the call's work runs, so it
-- commits or rolls back together with that work; a row therefore always
-- carries the response of a call that really happened.
CREATE TABLE idempotency_keys (
    scope        text        NOT NULL,
    key          text        NOT NULL,
    request_hash bytea       NOT NULL,
    response     bytea       NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);

-- For pruning keys older than the retention period.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
