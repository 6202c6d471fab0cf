-- +goose Up

-- The newest change of each customer's state (interactions, segments,
-- tier). seq is taken under the basket writers' advisory lock, so it is
-- commit order: every replica tails this table and reloads the changed
-- customers into its in-memory state, so requests never read customer state
-- from the database. One row per customer keeps the table bounded.
CREATE SEQUENCE customer_change_seq;
CREATE TABLE customer_changes (
    customer_id text PRIMARY KEY,
    seq         bigint NOT NULL
);
CREATE INDEX customer_changes_seq ON customer_changes (seq);

-- +goose Down
DROP TABLE customer_changes;
DROP SEQUENCE customer_change_seq;
