-- +goose Up

-- Spending points updates a lot's remaining, and that update could never be
-- a HOT update (one that writes no index entries and leaves the old version
-- to be pruned from its page without a VACUUM): remaining appeared in the
-- predicates of the lots_open and lots_due partial indexes, and PostgreSQL
-- treats a change of a column an index depends on as an index change. So
-- every redemption added an entry to each of the lots' four indexes and left
-- a dead row version behind, and the table kept growing until VACUUM ran.
--
-- open is remaining > 0, kept by PostgreSQL. It changes only when a lot is
-- emptied (or restored from empty), so the indexes now depend on a column
-- that most updates of remaining leave alone, and those updates are HOT.
-- Queries that used the old indexes test open instead of remaining > 0
-- (the same rows) so that the planner matches the new predicates.
ALTER TABLE lots ADD COLUMN open boolean NOT NULL GENERATED ALWAYS AS (remaining > 0) STORED;

DROP INDEX lots_open;
DROP INDEX lots_due;
CREATE INDEX lots_open ON lots (member_id) WHERE open;
CREATE INDEX lots_due ON lots (expires_at) WHERE open AND expires_at IS NOT NULL;

-- +goose StatementBegin
-- entries_apply, as in 00001, with a fast path for the statement that
-- inserts one entry (a redemption, a hold, an adjustment: every call but an
-- order batch). The general query (an aggregate per member, the update, a
-- window over the entries to check each balance_after) cost about a fifth
-- of a redemption's database time, most of it setting up its plan's
-- dozen nodes on every call. For one entry the check is simpler: the
-- member's balance after adding the entry's points must be the entry's
-- balance_after, and one UPDATE ... RETURNING does both. It updates nothing
-- for a statement of several entries (or an unknown member), which then take
-- the general path, so the invariant and the error are the same as before.
CREATE OR REPLACE FUNCTION entries_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
    one record;
BEGIN
    UPDATE members m SET balance = m.balance + s.pts
    FROM (SELECT count(*) AS n, min(id) AS id, min(member_id) AS member_id, sum(points) AS pts, min(balance_after) AS said
          FROM new_entries) s
    WHERE s.n = 1 AND m.customer_id = s.member_id
    RETURNING s.id, s.member_id, s.said, m.balance INTO one;
    IF FOUND THEN
        IF one.balance IS DISTINCT FROM one.said THEN
            RAISE EXCEPTION 'ledger: entry % of member % says balance_after %, ledger sum is %', one.id, one.member_id, one.said, one.balance
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END IF;

    WITH d AS (
        SELECT member_id, sum(points) AS pts FROM new_entries GROUP BY member_id
    ), u AS (
        UPDATE members m SET balance = m.balance + d.pts FROM d
        WHERE m.customer_id = d.member_id
        RETURNING m.customer_id, m.balance - d.pts AS before
    )
    SELECT x.id, x.member_id, x.balance_after, x.expected INTO bad
    FROM (
        SELECT e.id, e.member_id, e.balance_after,
            u.before + sum(e.points) OVER (PARTITION BY e.member_id ORDER BY e.seq) AS expected
        FROM new_entries e LEFT JOIN u ON u.customer_id = e.member_id
    ) x
    WHERE x.expected IS DISTINCT FROM x.balance_after
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger: entry % of member % says balance_after %, ledger sum is %', bad.id, bad.member_id, bad.balance_after, bad.expected
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP INDEX lots_open;
DROP INDEX lots_due;
ALTER TABLE lots DROP COLUMN open;
CREATE INDEX lots_open ON lots (member_id) WHERE remaining > 0;
CREATE INDEX lots_due ON lots (expires_at) WHERE remaining > 0 AND expires_at IS NOT NULL;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION entries_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    WITH d AS (
        SELECT member_id, sum(points) AS pts FROM new_entries GROUP BY member_id
    ), u AS (
        UPDATE members m SET balance = m.balance + d.pts FROM d
        WHERE m.customer_id = d.member_id
        RETURNING m.customer_id, m.balance - d.pts AS before
    )
    SELECT x.id, x.member_id, x.balance_after, x.expected INTO bad
    FROM (
        SELECT e.id, e.member_id, e.balance_after,
            u.before + sum(e.points) OVER (PARTITION BY e.member_id ORDER BY e.seq) AS expected
        FROM new_entries e LEFT JOIN u ON u.customer_id = e.member_id
    ) x
    WHERE x.expected IS DISTINCT FROM x.balance_after
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger: entry % of member % says balance_after %, ledger sum is %', bad.id, bad.member_id, bad.balance_after, bad.expected
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
