-- +goose Up

-- The newest snapshot of each in-memory model, with the last basket folded
-- into it: a start restores it and folds only the baskets after, instead of
-- replaying every order.
CREATE TABLE model_snapshots (
    name      text PRIMARY KEY,
    watermark bigint NOT NULL,
    taken_at  timestamptz NOT NULL,
    data      bytea NOT NULL
);

-- +goose Down
DROP TABLE model_snapshots;
