-- +goose Up
-- Events waiting to be published to Kafka. Rows are written in the caller's
-- transaction (outbox.Add) and deleted by the relay once Kafka acknowledged
-- them.
CREATE TABLE outbox (
    id         bigserial   PRIMARY KEY,
    -- Transaction that wrote the row: the commit trigger numbers the rows
    -- of its own transaction by it.
    txid       xid8        NOT NULL DEFAULT pg_current_xact_id(),
    -- Position in commit order, assigned by the deferred trigger below while
    -- the writing transaction commits. NULL only inside that transaction.
    commit_seq bigint,
    topic      text        NOT NULL,
    key        text,
    headers    jsonb       NOT NULL DEFAULT '[]',
    payload    bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX outbox_commit_seq_idx ON outbox (commit_seq, id) WHERE commit_seq IS NOT NULL;
-- Finds the rows of the committing transaction without scanning a backlog.
CREATE INDEX outbox_unsequenced_idx ON outbox (txid) WHERE commit_seq IS NULL;

CREATE SEQUENCE outbox_commit_seq AS bigint;

-- Runs at COMMIT (deferred constraint trigger), once per row, but only the
-- first call of a transaction works: it takes the transaction-scoped
-- advisory lock and gives all of the transaction's rows one sequence number;
-- later calls see the transaction-local flag and return. The lock is held
-- until the commit is visible, so transactions take numbers one after the
-- other in exactly the order they become visible: when the relay sees
-- commit_seq n, every smaller number is either visible too or rolled back.
-- Rows of one transaction keep their insert order by id.
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

-- Wakes the relay (LISTEN outbox); delivered at commit, once per transaction.
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

-- +goose Down
DROP TABLE outbox;
DROP FUNCTION outbox_notify();
DROP FUNCTION outbox_assign_commit_seq();
DROP SEQUENCE outbox_commit_seq;
