-- +goose Up
-- scheduler_runs makes each scheduled pass (time-based re-evaluation, RFM
-- scoring, abandoned carts) run on one replica once per period: a replica
-- claims a run by moving started_at forward under an advisory lock; the
-- others see the recent start and skip their tick.
CREATE TABLE scheduler_runs (
    name        text PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    last_error  text NOT NULL DEFAULT '',
    runs        bigint NOT NULL DEFAULT 0
);

-- changed_xid is the transaction that last wrote the profile. The in-memory
-- profile cache of every replica catches up on other replicas' writes by
-- reading the rows changed by transactions at or after the oldest one that
-- was still running at its previous catch-up (pg_snapshot_xmin), which,
-- unlike a timestamp, cannot miss a transaction that commits late.
ALTER TABLE profiles ADD COLUMN changed_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX profiles_changed_xid ON profiles (changed_xid);

-- +goose StatementBegin
CREATE FUNCTION profiles_touch_changed_xid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.changed_xid := pg_current_xact_id();
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER profiles_changed_xid BEFORE UPDATE ON profiles
    FOR EACH ROW EXECUTE FUNCTION profiles_touch_changed_xid();

-- +goose Down
DROP TRIGGER profiles_changed_xid ON profiles;
DROP FUNCTION profiles_touch_changed_xid();
ALTER TABLE profiles DROP COLUMN changed_xid;
DROP TABLE scheduler_runs;
