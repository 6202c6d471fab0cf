-- +goose Up
-- Commit-time numbering under one database-wide lock made every transaction
-- that wrote events commit one at a time, and the NOTIFY trigger did the same
-- a second time (PostgreSQL serialises the commits of notifying
-- transactions). Kafka orders only per partition, that is per key, so order
-- is now kept per (topic, key): outbox.Add takes a transaction-scoped
-- advisory lock on every (topic, key) it writes before it inserts, and rows
-- draw commit_seq from the sequence at insert. A second writer of the same
-- key waits for the first to commit or roll back and only then draws its
-- numbers, so per key the numbers follow commit order. The relay polls
-- instead of listening. See the package documentation for the argument.
--
-- DROP TRIGGER takes an ACCESS EXCLUSIVE lock on outbox, so it waits for
-- every transaction still writing rows under the old triggers; those were
-- numbered when they committed. The UPDATE numbers any row that still has no
-- number (none should exist) in insert order, so nothing stays unpublished.
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();
DROP TRIGGER outbox_assign_commit_seq ON outbox;
DROP FUNCTION outbox_assign_commit_seq();

UPDATE outbox SET commit_seq = s.v
FROM (SELECT id, nextval('outbox_commit_seq') AS v
      FROM (SELECT id FROM outbox WHERE commit_seq IS NULL ORDER BY id) AS o) AS s
WHERE outbox.id = s.id;

ALTER TABLE outbox ALTER COLUMN commit_seq SET DEFAULT nextval('outbox_commit_seq');
ALTER TABLE outbox ALTER COLUMN commit_seq SET NOT NULL;

-- Only the commit trigger looked rows up by transaction.
DROP INDEX outbox_unsequenced_idx;

-- +goose Down
ALTER TABLE outbox ALTER COLUMN commit_seq DROP NOT NULL;
ALTER TABLE outbox ALTER COLUMN commit_seq DROP DEFAULT;
CREATE INDEX outbox_unsequenced_idx ON outbox (txid) WHERE commit_seq IS NULL;

-- +goose StatementBegin
CREATE FUNCTION outbox_assign_commit_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('outbox.sequenced', true) = 'on' THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(7310420935522189313);
    UPDATE outbox SET commit_seq = s.v
    FROM (SELECT nextval('outbox_commit_seq') AS v) AS s
    WHERE txid = pg_current_xact_id() AND commit_seq IS NULL;
    PERFORM set_config('outbox.sequenced', 'on', true);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE CONSTRAINT TRIGGER outbox_assign_commit_seq
    AFTER INSERT ON outbox
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION outbox_assign_commit_seq();

-- +goose StatementBegin
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER outbox_notify
    AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
